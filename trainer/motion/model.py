"""The motion model networks: a causal window of per-frame features (``engine.motion.window_features``,
the newest frame last) to 16 rotations (15 bones + pelvis) through the Gram-Schmidt layer. All see
only past frames, so the output (the newest frame's pose) has no delay.

- ``mlp`` (``MotionNet``): a residual MLP over the flattened window, as SkeletonNet's rotation
  branch (the blocks after Martinez et al. 2017: linear, batch norm, ReLU, dropout, twice, with a
  residual). Gemm, BatchNormalization, Relu, Add and the Gram-Schmidt arithmetic.
- ``tcn`` (``TemporalConvNet``): VideoPose3D's temporal convolutions (Pavllo et al. 2019): filter
  width 3, each block's dilation 3 times the last, residual blocks (conv, batch norm, ReLU,
  dropout, then a 1x1 conv, the same), over a window of 3^k frames. Written in VideoPose3D's
  single-frame form: for the one output frame a dilated convolution equals a convolution of stride
  3, which computes only the frames the output needs; the residual takes the newest frame of each
  group of 3 (the causal alignment). Conv, BatchNormalization, Relu, Add, Slice.
- ``transformer`` (``MotionTransformer``): a small transformer over the window's frames
  (MotionBERT-like, much smaller): a linear embedding per frame plus a learned embedding of its
  place in the window, pre-norm self-attention blocks, the newest frame's token to the output.
  MatMul, Softmax, Gemm, Erf (GELU) and layer norm as plain arithmetic.
"""
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
    arch: str = "mlp"      # mlp | tcn | transformer
    heads: int = 4         # transformer only

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


def _six_to_rotations(six: torch.Tensor) -> torch.Tensor:
    """(B, 16 * 6) -> (B, 16, 3, 3): two columns per rotation, completed by Gram-Schmidt."""
    six = six.view(-1, M.OUTPUTS, 2, 3).transpose(-1, -2)
    return gram_schmidt(torch.cat([six, torch.zeros_like(six[..., :1])], -1))


def _rest_start(out: nn.Module) -> None:
    with torch.no_grad():  # start at the rest pose: identity columns
        out.weight.mul_(0.01)
        out.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(M.OUTPUTS))


def tcn_depth(window: int) -> int:
    """Number of width-3 layers whose receptive field is ``window`` (a power of 3, at least 3)."""
    k, w = 0, 1
    while w < window:
        w, k = w * 3, k + 1
    if w != window or k < 1:
        raise ValueError(f"the temporal convolution needs a window of 3, 9, 27 or 81 frames, got {window}")
    return k


class TemporalConvNet(nn.Module):
    """VideoPose3D-style temporal convolutions, (B, T, FEATURES) -> rotations (B, 16, 3, 3)."""

    def __init__(self, cfg: MotionNetConfig):
        super().__init__()
        self.cfg = cfg
        h, depth = cfg.hidden, tcn_depth(cfg.window)
        self.inp = nn.Sequential(nn.Conv1d(M.FEATURES, h, 3, stride=3), nn.BatchNorm1d(h), nn.ReLU(),
                                 nn.Dropout(cfg.dropout))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(h, h, 3, stride=3), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(cfg.dropout),
                          nn.Conv1d(h, h, 1), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(cfg.dropout))
            for _ in range(depth - 1))
        self.out = nn.Linear(h, M.OUTPUTS * 6)
        _rest_start(self.out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.transpose(1, 2))                 # (B, C, T / 3)
        for block in self.blocks:
            h = h[..., 2::3] + block(h)                 # the newest frame of each group of 3
        return _six_to_rotations(self.out(h[..., -1]))


class _LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` (the same parameters and numbers) written out, so that the exported graph has
    ReduceMean, Sub, Mul, Sqrt and Div instead of LayerNormalization (the TensorRT operator list
    of ``trainer.export``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x - x.mean(-1, keepdim=True)
        return c / torch.sqrt((c * c).mean(-1, keepdim=True) + self.eps) * self.weight + self.bias


class _Block(nn.Module):
    """Pre-norm self-attention and MLP, written out (plain MatMul/Softmax in ONNX)."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.n1, self.n2 = _LayerNorm(d), _LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.n1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, -1)
        x = x + self.drop(self.proj((a @ v).transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.mlp(self.n2(x)))


class MotionTransformer(nn.Module):
    """A small transformer over the window's frames, (B, T, FEATURES) -> rotations (B, 16, 3, 3)."""

    def __init__(self, cfg: MotionNetConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden
        self.embed = nn.Linear(M.FEATURES, d)
        self.place = nn.Parameter(torch.zeros(1, cfg.window, d))
        nn.init.normal_(self.place, std=0.02)
        self.blocks = nn.ModuleList(_Block(d, cfg.heads, cfg.dropout) for _ in range(cfg.blocks))
        self.norm = _LayerNorm(d)
        self.out = nn.Linear(d, M.OUTPUTS * 6)
        _rest_start(self.out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.place
        for block in self.blocks:
            h = block(h)
        return _six_to_rotations(self.out(self.norm(h[:, -1])))


ARCHS = {"mlp": MotionNet, "tcn": TemporalConvNet, "transformer": MotionTransformer}


def build_net(cfg: MotionNetConfig) -> nn.Module:
    """The network of ``cfg.arch``."""
    if cfg.arch not in ARCHS:
        raise ValueError(f"unknown motion model architecture {cfg.arch!r} (one of {', '.join(ARCHS)})")
    return ARCHS[cfg.arch](cfg)
