"""Rotation maths, numpy, batched over any leading dimensions.

Conventions (see ``docs/conventions.md``):

* Rotation matrices act on column vectors: ``v' = R @ v``. Shape ``(..., 3, 3)``.
* Quaternions are ``(x, y, z, w)``, shape ``(..., 4)``; functions returning a
  quaternion canonicalise it to ``w >= 0``.
* Axis-angle vectors are ``axis * angle`` (radians), shape ``(..., 3)``.
* Euler angles are *intrinsic* Tait-Bryan angles: order ``"ZXY"`` means
  ``R = Rz(a0) @ Rx(a1) @ Ry(a2)``, the same reading as a BVH channel list
  ``Zrotation Xrotation Yrotation``. All six orders are supported, in radians
  or degrees.

The Gram-Schmidt orthonormalisation here is the same maths as the network
layer in ``trainer/`` (which is tested against it).
"""
from __future__ import annotations

import numpy as np

EPS = 1e-12
EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
_AXIS = {"X": 0, "Y": 1, "Z": 2}


def _normalize(v: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Unit vectors along the last axis; zero vectors stay zero. ``(..., n)``."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps)


def _any_perpendicular(u: np.ndarray) -> np.ndarray:
    """A unit vector perpendicular to unit vectors ``u`` ``(..., 3)``."""
    ex = np.broadcast_to(np.array([1.0, 0.0, 0.0], dtype=u.dtype), u.shape)
    ey = np.broadcast_to(np.array([0.0, 1.0, 0.0], dtype=u.dtype), u.shape)
    helper = np.where(np.abs(u[..., :1]) < 0.9, ex, ey)
    return _normalize(np.cross(u, helper))


def gram_schmidt(m: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Nearest-by-construction rotation from arbitrary 3x3 matrices.

    Columns are orthonormalised in order: ``c0 = m[:, 0] / |m[:, 0]|``,
    ``c1`` = the part of ``m[:, 1]`` orthogonal to ``c0``, normalised, and
    ``c2 = c0 x c1`` (so ``det = +1`` always; a third Gram-Schmidt step could
    give a reflection). The projection is applied twice, which keeps ``c1``
    orthogonal to ``c0`` to rounding error even when the columns are nearly
    parallel. Degenerate input (a zero first column, or a second
    column parallel to the first) falls back to a fixed perpendicular choice,
    so the result is always a rotation.

    m: (..., 3, 3) -> (..., 3, 3) rotation matrices, same float dtype.
    """
    m = np.asarray(m, dtype=np.float64 if np.asarray(m).dtype != np.float32 else np.float32)
    a0 = m[..., :, 0]
    a1 = m[..., :, 1]
    n0 = np.linalg.norm(a0, axis=-1, keepdims=True)
    ex = np.broadcast_to(np.array([1.0, 0.0, 0.0], dtype=m.dtype), a0.shape)
    c0 = np.where(n0 > eps, a0 / np.maximum(n0, eps), ex)
    u1 = a1 - np.sum(c0 * a1, axis=-1, keepdims=True) * c0
    u1 = u1 - np.sum(c0 * u1, axis=-1, keepdims=True) * c0  # second pass: "twice is enough"
    n1 = np.linalg.norm(u1, axis=-1, keepdims=True)
    c1 = np.where(n1 > eps * np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), 1.0),
                  u1 / np.maximum(n1, eps), _any_perpendicular(c0))
    c2 = np.cross(c0, c1)
    return np.stack([c0, c1, c2], axis=-1)


def is_rotation(r: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """True where ``r`` (..., 3, 3) is orthonormal with det +1, within ``tol``."""
    r = np.asarray(r, dtype=np.float64)
    eye = np.eye(3)
    orth = np.abs(np.swapaxes(r, -1, -2) @ r - eye).max(axis=(-1, -2)) <= tol
    return orth & (np.abs(np.linalg.det(r) - 1.0) <= tol)


# --------------------------------------------------------------------------- quaternions

def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternions ``(..., 4)`` (x, y, z, w), normalised first, to ``(..., 3, 3)``."""
    q = _normalize(np.asarray(q, dtype=np.float64))
    x, y, z, w = np.moveaxis(q, -1, 0)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    r = np.stack([
        1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
        2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
        2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
    ], axis=-1)
    return r.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` to unit quaternions ``(..., 4)``, w >= 0.

    Picks, per matrix, the numerically best of the four standard branches
    (largest of w, x, y, z), so it is accurate near 180 degrees too.
    """
    r = np.asarray(r, dtype=np.float64)
    m00, m01, m02 = r[..., 0, 0], r[..., 0, 1], r[..., 0, 2]
    m10, m11, m12 = r[..., 1, 0], r[..., 1, 1], r[..., 1, 2]
    m20, m21, m22 = r[..., 2, 0], r[..., 2, 1], r[..., 2, 2]
    tr = m00 + m11 + m22
    # 4*q_i^2 for each component, one branch per candidate
    cand = np.stack([1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22, 1 + tr], -1)
    best = np.argmax(cand, axis=-1)
    s = 2.0 * np.sqrt(np.maximum(np.take_along_axis(cand, best[..., None], -1)[..., 0], EPS))
    qx = np.stack([s / 4, (m01 + m10) / s, (m02 + m20) / s, (m21 - m12) / s], -1)
    qy = np.stack([(m01 + m10) / s, s / 4, (m12 + m21) / s, (m02 - m20) / s], -1)
    qz = np.stack([(m02 + m20) / s, (m12 + m21) / s, s / 4, (m10 - m01) / s], -1)
    qw = np.stack([(m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s, s / 4], -1)
    q = np.choose(best[..., None], [qx, qy, qz, qw]) if best.ndim else [qx, qy, qz, qw][int(best)]
    q = _normalize(q)
    return np.where(q[..., 3:4] < 0, -q, q)


def quat_slerp(q0: np.ndarray, q1: np.ndarray, t) -> np.ndarray:
    """Spherical interpolation along the shorter arc.

    q0, q1: (..., 4); t: scalar or array broadcastable to ``(...)``, 0 -> q0,
    1 -> q1 (or -q1, the same rotation). Returns unit quaternions (..., 4);
    the sign follows q0's hemisphere, so a stream of slerps stays sign-consistent.
    """
    q0 = _normalize(np.asarray(q0, dtype=np.float64))
    q1 = _normalize(np.asarray(q1, dtype=np.float64))
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    theta = np.arccos(dot)
    sin_t = np.sin(theta)
    close = sin_t < 1e-6
    safe = np.where(close, 1.0, sin_t)
    w0 = np.where(close, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(close, t, np.sin(t * theta) / safe)
    return _normalize(w0 * q0 + w1 * q1)


# --------------------------------------------------------------------------- axis-angle

def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """Axis-angle vectors ``(..., 3)`` (radians) to rotation matrices (Rodrigues)."""
    aa = np.asarray(aa, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = 0.5 * theta
    # sin(theta/2)/theta, with its Taylor series near 0
    k = np.where(theta > 1e-8, np.sin(half) / np.maximum(theta, EPS), 0.5 - theta ** 2 / 48.0)
    q = np.concatenate([aa * k, np.cos(half)], axis=-1)
    return quat_to_matrix(q)


def matrix_to_axis_angle(r: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` to axis-angle ``(..., 3)``, angle in [0, pi]."""
    q = matrix_to_quat(r)
    v = q[..., :3]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., 3:4])
    scale = np.where(s > 1e-8, angle / np.maximum(s, EPS), 2.0 + s ** 2 / 3.0)
    return v * scale


# --------------------------------------------------------------------------- Euler

def axis_rotation(axis: int, angle) -> np.ndarray:
    """Rotation about coordinate axis ``axis`` (0=X, 1=Y, 2=Z) by ``angle`` radians (...) -> (..., 3, 3)."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    if axis == 0:
        rows = [o, z, z, z, c, -s, z, s, c]
    elif axis == 1:
        rows = [c, z, s, z, o, z, -s, z, c]
    else:
        rows = [c, -s, z, s, c, z, z, z, o]
    return np.stack(rows, axis=-1).reshape(angle.shape + (3, 3))


def _check_order(order: str) -> tuple[int, int, int]:
    order = order.upper()
    if order not in EULER_ORDERS:
        raise ValueError(f"Euler order {order!r} is not one of {', '.join(EULER_ORDERS)}")
    return tuple(_AXIS[c] for c in order)  # type: ignore[return-value]


def euler_to_matrix(angles: np.ndarray, order: str = "ZXY", degrees: bool = False) -> np.ndarray:
    """Intrinsic Euler angles ``(..., 3)`` to rotation matrices ``(..., 3, 3)``.

    ``order="ZXY"`` gives ``Rz(angles[..., 0]) @ Rx(angles[..., 1]) @ Ry(angles[..., 2])``.
    """
    i, j, k = _check_order(order)
    a = np.asarray(angles, dtype=np.float64)
    if degrees:
        a = np.deg2rad(a)
    return axis_rotation(i, a[..., 0]) @ axis_rotation(j, a[..., 1]) @ axis_rotation(k, a[..., 2])


def matrix_to_euler(r: np.ndarray, order: str = "ZXY", degrees: bool = False) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` to intrinsic Euler angles ``(..., 3)``.

    The middle angle lies in [-90, 90] degrees, the others in (-180, 180]. At
    gimbal lock (middle angle +-90) the last angle is set to 0 and the first
    carries the whole remaining rotation, so ``euler_to_matrix`` of the result
    reproduces ``r``.
    """
    i, j, k = _check_order(order)
    r = np.asarray(r, dtype=np.float64)
    s = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    sin_b = np.clip(s * r[..., i, k], -1.0, 1.0)
    b = np.arcsin(sin_b)
    cos_b = np.sqrt(np.maximum(0.0, 1.0 - sin_b ** 2))
    a = np.arctan2(-s * r[..., j, k], r[..., k, k])
    c = np.arctan2(-s * r[..., i, j], r[..., i, i])
    lock = cos_b < 1e-7
    a_lock = np.arctan2(s * r[..., k, j], r[..., j, j])
    a = np.where(lock, a_lock, a)
    c = np.where(lock, 0.0, c)
    out = np.stack([a, b, c], axis=-1)
    return np.rad2deg(out) if degrees else out


# --------------------------------------------------------------------------- distances

def geodesic_angle(r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """Angle (radians, [0, pi]) of the rotation taking ``r1`` to ``r2``.

    Computed from ``|r1 - r2|_F`` and ``|r1 + r2|_F`` (which give sin and cos of
    half the angle): exactly 0 for equal inputs, exactly symmetric, accurate at
    small angles. (..., 3, 3) -> (...).
    """
    r1, r2 = np.broadcast_arrays(np.asarray(r1, dtype=np.float64), np.asarray(r2, dtype=np.float64))
    flat = r1.shape[:-2] + (9,)
    # |r1 - r2|^2 = 8 sin^2(theta/2) and |r1 + r2|^2 = 4 + 8 cos^2(theta/2)
    sin_half = np.linalg.norm((r1 - r2).reshape(flat), axis=-1)
    cos_half = np.sqrt(np.maximum(np.sum((r1 + r2).reshape(flat) ** 2, axis=-1) - 4.0, 0.0))
    return 2.0 * np.arctan2(sin_half, cos_half)


def rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Minimal rotation turning direction ``u`` into direction ``v``.

    u, v: (..., 3), any non-zero lengths -> (..., 3, 3). Rodrigues' formula
    about the unit axis ``k = (u x v) / |u x v|`` with ``sin = |u x v|`` and
    ``cos = u . v`` (unit u, v): ``R = I + sin [k]x + (1 - cos) [k]x^2``. Using
    the normalised axis (rather than dividing by ``1 + cos``) keeps R a rotation
    for nearly opposite vectors; for exactly parallel or opposite ones the axis
    is any perpendicular of u.
    """
    u = _normalize(np.asarray(u, dtype=np.float64))
    v = _normalize(np.asarray(v, dtype=np.float64))
    w = np.cross(u, v)
    sin = np.linalg.norm(w, axis=-1, keepdims=True)
    cos = np.sum(u * v, axis=-1, keepdims=True)
    k = np.where(sin > 1e-12, w / np.maximum(sin, 1e-300), _any_perpendicular(u))
    zero = np.zeros_like(k[..., 0])
    kx = np.stack([zero, -k[..., 2], k[..., 1], k[..., 2], zero, -k[..., 0],
                   -k[..., 1], k[..., 0], zero], axis=-1).reshape(k.shape[:-1] + (3, 3))
    eye = np.broadcast_to(np.eye(3), kx.shape)
    return eye + sin[..., None] * kx + (1.0 - cos)[..., None] * (kx @ kx)
