"""3D pose from 2D keypoints: projected matching pursuit (after Ramakrishna et al., ECCV 2012),
then a perspective search over the depth order of each bone and a least-squares refinement.

Stage 1, ``pursuit``: a 3D pose is the mean pose plus a sparse combination
of basis poses learned from motion capture (the CMU clips and the joint-limit
sampler), each pose put in a canonical frame (pelvis at the origin, hips
along X, spine along Y) and scaled to the reference bone-length total. Given
2D joints, alternate:

1. camera: the scaled-orthographic rotation and scale that best project the
   current 3D pose onto the 2D joints (Procrustes on the 2x3 projection);
2. pose: matching pursuit adds the basis pose whose projection best explains
   the remaining 2D residual, then all chosen coefficients are re-fitted by
   regularised least squares;
3. bone lengths: the pose is rescaled so its bone lengths sum to the
   reference (the anthropometric constraint), and each limb's length is
   pulled towards the mean skeleton's.

A linear basis cannot represent an unseen pose exactly (about 100 mm
PA-MPJPE on held-out poses), so the pursuit's result only starts:

Stage 2, ``_search``: with a pinhole camera (focal length in pixels), every
joint lies on the ray through its keypoint. Given the pelvis depth, each
bone's end is where its ray meets the sphere of the bone's length around its
start: two roots, the bone pointing towards or away from the camera. The
search tries a grid of pelvis depths around the pursuit's scale, the 128 depth
orders of the 7 torso bones and then, per limb, the 4 orders of its two bones.
A candidate's cost is a pose prior per body part, -log of a k-nearest-neighbour
density of its bone directions (canonical frame) mixing the mocap clips and
100,000 joint-limit samples, plus a penalty for bones whose keypoints lie
further apart than the bone can reach and a prior on the pelvis depth around
the pursuit's. From exact keypoints the depth order is the only unknown, so
the prior alone decides it; its settings were chosen on a development set.

Stage 3, ``_refine``: least squares over the 16 joints with reprojection
(pixels / 10), bone lengths (1 cm) and a Gaussian pose prior (PCA of the
exemplars) whose weight follows the keypoints' noise: a first pass with a
weak prior measures how far the keypoints must move for a rigid skeleton to
fit them (about 0.1 px when they are exact, more with noise); exact keypoints
keep the search's answer (weight 0.03), noisy ones lean on the prior (up to 1)
and are also refined from the pursuit's pose, keeping the better fit (with
noise the search's depth orders are less reliable).

Shapes: joints_2d (16, 2) pixels; returns 3D joints (16, 3) in camera axes
(x right, y down, z forward), pelvis at the origin, at the scale of the
reference skeleton (metres).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial import cKDTree

from engine import rotations as R
from engine import skeleton as S
from trainer.data import poses as P

REF = S.Skeleton.default()

def canonical(joints: np.ndarray) -> np.ndarray:
    """Poses (N, 16, 3) world axes -> canonical frame, reference scale, pelvis at the origin."""
    j = np.asarray(joints, np.float64)
    j = S.normalize_skeleton_scale(j, REF.total_length)
    x = j[:, S.JOINT_INDEX["l_hip"]] - j[:, S.JOINT_INDEX["r_hip"]]
    y = j[:, S.JOINT_INDEX["thorax"]]
    frame = R.gram_schmidt(np.stack([x, y, np.cross(x, y)], -1))  # columns: body axes in world
    return j @ frame  # (R^T p) for each point

@dataclass
class PoseBasis:
    mean: np.ndarray     # (48,)
    basis: np.ndarray    # (K, 48), unit rows
    bone_lengths: np.ndarray  # (15,) mean skeleton
    exemplars: np.ndarray | None = None  # (N, 16, 3) canonical poses: pursuit starts, Gaussian prior
    #: the search's density prior: canonical mocap poses and joint-limit samples (float32)
    prior_mocap: np.ndarray | None = None
    prior_sampled: np.ndarray | None = None
    _prior: "_Prior | None" = field(default=None, repr=False, compare=False)

    def prior(self) -> "_Prior":
        """The search's and refinement's pose prior, built on first use (without the density
        sets, the exemplars stand in for the joint-limit samples)."""
        if self._prior is None:
            if self.exemplars is None:
                raise ValueError("this pose basis has no exemplars (learn it with PoseBasis.learn)")
            sampled = self.exemplars if self.prior_sampled is None else self.prior_sampled
            self._prior = _Prior(self.prior_mocap, sampled, self.exemplars, self.bone_lengths)
        return self._prior

    @classmethod
    def learn(cls, poses_world: np.ndarray, k: int = 60, seed: int = 0) -> "PoseBasis":
        """PCA directions plus k-means pose atoms of canonical poses (an overcomplete dictionary)."""
        c = canonical(poses_world).reshape(len(poses_world), -1)
        mean = c.mean(0)
        x = c - mean
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        pca = vt[: k // 2]
        rng = np.random.default_rng(seed)
        atoms = x[rng.choice(len(x), size=min(k - len(pca), len(x)), replace=False)]
        for _ in range(10):  # a few Lloyd steps
            d = ((x[:, None] - atoms[None]) ** 2).sum(-1)
            lab = d.argmin(1)
            atoms = np.stack([x[lab == i].mean(0) if np.any(lab == i) else atoms[i] for i in range(len(atoms))])
        basis = np.concatenate([pca, atoms / np.maximum(np.linalg.norm(atoms, axis=1, keepdims=True), 1e-9)])
        lengths = S.bone_lengths(canonical(poses_world)).mean(0)
        return cls(mean, basis, lengths, c.reshape(-1, 16, 3))

    @classmethod
    def default(cls, samples: int = 10000, k: int = 80, seed: int = 0, prior_samples: int = 100000) -> "PoseBasis":
        """The basis used here: CMU 01_01 and Boxing_Toes (every 2nd frame) and their mirrors plus
        ``samples`` sampled poses (CMU 01_03, the test clip, stays out); the search's density
        prior adds ``prior_samples`` joint-limit samples (the sampler's distribution, vectorised)."""
        rng = np.random.default_rng(seed)
        clips = np.concatenate(list(P.load_clip_poses(["01_01.bvh", "Boxing_Toes.bvh"], stride=2).values()))
        clips = np.concatenate([clips, P.mirror(clips)])
        train = np.concatenate([REF.forward_kinematics(clips),
                                REF.forward_kinematics(np.stack([P.sampled_pose(rng) for _ in range(samples)]))])
        out = cls.learn(train, k=k)
        sampled = P.make_rigid_torso(S.local_to_absolute(P.sample_local_poses(rng, prior_samples)))
        rigid = REF.forward_kinematics(P.make_rigid_torso(clips))  # the prior sees the torso as the data does
        out.prior_mocap = canonical(rigid).astype(np.float32)
        out.prior_sampled = canonical(REF.forward_kinematics(sampled)).astype(np.float32)
        return out

    def save(self, path) -> None:
        extra = {n: getattr(self, n) for n in ("prior_mocap", "prior_sampled") if getattr(self, n) is not None}
        np.savez(path, mean=self.mean, basis=self.basis, bone_lengths=self.bone_lengths, exemplars=self.exemplars,
                 **extra)

    @classmethod
    def load(cls, path) -> "PoseBasis":
        with np.load(path) as f:
            return cls(f["mean"], f["basis"], f["bone_lengths"], f["exemplars"],
                       f["prior_mocap"] if "prior_mocap" in f else None,
                       f["prior_sampled"] if "prior_sampled" in f else None)

def _batch_camera(x2: np.ndarray, poses: np.ndarray, w: np.ndarray, iters: int = 8):
    """Scaled orthographic cameras for centred poses (N, 16, 3) and 2D points x2 (16, 2).

    Orthographic Procrustes has no closed form (the projected norm depends on the
    rotation), so it alternates: complete the 2D points with the depths the
    current rotation gives, then solve the full 3D similarity Procrustes.
    Returns residuals (N,) (weighted sum of squares), rotations (N, 3, 3), scales (N,).
    """
    n = len(poses)
    wx = poses * w[None, :, None]
    norm = (poses * wx).sum((1, 2))
    a = np.einsum("jk,njl->nkl", x2 * w[:, None], poses)          # (n, 2, 3)
    # start from the best affine 2x3 camera (exact when the pose fits), made scaled-orthonormal
    gram = np.einsum("njk,njl->nkl", wx, poses) + 1e-9 * np.eye(3)
    affine = a @ np.linalg.inv(gram)
    u, sv, vt = np.linalg.svd(affine, full_matrices=False)
    m = u @ vt                                                      # initial 2x3 rows
    sv = np.einsum("nkl,nkl->n", a, m)[:, None] * np.array([1.0, 0.0])  # tr(M^T a), scale set below
    rot0 = np.concatenate([m, np.cross(m[:, 0], m[:, 1])[:, None]], 1)
    proj0 = np.einsum("njl,nkl->njk", poses, m)
    s0 = sv.sum(-1) / np.maximum((proj0 ** 2 * w[None, :, None]).sum((1, 2)), 1e-12)
    best = None
    for depth_sign in (1.0, -1.0):  # the two depth orders (Necker reversal) are two basins: try both
        rot, s = rot0, s0
        for it in range(iters):
            z = depth_sign * (it == 0) * s[:, None] * np.einsum("njl,nl->nj", poses, rot[:, 2]) if it == 0 else \
                s[:, None] * np.einsum("njl,nl->nj", poses, rot[:, 2])
            y = np.concatenate([np.broadcast_to(x2, (n, 16, 2)), z[..., None]], -1)
            h = np.einsum("njk,njl->nkl", y * w[None, :, None], poses)  # (n, 3, 3)
            u, sv, vt = np.linalg.svd(h)
            d = np.sign(np.linalg.det(u @ vt))
            fix = np.ones((n, 3))
            fix[:, 2] = d
            rot = u @ (fix[:, :, None] * vt)
            s = (sv * fix).sum(-1) / np.maximum(norm, 1e-12)
        proj = np.einsum("njl,nkl->njk", poses, rot[:, :2])
        res = (((x2[None] - s[:, None, None] * proj) ** 2).sum(-1) * w).sum(-1)
        if best is None:
            best = (res, rot, s)
        else:
            better = res < best[0]
            best = (np.where(better, res, best[0]), np.where(better[:, None, None], rot, best[1]),
                    np.where(better, s, best[2]))
    return best

def _camera(x2: np.ndarray, x3: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """One pose: 2x3 projection rows and scale (see ``_batch_camera``)."""
    _, rot, s = _batch_camera(x2, x3[None], w)
    return rot[0, :2], float(s[0])

def _enforce_lengths(p: np.ndarray, lengths: np.ndarray, strength: float = 0.5) -> np.ndarray:
    """Keep bone directions, pull lengths towards the mean skeleton's (rebuilt from the root)."""
    out = p.copy()
    for b in range(S.NUM_BONES):  # topological order: a bone's start is final when it is reached
        s, e = S.BONES[b]
        d = p[e] - p[s]
        n = np.linalg.norm(d)
        out[e] = out[s] + d / max(n, 1e-9) * ((1 - strength) * n + strength * lengths[b])
    return out

def pursuit(joints_2d: np.ndarray, basis: PoseBasis, visible: np.ndarray | None = None, iters: int = 8,
            max_atoms: int = 6, ridge: float = 0.05, candidates: int = 5) -> tuple[np.ndarray, dict]:
    """Stage 1: 3D joints (16, 3), camera axes, reference scale, from 2D joints (16, 2) pixels,
    under a scaled-orthographic camera (``info['scale']``: pixels per metre).

    Starts from the mocap exemplars whose best projections match the 2D joints
    (the ``candidates`` best), then runs the projected matching pursuit from
    each; the result with the smallest reprojection error wins.
    """
    j2 = np.asarray(joints_2d, np.float64)
    w = np.ones(S.NUM_JOINTS) if visible is None else np.asarray(visible, np.float64)
    x2 = j2 - (j2 * w[:, None]).sum(0) / max(w.sum(), 1e-9)
    sw = np.sqrt(w)[:, None]

    def centred(v: np.ndarray) -> np.ndarray:
        v = v.reshape(-1, 16, 3)
        return (v - (v * w[None, :, None]).sum(1, keepdims=True) / max(w.sum(), 1e-9)).squeeze(0) \
            if v.shape[0] == 1 else v - (v * w[None, :, None]).sum(1, keepdims=True) / max(w.sum(), 1e-9)

    ex = basis.exemplars if basis.exemplars is not None else basis.mean.reshape(1, 16, 3)
    res, _, _ = _batch_camera(x2, centred(ex), w)
    starts = ex[np.argsort(res)[:candidates]]
    atoms = np.stack([centred(b.reshape(16, 3)) for b in basis.basis])
    best = None
    for start in starts:
        active: list[int] = []
        coef = np.zeros(0)
        pose = start.copy()
        for _ in range(iters):
            m, s = _camera(x2, centred(pose), w)
            base = centred(start)
            resid = ((x2 - s * centred(pose) @ m.T) * sw).reshape(-1)
            proj = (s * atoms @ m.T * sw).reshape(len(atoms), -1)
            if len(active) < max_atoms:
                score = np.abs(proj @ resid) / np.maximum(np.linalg.norm(proj, axis=1), 1e-9)
                score[active] = -1.0
                active.append(int(score.argmax()))
            a = proj[active].T
            target = (x2 * sw).reshape(-1) - (s * base @ m.T * sw).reshape(-1)
            coef = np.linalg.solve(a.T @ a + ridge * s * s * np.eye(len(active)), a.T @ target)
            pose = start + (coef @ basis.basis[active]).reshape(16, 3)
            pose = S.normalize_skeleton_scale(pose[None], REF.total_length)[0]
            pose = _enforce_lengths(pose, basis.bone_lengths)
        m, s = _camera(x2, centred(pose), w)
        err = float(np.sqrt((((x2 - s * centred(pose) @ m.T) ** 2).sum(1) * w).sum() / max(w.sum(), 1e-9)))
        if best is None or err < best[1]["reprojection_px"]:
            rot3 = np.vstack([m, np.cross(m[0], m[1])])  # canonical body frame -> camera axes
            cam = pose @ rot3.T
            best = (cam - cam[S.ROOT], {"reprojection_px": err, "scale": float(s), "atoms": list(active),
                                        "coefficients": coef.tolist()})
    return best


# --- stages 2 and 3: perspective depth-order search and least-squares refinement --------------

_B = S.BONE_INDEX
TORSO = tuple(_B[n] for n in ("r_hip", "l_hip", "spine", "neck", "head", "r_clavicle", "l_clavicle"))
LIMBS = tuple((_B[a], _B[b]) for a, b in (("r_thigh", "r_shin"), ("l_thigh", "l_shin"),
                                          ("r_upper_arm", "r_forearm"), ("l_upper_arm", "l_forearm")))
_TORSO_SIGNS = np.array([[(k >> i) & 1 for i in range(len(TORSO))] for k in range(2 ** len(TORSO))]) * 2.0 - 1.0
_LIMB_SIGNS = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], np.float64)


