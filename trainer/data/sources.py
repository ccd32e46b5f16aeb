"""``SourceConfig``, a data source's config entry (a training config's ``data`` list and its ``val``), and
``make_source``: the training or evaluation source it names."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import UserError
from engine.settings import SettingsError, build, check_fields, knob
from trainer.data import realsets
from trainer.data.dataset import SynthSource
from trainer.data.realframes import MODES as REALFRAMES_MODES
from trainer.data.realframes import RealFramesSource

KINDS = ("synth", "h36m", "mpii", "wild", "realframes")
ACCEPT = ("reviewed", "auto", "all")


@dataclass(frozen=True)
class SourceConfig:
    """One data source: an entry of a training config's ``data`` list (``weight``: its share of every batch)
    or its ``val`` section (``max_samples``: how many of its samples validation scores; no ``root``: no
    validation). The other keys belong to some kinds only."""
    kind: str = knob("synth", choices=KINDS, doc="synth (python -m trainer synth) | h36m | mpii | wild (labelled "
                     "real photos) | realframes (every training-allowed real frame)")
    root: str = knob("", doc="the dataset's folder")
    weight: float = knob(1.0, range=(0.0, 1e6), doc="training: the source's share of every batch, relative to "
                         "the other entries")
    split: str = knob("", doc="the split to read; '' = the role's: train for a data entry, val for val")
    max_samples: int = knob(400, range=(1, 10**9), doc="validation: the first this many samples are scored")
    shares: dict = knob({}, doc="realframes: the share of each mode (paste, real, negative); {} = 0.5, 0.3, 0.2")
    holdout: str = knob("", doc="wild: a file of held-out image keys (trained on only outside split train)")
    accept: str = knob("reviewed", choices=ACCEPT, doc="wild: reviewed (accepted images) | auto (also the "
                       "pre-filter's unreviewed fits) | all (every image with keypoints)")

    def __post_init__(self):
        check_fields(self)
        s = self.shares
        if s and (set(s) - set(REALFRAMES_MODES) or not all(isinstance(v, (int, float)) and v >= 0
                                                            for v in s.values()) or sum(s.values()) <= 0):
            raise SettingsError("SourceConfig", "shares", f"= {s!r} is not allowed; allowed: weights >= 0 (sum > 0) "
                                f"of {', '.join(REALFRAMES_MODES)}")


def make_source(spec: SourceConfig | dict, split: str, input_size: int, centres, flip: bool, upright: bool = False):
    """A training or validation source from its config entry (a ``SourceConfig``, or a mapping of its keys,
    where None stands for a key left out: ``trainer eval``'s unset options); ``split``: the split when the entry
    names none; ``upright``: crops turned so the body stands upright (synthetic sources; the engine's upright
    crops)."""
    if not isinstance(spec, SourceConfig):
        keys = {k: v for k, v in spec.items() if v is not None} if isinstance(spec, dict) else spec
        spec = build(SourceConfig, keys, "", "data source")
    kind, split = spec.kind, spec.split or split
    if not spec.root:
        raise UserError(f"a data source of kind {kind} needs a root (its dataset's folder)")
    root = Path(spec.root)
    if not root.exists():
        raise UserError(f"dataset path {root} does not exist (kind {kind})")
    if kind == "synth":
        return SynthSource(root, split, input_size, centres, flip, upright)
    if kind == "realframes":  # every training-allowed real frame (trainer/data/realframes.py)
        return RealFramesSource(root, split, input_size, centres, flip, spec.shares or None, upright=upright)
    return realsets.make(kind, root, split, input_size, centres, flip,
                         {"accept": spec.accept, "holdout": spec.holdout or None})
