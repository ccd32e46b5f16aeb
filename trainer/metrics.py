"""Evaluation metrics of the paper, numpy.

* MPJPE (mm), the paper's protocol: root-aligned, prediction scaled so its
  bone lengths sum to the reference total (Eq. 1), global orientation kept.
* PA-MPJPE (mm): after a similarity Procrustes alignment (rotation, uniform
  scale, translation), the "reconstruction error" of the paper's Table 2.
* Rotation errors (degrees): the axis-angle norm of the relative rotation
  ``R_gt^T R_pred``, for the global rotation and per bone (Table 4); bone
  rotations are taken relative to the root (``R^b = R^g^T R``).

Shapes: joints (N, 16, 3) metres; rotations (N, 15, 3, 3); globals (N, 3, 3).
"""
from __future__ import annotations

import numpy as np

from engine import rotations as R
from engine import skeleton as S


def mpjpe(pred: np.ndarray, gt: np.ndarray, reference_length: float | None = None) -> np.ndarray:
    """Per-sample MPJPE in mm (N,). With ``reference_length`` the prediction is scaled (Eq. 1)
    so its bone lengths sum to it; without, it is only root-aligned."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    p = pred - pred[:, S.ROOT:S.ROOT + 1]
    if reference_length is not None:
        p = S.normalize_skeleton_scale(p, reference_length)
    g = gt - gt[:, S.ROOT:S.ROOT + 1]
    return np.linalg.norm(p - g, axis=-1).mean(-1) * 1000.0


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity transform of each pred (N, J, 3) best matching gt in least squares (Umeyama)."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    mp, mg = pred.mean(1, keepdims=True), gt.mean(1, keepdims=True)
    x, y = pred - mp, gt - mg
    cov = np.swapaxes(y, 1, 2) @ x  # (N, 3, 3) = sum y x^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones_like(s)
    fix[:, -1] = d
    rot = u @ (fix[:, :, None] * vt)
    var = (x ** 2).sum((1, 2))
    scale = (s * fix).sum(1) / np.maximum(var, 1e-12)
    return scale[:, None, None] * (x @ np.swapaxes(rot, 1, 2)) + mg


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-sample MPJPE after similarity Procrustes alignment, mm (N,)."""
    return np.linalg.norm(procrustes_align(pred, gt) - np.asarray(gt, float), axis=-1).mean(-1) * 1000.0


def rotation_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Degrees between rotations (..., 3, 3): |axis-angle of gt^T pred|."""
    return np.rad2deg(R.geodesic_angle(np.asarray(gt, float), np.asarray(pred, float)))


def bone_rotation_error(pred_rot, pred_global, gt_rot, gt_global) -> np.ndarray:
    """Per-sample mean error (degrees) of bone rotations relative to the root (N,)."""
    pb = np.swapaxes(np.asarray(pred_global, float), -1, -2)[:, None] @ np.asarray(pred_rot, float)
    gb = np.swapaxes(np.asarray(gt_global, float), -1, -2)[:, None] @ np.asarray(gt_rot, float)
    return rotation_error(pb, gb).mean(-1)


def summary(pred: dict, gt: dict, reference_length: float) -> dict:
    """Means over samples: mpjpe, pa_mpjpe (mm), global/bone/absolute rotation errors (degrees)."""
    out = {
        "mpjpe_mm": float(mpjpe(pred["joints"], gt["joints"], reference_length).mean()),
        "pa_mpjpe_mm": float(pa_mpjpe(pred["joints"], gt["joints"]).mean()),
        "rotation_error_deg": float(rotation_error(pred["rotations"], gt["rotations"]).mean()),
    }
    if "global_rotation" in pred and "global_rotation" in gt:
        out["global_rotation_error_deg"] = float(rotation_error(pred["global_rotation"], gt["global_rotation"]).mean())
        out["bone_rotation_error_deg"] = float(bone_rotation_error(pred["rotations"], pred["global_rotation"],
                                                                   gt["rotations"], gt["global_rotation"]).mean())
    return out


def pck(pred_2d: np.ndarray, gt_2d: np.ndarray, visible: np.ndarray | None = None, alpha: float = 0.2) -> np.ndarray:
    """PCK@alpha per sample: the share of visible joints whose 2D error is under alpha x the torso size.

    The torso size is the distance from the right shoulder to the left hip of
    the ground truth (the usual PCK torso diagonal). (N, 16, 2) -> (N,).
    """
    p, g = np.asarray(pred_2d, np.float64), np.asarray(gt_2d, np.float64)
    v = np.ones(g.shape[:2]) if visible is None else np.asarray(visible, np.float64)
    torso = np.linalg.norm(g[:, S.JOINT_INDEX["r_shoulder"]] - g[:, S.JOINT_INDEX["l_hip"]], axis=-1)
    hit = np.linalg.norm(p - g, axis=-1) < alpha * torso[:, None]
    return (hit * v).sum(1) / np.maximum(v.sum(1), 1e-9)