def _body_frame(joints: np.ndarray) -> np.ndarray:
    """Root-relative joints (..., 16, 3) in their canonical frame (hips along X, spine in XY)."""
    rel = joints - joints[..., S.ROOT:S.ROOT + 1, :]
    x = rel[..., S.JOINT_INDEX["l_hip"], :] - rel[..., S.JOINT_INDEX["r_hip"], :]
    y = rel[..., S.JOINT_INDEX["thorax"], :]
    return rel @ R.gram_schmidt(np.stack([x, y, np.cross(x, y)], -1))


def _directions(joints: np.ndarray, bones) -> np.ndarray:
    """Unit bone directions, flattened: (..., 16, 3) -> (..., 3 * len(bones))."""
    v = joints[..., S.BONES[list(bones), 1], :] - joints[..., S.BONES[list(bones), 0], :]
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    return v.reshape(*joints.shape[:-2], -1)


class _Prior:
    """The search's prior: per body part (the torso, each limb), a k-nearest-neighbour density of
    the part's bone directions in the canonical frame, mixing the mocap poses (weight
    ``mocap_weight``) and the joint-limit samples; a candidate's cost is -log(density) /
    ``temperature``. The refinement's: a Gaussian (PCA) prior of the exemplars.

    The density of one set is k / (N r^d), r the root-mean-square distance to the k nearest
    poses; d (``dims``: torso, limbs) sets how sharply density falls away from the data. k,
    d, the mixture weight and the temperature were chosen on a development set (CMU 01_03 frames
    between the benchmark's and a separate sample of poses; docs/wild.md).
    """

    def __init__(self, mocap, sampled, gaussian_poses, lengths, k: int = 10, mocap_weight: float = 0.5,
                 dims=(12.0, 2.0), temperature: float = 4.0, reach: float = 0.8):
        sets = [(mocap_weight, mocap), (1.0 - mocap_weight, sampled)]
        sets = [(w, np.asarray(x, np.float64)) for w, x in sets if x is not None and len(x)]
        total = sum(w for w, _ in sets)
        self.k, self.temperature, self.reach = k, temperature, reach
        self.parts = (TORSO,) + LIMBS
        self.dims = (dims[0],) + (dims[1],) * len(LIMBS)
        self.sets = []
        for w, poses in sets:
            bf = _body_frame(poses)
            self.sets.append((w / total, len(poses), [cKDTree(_directions(bf, part)) for part in self.parts]))
        self.lengths = np.asarray(lengths, np.float64)
        flat = _body_frame(np.asarray(gaussian_poses, np.float64)).reshape(len(gaussian_poses), -1)
        self.mean = flat.mean(0)
        _, sv, vt = np.linalg.svd(flat - self.mean, full_matrices=False)
        self.axes = vt
        self.inv_std = 1.0 / np.sqrt(sv ** 2 / len(flat) + 1e-4)

    def cost(self, part: int, joints: np.ndarray) -> np.ndarray:
        """-log density / temperature of part ``part`` (0 torso, 1-4 limbs) of canonical-frame
        joints (..., 16, 3) -> (...)."""
        f = _directions(joints, self.parts[part])
        flat = f.reshape(-1, f.shape[-1])
        density = np.zeros(len(flat))
        for w, n, trees in self.sets:   # beyond ``reach`` the density is floored (and the query fast)
            d, _ = trees[part].query(flat, k=self.k, distance_upper_bound=self.reach)
            r = np.sqrt((np.minimum(d, self.reach) ** 2).mean(-1)) + 1e-3
            density += w * self.k / n / r ** self.dims[part]
        return (-np.log(density + 1e-300) / self.temperature).reshape(f.shape[:-1])

    def gaussian(self, joints: np.ndarray) -> np.ndarray:
        """Whitened PCA coordinates of one pose (16, 3): residuals of the Gaussian prior."""
        return self.axes @ (_body_frame(joints).reshape(-1) - self.mean) * self.inv_std


