"""Crops: from a frame to the network input and back.

A crop is a square box in frame pixels (pixel centres at integer
coordinates, box edges continuous): ``left``, ``top``, ``side``, and ``angle``
(radians, default 0). Unturned (``angle == 0``), the network input of ``size``
pixels maps crop pixel ``u_c = s (u - left) - 0.5`` with ``s = size / side``: the
same convention the synthetic data uses for its crop intrinsics, so the model
sees crops like the ones it was trained on.

**Upright crops** (issue 29). A turned box is the same square, centred at
``c = (left + side / 2, top + side / 2)``, turned about ``c`` by ``angle`` so that a
body leaning by ``angle`` stands upright in the crop. Sign: ``angle`` is the
angle of the crop's "up" from the frame's up, clockwise on the screen (image y
grows down): the crop's up vector in frame pixels is ``(sin angle, -cos angle)``
and its right vector ``(cos angle, sin angle)``. A body whose shoulders lie to
the right of its hips (leaning right) has ``angle > 0`` (``upright_angle``; the
person detector's ``Detection.rotation`` has the same sign). With
``R(t) = [[cos t, -sin t], [sin t, cos t]]`` (``R(angle)`` takes the frame's up
``(0, -1)`` to the crop's up):

    u_c = s R(-angle) (u - c) + (size / 2 - 0.5)        (frame pixel u -> crop pixel u_c)
    u   = c + R(angle) (u_c - (size / 2 - 0.5)) / s

which for ``angle == 0`` is the formula above (``affine`` keeps its old arithmetic
there, so unturned crops are bit-for-bit what they were).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.frames import crop_roll_camera


def frame_intrinsics(width: int, height: int, fov_deg: float) -> np.ndarray:
    """Pinhole intrinsics (3, 3) of a ``width`` x ``height`` frame whose field of view across its
    larger side is ``fov_deg`` and whose principal point is its centre (pixel centres at integers)."""
    f = (max(width, height) / 2) / np.tan(np.deg2rad(fov_deg) / 2)
    return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])


def upright_angle(hip_centre: np.ndarray, shoulder_centre: np.ndarray) -> np.ndarray | float:
    """The crop ``angle`` (radians, ``Box``) that makes the line from the hip centre to the shoulder
    centre point up in the crop: ``atan2(dx, -dy)`` of ``shoulder_centre - hip_centre`` (frame
    pixels, (..., 2) each). 0 when the shoulders are straight above the hips, > 0 when they lie to
    the right of them (leaning right, clockwise on the screen), +-pi upside down. A degenerate line
    (shorter than 1e-6 px) gives 0. Returns a float for one pair, else an array (...)."""
    v = np.asarray(shoulder_centre, np.float64) - np.asarray(hip_centre, np.float64)
    ang = np.where(np.hypot(v[..., 0], v[..., 1]) > 1e-6, np.arctan2(v[..., 0], -v[..., 1]), 0.0)
    return float(ang) if ang.ndim == 0 else ang


def _turn(angle: float) -> np.ndarray:
    """R(angle) (2, 2) = [[cos, -sin], [sin, cos]]: takes the frame's up (0, -1) to the crop's up."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


