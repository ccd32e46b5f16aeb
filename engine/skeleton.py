"""The skeleton: the paper's 16 MPII joints and 15 bones, the rest pose, kinematics.

This module is the one place that knows joint and bone indices; everything
else asks it (``JOINT_INDEX["l_wrist"]``, ``BONE_INDEX["l_forearm"]``).

Rest pose: T-pose, Y-up, facing +Z, metres, right-handed, so the person's
left is +X. The pelvis (root) is at the origin.

Bone rotations are *absolute* (world) rotations of the rest bone vectors, as in
the paper: ``joint[child] = joint[parent] + R[bone] @ rest_vector[bone]``.
Summing rotated bone vectors along the path from the root (the paper's "linear
integration") is one matrix product with the fixed 0/1 matrix ``PATH``.
Parent-local rotations (``R_local = R_parent^T R``) are derived where a format
needs them; bones that start at the pelvis have the root (global) rotation as
parent. ``rotations_from_joints`` goes the other way for labels that have only
joints (the minimal-twist rule).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import rotations as R

JOINT_NAMES: tuple[str, ...] = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder",
    "l_elbow", "l_wrist",
)
JOINT_INDEX = {n: i for i, n in enumerate(JOINT_NAMES)}
NUM_JOINTS = len(JOINT_NAMES)
ROOT = JOINT_INDEX["pelvis"]

# Bones in topological order (a bone's parent bone always comes first):
# (name, start joint, end joint).
_BONES = (
    ("r_hip", "pelvis", "r_hip"),
    ("r_thigh", "r_hip", "r_knee"),
    ("r_shin", "r_knee", "r_ankle"),
    ("l_hip", "pelvis", "l_hip"),
    ("l_thigh", "l_hip", "l_knee"),
    ("l_shin", "l_knee", "l_ankle"),
    ("spine", "pelvis", "thorax"),
    ("neck", "thorax", "upper_neck"),
    ("head", "upper_neck", "head_top"),
    ("r_clavicle", "thorax", "r_shoulder"),
    ("r_upper_arm", "r_shoulder", "r_elbow"),
    ("r_forearm", "r_elbow", "r_wrist"),
    ("l_clavicle", "thorax", "l_shoulder"),
    ("l_upper_arm", "l_shoulder", "l_elbow"),
    ("l_forearm", "l_elbow", "l_wrist"),
)
BONE_NAMES: tuple[str, ...] = tuple(b[0] for b in _BONES)
BONE_INDEX = {n: i for i, n in enumerate(BONE_NAMES)}
NUM_BONES = len(BONE_NAMES)
#: (15, 2) int: start and end joint of each bone.
BONES = np.array([[JOINT_INDEX[a], JOINT_INDEX[b]] for _, a, b in _BONES], dtype=np.int64)
#: (16,) int: parent joint of each joint, -1 for the root.
JOINT_PARENTS = np.full(NUM_JOINTS, -1, dtype=np.int64)
JOINT_PARENTS[BONES[:, 1]] = BONES[:, 0]
#: (15,) int: the bone ending where each bone starts, -1 for bones leaving the root.
_END_TO_BONE = {int(e): b for b, e in enumerate(BONES[:, 1])}
BONE_PARENTS = np.array([_END_TO_BONE.get(int(s), -1) for s in BONES[:, 0]], dtype=np.int64)
#: (16, 15) float: PATH[j, b] = 1 when bone b lies on the path from the root to joint j.
PATH = np.zeros((NUM_JOINTS, NUM_BONES), dtype=np.float64)
for _b in range(NUM_BONES):
    _j = int(BONES[_b, 1])
    _bb = _b
    while _bb >= 0:
        PATH[_j, _bb] = 1.0
        _bb = int(BONE_PARENTS[_bb])


def _mirror_index(names: tuple[str, ...]) -> np.ndarray:
    swap = {"r_": "l_", "l_": "r_"}
    lookup = {n: i for i, n in enumerate(names)}
    return np.array([lookup[swap[n[:2]] + n[2:]] if n[:2] in swap else i
                     for i, n in enumerate(names)], dtype=np.int64)


#: (16,) int: index of the mirror-image joint (left <-> right), for flip augmentation.
JOINT_FLIP = _mirror_index(JOINT_NAMES)
#: (15,) int: index of the mirror-image bone.
BONE_FLIP = _mirror_index(BONE_NAMES)


def _default_rest_joints() -> np.ndarray:
    """An adult T-pose (about 1.80 m tall), pelvis at the origin. (16, 3) metres."""
    p = {
        "pelvis": (0.0, 0.0, 0.0),
        "r_hip": (-0.09, -0.06, 0.0), "l_hip": (0.09, -0.06, 0.0),
        "r_knee": (-0.09, -0.49, 0.0), "l_knee": (0.09, -0.49, 0.0),
        "r_ankle": (-0.09, -0.91, 0.0), "l_ankle": (0.09, -0.91, 0.0),
        "thorax": (0.0, 0.50, 0.0), "upper_neck": (0.0, 0.60, 0.0), "head_top": (0.0, 0.82, 0.0),
        "r_shoulder": (-0.18, 0.48, 0.0), "l_shoulder": (0.18, 0.48, 0.0),
        "r_elbow": (-0.46, 0.48, 0.0), "l_elbow": (0.46, 0.48, 0.0),
        "r_wrist": (-0.72, 0.48, 0.0), "l_wrist": (0.72, 0.48, 0.0),
    }
    return np.array([p[n] for n in JOINT_NAMES], dtype=np.float64)


@dataclass(frozen=True)
class Skeleton:
    """A rest skeleton: joint positions in the T-pose, and what follows from them.

    ``rest_joints``: (16, 3) metres, Y-up, facing +Z, pelvis at the origin.
    ``floor_offset``: metres from the pelvis down to the floor in the rest pose.
    Replace the default with one fitted to an avatar via ``Skeleton(joints)``.
    """

    rest_joints: np.ndarray
    floor_offset: float = 0.99

    def __post_init__(self):
        j = np.asarray(self.rest_joints, dtype=np.float64)
        if j.shape != (NUM_JOINTS, 3):
            raise ValueError(f"rest_joints must have shape (16, 3), got {j.shape}")
        object.__setattr__(self, "rest_joints", j - j[ROOT])

    @classmethod
    def default(cls) -> "Skeleton":
        return cls(_default_rest_joints())

    @property
    def bone_vectors(self) -> np.ndarray:
        """(15, 3) rest bone vectors, end minus start, metres."""
        return self.rest_joints[BONES[:, 1]] - self.rest_joints[BONES[:, 0]]

    @property
    def bone_lengths(self) -> np.ndarray:
        """(15,) rest bone lengths, metres."""
        return np.linalg.norm(self.bone_vectors, axis=-1)

    @property
    def total_length(self) -> float:
        """Sum of the 15 bone lengths, metres (the reference of Eq. 1)."""
        return float(self.bone_lengths.sum())

    def forward_kinematics(self, rotations: np.ndarray, root: np.ndarray | None = None) -> np.ndarray:
        """Joints from absolute bone rotations; see :func:`forward_kinematics`."""
        return forward_kinematics(rotations, self.bone_vectors, root)


def forward_kinematics(rotations: np.ndarray, bone_vectors: np.ndarray,
                       root: np.ndarray | None = None) -> np.ndarray:
    """Linear integration of rotated rest bone vectors from the root.

    rotations: (..., 15, 3, 3) absolute bone rotations.
    bone_vectors: (15, 3) or (..., 15, 3) rest bone vectors, metres.
    root: (..., 3) pelvis position, default the origin.
    Returns joints (..., 16, 3), metres.
    """
    rotations = np.asarray(rotations, dtype=np.float64)
    rotated = (rotations @ np.asarray(bone_vectors, dtype=np.float64)[..., None])[..., 0]
    joints = PATH @ rotated
    if root is not None:
        joints = joints + np.asarray(root, dtype=np.float64)[..., None, :]
    return joints


def absolute_to_local(rotations: np.ndarray, root_rotation: np.ndarray | None = None) -> np.ndarray:
    """Absolute bone rotations to rotations relative to the parent bone.

    rotations: (..., 15, 3, 3); root_rotation: (..., 3, 3), the parent of bones
    leaving the pelvis (identity when None). Returns (..., 15, 3, 3) with
    ``local[b] = R[parent(b)]^T @ R[b]``.
    """
    r = np.asarray(rotations, dtype=np.float64)
    root = np.broadcast_to(np.eye(3) if root_rotation is None else np.asarray(root_rotation, np.float64),
                           r.shape[:-3] + (3, 3))
    parents = np.concatenate([root[..., None, :, :], r], axis=-3)[..., BONE_PARENTS + 1, :, :]
    return np.swapaxes(parents, -1, -2) @ r


def local_to_absolute(local: np.ndarray, root_rotation: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`absolute_to_local`. (..., 15, 3, 3) -> (..., 15, 3, 3)."""
    local = np.asarray(local, dtype=np.float64)
    root = np.broadcast_to(np.eye(3) if root_rotation is None else np.asarray(root_rotation, np.float64),
                           local.shape[:-3] + (3, 3))
    out = np.empty_like(local)
    for b in range(NUM_BONES):  # topological order: parents are done first
        parent = root if BONE_PARENTS[b] < 0 else out[..., BONE_PARENTS[b], :, :]
        out[..., b, :, :] = parent @ local[..., b, :, :]
    return out


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """Bone lengths of posed joints. (..., 16, 3) -> (..., 15)."""
    joints = np.asarray(joints, dtype=np.float64)
    return np.linalg.norm(joints[..., BONES[:, 1], :] - joints[..., BONES[:, 0], :], axis=-1)


