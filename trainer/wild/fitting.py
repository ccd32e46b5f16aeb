"""Fit the rest skeleton's 15 bone rotations to 3D joints (as-rigid-as-possible style).

Unknowns: one rotation R_b per bone and the 16 joint positions p. Energy

    E = sum_b |(p_end(b) - p_start(b)) - R_b u_b|^2                (bone rigidity)
      + lam * sum_j w_j |p_j - t_j|^2                             (position constraints)
      + mu * sum_{b ~ c} |R_b - R_c|_F^2                           (smoothness of neighbours)

with u_b the rest bone vectors, t the target joints (scaled to the rest
skeleton's bone-length total, Eq. 1) and w_j per-joint confidences. As in
ARAP, it alternates a local step and a global step (p by linear least squares,
one 16x16 system shared by x, y and z). The local step visits the bones in
order (updated neighbours are used at once) and solves each R_b in closed
form: its direction R_b u_b follows the current edge (the rigidity term's
optimum), and its twist about that direction maximises tr(R_b^T sum_c R_c)
(the smoothness term's optimum for that direction). The smoothness term is what
fixes the twist about each bone's own axis, which the joints alone leave
free: a bone's twist follows its neighbours, so a bent elbow or knee becomes a
swing about one axis rather than a screw.

The start comes from frames built from the joints (``engine.skeleton.rotations_from_joints``:
the pelvis frame from the hips and spine, then each bone turned minimally from
its parent onto its own direction). The result's forward kinematics is what
the labels use (``joints`` in the result), so rotations and joints agree.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import rotations as R
from engine import skeleton as S

REST = S.Skeleton.default()


def _neighbours() -> list[list[int]]:
    """Bones sharing a joint."""
    nb = [[] for _ in range(S.NUM_BONES)]
    for b in range(S.NUM_BONES):
        for c in range(S.NUM_BONES):
            if b != c and set(S.BONES[b].tolist()) & set(S.BONES[c].tolist()):
                nb[b].append(c)
    return nb


NEIGHBOURS = _neighbours()
# incidence: edge b = p_end - p_start
_D = np.zeros((S.NUM_BONES, S.NUM_JOINTS))
_D[np.arange(S.NUM_BONES), S.BONES[:, 1]] = 1.0
_D[np.arange(S.NUM_BONES), S.BONES[:, 0]] = -1.0


def _local_step(r: np.ndarray, edge: np.ndarray, u: np.ndarray, neighbours_sum: np.ndarray) -> np.ndarray:
    """The bone rotation minimising rigidity, then its twist minimising the smoothness term.

    The direction R u follows the edge exactly (the rigidity optimum); the
    twist angle about that direction is the closed-form maximiser of
    tr(R^T sum_c R_c): f(th) = cos(th) (tr N - d.N.d) + sin(th) <[d]x, N> + const
    with N = (sum_c R_c) R0^T.
    """

    n = np.linalg.norm(edge)
    if n < 1e-9:
        return r
    d = edge / n
    r0 = R.rotation_between(r @ u, d) @ r
    big_n = neighbours_sum @ r0.T
    dx = np.array([[0.0, -d[2], d[1]], [d[2], 0.0, -d[0]], [-d[1], d[0], 0.0]])
    dnd = d @ big_n @ d
    th = np.arctan2((dx * big_n).sum(), np.trace(big_n) - dnd)
    twist = np.cos(th) * np.eye(3) + np.sin(th) * dx + (1 - np.cos(th)) * np.outer(d, d)
    return twist @ r0


@dataclass
class Fit:
    rotations: np.ndarray   # (15, 3, 3) absolute bone rotations, world axes
    joints: np.ndarray      # (16, 3) FK of the rotations, pelvis at the origin, world axes
    target: np.ndarray      # (16, 3) the scaled target the fit was made to
    error_mm: float         # mean weighted distance |FK - target|
    energy: list            # energy after each iteration (non-increasing)


def fit_skeleton(joints_world: np.ndarray, weights: np.ndarray | None = None, lam: float = 10.0,
                 mu: float = 1.0, iters: int = 30, scale_to_rest: bool = True) -> Fit:
    """Rotations of the rest skeleton fitted to 3D joints (16, 3), world axes (Y up)."""
    t = np.asarray(joints_world, np.float64)
    t = t - t[S.ROOT]
    if scale_to_rest:
        t = S.normalize_skeleton_scale(t, REST.total_length)
    w = np.ones(S.NUM_JOINTS) if weights is None else np.clip(np.asarray(weights, np.float64), 0.0, None)
    w = w.copy()
    w[S.ROOT] = max(w[S.ROOT], 1.0)  # the root anchors the solution
    u = REST.bone_vectors
    rot = S.rotations_from_joints(t)
    a = _D.T @ _D + lam * np.diag(w)
    a_inv = np.linalg.inv(a)
    p = t.copy()
    energy = []

    def total(rot, p):
        e = ((p[S.BONES[:, 1]] - p[S.BONES[:, 0]] - (rot @ u[..., None])[..., 0]) ** 2).sum()
        e += lam * (w[:, None] * (p - t) ** 2).sum()
        e += mu * sum(((rot[b] - rot[c]) ** 2).sum() for b in range(S.NUM_BONES) for c in NEIGHBOURS[b]) / 2
        return float(e)

    for _ in range(iters):
        edges = p[S.BONES[:, 1]] - p[S.BONES[:, 0]]
        for b in range(S.NUM_BONES):  # local step (Gauss-Seidel over bones)
            rot[b] = _local_step(rot[b], edges[b], u[b], sum(rot[c] for c in NEIGHBOURS[b]))
        r = (rot @ u[..., None])[..., 0]
        p = a_inv @ (_D.T @ r + lam * w[:, None] * t)  # global step
        energy.append(total(rot, p))
    fk = S.forward_kinematics(rot, u)
    err = float((np.linalg.norm(fk - t, axis=1) * w).sum() / w.sum() * 1000.0)
    return Fit(rot, fk, t, err, energy)


def twist_angles(rotations: np.ndarray) -> np.ndarray:
    """Twist (degrees) of each bone about its own rest axis relative to its parent (swing-twist split).

    The pelvis children are measured against the pelvis rotation. (15, 3, 3) -> (15,).
    """

    rot = np.asarray(rotations, np.float64)
    local = S.absolute_to_local(rot, S.pelvis_rotation(rot))
    q = R.matrix_to_quat(local)
    axis = REST.bone_vectors / np.linalg.norm(REST.bone_vectors, axis=1, keepdims=True)
    return np.degrees(2.0 * np.abs(np.arctan2((q[:, :3] * axis).sum(-1), q[:, 3])))


def implausible(rotations: np.ndarray, knee_limit_deg: float = 25.0, twist_limit_deg: float = 120.0) -> list[str]:
    """Reasons a fitted pose breaks joint limits (empty when plausible).

    A knee must not bend forwards by more than ``knee_limit_deg`` (the shin's
    part across the thigh pointing to the body's front), and no bone may twist
    about its own axis by more than ``twist_limit_deg`` relative to its parent.
    """
    rot = np.asarray(rotations, np.float64)
    j = S.forward_kinematics(rot, REST.bone_vectors)
    fwd = S.pelvis_rotation(rot)[:, 2]  # the body's front (+z of the rest pose, which faces the camera)
    out = []
    for side in ("r", "l"):
        hip, knee, ankle = (j[S.JOINT_INDEX[f"{side}_{n}"]] for n in ("hip", "knee", "ankle"))
        thigh, shin = (knee - hip) / np.linalg.norm(knee - hip), (ankle - knee) / np.linalg.norm(ankle - knee)
        across = shin - thigh * np.dot(shin, thigh)
        ahead = float(np.dot(across, fwd))
        if ahead > np.sin(np.radians(knee_limit_deg)):
            out.append(f"{side} knee bends forwards ({np.degrees(np.arcsin(min(ahead, 1.0))):.0f} deg)")
    tw = twist_angles(rot)
    for b in np.flatnonzero(tw > twist_limit_deg):
        out.append(f"{S.BONE_NAMES[b]} twists {tw[b]:.0f} deg")
    return out
