"""A skinned avatar posed from our 15 bone rotations (retargeting onto its rig).

``Avatar`` holds one vertex buffer with *parts* (index ranges sharing a texture), the node
hierarchy with its rest transforms, the skin (joint nodes, inverse bind matrices) and the
humanoid bone of each node; ``animation.gltf.load_avatar`` reads one from glTF/GLB/VRM, and
``trainer.data.bodies`` builds them from Anny bodies.

``Avatar.skinning_matrices(rotations, root_position, pelvis)`` retargets our 15
absolute bone rotations (world axes, identity = T-pose facing +Z) onto the
avatar's bind pose: a driven humanoid bone's posed global rotation is
``R_ours @ A @ Q_rest`` where ``Q_rest`` is its rest global rotation and ``A``
the minimal rotation taking the avatar's rest bone direction to our rest bone
direction (identity for a T-pose avatar, the arm-lowering turn for an
A-pose one). The ``hips`` node takes the pelvis rotation (the network's, carried by
``engine.pose.Pose``; rebuilt from the two hip bones only when none is given). Every other
node keeps its rest rotation relative to its parent. ``root_turn`` turns an avatar that faces
another way in its file (VRM 0.x: 180 degrees about Y).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine import rotations as R
from engine import skeleton as S

HUMANOID = ("hips", "spine", "chest", "upperChest", "neck", "head",
            "leftShoulder", "leftUpperArm", "leftLowerArm", "leftHand",
            "rightShoulder", "rightUpperArm", "rightLowerArm", "rightHand",
            "leftUpperLeg", "leftLowerLeg", "leftFoot", "rightUpperLeg", "rightLowerLeg", "rightFoot")
#: humanoid bones needed to drive an avatar
REQUIRED = ("hips", "spine", "head", "leftUpperArm", "leftLowerArm", "leftHand", "rightUpperArm",
            "rightLowerArm", "rightHand", "leftUpperLeg", "leftLowerLeg", "leftFoot", "rightUpperLeg",
            "rightLowerLeg", "rightFoot")
#: driven humanoid bone -> (our bone, humanoid bone whose rest position ends the segment)
DRIVEN = {
    "spine": ("spine", "neck"), "neck": ("neck", "head"), "head": ("head", None),
    "leftUpperArm": ("l_upper_arm", "leftLowerArm"), "leftLowerArm": ("l_forearm", "leftHand"),
    "rightUpperArm": ("r_upper_arm", "rightLowerArm"), "rightLowerArm": ("r_forearm", "rightHand"),
    "leftUpperLeg": ("l_thigh", "leftLowerLeg"), "leftLowerLeg": ("l_shin", "leftFoot"),
    "rightUpperLeg": ("r_thigh", "rightLowerLeg"), "rightLowerLeg": ("r_shin", "rightFoot"),
}


@dataclass
class Part:
    first: int            # first index in the index buffer
    count: int            # number of indices
    texture: int          # index into Avatar.textures, -1 for none
    color: tuple = (1.0, 1.0, 1.0, 1.0)


@dataclass
class Avatar:
    path: str
    positions: np.ndarray      # (V, 3) float32, bind pose, mesh space
    normals: np.ndarray        # (V, 3) float32
    colors: np.ndarray         # (V, 4) float32
    uvs: np.ndarray            # (V, 2) float32
    joints: np.ndarray         # (V, 4) int, into the skinning matrices
    weights: np.ndarray        # (V, 4) float32, rows sum to 1
    indices: np.ndarray        # (3T,) uint32
    parts: list[Part]
    textures: list[np.ndarray]             # (H, W, 4) uint8 RGBA
    node_names: list[str]
    node_parents: np.ndarray               # (N,) -1 for roots
    rest_local: np.ndarray                 # (N, 4, 4)
    joint_nodes: np.ndarray                # (J,) node of each skinning matrix
    inverse_bind: np.ndarray               # (J, 4, 4)
    humanoid: dict[str, int]               # humanoid bone -> node
    root_turn: np.ndarray = field(default_factory=lambda: np.eye(4))  # facing fix (VRM 0.x: 180 about Y)
    kind: str = "glTF"

    def __post_init__(self):
        self._order = _topological(self.node_parents)
        self.rest_global = _globals(self.rest_local, self.node_parents, self._order, self.root_turn)
        self._drive: dict[int, tuple[int, np.ndarray]] = {}
        self._hips = self.humanoid["hips"]
        for h, (bone, end) in DRIVEN.items():
            if h not in self.humanoid:
                continue
            n = self.humanoid[h]
            ours = S.Skeleton.default().bone_vectors[S.BONE_INDEX[bone]]
            if end is not None and end in self.humanoid:
                d = self.rest_global[self.humanoid[end]][:3, 3] - self.rest_global[n][:3, 3]
            else:
                d = ours  # a bone with no end in the rig (head): assume it points like ours
            align = R.rotation_between(d, ours) if np.linalg.norm(d) > 1e-9 else np.eye(3)
            self._drive[n] = (S.BONE_INDEX[bone], align @ _rotation_part(self.rest_global[n]))
        self._hips_rest = _rotation_part(self.rest_global[self._hips])

    @property
    def num_joints(self) -> int:
        return len(self.joint_nodes)

    def node_globals(self, rotations: np.ndarray | None = None, root_position=None,
                     pelvis: np.ndarray | None = None) -> np.ndarray:
        """Posed global node matrices (N, 4, 4); rest pose when ``rotations`` is None.

        rotations: (15, 3, 3) absolute, world axes; root_position: (3,) metres added to the hips;
        pelvis: (3, 3) the pelvis rotation (default: rebuilt from the hip bones)."""
        if rotations is None:
            return self.rest_global.copy()
        rotations = np.asarray(rotations, dtype=np.float64)
        pelvis = S.pelvis_rotation(rotations) if pelvis is None else np.asarray(pelvis, dtype=np.float64)
        out = np.empty_like(self.rest_local)
        for n in self._order:
            p = self.node_parents[n]
            parent = self.root_turn if p < 0 else out[p]
            local = self.rest_local[n]
            target = None
            if n == self._hips:
                target = pelvis @ self._hips_rest
            elif n in self._drive:
                b, rest = self._drive[n]
                target = rotations[b] @ rest
            if target is None:
                out[n] = parent @ local
            else:
                gp = _rotation_part(parent)
                scale = np.linalg.norm(local[:3, :3], axis=0)
                m = np.eye(4)
                m[:3, :3] = (gp.T @ target) * scale
                m[:3, 3] = local[:3, 3]
                out[n] = parent @ m
            if n == self._hips and root_position is not None:
                out[n][:3, 3] += np.asarray(root_position, dtype=np.float64)
        return out

    def skinning_matrices(self, rotations: np.ndarray | None = None, root_position=None,
                          pelvis: np.ndarray | None = None) -> np.ndarray:
        """(J, 4, 4) matrices for the skinning shader (identity-like at rest); arguments as
        ``node_globals``."""
        g = self.node_globals(rotations, root_position, pelvis)
        return g[self.joint_nodes] @ self.inverse_bind

    def skin(self, matrices: np.ndarray) -> np.ndarray:
        """Numpy linear blend skinning (the reference for the shader): (V, 3) float64."""
        m = np.einsum("vk,vkij->vij", self.weights.astype(np.float64), matrices[self.joints])
        p = np.concatenate([self.positions.astype(np.float64), np.ones((len(self.positions), 1))], 1)
        return (m @ p[..., None])[:, :3, 0]


def _rotation_part(m: np.ndarray) -> np.ndarray:
    """Rotation of a rotation-times-scale 4x4 (glTF nodes have no shear): columns normalised."""
    a = m[:3, :3]
    return a / np.linalg.norm(a, axis=0)


def _topological(parents: np.ndarray) -> list[int]:
    order, seen = [], set()

    def visit(n):
        if n in seen:
            return
        if parents[n] >= 0:
            visit(int(parents[n]))
        seen.add(n)
        order.append(n)

    for n in range(len(parents)):
        visit(n)
    return order


def _globals(local, parents, order, root):
    out = np.empty_like(local)
    for n in order:
        p = parents[n]
        out[n] = (root if p < 0 else out[p]) @ local[n]
    return out
