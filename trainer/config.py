"""The training config (``python -m trainer train CONFIG.yaml``): ``TrainConfig`` and its loader.

Every key is an ``engine.settings`` knob (a default, a range or the allowed values, a line of
documentation), read by the one loader the project's configs use (``engine.settings.build``), so a
mistake anywhere in the file is one line naming the file and the dotted key::

    runs.yaml: unknown key 'model.hg_chanels' (allowed: backbone, input_size, hg_channels, ...)
    runs.yaml: loss.lam = 'high' is a string; expected a number
    runs.yaml: data[1].weight = -1 is out of range; allowed: 0.0 to 1000000.0

Sections: ``model`` (``trainer.model.SkeletonNetConfig``, the architecture saved in every checkpoint),
``loss`` (``trainer.losses.LossWeights``), ``data`` (a list of ``trainer.data.sources.SourceConfig``,
mixed by weight), ``val`` (one ``SourceConfig``; no ``root``: no validation) and ``video_val``
(``VideoValConfig``; ``every: 0``: off). A key left out keeps its default; ``--set KEY=VALUE``
(``load_train_config``'s ``overrides``) changes any key after the file, checked the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import UserError
from engine.settings import SettingsError, build, check_fields, knob, replaced, section
from engine.yamlfile import parse_override, read_yaml
from trainer.data.sources import SourceConfig
from trainer.losses import LossWeights
from trainer.model import SkeletonNetConfig

STEPS = (0, 10**9)
VIDEO_GROUPS = ("select", "report", "all")  # trainer.heldout.GROUPS


@dataclass
class VideoValConfig:
    """``video_val``: the end-to-end score on held-out real videos during training (``trainer.train.video_score``)."""
    every: int = knob(0, range=STEPS, doc="score every this many steps (and at the end); 0 = never")
    videos: str = knob("select", choices=VIDEO_GROUPS, doc="the held-out videos scored (trainer.heldout.GROUPS)")
    choose: bool = knob(True, doc="best.pt keeps the best video score instead of the best validation MPJPE")

    def __post_init__(self):
        check_fields(self)

    @property
    def chooses(self) -> bool:
        """Whether the video score (on) chooses ``best.pt``."""
        return self.every > 0 and self.choose


@dataclass
class TrainConfig:
    """Everything a training run reads (``trainer.train.train``); the module doc says how it is loaded."""
    out: str = knob("runs/default", doc="the run folder (resumes from its last.pt)")
    model: SkeletonNetConfig = section(SkeletonNetConfig)
    data: list = knob([SourceConfig(root="data/synth")], item=SourceConfig,
                      doc="training sources, mixed in every batch by their weights")
    val: SourceConfig = section(SourceConfig)
    batch_size: int = knob(16, range=(1, 65536))
    steps: int = knob(20000, range=(1, 10**9), doc="the schedule's length")
    stop_at: int = knob(0, range=STEPS, doc="stop (checkpointed) at this step; 0 = run to the end")
    time_limit_s: float = knob(0.0, range=(0.0, 1e9), doc="stop (checkpointed) after this many seconds; 0 = no limit")
    optimizer: str = knob("adam", choices=("adam", "sgd"))
    lr: float = knob(1e-3, range=(1e-12, 10.0), doc="the learning rate at step 0")
    lr_final: float = knob(1e-5, range=(0.0, 10.0), doc="the learning rate at the end (schedules exp and cosine)")
    schedule: str = knob("exp", choices=("exp", "cosine", "const"), doc="exp: the paper's, lr -> lr_final")
    weight_decay: float = knob(1e-5, range=(0.0, 1.0))
    momentum: float = knob(0.9, range=(0.0, 1.0), doc="sgd")
    flip: bool = knob(True, doc="flip augmentation with the left/right label swap")
    val_every: int = knob(1000, range=(1, 10**9), doc="validate every this many steps (and at the end)")
    ckpt_every: int = knob(250, range=(1, 10**9), doc="write last.pt every this many steps (and at the end)")
    log_every: int = knob(20, range=(1, 10**9), doc="a row of train.csv every this many steps")
    seed: int = knob(0, range=(0, 2**32 - 1), doc="the network's start and every step's batch (with rank and step)")
    threads: int = knob(0, range=(0, 1024), doc="torch CPU threads; 0 = torch's default")
    clusters: str = knob("", doc="k-means centres (clusters.npz) to reuse instead of computing them")
    init: str = knob("", doc="start from this checkpoint's weights and k-means classes (fine-tuning)")
    amp: bool = knob(True, doc="bf16 autocast on GPU")
    cpu_bf16: bool = knob(False, doc="bf16 autocast on CPU too (docs/training.md: measured)")
    loss: LossWeights = section(LossWeights)
    export: bool = knob(True, doc="at the end: model.onnx and model.ts in the run folder")
    video_val: VideoValConfig = section(VideoValConfig)
    upright: bool = knob(False, doc="crops turned so the body stands upright (the engine's rule)")
    freeze_backbone_steps: int = knob(0, range=STEPS, doc="the backbone's weights stay fixed for this many steps")
    backbone_lr: float = knob(1.0, range=(0.0, 100.0), doc="the backbone's learning rate, times the heads'")
    distill_on: str = knob("all", choices=("all", "real"), doc="crops the original network labels (loss.distill): "
                           "all | real (those without 3D labels)")

    def __post_init__(self):
        check_fields(self)
        if not self.data:
            raise SettingsError("TrainConfig", "data", "is empty; a run needs at least one training source")
        for i, s in enumerate(self.data):
            if not s.root:
                raise SettingsError("TrainConfig", f"data[{i}].root", "is missing; a training source needs its "
                                    "dataset's folder")
        if self.loss.distill and not self.model.blazepose:
            raise SettingsError("TrainConfig", "loss.distill", f"= {self.loss.distill} needs a blazepose_* "
                                "model.backbone (the original network it distils from)")


def load_train_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """The training config in the YAML file ``path``, with ``--set KEY=VALUE`` ``overrides`` applied after it;
    a mistake is one line naming the file (or ``--set``) and the dotted key (``UserError``)."""
    p = Path(path)
    cfg = build(TrainConfig, read_yaml(p, "training config"), "", str(p), UserError)
    if overrides:
        cfg = replaced(cfg, dict(parse_override(o) for o in overrides), "--set", UserError)
    return cfg
