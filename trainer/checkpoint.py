"""Training checkpoints: what ``trainer.train`` writes and ``trainer.export``, ``trainer.evaluate``
and fine-tuning (``init:``) read.

A checkpoint is a ``torch.save`` dict: ``model`` (state dict), ``model_config`` (the
``SkeletonNetConfig`` fields, so the network can be rebuilt with nothing else), ``cluster_centres``
(the k-means classes, which belong to the weights), ``train_config`` (the ``TrainConfig``, as a dict:
a record, never read back), ``step``, ``best``, and in a full training checkpoint ``optimizer``.
``model_config`` is read with the settings loader, as a training config's ``model`` section is. Files are
written atomically (beside, then renamed).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from engine.errors import UserError
from engine.settings import build
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


def model_config(ckpt: dict, src: str = "checkpoint") -> SkeletonNetConfig:
    """A checkpoint's ``SkeletonNetConfig``, read by the settings loader (``engine.settings.build``) as a
    training config's ``model`` section is: fields added since it was saved (e.g. ``presence``) take their
    defaults; a key or value the network no longer knows is one line (``UserError``) naming ``src``."""
    if not isinstance(ckpt, dict) or "model_config" not in ckpt:
        raise UserError(f"{src}: not a SkeletonNet checkpoint (no model_config)")
    return build(SkeletonNetConfig, ckpt["model_config"], "model_config", src, UserError)


def saved_config(ckpt: dict) -> dict | None:
    """A checkpoint's model config as ``load_checkpoint`` builds it (``model_config``), as a dict; None when
    it cannot be built."""
    try:
        return dataclasses.asdict(model_config(ckpt))
    except UserError:
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
    where = "checkpoint" if isinstance(source, dict) else source
    net = SkeletonNet(model_config(ck, str(where)), ck["cluster_centres"])
    try:
        net.load_state_dict(ck["model"])
    except RuntimeError:
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
