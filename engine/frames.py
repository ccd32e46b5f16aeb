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
