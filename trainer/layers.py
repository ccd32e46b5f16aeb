"""Differentiable building blocks of SkeletonNet, in plain torch.

Each function mirrors a numpy function in ``engine/`` (tested against it) and
uses only operators that export to ONNX and run in TensorRT 10: no SVD, no
det, no einsum, no data-dependent control flow; divisions are guarded.

Shapes are documented per function; ``B`` is any batch shape.
"""
from __future__ import annotations

import torch

from engine import skeleton as S

EPS = 1e-8


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product along the last axis, written out (exports as plain arithmetic)."""
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return torch.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], dim=-1)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1, keepdim=True)


def _normalize(v: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    return v / torch.sqrt(torch.clamp(_dot(v, v), min=eps * eps))


def _unit(axis: int, like: torch.Tensor) -> torch.Tensor:
    """The unit vector along ``axis``, broadcast to ``like`` (..., 3)."""
    e = torch.tensor([1.0 if i == axis else 0.0 for i in range(3)], dtype=like.dtype, device=like.device)
    return e.expand(like.shape)


def _any_perpendicular(u: torch.Tensor) -> torch.Tensor:
    """A unit vector perpendicular to unit vectors ``u`` (..., 3)."""
    ex = _unit(0, u)
    ey = _unit(1, u)
    helper = torch.where(u[..., :1].abs() < 0.9, ex, ey)
    return _normalize(_cross(u, helper))


def gram_schmidt(m: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The Gram-Schmidt orthogonalisation layer: (..., 3, 3) -> (..., 3, 3) rotations.

    Same maths as ``engine.rotations.gram_schmidt``: first column normalised,
    second made orthogonal to it (two projection passes) and normalised,
    third = first x second (det = +1). Degenerate columns fall back to a fixed
    perpendicular, so the output is always a rotation and gradients stay finite.
    """
    a0, a1 = m[..., :, 0], m[..., :, 1]
    n0 = torch.sqrt(torch.clamp(_dot(a0, a0), min=eps * eps))
    ex = _unit(0, a0)
    c0 = torch.where(n0 > eps, a0 / n0, ex)
    u1 = a1 - _dot(c0, a1) * c0
    u1 = u1 - _dot(c0, u1) * c0
    n1 = torch.sqrt(torch.clamp(_dot(u1, u1), min=eps * eps))
    scale = torch.clamp(torch.sqrt(_dot(a1, a1)), min=1.0)
    c1 = torch.where(n1 > eps * scale, u1 / n1, _any_perpendicular(c0))
    c2 = _cross(c0, c1)
    return torch.stack([c0, c1, c2], dim=-1)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues: axis-angle (..., 3) radians -> (..., 3, 3); smooth at 0."""
    theta2 = _dot(aa, aa)
    theta = torch.sqrt(theta2 + 1e-12)
    k = aa / theta
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    zero = torch.zeros_like(kx)
    K = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).reshape(aa.shape[:-1] + (3, 3))
    s = torch.sin(theta)[..., None]
    c = torch.cos(theta)[..., None]
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand(K.shape)
    return eye + s * K + (1 - c) * (K @ K)


def rotation_between(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Minimal rotation dR with dR @ u/|u| = v/|v|. (..., 3), (..., 3) -> (..., 3, 3).

    Rodrigues about the normalised axis ``u x v`` (see
    ``engine.rotations.rotation_between``); no ``1 / (1 + cos)`` term, so
    opposite vectors stay finite (they turn 180 degrees about a perpendicular).
    """
    u = _normalize(u)
    v = _normalize(v)
    w = _cross(u, v)
    sin = torch.sqrt(_dot(w, w) + 1e-20)
    cos = _dot(u, v)
    k = torch.where(sin > 1e-7, w / sin, _any_perpendicular(u))
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    zero = torch.zeros_like(kx)
    K = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).reshape(k.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=u.dtype, device=u.device).expand(K.shape)
    return eye + sin[..., None] * K + (1 - cos)[..., None] * (K @ K)


def forward_kinematics(rotations: torch.Tensor, bone_vectors: torch.Tensor) -> torch.Tensor:
    """Root-relative joints from absolute bone rotations (linear integration).

    rotations: (B, 15, 3, 3); bone_vectors: (15, 3) rest vectors, metres.
    Returns (B, 16, 3) with the pelvis at the origin (``engine.skeleton.PATH``).
    """
    rotated = (rotations @ bone_vectors[..., None])[..., 0]
    path = torch.as_tensor(S.PATH, dtype=rotations.dtype, device=rotations.device)
    return path @ rotated


def local_to_absolute(local: torch.Tensor, root: torch.Tensor) -> torch.Tensor:
    """Parent-relative rotations (B, 15, 3, 3) and root rotations (B, 3, 3) -> absolute."""
    out = []
    for b in range(S.NUM_BONES):
        p = int(S.BONE_PARENTS[b])
        parent = root if p < 0 else out[p]
        out.append(parent @ local[:, b])
    return torch.stack(out, dim=1)


def bone_vectors_of(joints: torch.Tensor) -> torch.Tensor:
    """(B, 16, 3) -> (B, 15, 3) bone vectors end minus start."""
    ends = torch.as_tensor(S.BONES[:, 1], device=joints.device)
    starts = torch.as_tensor(S.BONES[:, 0], device=joints.device)
    return joints.index_select(-2, ends) - joints.index_select(-2, starts)