def _place(joints: np.ndarray, rays: np.ndarray, bone: int, sign, length: float, focal: float, sigma: float):
    """Put ``bone``'s end on its ray at ``length`` from its start; ``sign`` +1 takes the far root.

    joints (..., 16, 3) with the start set; returns the new joints and the squared
    infeasibility (pixels / sigma): how far the keypoints must move for the bone to reach.
    """
    a, e = S.BONES[bone]
    start, ray = joints[..., a, :], rays[e]
    aa = ray @ ray
    along = start @ ray
    perp2 = np.maximum((start * start).sum(-1) - along ** 2 / aa, 0.0)   # start's squared distance to the ray
    reach = np.sqrt(np.maximum(length ** 2 - perp2, 0.0) / aa)
    depth = along / aa + sign * reach
    gap = np.maximum(np.sqrt(perp2) - length, 0.0) * focal / np.maximum(start[..., 2], 1e-6)
    out = joints.copy()
    out[..., e, :] = depth[..., None] * ray
    return out, (gap / sigma) ** 2


def _search(rays: np.ndarray, prior: _Prior, depths: np.ndarray, focal: float, depth_guess: float,
            sigma: float = 10.0, keep: int = 8) -> tuple[np.ndarray, float]:
    """Best joints (16, 3) (camera axes, metres) and pelvis depth over the given pelvis ``depths``."""
    n = len(depths)
    joints = np.zeros((n, len(_TORSO_SIGNS), S.NUM_JOINTS, 3))
    joints[:, :, S.ROOT] = depths[:, None, None] * rays[S.ROOT]
    cost = np.zeros(joints.shape[:2])
    for i, b in enumerate(TORSO):
        joints, pen = _place(joints, rays, b, _TORSO_SIGNS[None, :, i], prior.lengths[b], focal, sigma)
        cost += pen
    cost += prior.cost(0, _body_frame(joints))
    top = np.argsort(cost, axis=1)[:, :keep]                       # the best torso orders per depth
    joints = np.take_along_axis(joints, top[:, :, None, None], 1)
    cost = np.take_along_axis(cost, top, 1)
    for li, limb in enumerate(LIMBS):
        cand = np.repeat(joints[:, :, None], len(_LIMB_SIGNS), 2)
        pen = np.zeros(cand.shape[:3])
        for bi, b in enumerate(limb):
            cand, p = _place(cand, rays, b, _LIMB_SIGNS[None, None, :, bi], prior.lengths[b], focal, sigma)
            pen += p
        c = pen + prior.cost(li + 1, _body_frame(cand))
        best = c.argmin(2)
        joints = np.take_along_axis(cand, best[:, :, None, None, None], 2)[:, :, 0]
        cost = cost + np.take_along_axis(c, best[:, :, None], 2)[..., 0]
    cost = cost + 0.2 * (np.log(depths / depth_guess)[:, None] / 0.07) ** 2   # the pursuit's scale: ~7% error
    g, k = np.unravel_index(cost.argmin(), cost.shape)
    return joints[g, k], float(depths[g])


