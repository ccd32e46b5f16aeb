"""Crops: from a frame to the network input and back.

A crop is a square box in frame pixels (pixel centres at integer
coordinates, box edges continuous): ``left``, ``top``, ``side``. The network
input of ``size`` pixels maps crop pixel ``u_c = s (u - left) - 0.5`` with
``s = size / side``: the same convention the synthetic data uses for its
crop intrinsics, so the model sees crops like the ones it was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def frame_intrinsics(width: int, height: int, fov_deg: float) -> np.ndarray:
    """Pinhole intrinsics (3, 3) of a ``width`` x ``height`` frame whose field of view across its
    larger side is ``fov_deg`` and whose principal point is its centre (pixel centres at integers)."""
    f = (max(width, height) / 2) / np.tan(np.deg2rad(fov_deg) / 2)
    return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    side: float

    @classmethod
    def full_frame(cls, width: int, height: int) -> "Box":
        """The whole frame, letterboxed into a square (padding where the frame ends)."""
        side = float(max(width, height))
        return cls((width - side) / 2 - 0.5, (height - side) / 2 - 0.5, side)

    @classmethod
    def around(cls, points: np.ndarray, scale: float = 1.25, min_side: float = 32.0) -> "Box":
        """A square ``scale`` times the tight box around 2D points (N, 2)."""
        lo, hi = points.min(0), points.max(0)
        c = (lo + hi) / 2
        side = max(float(max(hi - lo)) * scale, min_side)
        return cls(c[0] - side / 2, c[1] - side / 2, side)

    def affine(self, size: int) -> np.ndarray:
        """2x3 matrix mapping frame pixels to crop pixels."""
        s = size / self.side
        return np.array([[s, 0.0, -s * self.left - 0.5], [0.0, s, -s * self.top - 0.5]])

    def intrinsics(self, k: np.ndarray, size: int) -> np.ndarray:
        """The crop's intrinsics (3, 3) in input pixels from the frame's pinhole intrinsics ``k``
        (3, 3): ``affine(size) @ k``. The one crop rule of the engine (``camera``), the synthetic
        data (``K_crop``) and the real datasets."""
        return np.vstack([self.affine(size), [0.0, 0.0, 1.0]]) @ np.asarray(k, dtype=np.float64)

    def camera(self, size: int, width: int, height: int, fov_deg: float) -> np.ndarray:
        """The crop's pinhole intrinsics (3,) = (focal, cx, cy) in input pixels, for a frame of
        ``width`` x ``height`` whose field of view across its larger side is ``fov_deg`` and whose
        principal point is its centre (the network's ``camera`` input; ``intrinsics``)."""
        k = self.intrinsics(frame_intrinsics(width, height, fov_deg), size)
        return np.array([k[0, 0], k[0, 2], k[1, 2]])

    def to_crop(self, pts: np.ndarray, size: int) -> np.ndarray:
        """Frame pixels (..., 2) to crop pixels (the inverse of ``to_frame``)."""
        a = self.affine(size)
        return np.asarray(pts, dtype=np.float64) @ a[:, :2].T + a[:, 2]

    def to_frame(self, pts: np.ndarray, size: int) -> np.ndarray:
        """Crop pixels (..., 2) back to frame pixels."""
        s = size / self.side
        return (np.asarray(pts, dtype=np.float64) + 0.5) / s + np.array([self.left, self.top])


def crop(frame: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The box as a (size, size, 3) uint8 image (bilinear; black outside the frame)."""
    return cv2.warpAffine(frame, box.affine(size), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def to_input(crop_bgr: np.ndarray) -> np.ndarray:
    """A BGR uint8 crop (S, S, 3) as the network input (1, 3, S, S) float32 RGB 0..1."""
    return np.ascontiguousarray(crop_bgr[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