def scale_to_length(joints: torch.Tensor, reference_length: float, min_total=None) -> torch.Tensor:
    """Eq. 1: root-relative joints (B, 16, 3) scaled so bone lengths sum to a reference.

    The scale is bounded: a skeleton whose bones sum to less than ``min_total`` (in the units of
    ``joints``; a float or (B,); default a quarter of the reference) is not blown up further, which
    keeps gradients finite while heatmaps are still flat early in training. The bound must be in
    the joints' own units (docs/training.md: with heatmap coordinates it was in metres and never
    acted).
    """
    rel = joints - joints[:, S.ROOT:S.ROOT + 1]
    bones = bone_vectors_of(rel)
    total = torch.sqrt((bones * bones).sum(-1) + 1e-12).sum(-1)
    if min_total is None:
        min_total = 0.25 * reference_length
    if not torch.is_tensor(min_total):
        min_total = torch.full_like(total, float(min_total))
    return rel * (reference_length / torch.maximum(total, min_total))[:, None, None]


def encode_depth(z: torch.Tensor, z_root: torch.Tensor, focal: torch.Tensor, stride: float, map_size: int):
    """Camera depths (B, J) as zy-map columns: the map centre plus the depth offset from the root in
    image pixels at the root's distance, ``(z - z_root) * focal / z_root / stride``.
    z_root, focal: (B,) (focal in input pixels)."""
    return (map_size - 1) / 2 + (z - z_root[:, None]) * (focal / z_root)[:, None] / stride


def decode_perspective(coords: torch.Tensor, camera: torch.Tensor, stride: float, map_size: int) -> torch.Tensor:
    """Cross-heatmap read-out (B, J, 3) = (x, y, depth column) in map pixels -> 3D joints in camera
    axes (OpenCV), in units of the root's depth (so the root is at (.., .., 1)).

    Perspective-correct for the crop's pinhole camera ``camera`` (B, 3) = (focal, cx, cy) in input
    pixels: with ``zeta = (depth - centre) * stride / focal`` (inverse of ``encode_depth``),
    ``Z = 1 + zeta`` and ``X = Z (u - cx) / focal``, ``Y = Z (v - cy) / focal``. Exact labels
    round-trip (tests/trainer/test_decoding.py); Eq. 1 then removes the unknown root depth.
    """
    f, cx, cy = camera[:, 0, None], camera[:, 1, None], camera[:, 2, None]
    u = (coords[..., 0] + 0.5) * stride - 0.5
    v = (coords[..., 1] + 0.5) * stride - 0.5
    z = torch.clamp(1.0 + (coords[..., 2] - (map_size - 1) / 2) * stride / f, min=0.05)
    return torch.stack([z * (u - cx) / f, z * (v - cy) / f, z], dim=-1)


def gaussian_maps(points: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """2D Gaussian maps (peak 1) centred on points given in map pixel coordinates.

    points: (B, J, 2) as (x, y), pixel centres at integers. Returns (B, J, size, size).
    """
    grid = torch.arange(size, dtype=points.dtype, device=points.device)
    dx = grid[None, None, None, :] - points[..., 0, None, None]
    dy = grid[None, None, :, None] - points[..., 1, None, None]
    return torch.exp(-(dx * dx + dy * dy) / (2.0 * sigma * sigma))


def heatmap_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Spatial softmax: (B, J, H, W) logits -> probability maps summing to 1 per joint."""
    b, j, h, w = logits.shape
    return torch.softmax(logits.reshape(b, j, h * w), dim=-1).reshape(b, j, h, w)


def soft_argmax(probs: torch.Tensor) -> torch.Tensor:
    """Spatial soft-argmax: expected (x, y) under probability maps (B, J, H, W).

    Returns (B, J, 2) in map pixel coordinates (pixel centres at integers).
    With ``heatmap_probabilities`` of the network's logits every pixel keeps a
    gradient (no map can go dead), and a map shaped like the normalised
    Gaussian target reads out exactly its centre.
    """
    b, j, h, w = probs.shape
    xs = torch.arange(w, dtype=probs.dtype, device=probs.device)
    ys = torch.arange(h, dtype=probs.dtype, device=probs.device)
    x = (probs.sum(-2) * xs).sum(-1)
    y = (probs.sum(-1) * ys).sum(-1)
    return torch.stack([x, y], dim=-1)


def fit_to_map(points_xy: torch.Tensor, size: float, fill: float = 0.9) -> torch.Tensor:
    """Centre 2D points (B, J, 2) and scale them so their larger extent is ``fill * size``.

    The paper's projection of the FK skeleton onto the first upsampling layer
    ("scaled to 90% of the width"). Returns map pixel coordinates (B, J, 2).
    """
    lo = points_xy.min(dim=1, keepdim=True).values
    hi = points_xy.max(dim=1, keepdim=True).values
    extent = (hi - lo).max(dim=-1, keepdim=True).values
    centre = 0.5 * (lo + hi)
    scale = fill * size / torch.clamp(extent, min=1e-6)
    return (points_xy - centre) * scale + 0.5 * (size - 1)