def _refine(joints: np.ndarray, uv: np.ndarray, w: np.ndarray, focal: float, prior: _Prior, sigma: float,
            length_tol: float = 0.01, prior_weight: float = 1.0, with_cost: bool = False):
    """Least squares over the joints (16, 3): reprojection / sigma, bone lengths, Gaussian prior."""
    sw = np.sqrt(w)[:, None]

    def residuals(v):
        x = v.reshape(S.NUM_JOINTS, 3)
        reproj = ((x[:, :2] / np.maximum(x[:, 2:], 1e-6) * focal - uv) * sw).ravel() / sigma
        bones = (np.linalg.norm(x[S.BONES[:, 1]] - x[S.BONES[:, 0]], axis=1) - prior.lengths) / length_tol
        return np.concatenate([reproj, bones, prior_weight * prior.gaussian(x)])

    sol = least_squares(residuals, joints.ravel(), method="trf", max_nfev=100, x_scale=0.05)
    x = sol.x.reshape(S.NUM_JOINTS, 3)
    return (x, float(sol.cost)) if with_cost else x


def _reprojection_px(joints: np.ndarray, uv: np.ndarray, w: np.ndarray, focal: float) -> float:
    d = joints[:, :2] / np.maximum(joints[:, 2:], 1e-6) * focal - uv
    return float(np.sqrt(((d ** 2).sum(1) * w).sum() / max(w.sum(), 1e-9)))


