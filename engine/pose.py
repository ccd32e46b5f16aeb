"""``Pose``: what the engine hands to every sink (renderer, VMC, BVH, JSONL)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine import skeleton as S


@dataclass
class Pose:
    """One frame's estimate.

    rotations: (15, 3, 3) absolute bone rotations, world axes (Y-up; identity =
        T-pose facing the camera), bone order of ``engine.skeleton``.
    joints_3d: (16, 3) metres, camera axes (OpenCV), pelvis at the origin.
    joints_2d: (16, 2) pixels of the input frame.
    root_position: (3,) metres, world axes: pelvis displacement from where
        tracking started (zeros when unknown); used for root motion.
    state: "tracking" (a person this frame), "lost" (nobody; a person was tracked moments ago
        and the held pose eases to rest) or "searching" (nobody, none tracked recently).
    person: index of the person detection being tracked among those found when it was
        acquired (None when nobody is detected); people: how many the detector found then
        (on a frame without a person: how many it found on this frame, 0 when it did not run).
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

    @classmethod
    def rest(cls, time: float = 0.0) -> "Pose":
        return cls(rotations=np.broadcast_to(np.eye(3), (S.NUM_BONES, 3, 3)).copy(), time=time)
