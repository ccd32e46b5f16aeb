"""Coordinate frames and the one place each conversion between them lives.

* **camera**: OpenCV, x right (in the image), y down, z forward (into the scene).
* **world**: right-handed, Y-up. A person facing the camera faces +Z in world,
  so their left is +X (the skeleton's rest pose uses the same axes).
* **unity**: left-handed, Y-up, Z forward (the VMC protocol's frame). An avatar
  facing +Z has its left at -X.

camera -> world is a 180-degree turn about X (``(x, y, z) -> (x, -y, -z)``);
world -> unity mirrors X (``(x, y, z) -> (-x, y, z)``). Points transform with
the basis matrix ``B``; rotations transform by conjugation ``B R B^T`` so that
``convert(R @ v) == convert(R) @ convert(v)``.

Shapes: points ``(..., 3)``, rotations ``(..., 3, 3)``, quaternions ``(..., 4)``
(x, y, z, w).

**Crop rolls** (upright crops, issue 29; ``engine.preprocess.Box.angle``). A crop turned by
``angle`` (its up is ``(sin angle, -cos angle)`` in frame pixels: a body leaning right in the
image has ``angle > 0``) is the image of a camera rolled about its optical axis: the network
looking at it sees every point ``X`` rolled, ``X' = crop_roll_camera(angle) X`` in camera axes
(``R_z(-angle)`` about OpenCV +z), which in world axes is ``X'_w = crop_roll_world(angle) X_w``
(``R_z(+angle)`` about world +Z, the axis towards the camera: counter-clockwise as the camera
sees it, which stands a body leaning clockwise upright). Its outputs come back with
``unroll_points_world`` (points, ``(..., 3)``) and ``unroll_rotations_world`` (absolute
rotations, ``(..., 3, 3)``: left-multiplied by the inverse roll); its 2D with
``Box.to_frame``. ``angle``: a float, or an array broadcastable against the leading dims.
"""
from __future__ import annotations

import numpy as np

CAMERA_TO_WORLD = np.diag([1.0, -1.0, -1.0])
WORLD_TO_UNITY = np.diag([-1.0, 1.0, 1.0])


def _points(b: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.asarray(p, dtype=np.float64) @ b.T


def _rotations(b: np.ndarray, r: np.ndarray) -> np.ndarray:
    return b @ np.asarray(r, dtype=np.float64) @ b.T


def camera_to_world(points: np.ndarray) -> np.ndarray:
    """Camera (OpenCV) points or directions (..., 3) to world (Y-up) (..., 3)."""
    return _points(CAMERA_TO_WORLD, points)


def world_to_camera(points: np.ndarray) -> np.ndarray:
    """World points (..., 3) to camera (OpenCV) points (..., 3)."""
    return _points(CAMERA_TO_WORLD.T, points)


def camera_to_world_rotation(r: np.ndarray) -> np.ndarray:
    """A rotation expressed in camera axes (..., 3, 3) re-expressed in world axes."""
    return _rotations(CAMERA_TO_WORLD, r)


def world_to_camera_rotation(r: np.ndarray) -> np.ndarray:
    """A rotation in world axes (..., 3, 3) re-expressed in camera axes."""
    return _rotations(CAMERA_TO_WORLD.T, r)


def world_to_unity(points: np.ndarray) -> np.ndarray:
    """World (right-handed Y-up) points (..., 3) to Unity (left-handed Y-up)."""
    return _points(WORLD_TO_UNITY, points)


def unity_to_world(points: np.ndarray) -> np.ndarray:
    """Unity points (..., 3) to world points."""
    return _points(WORLD_TO_UNITY.T, points)


def world_to_unity_rotation(r: np.ndarray) -> np.ndarray:
    """World rotation matrices (..., 3, 3) to Unity rotation matrices."""
    return _rotations(WORLD_TO_UNITY, r)


def unity_to_world_rotation(r: np.ndarray) -> np.ndarray:
    """Unity rotation matrices (..., 3, 3) to world rotation matrices."""
    return _rotations(WORLD_TO_UNITY.T, r)


def world_to_unity_quat(q: np.ndarray) -> np.ndarray:
    """World quaternions (..., 4) (x, y, z, w) to Unity quaternions.

    Mirroring X keeps the x component of the rotation axis's pseudo-vector and
    flips y and z: ``(x, y, z, w) -> (x, -y, -z, w)``. Equals
    ``matrix_to_quat(world_to_unity_rotation(quat_to_matrix(q)))`` up to sign.
    """
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([1.0, -1.0, -1.0, 1.0])


def unity_to_world_quat(q: np.ndarray) -> np.ndarray:
    """Unity quaternions (..., 4) to world quaternions (the mirror is its own inverse)."""
    return world_to_unity_quat(q)


def _roll_z(angle) -> np.ndarray:
    """R_z(angle) (..., 3, 3) = [[c, -s, 0], [s, c, 0], [0, 0, 1]] for angles (...)."""
    a = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1] = c, -s, s, c
    out[..., 2, 2] = 1.0
    return out


def crop_roll_camera(angle) -> np.ndarray:
    """(..., 3, 3) in camera (OpenCV) axes: takes a point the frame's camera sees to the point the
    camera of a crop turned by ``angle`` sees (``R_z(-angle)``; ``Box.intrinsics`` derives it)."""
    return _roll_z(-np.asarray(angle, dtype=np.float64))


def crop_roll_world(angle) -> np.ndarray:
    """(..., 3, 3) the same roll in world axes: ``CAMERA_TO_WORLD crop_roll_camera CAMERA_TO_WORLD^T``
    = ``R_z(+angle)`` about world +Z."""
    return _roll_z(angle)


def roll_points_world(points: np.ndarray, angle) -> np.ndarray:
    """World points (..., 3) as the camera of a crop turned by ``angle`` sees them (world axes)."""
    return (crop_roll_world(angle) @ np.asarray(points, dtype=np.float64)[..., None])[..., 0]


def unroll_points_world(points: np.ndarray, angle) -> np.ndarray:
    """The network's world-axis points (..., 3) for a crop turned by ``angle`` back in the frame's
    world axes (the inverse of ``roll_points_world``)."""
    return roll_points_world(points, -np.asarray(angle, dtype=np.float64))


def roll_rotations_world(r: np.ndarray, angle) -> np.ndarray:
    """Absolute rotations in world axes (..., 3, 3) as the camera of a crop turned by ``angle`` sees
    them: ``crop_roll_world(angle) @ r`` (a bone ``R v`` rolls as a point does)."""
    return crop_roll_world(angle) @ np.asarray(r, dtype=np.float64)


def unroll_rotations_world(r: np.ndarray, angle) -> np.ndarray:
    """The network's absolute world-axis rotations (..., 3, 3) for a crop turned by ``angle`` back in
    the frame's world axes: ``crop_roll_world(-angle) @ r`` (the inverse of ``roll_rotations_world``)."""
    return roll_rotations_world(r, -np.asarray(angle, dtype=np.float64))