def normalize_skeleton_scale(joints: np.ndarray, reference_length: float) -> np.ndarray:
    """The paper's Eq. 1: root-relative joints scaled so the bone lengths sum to a reference.

    ``P'_j = (P_j - P_0) * l_ref / l_pred``. joints: (..., 16, 3) -> (..., 16, 3).
    """
    joints = np.asarray(joints, dtype=np.float64)
    rel = joints - joints[..., ROOT:ROOT + 1, :]
    total = bone_lengths(joints).sum(axis=-1)[..., None, None]
    return rel * (reference_length / np.maximum(total, 1e-12))


def pelvis_rotation(rotations: np.ndarray) -> np.ndarray:
    """Orientation of the (rigid) pelvis from the two hip bones' absolute rotations.

    The chordal mean of the ``r_hip`` and ``l_hip`` bone rotations (quaternion
    average, sign-aligned), equal to both when the pelvis is rigid. Formats with
    one root rotation (BVH root, the VMC ``Hips`` bone) use it.
    rotations: (..., 15, 3, 3) -> (..., 3, 3).
    """
    r = np.asarray(rotations, dtype=np.float64)
    qr = R.matrix_to_quat(r[..., BONE_INDEX["r_hip"], :, :])
    ql = R.matrix_to_quat(r[..., BONE_INDEX["l_hip"], :, :])
    ql = np.where(np.sum(qr * ql, axis=-1, keepdims=True) < 0, -ql, ql)
    return R.quat_to_matrix(qr + ql)


