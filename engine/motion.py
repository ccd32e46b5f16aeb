"""The motion model: 3D joints and bone rotations from a causal window of SkeletonNet's 2D.

SkeletonNet's own depth was learned from renders and does not carry over to real people; its 2D
does much better. The motion model (trained on motion capture only, ``trainer/motion/``,
docs/motion.md) lifts the last ``T`` frames of 2D joints to the current frame's 3D pose.

Per frame it sees (``frame_features``):

* the 16 joints as camera rays (the frame's intrinsics applied, so the field of view and the
  crop do not matter), turned by one *view rotation*, the minimal turn that brings the newest
  frame's mean unit ray onto the optical axis (a person at the edge of a wide lens looks like one
  in the centre), projected again, then centred and scaled by the newest frame's spread;
* per joint, whether it lies inside the frame (the network guesses the others);
* per bone, the twist of SkeletonNet's rotation about the bone (cos, sin), which 2D cannot show;
* the log of the frame's own spread (distance and perspective) and a flag for real frames (the
  window is padded with copies of its first frame when tracking has just started).

It outputs 16 rotations (the 15 bones, then the pelvis) in the view's world axes; ``MotionModel``
turns them back to world axes (``engine.frames``) and rebuilds the joints by forward kinematics of
the app's skeleton, so rotations and joints always agree.

Shapes: joints_2d (..., 16, 2) frame pixels; intrinsics (..., 3, 3); rotations (..., 15, 3, 3).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import frames
from engine import rotations as R
from engine import skeleton as S
from engine.backend_base import BackendError, ort_session

#: version of the motion model's input and output layout (``motion.contract`` metadata)
MOTION_CONTRACT = 1
#: per-frame features: 32 centred 2D, 16 in-frame flags, 30 twist cos/sin, log spread, real-frame flag
FEATURES = 2 * S.NUM_JOINTS + S.NUM_JOINTS + 2 * S.NUM_BONES + 2
#: outputs: the 15 bone rotations then the pelvis rotation
OUTPUTS = S.NUM_BONES + 1

_REST = S.Skeleton.default().bone_vectors
_REST_UNIT = _REST / np.linalg.norm(_REST, axis=-1, keepdims=True)


def twist_angles(rotations: np.ndarray) -> np.ndarray:
    """Twist (radians, -pi..pi) of each absolute bone rotation about its own rest bone: the rotation
    left after the minimal swing that takes the rest bone onto its posed direction (swing-twist
    decomposition ``R = swing @ twist``: with quaternion (v, w), ``2 atan2(v . u, w)``).
    (..., 15, 3, 3) -> (..., 15)."""
    q = R.matrix_to_quat(np.asarray(rotations, np.float64))
    a = 2.0 * np.arctan2(np.sum(q[..., :3] * _REST_UNIT, -1), q[..., 3])
    return np.where(a > np.pi, a - 2 * np.pi, np.where(a <= -np.pi, a + 2 * np.pi, a))


def with_twist(rotations: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotations (..., 15, 3, 3) with their twist about the rest bone set to ``angles`` (..., 15)."""
    r = np.asarray(rotations, np.float64)
    extra = np.asarray(angles, np.float64) - twist_angles(r)
    return r @ R.axis_angle_to_matrix(_REST_UNIT * extra[..., None])


