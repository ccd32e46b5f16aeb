"""Temporal filters: One-Euro (Casiez et al., CHI 2012) on positions, and the same
adaptive low-pass on rotations (quaternion slerp, sign-consistent).

Each filter smooths hard when the signal is slow (``min_cutoff`` Hz) and
follows fast motion with little lag (cutoff grows by ``beta`` per unit of
speed). ``reset()`` forgets the history (call it when tracking is lost).
"""
from __future__ import annotations

import numpy as np

from engine import rotations as R


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / max(dt, 1e-6))


class OneEuroFilter:
    """One-Euro filter on arrays of any shape (each element filtered on its own)."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x = None
        self._dx = None
        self._t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        if dt <= 0:
            return self._x.copy()
        self._t = t
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
        a = _alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = self._x + a * (x - self._x)
        return self._x.copy()


class RotationFilter:
    """The One-Euro idea on rotations: per bone, slerp from the previous output towards the
    new rotation with a weight set by the smoothed angular speed (rad/s).

    Works on rotation matrices (..., 3, 3); quaternions are kept sign-consistent.
    """

    def __init__(self, min_cutoff: float = 1.5, beta: float = 0.3, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._q = None
        self._w = None
        self._t = None

    def __call__(self, rotations: np.ndarray, t: float) -> np.ndarray:
        q = R.matrix_to_quat(rotations)
        if self._q is None or self._q.shape != q.shape:
            self._q, self._w, self._t = q, np.zeros(q.shape[:-1]), t
            return R.quat_to_matrix(q)
        dt = t - self._t
        if dt <= 0:
            return R.quat_to_matrix(self._q)
        self._t = t
        q = np.where(np.sum(q * self._q, -1, keepdims=True) < 0, -q, q)
        dots = np.clip(np.abs(np.sum(q * self._q, -1)), 0.0, 1.0)
        speed = 2.0 * np.arccos(dots) / dt
        self._w = self._w + _alpha(self.d_cutoff, dt) * (speed - self._w)
        a = _alpha(self.min_cutoff + self.beta * np.abs(self._w), dt)
        self._q = R.quat_slerp(self._q, q, a)
        return R.quat_to_matrix(self._q)