def rotations_from_joints(joints_world: np.ndarray) -> np.ndarray:
    """15 absolute rotations (15, 3, 3) reproducing the bone directions of joints (16, 3), world axes.

    The minimal-twist rule: the pelvis frame comes from the hips (x: right hip
    to left hip) and the spine (y); every other bone is its parent's rotation
    followed by the minimal turn onto its own direction.
    """
    j = np.asarray(joints_world, np.float64)
    u = Skeleton.default().bone_vectors
    x = j[JOINT_INDEX["l_hip"]] - j[JOINT_INDEX["r_hip"]]
    y = j[JOINT_INDEX["thorax"]] - j[ROOT]
    pelvis = R.gram_schmidt(np.stack([x, y, np.cross(x, y)], -1)) @ R.gram_schmidt(
        np.stack([u[BONE_INDEX["l_hip"]] - u[BONE_INDEX["r_hip"]], u[BONE_INDEX["spine"]],
                  np.cross(u[BONE_INDEX["l_hip"]] - u[BONE_INDEX["r_hip"]], u[BONE_INDEX["spine"]])], -1)).T
    out = np.empty((NUM_BONES, 3, 3))
    for b in range(NUM_BONES):
        p = int(BONE_PARENTS[b])
        parent = pelvis if p < 0 else out[p]
        s, e = BONES[b]
        out[b] = R.rotation_between(parent @ u[b], j[e] - j[s]) @ parent
    return out
