"""The paper's loss (Sec. 3.3) with a per-sample 3D mask.

``L = L_RotG + alpha L_RotB + beta L_Rot + gamma L_pos + lambda L_hm``, with
alpha = beta = gamma = 0.1 and lambda = 0.001 by default. Sums run over
joints/bones/heatmap pixels as in the paper; the batch is averaged. The network's
heatmaps are spatial-softmax probability maps; for ``L_hm`` they are scaled so
a map shaped like its Gaussian target (peak 1) matches it. Positions
enter ``L_pos`` in decimetres (``position_scale = 10``), so a 5 cm error per
joint weighs about as much as a 0.5 error in a rotation-matrix entry.

Samples with ``mask_3d = 0`` (2D-only, e.g. in-the-wild images with fitted
rotations) supervise only what the paper allows: the global class, the bone
rotations R^b and the xy heatmaps. ``L_Rot``, ``L_pos`` and the zy heatmap
term see only samples with ``mask_3d = 1``. For those 2D-only samples the xy
heatmaps are supervised twice: by ``L_hm`` and by ``delta L_2d``, the squared
error of their soft-argmax read-out (x, y in heatmap pixels, summed over the
joints with ``visible`` as weights). ``L_hm`` at the paper's lambda barely
moves in training here (docs/wild.md), and 3D samples teach the read-out
through ``L_pos``; without ``L_2d`` a 2D-only sample gives the read-out no
useful signal. ``delta = 0.02`` weighs a map pixel (about 4.6 cm at the crop's
person size) as ``gamma`` weighs that distance in ``L_pos``; 0 switches it off.

Targets (dict of tensors):
  global_class (B,) long         - nearest k-means centre of the global rotation
  global_rotation (B, 3, 3)      - R^g, world axes
  rotations (B, 15, 3, 3)        - absolute bone rotations R, world axes
  joints (B, 16, 3)              - root-relative, world axes, Eq. 1 scaled, metres
  coords_map (B, 16, 3)          - (x, y, depth) in heatmap pixels
  mask_3d (B,) float             - 1 = full 3D labels, 0 = 2D-only
  mask_rot (B,) float            - 1 = rotation labels (exact or fitted), 0 = none (plain 2D data)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from trainer import layers as L
from trainer.model import SkeletonNetConfig


@dataclass
class LossWeights:
    alpha: float = 0.1     # bone rotations R^b
    beta: float = 0.1      # final rotations R
    gamma: float = 0.1     # final positions x
    lam: float = 0.001     # cross heatmaps
    delta: float = 0.02    # soft-argmax xy of 2D-only samples (mask_3d = 0), heatmap px^2; not in the paper
    position_scale: float = 10.0
    heatmap_sigma: float = 1.5


def heatmap_targets(coords_map: torch.Tensor, size: int, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground-truth cross heatmaps from (B, 16, 3) map coordinates -> xy, zy (B, 16, size, size),
    Gaussians of peak 1."""
    xy = L.gaussian_maps(coords_map[..., :2], size, sigma)
    zy = L.gaussian_maps(torch.stack([coords_map[..., 2], coords_map[..., 1]], -1), size, sigma)
    return xy, zy


def _as_peak_one(probs: torch.Tensor, sigma: float) -> torch.Tensor:
    """Probability maps scaled so a map shaped like the target Gaussian has peak 1."""
    return probs * (2 * np.pi * sigma * sigma)


def _masked_mean(per_sample: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (per_sample * mask).sum() / mask.sum().clamp(min=1.0)


def _sq(a: torch.Tensor, b: torch.Tensor, dims: int) -> torch.Tensor:
    """Squared error summed over the last ``dims`` axes and everything but the batch."""
    return ((a - b) ** 2).flatten(1).sum(-1)


def skeletonnet_loss(out: dict, tgt: dict, cfg: SkeletonNetConfig, w: LossWeights | None = None):
    """Returns (total loss, dict of the detached parts)."""
    w = w or LossWeights()
    b = next(iter(out.values())).shape[0]
    ones = torch.ones(b, device=tgt["rotations"].device)
    m3 = tgt.get("mask_3d", ones).float()
    parts: dict[str, torch.Tensor] = {}
    total = torch.zeros((), device=m3.device)
    mr = tgt.get("mask_rot", ones).float()
    if cfg.uses_rotations:
        if cfg.global_rot == "class":
            l_g = _masked_mean(F.cross_entropy(out["global_logits"], tgt["global_class"], reduction="none"), mr)
        else:
            l_g = _masked_mean(_sq(out["global_rotation"], tgt["global_rotation"], 2), mr)
        gt_rb = tgt["global_rotation"].transpose(-1, -2)[:, None] @ tgt["rotations"]
        l_rb = _masked_mean(_sq(out["bone_rotations"], gt_rb, 3), mr)
        total = total + l_g + w.alpha * l_rb
        parts["rot_g"], parts["rot_b"] = l_g, l_rb
    l_r = _masked_mean(_sq(out["rotations"], tgt["rotations"], 3), m3)
    l_p = _masked_mean(_sq(out["joints"] * w.position_scale, tgt["joints"] * w.position_scale, 2), m3)
    total = total + w.beta * l_r + w.gamma * l_p
    parts["rot"], parts["pos"] = l_r, l_p
    if cfg.uses_heatmaps:
        size = out["heatmaps_xy"].shape[-1]
        t_xy, t_zy = heatmap_targets(tgt["coords_map"], size, w.heatmap_sigma)
        s = w.heatmap_sigma
        l_hm = (_sq(_as_peak_one(out["heatmaps_xy"], s), t_xy, 3).mean()
                + _masked_mean(_sq(_as_peak_one(out["heatmaps_zy"], s), t_zy, 3), m3))
        total = total + w.lam * l_hm
        parts["hm"] = l_hm
        if w.delta:
            vis = tgt.get("visible", torch.ones_like(tgt["coords_map"][..., 0])).float()
            err = ((out["coords_map"][..., :2] - tgt["coords_map"][..., :2]) ** 2).sum(-1)
            l_2d = _masked_mean((err * vis).sum(-1), 1.0 - m3)
            total = total + w.delta * l_2d
            parts["2d"] = l_2d
    parts = {k: v.detach() for k, v in parts.items()}
    parts["total"] = total.detach()
    return total, parts