def lift(joints_2d: np.ndarray, basis: PoseBasis, visible: np.ndarray | None = None, focal: float | None = None,
         centre=None, noise_px: float | None = None) -> tuple[np.ndarray, dict]:
    """3D joints (16, 3) (camera axes, pelvis at the origin, metres) from 2D joints (16, 2) pixels.

    ``focal`` and ``centre``: the pinhole camera in pixels (for a photo of
    unknown lens, about the image's larger side and its centre). Without them
    the camera is taken as far away (focal 10 times the keypoints' extent,
    centre at their middle): nearly orthographic. ``noise_px``: the 2D error
    when it is known; by default it is judged from a first fit. ``info``
    holds the reprojection error (pixels), the scale at the pelvis (pixels
    per metre), the pelvis depth (metres), that first fit's error
    (``fit_rms_px``), the refinement's prior weight and the pursuit's result.
    """
    j2 = np.asarray(joints_2d, np.float64)
    w = np.ones(S.NUM_JOINTS) if visible is None else np.asarray(visible, np.float64)
    if centre is None:
        centre = (j2.max(0) + j2.min(0)) / 2
    if focal is None:
        focal = 10.0 * float(np.max(j2.max(0) - j2.min(0)))
    uv = j2 - np.asarray(centre, np.float64)
    start, info = pursuit(j2, basis, w)
    prior = basis.prior()
    rays = np.concatenate([uv / focal, np.ones((S.NUM_JOINTS, 1))], 1)
    guess = focal / max(info["scale"], 1e-9)                         # pelvis depth at the pursuit's scale
    _, depth = _search(rays, prior, guess * np.exp(np.linspace(-0.3, 0.3, 25)), focal, guess)
    joints, depth = _search(rays, prior, depth * np.exp(np.linspace(-0.05, 0.05, 11)), focal, guess)
    if noise_px is None:   # how far must the keypoints move for a nearly free skeleton to fit them?
        first = _refine(joints, uv, w, focal, prior, sigma=5.0, prior_weight=0.1)
        fit_rms = _reprojection_px(first, uv, w, focal)
        weight = float(np.exp(np.interp(fit_rms, [0.1, 0.15, 0.2, 0.3], np.log([0.03, 0.1, 0.3, 1.0]))))
    else:
        fit_rms = float("nan")
        weight = float(np.exp(np.interp(noise_px, [0.0, 2.0, 5.0], np.log([0.03, 0.3, 1.0]))))
    joints, cost = _refine(joints, uv, w, focal, prior, sigma=10.0, prior_weight=weight, with_cost=True)
    if weight > 0.1:   # noisy keypoints: a few pixels can flip a bone's depth order, so also start from the pursuit
        other, other_cost = _refine(start + guess * rays[S.ROOT], uv, w, focal, prior, sigma=10.0,
                                    prior_weight=weight, with_cost=True)
        if other_cost < cost:
            joints = other
    root = joints[S.ROOT]
    return joints - root, {"reprojection_px": _reprojection_px(joints, uv, w, focal),
                           "scale": focal / float(root[2]), "depth_m": float(root[2]), "fit_rms_px": fit_rms,
                           "prior_weight": weight,
                           "pursuit": start, "pursuit_reprojection_px": info["reprojection_px"],
                           "atoms": info["atoms"], "coefficients": info["coefficients"]}
