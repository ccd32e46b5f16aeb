"""``Estimator``: a camera frame in, a ``Pose`` out.

1. Crop: around the person tracked from the previous pose (a square
   ``crop_scale`` times the tight box around the last 2D joints); at start and
   after losing the person, the whole frame letterboxed. When the crop was the
   whole frame (re-acquiring), a second pass runs at once on the box found.
2. Backend inference; decoding: 2D joints back to frame pixels, 3D joints
   (metres, camera axes, pelvis at the origin), 15 absolute rotations, a
   confidence.
3. Below ``min_confidence`` nobody is detected: tracking restarts from the
   whole frame, the filters reset, and the pose held eases back to rest over
   ``rest_ease_s`` seconds.
4. Temporal filtering: One-Euro on 2D and 3D joints (2D in metre-like units:
   pixels divided by the crop's pixels per metre, so one setting fits both),
   the rotation filter on bone rotations (``enabled`` switches all).
5. Root motion: the pelvis displacement (world axes, metres) from where
   tracking started, from the 2D pelvis position and the image scale of the
   skeleton (weak perspective).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from engine import rotations as R
from engine import skeleton as S
from engine.filters import OneEuroFilter, RotationFilter
from engine.pose import Pose
from engine.preprocess import Box, crop, to_input


@dataclass
class EstimatorSettings:
    min_confidence: float = 0.3
    crop_scale: float = 1.25
    rest_ease_s: float = 1.0
    filter_enabled: bool = True
    position: tuple = (1.0, 10.0, 1.0)  # One-Euro min_cutoff (Hz), beta (per m/s), d_cutoff (Hz)
    rotation: tuple = (1.5, 10.0, 1.0)  # the same per rad/s


class Estimator:
    def __init__(self, backend, settings: EstimatorSettings | None = None):
        self.backend = backend
        self.s = settings or EstimatorSettings()
        self.size = backend.input_size
        self.box: Box | None = None
        self.f2d = OneEuroFilter(*self.s.position)
        self.f3d = OneEuroFilter(*self.s.position)
        self.frot = RotationFilter(*self.s.rotation)
        self.last: Pose | None = None
        self.lost_at: float | None = None
        self._origin = None
        self.timings = {"preprocess": 0.0, "inference": 0.0, "filter": 0.0}

    @property
    def filter_enabled(self) -> bool:
        return self.s.filter_enabled

    @filter_enabled.setter
    def filter_enabled(self, on: bool) -> None:
        self.s.filter_enabled = bool(on)
        self.reset_filters()

    def reset_filters(self) -> None:
        self.f2d.reset()
        self.f3d.reset()
        self.frot.reset()

    def _infer(self, frame: np.ndarray, box: Box):
        t0 = time.perf_counter()
        if hasattr(self.backend, "run"):  # backends that crop on the device
            t1 = time.perf_counter()
            out = self.backend.run(frame, box)
        else:
            x = to_input(crop(frame, box, self.size))
            t1 = time.perf_counter()
            out = self.backend(x)
        t2 = time.perf_counter()
        self.timings["preprocess"] += t1 - t0
        self.timings["inference"] += t2 - t1
        return out, box.to_frame(out.joints_2d, self.size)

    def __call__(self, frame: np.ndarray, t: float | None = None) -> Pose:
        t = time.monotonic() if t is None else t
        for k in self.timings:
            self.timings[k] = 0.0
        h, w = frame.shape[:2]
        reacquire = self.box is None
        box = Box.full_frame(w, h) if reacquire else self.box
        out, j2 = self._infer(frame, box)
        if reacquire and out.confidence >= self.s.min_confidence:
            out, j2 = self._infer(frame, Box.around(j2, self.s.crop_scale))  # refine on the person
        if out.confidence < self.s.min_confidence or not np.isfinite(j2).all():
            return self._lost(t, out.confidence)
        self.box = Box.around(j2, self.s.crop_scale)
        j3 = np.asarray(out.joints_3d, np.float64)
        rot = np.asarray(out.rotations, np.float64)
        t0 = time.perf_counter()
        if self.s.filter_enabled:
            ppm = self.box.side / 2.2  # pixels per metre: the crop spans about 2.2 m of a standing person
            j2 = self.f2d(j2 / ppm, t) * ppm
            j3 = self.f3d(j3, t)
            rot = self.frot(rot, t)
        self.timings["filter"] = time.perf_counter() - t0
        pose = Pose(rotations=rot, joints_3d=j3, joints_2d=j2, confidence=out.confidence, detected=True, time=t,
                    root_position=self._root_motion(j2, j3))
        self.last, self.lost_at = pose, None
        return pose

    def _root_motion(self, j2: np.ndarray, j3: np.ndarray) -> np.ndarray:
        b2 = np.linalg.norm(j2[S.BONES[:, 1]] - j2[S.BONES[:, 0]], axis=1).sum()
        b3 = np.linalg.norm(j3[S.BONES[:, 1], :2] - j3[S.BONES[:, 0], :2], axis=1).sum()
        m_per_px = b3 / max(b2, 1e-6)
        pelvis = j2[S.ROOT]
        if self._origin is None:
            self._origin = (pelvis.copy(), m_per_px)
        p0, m0 = self._origin
        dx, dy = (pelvis - p0) * m_per_px
        dz = 2.5 * (m_per_px / max(m0, 1e-9) - 1.0)  # distance grows with metres per pixel; 2.5 m at start
        return np.array([dx, -dy, -dz])  # camera axes -> world axes (Y-up, +Z towards the camera)

    def _lost(self, t: float, confidence: float) -> Pose:
        self.box = None
        self.reset_filters()
        if self.lost_at is None:
            self.lost_at = t
        rest = np.broadcast_to(np.eye(3), (S.NUM_BONES, 3, 3))
        if self.last is None:
            return Pose(rotations=rest.copy(), confidence=confidence, detected=False, time=t)
        a = 1.0 if self.s.rest_ease_s <= 0 else min(1.0, (t - self.lost_at) / self.s.rest_ease_s)
        q = R.quat_slerp(R.matrix_to_quat(self.last.rotations), np.array([0.0, 0.0, 0.0, 1.0]), a)
        return Pose(rotations=R.quat_to_matrix(q), joints_3d=self.last.joints_3d, joints_2d=self.last.joints_2d,
                    confidence=confidence, detected=False, time=t, root_position=self.last.root_position)
