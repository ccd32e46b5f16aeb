"""Camera maths for the renderer: GL view/projection matrices (numpy, float64).

GL conventions: the camera looks down -Z with +Y up; matrices act on column
vectors. ``from_opencv`` turns OpenCV intrinsics and extrinsics (x right, y
down, z forward; pixel centres at integer coordinates) into GL matrices so a
render lands exactly where ``K @ [R|t]`` projects.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """World -> camera (4, 4) for a camera at ``eye`` looking at ``target``."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    f = target - eye
    f /= np.linalg.norm(f)
    s = np.cross(f, up)
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def perspective(fovy_deg: float, aspect: float, near: float = 0.05, far: float = 100.0) -> np.ndarray:
    f = 1.0 / np.tan(np.deg2rad(fovy_deg) / 2)
    return np.array([[f / aspect, 0, 0, 0], [0, f, 0, 0],
                     [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)], [0, 0, -1, 0]])


def projection_from_intrinsics(k: np.ndarray, width: int, height: int, near: float = 0.05,
                               far: float = 100.0) -> np.ndarray:
    """GL projection (4, 4) reproducing OpenCV intrinsics ``k`` (3, 3) on a width x height image."""
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    return np.array([
        [2 * fx / width, 0, 1 - 2 * (cx + 0.5) / width, 0],
        [0, 2 * fy / height, 2 * (cy + 0.5) / height - 1, 0],
        [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
        [0, 0, -1, 0],
    ])


def from_opencv(k: np.ndarray, rotation: np.ndarray, translation: np.ndarray, width: int, height: int,
                near: float = 0.05, far: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """(view, projection) from OpenCV ``K``, world->camera ``R`` (3, 3) and ``t`` (3,)."""
    rt = np.eye(4)
    rt[:3, :3], rt[:3, 3] = rotation, translation
    return CV_TO_GL @ rt, projection_from_intrinsics(k, width, height, near, far)


@dataclass
class OrbitCamera:
    """Mouse orbit/zoom camera around ``target`` (world, Y-up).

    ``fit`` sets the distance that shows a body of a given size whole (with a
    margin) at an aspect ratio; ``follow`` moves the target smoothly towards a
    point (the avatar's hips), so the avatar stays framed while root motion
    carries it around (the floor grid shows that motion)."""

    yaw: float = 0.0          # degrees; 0 looks at the avatar's front (from +Z)
    pitch: float = 5.0        # degrees above the horizon
    distance: float = 3.2     # metres
    target: tuple = (0.0, 0.95, 0.0)
    fovy: float = 35.0
    auto_fit: bool = False    # fit() sets the distance (the live window; the user's zoom turns it off)
    _velocity: np.ndarray = field(default_factory=lambda: np.zeros(3), repr=False)
    _last_point: np.ndarray | None = field(default=None, repr=False)

    def fit(self, height: float, width: float, aspect: float, margin: float = 1.25) -> None:
        """Distance at which a ``height`` x ``width`` metre body fills the view with ``margin``."""
        if not self.auto_fit:
            return
        t = np.tan(np.deg2rad(self.fovy) / 2)
        self.distance = float(max(0.5 * height * margin / t, 0.5 * width * margin / (t * aspect)))

    def follow(self, point, dt: float, tau: float = 0.35, tau_velocity: float = 0.7, max_speed: float = 6.0) -> None:
        """Move the target towards ``point`` (3,), smoothly and without lagging a steady walk.

        Double exponential smoothing: the point's speed (capped at ``max_speed``
        m/s, so a jump of a noisy root is not taken for a run) is smoothed with
        time constant ``tau_velocity``, the target moves on with it and closes
        the remaining gap with time constant ``tau`` seconds (0 = at once). A
        jump over 3 m (a clip looping) is taken at once."""
        p = np.asarray(point, dtype=np.float64)
        cur = np.asarray(self.target, dtype=np.float64)
        if tau <= 0 or np.linalg.norm(p - cur) > 3.0:
            self.target, self._velocity, self._last_point = tuple(p), np.zeros(3), p
            return
        if self._last_point is None:  # no speed known yet
            self._last_point = p
        if dt <= 0:
            return
        v = (p - self._last_point) / dt
        speed = np.linalg.norm(v)
        if speed > max_speed:
            v *= max_speed / speed
        self._velocity = self._velocity + (1.0 - np.exp(-dt / tau_velocity)) * (v - self._velocity)
        ahead = cur + self._velocity * dt
        self.target = tuple(ahead + (1.0 - np.exp(-dt / tau)) * (p - ahead))
        self._last_point = p

    def eye(self) -> np.ndarray:
        y, p = np.deg2rad(self.yaw), np.deg2rad(self.pitch)
        d = np.array([np.sin(y) * np.cos(p), np.sin(p), np.cos(y) * np.cos(p)])
        return np.asarray(self.target) + self.distance * d

    def view(self) -> np.ndarray:
        return look_at(self.eye(), self.target)

    def projection(self, aspect: float) -> np.ndarray:
        return perspective(self.fovy, aspect)

    def orbit(self, d_yaw: float, d_pitch: float) -> None:
        self.yaw = (self.yaw + d_yaw) % 360.0
        self.pitch = float(np.clip(self.pitch + d_pitch, -85.0, 85.0))

    def zoom(self, factor: float) -> None:
        self.distance = float(np.clip(self.distance * factor, 0.5, 20.0))
        self.auto_fit = False
