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
  original_map (B, 16, 2), original_vis (B, 16) - optional: the original BlazePose network's 2D on the
                                   same crop (map pixels) and visibility, for the ``distill`` term
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.settings import check_fields, knob
from trainer import layers as L
from trainer.model import SkeletonNetConfig

WEIGHT = (0.0, 1e6)  # the range of a loss weight


@dataclass
class LossWeights:
    """The loss terms' weights: a training config's ``loss`` section (``trainer.config``); ``engine.settings``
    knobs, checked when the config is built and when an instance is made in code."""
    alpha: float = knob(0.1, range=WEIGHT, doc="bone rotations R^b")
    beta: float = knob(0.1, range=WEIGHT, doc="final rotations R")
    gamma: float = knob(0.1, range=WEIGHT, doc="final positions x")
    lam: float = knob(1.0, range=WEIGHT, doc="cross heatmaps (the paper: 0.001; docs/training.md says why not here)")
    readout: float = knob(0.2, range=WEIGHT, doc="L1 of the soft-argmax read-out (x, y; depth for 3D samples), "
                          "map pixels; not in the paper")
    delta: float = knob(0.0, range=WEIGHT, doc="squared soft-argmax xy error of 2D-only samples, map px^2 "
                        "(issue 9's term; 0 = off)")
    presence: float = knob(1.0, range=WEIGHT, doc="binary cross-entropy of the presence logit (person / "
                           "background crop)")
    distill: float = knob(0.0, range=WEIGHT, doc="L1 of the xy read-out against the original BlazePose network's "
                          "2D, map pixels (0 = off; needs a blazepose_* backbone)")
    position_scale: float = knob(10.0, range=(1e-6, 1e6), doc="positions enter L_pos in metres times this")
    heatmap_sigma: float = knob(1.5, range=(0.05, 100.0), doc="the Gaussian heatmap targets' sigma, map pixels")

    def __post_init__(self):
        check_fields(self)


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


def _map_sq(pred: torch.Tensor, target: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Per-sample squared error of (B, J, H, W) maps, summed over pixels and the joints weighted by
    ``vis`` (B, J)."""
    return (((pred - target) ** 2).sum((-2, -1)) * vis).sum(-1)


#: each part's weight field in ``LossWeights`` (None: weight 1)
PART_WEIGHTS = {"presence": "presence", "rot_g": None, "rot_b": "alpha", "rot": "beta", "pos": "gamma", "hm": "lam",
                "readout": "readout", "2d": "delta", "distill": "distill"}


def distill_loss(coords_map: torch.Tensor, original_map: torch.Tensor, original_vis: torch.Tensor,
                 person: torch.Tensor) -> torch.Tensor:
    """The distillation term: the L1 distance (map pixels, x + y, summed over the joints weighted by the
    original network's visibility) between the network's xy read-out ``coords_map`` (B, 16, 3) and the
    original BlazePose network's 2D ``original_map`` (B, 16, 2) on the same crop, averaged over the
    crops with a person (``person`` (B,) 1/0). It keeps the fine-tuned network's 2D where the original's
    was, on rendered and real crops alike."""
    err = (coords_map[..., :2] - original_map).abs().sum(-1)
    return _masked_mean((err * original_vis).sum(-1), person)


def skeletonnet_loss(out: dict, tgt: dict, cfg: SkeletonNetConfig, w: LossWeights | None = None,
                     detach: bool = True):
    """Returns (total loss, dict of the parts, unweighted; detached unless ``detach`` is False).

    Extra targets beside the module doc's: ``person`` (B,) 1 = a person in the crop, 0 = a
    background crop (only the presence term sees those); ``visible`` (B, 16) 1 = the joint lies
    inside the crop (heatmap and read-out terms); ``mask_3d``/``mask_rot`` as above.
    """
    w = w or LossWeights()
    b = next(iter(out.values())).shape[0]
    ones = torch.ones(b, device=tgt["rotations"].device)
    person = tgt.get("person", ones).float()
    m3 = tgt.get("mask_3d", ones).float() * person
    mr = tgt.get("mask_rot", ones).float() * person
    parts: dict[str, torch.Tensor] = {}
    total = torch.zeros((), device=m3.device)
    if cfg.presence and w.presence:
        l_pr = F.binary_cross_entropy_with_logits(out["presence_logit"], person)
        total = total + w.presence * l_pr
        parts["presence"] = l_pr
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
        vis = tgt.get("visible", torch.ones_like(tgt["coords_map"][..., 0])).float()
        t_xy, t_zy = heatmap_targets(tgt["coords_map"], size, w.heatmap_sigma)
        s = w.heatmap_sigma
        l_hm = (_masked_mean(_map_sq(_as_peak_one(out["heatmaps_xy"], s), t_xy, vis), person)
                + _masked_mean(_map_sq(_as_peak_one(out["heatmaps_zy"], s), t_zy, vis), m3))
        total = total + w.lam * l_hm
        parts["hm"] = l_hm
        err = (out["coords_map"] - tgt["coords_map"]).abs()
        if w.readout:
            l_ro = (_masked_mean((err[..., :2].sum(-1) * vis).sum(-1), person)
                    + _masked_mean((err[..., 2] * vis).sum(-1), m3))
            total = total + w.readout * l_ro
            parts["readout"] = l_ro
        if w.delta:
            sq = ((out["coords_map"][..., :2] - tgt["coords_map"][..., :2]) ** 2).sum(-1)
            l_2d = _masked_mean((sq * vis).sum(-1), (1.0 - tgt.get("mask_3d", ones).float()) * person)
            total = total + w.delta * l_2d
            parts["2d"] = l_2d
    if w.distill and "original_map" in tgt:
        l_d = distill_loss(out["coords_map"], tgt["original_map"], tgt["original_vis"], person)
        total = total + w.distill * l_d
        parts["distill"] = l_d
    if detach:
        parts = {k: v.detach() for k, v in parts.items()}
    parts["total"] = total.detach()
    return total, parts
