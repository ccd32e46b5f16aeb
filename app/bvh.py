"""BVH recording (crash-safe), reading, repair, and mapping clips onto our skeleton.

Written hierarchy (``bvh_joints``): ``ROOT pelvis`` with 6 channels
(``Xposition Yposition Zposition Zrotation Xrotation Yrotation``), then one
JOINT per bone of ours, named after the bone and placed at the bone's start
joint, with 3 channels ``Zrotation Xrotation Yrotation``; each leaf bone ends
in an ``End Site`` at its end joint. A bone leaving the pelvis (``r_hip``,
``l_hip``, ``spine``) sits at offset 0 from the root, so every bone keeps its
own rotation and the file reproduces our joints exactly. The root rotation is
the pelvis orientation; joint rotations are parent-local. Y-up, degrees,
metres or centimetres. ``{`` and ``}`` stand on their own lines (Blender's
importer needs that).

Crash safety: the ``Frames:`` count is written padded with spaces and rewritten
in place after every flush, and frames are flushed as they come (``fsync``
about once a second), so the file is a valid BVH at every flush; ``repair_bvh``
fixes a file cut mid-line by a kill.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.errors import UserError

from engine import rotations as R
from engine import skeleton as S

ROT_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")
ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition") + ROT_CHANNELS
_COUNT_WIDTH = 12


class BVHError(UserError):
    """A bad or unreadable BVH file; one-line message naming the file."""


# --------------------------------------------------------------------------- our hierarchy

@dataclass(frozen=True)
class BVHJoint:
    name: str
    parent: int            # index into the joint list, -1 for the root
    offset: np.ndarray     # (3,) metres, world axes
    end_site: np.ndarray | None = None  # (3,) metres, for leaf joints


def bvh_joints(skeleton: S.Skeleton | None = None) -> list[BVHJoint]:
    """Our BVH hierarchy: index 0 is the root (pelvis), then bone ``b`` is joint ``b + 1``."""
    sk = skeleton or S.Skeleton.default()
    vec = sk.bone_vectors
    joints = [BVHJoint("pelvis", -1, np.zeros(3))]
    has_child = set(int(p) for p in S.BONE_PARENTS if p >= 0)
    for b, name in enumerate(S.BONE_NAMES):
        p = int(S.BONE_PARENTS[b])
        offset = np.zeros(3) if p < 0 else vec[p]
        joints.append(BVHJoint(name, 0 if p < 0 else p + 1, offset, None if b in has_child else vec[b]))
    return joints


def _hierarchy_text(joints: list[BVHJoint], scale: float) -> str:
    children: dict[int, list[int]] = {}
    for i, j in enumerate(joints):
        children.setdefault(j.parent, []).append(i)
    lines: list[str] = ["HIERARCHY"]

    def fmt(v):
        return " ".join(f"{x * scale:.6f}" for x in v)

    def emit(i: int, depth: int):
        t = "\t" * depth
        j = joints[i]
        lines.append(f"{t}{'ROOT' if j.parent < 0 else 'JOINT'} {j.name}")
        lines.append(f"{t}{{")
        lines.append(f"{t}\tOFFSET {fmt(j.offset)}")
        chans = ROOT_CHANNELS if j.parent < 0 else ROT_CHANNELS
        lines.append(f"{t}\tCHANNELS {len(chans)} {' '.join(chans)}")
        for c in children.get(i, []):
            emit(c, depth + 1)
        if j.end_site is not None:
            lines.extend([f"{t}\tEnd Site", f"{t}\t{{", f"{t}\t\tOFFSET {fmt(j.end_site)}", f"{t}\t}}"])
        lines.append(f"{t}}}")

    emit(0, 0)
    return "\n".join(lines) + "\n"


def pose_to_channels(rotations: np.ndarray, root_position: np.ndarray, scale: float) -> np.ndarray:
    """One frame's channel values: root xyz (scaled), then ZXY degrees per joint.

    rotations: (15, 3, 3) absolute, world axes; root_position (3,) metres.
    Returns (3 + 3 * 16,) floats in the hierarchy's order.
    """
    root = S.pelvis_rotation(rotations)
    local = S.absolute_to_local(rotations, root)
    mats = np.concatenate([root[None], local], axis=0)
    eul = R.matrix_to_euler(mats, "ZXY", degrees=True)
    return np.concatenate([np.asarray(root_position, float) * scale, eul.reshape(-1)])


# --------------------------------------------------------------------------- recording

class BVHRecorder:
    """Records poses to a BVH file at a constant frame rate, resampled from timestamps.

    ``add(t, rotations, root_position)`` with times in seconds (any rate, any
    jitter): frames on the grid ``t0 + k / fps`` are interpolated between the
    two samples around them (slerp of local rotations, linear root). Euler
    angles are unwrapped over time (each angle is taken +-360 degrees nearest
    the previous frame's), so curves in Blender never jump by 360. Every
    frame is written and flushed at once; the header's frame count is updated
    in place; ``fsync`` runs about once a second.
    """

    def __init__(self, path: str | Path, fps: float = 30.0, units: str = "cm",
                 skeleton: S.Skeleton | None = None, floor_offset: float | None = None):
        if units not in ("m", "cm"):
            raise ValueError(f"BVH units {units!r}; allowed: m, cm")
        self.path = Path(path)
        self.fps = float(fps)
        self.scale = 100.0 if units == "cm" else 1.0
        sk = skeleton or S.Skeleton.default()
        self.rest_root = np.array([0.0, sk.floor_offset if floor_offset is None else floor_offset, 0.0])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w+b")
        head = _hierarchy_text(bvh_joints(sk), self.scale) + "MOTION\n"
        self._f.write(head.encode())
        self._count_pos = self._f.tell() + len("Frames: ")
        self._f.write(f"Frames: {'0'.ljust(_COUNT_WIDTH)}\nFrame Time: {1.0 / self.fps:.8f}\n".encode())
        self._f.flush()
        self.frames = 0
        self._prev: tuple[float, np.ndarray, np.ndarray] | None = None
        self._next_t: float | None = None
        self._t0: float | None = None
        self._last_sync = 0.0
        self._last_euler: np.ndarray | None = None

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    def _sample(self, rotations, root_position):
        root = S.pelvis_rotation(rotations)
        local = S.absolute_to_local(rotations, root)
        q = R.matrix_to_quat(np.concatenate([root[None], local], 0))
        pos = self.rest_root + (np.zeros(3) if root_position is None else np.asarray(root_position, float))
        return q, pos

    def add(self, t: float, rotations: np.ndarray, root_position: np.ndarray | None = None) -> int:
        """Add a pose sampled at time ``t`` (s); returns the number of frames written for it."""
        q, pos = self._sample(np.asarray(rotations, float), root_position)
        if self._prev is None:
            self._t0 = t
            self._next_t = t
            self._prev = (t, q, pos)
        t_prev, q_prev, p_prev = self._prev
        if t < t_prev:  # clocks never go back; ignore out-of-order samples
            return 0
        lines = []
        while self._next_t <= t + 1e-9:
            a = 0.0 if t == t_prev else (self._next_t - t_prev) / (t - t_prev)
            qi = R.quat_slerp(q_prev, q, a)
            pi = (1 - a) * p_prev + a * pos
            mats = R.quat_to_matrix(qi)
            eul = R.matrix_to_euler(mats, "ZXY", degrees=True).reshape(-1)
            if self._last_euler is not None:  # keep curves continuous: same rotation, nearest angles
                eul = self._last_euler + (eul - self._last_euler + 180.0) % 360.0 - 180.0
            self._last_euler = eul
            vals = np.concatenate([pi * self.scale, eul])
            lines.append(" ".join(f"{v:.6f}" for v in vals))
            self.frames += 1
            self._next_t = self._t0 + self.frames / self.fps
        self._prev = (t, q, pos)
        if lines:
            self._append(lines)
        return len(lines)

    def _append(self, lines: list[str]) -> None:
        self._f.seek(0, os.SEEK_END)
        self._f.write(("\n".join(lines) + "\n").encode())
        self._f.flush()
        self._f.seek(self._count_pos)
        self._f.write(str(self.frames).ljust(_COUNT_WIDTH).encode())
        self._f.flush()
        self._f.seek(0, os.SEEK_END)
        if self.duration - self._last_sync >= 1.0:
            os.fsync(self._f.fileno())
            self._last_sync = self.duration

    def close(self) -> Path:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
        return self.path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------- reading

@dataclass
class BVHClip:
    names: list[str]
    parents: list[int]
    offsets: np.ndarray               # (J, 3) file units
    channels: list[tuple[str, ...]]   # per joint
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)
    frame_time: float = 1 / 30
    motion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (F, C)

    @property
    def num_frames(self) -> int:
        return len(self.motion)

    def global_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Per frame global rotations (F, J, 3, 3) and joint positions (F, J, 3), file units."""
        f, j = self.num_frames, len(self.names)
        rots = np.empty((f, j, 3, 3))
        pos = np.empty((f, j, 3))
        col = 0
        for i, chans in enumerate(self.channels):
            vals = self.motion[:, col:col + len(chans)]
            col += len(chans)
            local_pos = np.broadcast_to(self.offsets[i], (f, 3)).copy()
            local_rot = np.broadcast_to(np.eye(3), (f, 3, 3))
            for k, c in enumerate(chans):  # rotations compose in the listed order (intrinsic)
                axis = "XYZ".index(c[0].upper())
                if c.lower().endswith("position"):
                    local_pos[:, axis] += vals[:, k]
                elif c.lower().endswith("rotation"):
                    local_rot = local_rot @ R.axis_rotation(axis, np.deg2rad(vals[:, k]))
            p = self.parents[i]
            if p < 0:
                rots[:, i] = local_rot
                pos[:, i] = local_pos
            else:
                rots[:, i] = rots[:, p] @ local_rot
                pos[:, i] = pos[:, p] + (rots[:, p] @ local_pos[..., None])[..., 0]
        return rots, pos


def read_bvh(path: str | Path) -> BVHClip:
    """Parse a BVH file; raises BVHError with one line on bad input."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        raise BVHError(f"{path}: file not found") from None
    except OSError as e:
        raise BVHError(f"{path}: cannot read ({e.strerror})") from None
    tokens = text.split()
    names, parents, offsets, channels, end_sites = [], [], [], [], {}
    stack: list[int] = []
    i = 0
    try:
        if not tokens or tokens[0].upper() != "HIERARCHY":
            raise BVHError(f"{path}: not a BVH file (no HIERARCHY)")
        i = 1
        pending_end = False
        while i < len(tokens) and tokens[i].upper() != "MOTION":
            tok = tokens[i]
            up = tok.upper()
            if up in ("ROOT", "JOINT"):
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                offsets.append(np.zeros(3))
                channels.append(())
                i += 2
            elif up == "END":
                pending_end = True
                i += 2
            elif tok == "{":
                stack.append(-2 if pending_end else len(names) - 1)
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif up == "OFFSET":
                v = np.array([float(x) for x in tokens[i + 1:i + 4]])
                if pending_end:
                    end_sites[len(names) - 1] = v
                    pending_end = False
                else:
                    offsets[-1] = v
                i += 4
            elif up == "CHANNELS":
                n = int(tokens[i + 1])
                channels[-1] = tuple(tokens[i + 2:i + 2 + n])
                i += 2 + n
            else:
                raise BVHError(f"{path}: unexpected token {tok!r} in HIERARCHY")
        if i >= len(tokens):
            raise BVHError(f"{path}: no MOTION section")
        m = re.search(r"Frames:\s*(\d+)\s*[\r\n]+\s*Frame\s+Time:\s*([-+0-9.eE]+)[^\n]*\n", text)
        if not m:
            raise BVHError(f"{path}: missing 'Frames:' / 'Frame Time:' lines")
        frame_time = float(m.group(2))
        ncol = sum(len(c) for c in channels)
        rows = []
        for line in text[m.end():].splitlines():
            vals = line.split()
            if not vals:
                continue
            if len(vals) != ncol:
                break  # a line cut by a crash: stop at the last complete frame
            rows.append([float(v) for v in vals])
        motion = np.array(rows, dtype=np.float64).reshape(-1, ncol)
    except BVHError:
        raise
    except (ValueError, IndexError) as e:
        raise BVHError(f"{path}: malformed BVH ({e})") from None
    return BVHClip(names, parents, np.array(offsets), channels, end_sites, frame_time, motion)


def repair_bvh(path: str | Path) -> int:
    """Make a BVH cut short by a crash valid: drop a partial last line, fix ``Frames:``.

    Returns the number of complete frames kept.
    """
    path = Path(path)
    clip = read_bvh(path)
    text = path.read_text()
    m = re.search(r"Frames:\s*\d+[ \t]*[\r\n]+\s*Frame\s+Time:[^\n]*\n", text)
    lines = text[m.end():].splitlines()
    ncol = sum(len(c) for c in clip.channels)
    good = []
    for line in lines:
        if not line.strip():
            continue
        if len(line.split()) != ncol:
            break
        good.append(line)
    header = re.sub(r"Frames:[ \t]*\d+[ \t]*", f"Frames: {len(good)}", text[:m.end()], count=1)
    tmp = path.with_suffix(path.suffix + ".repair")
    tmp.write_text(header + "".join(g + "\n" for g in good))
    os.replace(tmp, path)
    return len(good)


# --------------------------------------------------------------------------- clips onto our skeleton

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