@dataclass(frozen=True)
class Box:
    """A square crop: ``left``, ``top``, ``side`` in frame pixels, turned by ``angle`` radians about its
    centre (module docstring: the crop's up in frame pixels is ``(sin angle, -cos angle)``; a body
    leaning right gets ``angle > 0``; 0 = axis aligned, exactly the crops of before issue 29).
    ``left`` / ``top`` are those of the unturned square: the centre is ``(left + side / 2, top + side / 2)``
    whatever the angle."""
    left: float
    top: float
    side: float
    angle: float = 0.0

    @property
    def centre(self) -> np.ndarray:
        """(2,) the box centre in frame pixels (the point it turns about)."""
        return np.array([self.left + self.side / 2, self.top + self.side / 2])

    @classmethod
    def full_frame(cls, width: int, height: int) -> "Box":
        """The whole frame, letterboxed into a square (padding where the frame ends)."""
        side = float(max(width, height))
        return cls((width - side) / 2 - 0.5, (height - side) / 2 - 0.5, side)

    @classmethod
    def around(cls, points: np.ndarray, scale: float = 1.25, min_side: float = 32.0, angle: float = 0.0) -> "Box":
        """A square ``scale`` times the tight box around 2D points (N, 2), the tight box measured in the
        crop's turned axes (those of a ``Box`` of this ``angle``); at least ``min_side``."""
        points = np.asarray(points, np.float64)
        if angle == 0.0:
            lo, hi = points.min(0), points.max(0)
            c = (lo + hi) / 2
        else:
            r = _turn(angle)
            q = points @ r          # R(-angle) p: the points in the crop's axes (row vectors: p @ R = (R^T p)^T)
            lo, hi = q.min(0), q.max(0)
            c = r @ ((lo + hi) / 2)  # back to frame axes
        side = max(float(max(hi - lo)) * scale, min_side)
        return cls(c[0] - side / 2, c[1] - side / 2, side, float(angle))

    def affine(self, size: int) -> np.ndarray:
        """2x3 matrix mapping frame pixels to crop pixels: ``u_c = s R(-angle) (u - c) + size / 2 - 0.5``
        (module docstring); for ``angle == 0`` exactly ``[[s, 0, -s left - 0.5], [0, s, -s top - 0.5]]``."""
        s = size / self.side
        if self.angle == 0.0:
            return np.array([[s, 0.0, -s * self.left - 0.5], [0.0, s, -s * self.top - 0.5]])
        m = s * _turn(self.angle).T  # s R(-angle)
        t = (size / 2 - 0.5) - m @ self.centre
        return np.hstack([m, t[:, None]])

    def inverse_affine(self, size: int) -> np.ndarray:
        """2x3 matrix mapping crop pixels back to frame pixels (the inverse of ``affine``):
        ``u = c + R(angle) (u_c - (size / 2 - 0.5)) / s``."""
        a = np.vstack([self.affine(size), [0.0, 0.0, 1.0]])
        return np.linalg.inv(a)[:2]

    def intrinsics(self, k: np.ndarray, size: int) -> np.ndarray:
        """The crop's pinhole intrinsics (3, 3) in input pixels from the frame's pinhole intrinsics ``k``
        (3, 3; equal focal lengths, no skew, as every engine camera): the one crop rule of the engine
        (``camera``), the synthetic data (``K_crop``) and the real datasets.

        Unturned, ``affine(size) @ k``. Turned, the crop is what a camera rolled about its optical axis
        sees. Derivation, with the frame's focal ``f``, principal point ``p``, box centre ``c``,
        ``s = size / side``, ``h = size / 2 - 0.5`` and ``R(t)`` as in the module docstring: a point
        ``X`` in the frame camera's axes (OpenCV) projects to ``u = f X_xy / X_z + p``, so its crop pixel
        is ``u_c = s R(-a) (u - c) + h = (s f) R(-a) X_xy / X_z + [s R(-a) (p - c) + h]``. With
        ``X' = Rz(-a) X`` (``engine.frames.crop_roll_camera(a)``: ``X'_xy = R(-a) X_xy``, ``X'_z = X_z``)
        this is ``u_c = (s f) X'_xy / X'_z + p'``: a pinhole camera of focal ``s f`` and principal point
        ``p' = s R(-a) (p - c) + h`` looking at the points rolled by ``Rz(-a)`` (camera axes), i.e. by
        ``engine.frames.crop_roll_world(a)`` (``R_z(+a)`` about world +Z) in world axes. As matrices
        ``affine @ k = K' Rz(-a)``, so ``K' = affine @ k @ Rz(-a)^T``, returned here; the network's 3D
        outputs for a turned crop are in those rolled axes (``engine.frames.unroll_points_world``)."""
        ak = np.vstack([self.affine(size), [0.0, 0.0, 1.0]]) @ np.asarray(k, dtype=np.float64)
        if self.angle == 0.0:
            return ak
        return ak @ crop_roll_camera(self.angle).T

    def camera(self, size: int, width: int, height: int, fov_deg: float) -> np.ndarray:
        """The crop's pinhole intrinsics (3,) = (focal, cx, cy) in input pixels, for a frame of
        ``width`` x ``height`` whose field of view across its larger side is ``fov_deg`` and whose
        principal point is its centre (the network's ``camera`` input; ``intrinsics``: for a turned
        box, those of the rolled camera)."""
        k = self.intrinsics(frame_intrinsics(width, height, fov_deg), size)
        return np.array([k[0, 0], k[0, 2], k[1, 2]])

    def to_crop(self, pts: np.ndarray, size: int) -> np.ndarray:
        """Frame pixels (..., 2) to crop pixels (the inverse of ``to_frame``)."""
        a = self.affine(size)
        return np.asarray(pts, dtype=np.float64) @ a[:, :2].T + a[:, 2]

    def to_frame(self, pts: np.ndarray, size: int) -> np.ndarray:
        """Crop pixels (..., 2) back to frame pixels."""
        s = size / self.side
        if self.angle == 0.0:
            return (np.asarray(pts, dtype=np.float64) + 0.5) / s + np.array([self.left, self.top])
        d = (np.asarray(pts, dtype=np.float64) - (size / 2 - 0.5)) / s
        return d @ _turn(self.angle).T + self.centre


def crop(frame: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The box as a (size, size, 3) uint8 image (bilinear; black outside the frame)."""
    return cv2.warpAffine(frame, box.affine(size), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def to_input(crop_bgr: np.ndarray) -> np.ndarray:
    """A BGR uint8 crop (S, S, 3) as the network input (1, 3, S, S) float32 RGB 0..1."""
    return np.ascontiguousarray(crop_bgr[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
