"""``Pose``: what the engine hands to every sink (renderer, VMC, BVH, JSONL).

One frame for everything 3D: world axes (Y-up, a person facing the camera faces +Z, their left
is +X; ``engine.frames``). Outputs documented in camera axes (``poses.jsonl``) convert at that
output with ``engine.frames.world_to_camera``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from engine import skeleton as S


@dataclass
class Pose:
    """One frame's estimate.

    rotations: (15, 3, 3) absolute bone rotations, world axes (identity = T-pose facing the
        camera), bone order of ``engine.skeleton``.
    pelvis_rotation: (3, 3) the pelvis (root) orientation, world axes: the network's own
        output; when not given (a source without one), rebuilt from the two hip bones
        (``engine.skeleton.pelvis_rotation``).
    joints_3d: (16, 3) metres, world axes, pelvis at the origin.
    joints_2d: (16, 2) pixels of the input frame.
    root_position: (3,) metres, world axes: pelvis displacement from where
        tracking started (zeros when unknown); used for root motion.
    state: "tracking" (a person this frame), "lost" (nobody; a person was tracked moments ago
        and the held pose eases to rest) or "searching" (nobody, none tracked recently).
    person: index of the person detection being tracked among those found when it was
        acquired (None when nobody is detected); people: how many the detector found then
        (on a frame without a person: how many it found on this frame, 0 when it did not run).

    ``local_rotations`` (15, 3, 3), the parent-local rotations under ``pelvis_rotation`` that
    the BVH writer needs, are computed once, on first use; treat a Pose as read-only.
    """

    rotations: np.ndarray
    joints_3d: np.ndarray = field(default_factory=lambda: np.zeros((S.NUM_JOINTS, 3)))
    joints_2d: np.ndarray = field(default_factory=lambda: np.zeros((S.NUM_JOINTS, 2)))
    confidence: float = 1.0
    detected: bool = True
    time: float = 0.0
    root_position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    state: str = "tracking"
    person: int | None = None
    people: int = 0
    pelvis_rotation: np.ndarray | None = None

    def __post_init__(self):
        if self.pelvis_rotation is None:
            self.pelvis_rotation = S.pelvis_rotation(self.rotations)

    @cached_property
    def local_rotations(self) -> np.ndarray:
        """(15, 3, 3) ``R_parent^T R`` per bone, the pelvis rotation as the root's."""
        return S.absolute_to_local(self.rotations, self.pelvis_rotation)

    @classmethod
    def rest(cls, time: float = 0.0) -> "Pose":
        return cls(rotations=np.broadcast_to(np.eye(3), (S.NUM_BONES, 3, 3)).copy(), time=time)
