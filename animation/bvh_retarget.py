"""BVH clips onto our skeleton: our own recordings exactly, CMU (cgspeed) and 21-joint mocap
skeletons by a joint map.

``clip_to_poses(read_bvh(path))`` gives our 15 absolute bone rotations per frame (world axes)
and the root displacement; for a foreign skeleton each of our bones takes the rotation of the
BVH joint that drives it (its twist), turned minimally onto the bone's actual direction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animation.bvh import BVHClip, BVHError
from engine import rotations as R
from engine import skeleton as S

#: Joint maps of known BVH skeletons: our joint -> BVH joint name, ("mid", a, b)
#: for a midpoint, or ("end", a) for a joint's End Site; and our bone -> the
#: BVH joint whose rotation drives it (its twist is taken from that joint).
CLIP_MAPS = {
    "ours": None,  # our own files: joint names are our bone names
    "cmu": {
        "joints": {
            "r_ankle": "RightFoot", "r_knee": "RightLeg", "r_hip": "RightUpLeg",
            "l_hip": "LeftUpLeg", "l_knee": "LeftLeg", "l_ankle": "LeftFoot",
            "pelvis": ("mid", "LeftUpLeg", "RightUpLeg"), "thorax": "Neck", "upper_neck": "Head",
            "head_top": ("end", "Head"), "r_wrist": "RightHand", "r_elbow": "RightForeArm",
            "r_shoulder": "RightArm", "l_shoulder": "LeftArm", "l_elbow": "LeftForeArm", "l_wrist": "LeftHand",
        },
        "drivers": {
            "r_hip": "Hips", "r_thigh": "RightUpLeg", "r_shin": "RightLeg",
            "l_hip": "Hips", "l_thigh": "LeftUpLeg", "l_shin": "LeftLeg",
            "spine": "Spine1", "neck": "Neck1", "head": "Head",
            "r_clavicle": "RightShoulder", "r_upper_arm": "RightArm", "r_forearm": "RightForeArm",
            "l_clavicle": "LeftShoulder", "l_upper_arm": "LeftArm", "l_forearm": "LeftForeArm",
        },
    },
    "mocap21": {  # e.g. assimp's Boxing_Toes.bvh
        "joints": {
            "r_ankle": "RightAnkle", "r_knee": "RightKnee", "r_hip": "RightHip",
            "l_hip": "LeftHip", "l_knee": "LeftKnee", "l_ankle": "LeftAnkle",
            "pelvis": ("mid", "LeftHip", "RightHip"), "thorax": "Neck", "upper_neck": "Head",
            "head_top": ("end", "Head"), "r_wrist": "RightWrist", "r_elbow": "RightElbow",
            "r_shoulder": "RightShoulder", "l_shoulder": "LeftShoulder", "l_elbow": "LeftElbow",
            "l_wrist": "LeftWrist",
        },
        "drivers": {
            "r_hip": "Hips", "r_thigh": "RightHip", "r_shin": "RightKnee",
            "l_hip": "Hips", "l_thigh": "LeftHip", "l_shin": "LeftKnee",
            "spine": "Chest", "neck": "Neck", "head": "Head",
            "r_clavicle": "RightCollar", "r_upper_arm": "RightShoulder", "r_forearm": "RightElbow",
            "l_clavicle": "LeftCollar", "l_upper_arm": "LeftShoulder", "l_forearm": "LeftElbow",
        },
    },
}


@dataclass
class ClipPoses:
    """A clip on our skeleton: rotations (F, 15, 3, 3) absolute world axes; root
    displacement (F, 3) metres from the first frame (scaled to our skeleton)."""

    rotations: np.ndarray
    root_displacement: np.ndarray
    frame_time: float
    source: str


def _joint_positions(clip: BVHClip, mapping: dict, pos: np.ndarray, rots: np.ndarray) -> np.ndarray:
    idx = {n: i for i, n in enumerate(clip.names)}
    out = np.empty(pos.shape[:1] + (S.NUM_JOINTS, 3))
    for j, name in enumerate(S.JOINT_NAMES):
        spec = mapping[name]
        if isinstance(spec, str):
            out[:, j] = pos[:, idx[spec]]
        elif spec[0] == "mid":
            out[:, j] = 0.5 * (pos[:, idx[spec[1]]] + pos[:, idx[spec[2]]])
        else:  # end site
            i = idx[spec[1]]
            out[:, j] = pos[:, i] + (rots[:, i] @ clip.end_sites[i][:, None])[..., 0]
    return out


def clip_to_poses(clip: BVHClip, skeleton: S.Skeleton | None = None, path: str = "clip") -> ClipPoses:
    """Map a BVH clip (ours, CMU or a 21-joint mocap skeleton) onto our 15 bones."""
    sk = skeleton or S.Skeleton.default()
    names = set(clip.names)
    rots, pos = clip.global_transforms()
    if names >= set(S.BONE_NAMES) and "pelvis" in names:  # our own file: exact
        idx = {n: i for i, n in enumerate(clip.names)}
        rotations = rots[:, [idx[b] for b in S.BONE_NAMES]]
        root = pos[:, idx["pelvis"]]
        scale = 1.0 / (100.0 if np.abs(clip.offsets).max() > 5 else 1.0)  # cm or m
        disp = (root - root[:1]) * scale
        return ClipPoses(rotations, disp, clip.frame_time, "ours")
    for kind, m in CLIP_MAPS.items():
        if m is None:
            continue
        needed = {v if isinstance(v, str) else v[1] for v in m["joints"].values()} | \
                 {v[2] for v in m["joints"].values() if not isinstance(v, str) and v[0] == "mid"} | \
                 set(m["drivers"].values())
        if needed <= names:
            break
    else:
        raise BVHError(f"{path}: unknown skeleton (joints {', '.join(clip.names[:6])}, ...); "
                       "supported: our recordings, CMU (cgspeed) and 21-joint mocap BVH")
    idx = {n: i for i, n in enumerate(clip.names)}
    rest = BVHClip(clip.names, clip.parents, clip.offsets, clip.channels, clip.end_sites, clip.frame_time,
                   np.zeros((1, clip.motion.shape[1])))
    rest_rots, rest_pos = rest.global_transforms()
    rest_j = _joint_positions(clip, m["joints"], rest_pos, rest_rots)[0]
    joints = _joint_positions(clip, m["joints"], pos, rots)
    rest_vec = rest_j[S.BONES[:, 1]] - rest_j[S.BONES[:, 0]]
    align = R.rotation_between(sk.bone_vectors, rest_vec)          # ours -> theirs, at rest
    drivers = np.array([idx[m["drivers"][b]] for b in S.BONE_NAMES])
    g = rots[:, drivers] @ np.swapaxes(rest_rots[0, drivers], -1, -2)  # driver rotation from its rest
    approx = g @ align
    actual = joints[:, S.BONES[:, 1]] - joints[:, S.BONES[:, 0]]
    fix = R.rotation_between((approx @ sk.bone_vectors[..., None])[..., 0], actual)
    rotations = fix @ approx
    scale = sk.total_length / np.linalg.norm(rest_vec, axis=-1).sum()
    disp = (joints[:, S.ROOT] - joints[:1, S.ROOT]) * scale
    return ClipPoses(rotations, disp, clip.frame_time, kind)
