"""Training checkpoints: what ``trainer.train`` writes and ``trainer.export``, ``trainer.evaluate``
and fine-tuning (``init:``) read.

A checkpoint is a ``torch.save`` dict: ``model`` (state dict), ``model_config`` (the
``SkeletonNetConfig`` fields, so the network can be rebuilt with nothing else), ``cluster_centres``
(the k-means classes, which belong to the weights), ``train_config``, ``step``, ``best``, and in a
full training checkpoint ``optimizer``. Files are written atomically (beside, then renamed).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from engine.errors import UserError
from trainer.model import SkeletonNet, SkeletonNetConfig


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def training_state(net, opt, step: int, best: float, mcfg: SkeletonNetConfig, centres, cfg) -> dict:
    """The checkpoint of a training run at ``step`` (``cfg``: its ``TrainConfig``)."""
    return {"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step, "best": best,
            "model_config": dataclasses.asdict(mcfg), "cluster_centres": np.asarray(centres),
            "train_config": dataclasses.asdict(cfg)}


def saved_config(ckpt: dict) -> dict | None:
    """A checkpoint's model config as ``load_checkpoint`` builds it: fields added to
    ``SkeletonNetConfig`` since it was saved (e.g. ``presence``) take their defaults."""
    try:
        return dataclasses.asdict(SkeletonNetConfig(**ckpt["model_config"]))
    except (KeyError, TypeError, ValueError):
        return None


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint's contents (CPU); a missing or unreadable file is one clear error."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: checkpoint not found")
    try:
        return torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - torch.load raises many kinds on a damaged or foreign file
        raise UserError(f"{p}: checkpoint unreadable ({type(e).__name__})") from None


def load_checkpoint(source: str | Path | dict) -> SkeletonNet:
    """A SkeletonNet from a training checkpoint, its path or its contents (eval mode, CPU)."""
    ck = source if isinstance(source, dict) else read_checkpoint(source)
    net = SkeletonNet(SkeletonNetConfig(**ck["model_config"]), ck["cluster_centres"])
    try:
        net.load_state_dict(ck["model"])
    except RuntimeError:
        where = "checkpoint" if isinstance(source, dict) else source
        raise UserError(f"{where}: weights do not match the architecture recorded in the checkpoint") from None
    return net.eval()


def write_slim_checkpoint(ck: dict, out: str | Path) -> Path:
    """The weights of a training checkpoint (its contents, ``read_checkpoint``) without its optimizer state,
    learned tensors stored as float16 (half the size; the network loads them back into float32; the fixed
    buffers, such as the k-means centres and bone vectors, stay float32). Keeps what ``init:`` and
    ``load_checkpoint`` need: model config, k-means classes, training config and step."""
    learned = (".weight", ".bias", ".running_mean", ".running_var")
    slim = {"model": {k: (v.half() if v.is_floating_point() and k.endswith(learned) else v)
                      for k, v in ck["model"].items()},
            **{k: ck.get(k) for k in ("model_config", "cluster_centres", "train_config", "step", "best")}}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(slim, out)
    return out
