"""The motion model network: a residual MLP over a causal window of per-frame features
(``engine.motion.window_features``) to 16 rotations (15 bones + pelvis) through the Gram-Schmidt
layer, as SkeletonNet's rotation branch (the blocks after Martinez et al. 2017: linear, batch norm,
ReLU, dropout, twice, with a residual). Only Gemm, BatchNormalization (folded by the runtimes),
Relu, Add and the Gram-Schmidt arithmetic in the exported graph (TensorRT-friendly)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from engine import motion as M
from trainer.layers import gram_schmidt


@dataclass
class MotionNetConfig:
    window: int = 27
    hidden: int = 768
    blocks: int = 2
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class MotionNet(nn.Module):
    """(B, T, FEATURES) -> rotations (B, 16, 3, 3), the view's world axes."""

    def __init__(self, cfg: MotionNetConfig):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.inp = nn.Sequential(nn.Linear(cfg.window * M.FEATURES, h), nn.BatchNorm1d(h), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(h, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(cfg.dropout),
                          nn.Linear(h, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(cfg.dropout))
            for _ in range(cfg.blocks))
        self.out = nn.Linear(h, M.OUTPUTS * 6)
        with torch.no_grad():  # start at the rest pose: identity columns
            self.out.weight.mul_(0.01)
            self.out.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(M.OUTPUTS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.flatten(1))
        for block in self.blocks:
            h = h + block(h)
        six = self.out(h).view(-1, M.OUTPUTS, 2, 3).transpose(-1, -2)  # two columns per rotation
        return gram_schmidt(torch.cat([six, torch.zeros_like(six[..., :1])], -1))