def camera_rays(joints_2d: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pixels (..., J, 2) and intrinsics (..., 3, 3) -> rays (..., J, 3) with z = 1, camera axes."""
    k = np.asarray(intrinsics, np.float64)
    uv = np.asarray(joints_2d, np.float64)
    x = (uv[..., 0] - k[..., None, 0, 2]) / k[..., None, 0, 0]
    y = (uv[..., 1] - k[..., None, 1, 2]) / k[..., None, 1, 1]
    return np.stack([x, y, np.ones_like(x)], -1)


def in_frame(joints_2d: np.ndarray, width, height) -> np.ndarray:
    """1.0 where a joint (..., 16, 2) lies inside the ``width`` x ``height`` frame, else 0.0."""
    uv = np.asarray(joints_2d, np.float64)
    w, h = np.asarray(width, np.float64)[..., None], np.asarray(height, np.float64)[..., None]
    inside_x = (uv[..., 0] >= -0.5) & (uv[..., 0] <= w - 0.5)
    return (inside_x & (uv[..., 1] >= -0.5) & (uv[..., 1] <= h - 0.5)).astype(np.float64)


def window_features(rays: np.ndarray, inside: np.ndarray, twist: np.ndarray, real: np.ndarray):
    """Features (..., T, FEATURES) float32 of a window and its view rotation (..., 3, 3), world axes.

    rays: (..., T, 16, 3) camera rays (``camera_rays``); inside: (..., T, 16) in-frame flags;
    twist: (..., T, 15) radians (``twist_angles`` of the network's rotations); real: (..., T) 1 for
    a tracked frame, 0 for padding. The newest frame is last.
    """
    rays = np.asarray(rays, np.float64)
    newest = rays[..., -1, :, :]
    mean = (newest / np.linalg.norm(newest, axis=-1, keepdims=True)).mean(-2)  # turns with the camera
    view = R.rotation_between(mean, np.broadcast_to([0.0, 0.0, 1.0], mean.shape))  # camera axes
    v = rays @ np.swapaxes(view, -1, -2)[..., None, :, :]
    p = v[..., :2] / np.maximum(v[..., 2:3], 1e-3)
    spread = np.sqrt(((p - p.mean(-2, keepdims=True)) ** 2).sum(-1).mean(-1))  # (..., T)
    c = p[..., -1, :, :].mean(-2)
    x = (p - c[..., None, None, :]) / np.maximum(spread[..., -1, None, None, None], 1e-6)
    tw = np.asarray(twist, np.float64)
    feats = np.concatenate([x.reshape(x.shape[:-2] + (-1,)), np.asarray(inside, np.float64),
                            np.cos(tw), np.sin(tw), np.log(np.maximum(spread, 1e-6))[..., None],
                            np.asarray(real, np.float64)[..., None]], -1)
    return feats.astype(np.float32), frames.camera_to_world_rotation(view)


def from_view(rotations_view: np.ndarray, view_world: np.ndarray) -> np.ndarray:
    """The model's rotations (..., 16, 3, 3) in the view's world axes back to world axes."""
    return np.swapaxes(view_world, -1, -2)[..., None, :, :] @ np.asarray(rotations_view, np.float64)


@dataclass
class MotionOutput:
    joints_3d: np.ndarray        # (16, 3) metres, world axes, pelvis at the origin (app skeleton)
    rotations: np.ndarray        # (15, 3, 3) absolute, world axes
    pelvis_rotation: np.ndarray  # (3, 3) world axes


class MotionModel:
    """``MotionModel(path)``: an exported motion model (ONNX) with its causal window.

    Call it once per tracked frame, in order; ``reset()`` when tracking is lost. A missing or
    broken file is a ``BackendError`` with one line.
    """

    def __init__(self, path: str | Path, threads: int = 1, skeleton: S.Skeleton | None = None):
        path = Path(path)
        if not path.is_file():
            raise BackendError(f"{path}: motion model not found" if not path.exists() else
                               f"{path}: is not a file (the motion model must be an .onnx file)")
        self.session = ort_session(path, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("motion.contract") != str(MOTION_CONTRACT):
            raise BackendError(f"{path}: not a motion model of contract {MOTION_CONTRACT} "
                               f"(found {meta.get('motion.contract', 'no motion metadata')}); "
                               "export one with python -m trainer motion export")
        self.window = int(meta["motion.window"])
        self.path = path
        self.skeleton = skeleton or S.Skeleton.default()
        self._input = self.session.get_inputs()[0].name
        self._frames: deque = deque(maxlen=self.window)

    def reset(self) -> None:
        self._frames.clear()

    def close(self) -> None:
        """Release the ONNX Runtime session; the model cannot run after it."""
        self.session = None

    def __call__(self, joints_2d: np.ndarray, intrinsics: np.ndarray, width: int, height: int,
                 rotations: np.ndarray) -> MotionOutput:
        """One tracked frame: 2D joints (16, 2) frame pixels, the frame's intrinsics (3, 3) and size,
        SkeletonNet's bone rotations (15, 3, 3) -> the newest frame's 3D pose."""
        self._frames.append((camera_rays(joints_2d, intrinsics), in_frame(joints_2d, width, height),
                             twist_angles(rotations)))
        items = list(self._frames)
        pad = self.window - len(items)
        rays, inside, twist = (np.stack([it[i] for it in [items[0]] * pad + items]) for i in range(3))
        real = np.r_[np.zeros(pad), np.ones(len(items))]
        x, view = window_features(rays, inside, twist, real)
        out = self.session.run(None, {self._input: x[None]})[0][0]
        rot = from_view(out, view)
        return MotionOutput(self.skeleton.forward_kinematics(rot[:S.NUM_BONES]), rot[:S.NUM_BONES], rot[S.NUM_BONES])
