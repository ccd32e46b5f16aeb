"""3D pose from 2D keypoints by projected matching pursuit (after Ramakrishna et al., ECCV 2012).

A 3D pose is the mean pose plus a sparse combination of basis poses learned
from motion capture (the CMU clips and the joint-limit sampler), each pose
put in a canonical frame (pelvis at the origin, hips along X, spine along Y)
and scaled to the reference bone-length total. Given 2D joints, alternate:

1. camera: the scaled-orthographic rotation and scale that best project the
   current 3D pose onto the 2D joints (Procrustes on the 2x3 projection);
2. pose: matching pursuit adds the basis pose whose projection best explains
   the remaining 2D residual, then all chosen coefficients are re-fitted by
   regularised least squares;
3. bone lengths: the pose is rescaled so its bone lengths sum to the
   reference (the anthropometric constraint), and each limb's length is
   pulled towards the mean skeleton's.

Both depth reflections are tried at the start; the better reprojection wins.
Shapes: joints_2d (16, 2) pixels; returns 3D joints (16, 3) in camera axes
(x right, y down, z forward) up to the scale of the reference skeleton.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import rotations as R
from engine import skeleton as S

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
    exemplars: np.ndarray | None = None  # (N, 16, 3) canonical mocap poses, for the start of the pursuit

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
    def default(cls, samples: int = 3000, k: int = 80, seed: int = 0) -> "PoseBasis":
        """The basis used here: CMU 01_01 (every 2nd frame) and its mirror plus ``samples`` sampled poses."""
        from trainer.data import poses as P

        rng = np.random.default_rng(seed)
        clips = P.load_clip_poses(["01_01.bvh"], stride=2)["01_01.bvh"]
        train = np.concatenate([REF.forward_kinematics(np.concatenate([clips, P.mirror(clips)])),
                                REF.forward_kinematics(np.stack([P.sampled_pose(rng) for _ in range(samples)]))])
        return cls.learn(train, k=k)

    def save(self, path) -> None:
        np.savez(path, mean=self.mean, basis=self.basis, bone_lengths=self.bone_lengths, exemplars=self.exemplars)

    @classmethod
    def load(cls, path) -> "PoseBasis":
        with np.load(path) as f:
            return cls(f["mean"], f["basis"], f["bone_lengths"], f["exemplars"])

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

def lift(joints_2d: np.ndarray, basis: PoseBasis, visible: np.ndarray | None = None, iters: int = 8,
         max_atoms: int = 6, ridge: float = 0.05, candidates: int = 5) -> tuple[np.ndarray, dict]:
    """3D joints (16, 3), camera axes, reference scale, from 2D joints (16, 2) pixels.

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
