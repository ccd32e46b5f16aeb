"""``make_source``: a training or evaluation data source from its config entry
(``{"kind": synth | h36m | mpii | wild | realframes, "root": ..., ...}``)."""
from __future__ import annotations

from pathlib import Path

from engine.errors import UserError
from trainer.data import realsets
from trainer.data.dataset import SynthSource

KINDS = ("synth", "h36m", "mpii", "wild", "realframes")


def make_source(spec: dict, split: str, input_size: int, centres, flip: bool, upright: bool = False):
    """A training or validation source from its config entry; ``upright``: crops turned so the body stands
    upright (synthetic sources; the engine's upright crops)."""
    kind = spec.get("kind", "synth")
    root = Path(spec["root"])
    if not root.exists():
        raise UserError(f"dataset path {root} does not exist (kind {kind})")
    if kind == "synth":
        return SynthSource(root, spec.get("split", split), input_size, centres, flip, upright)
    if kind == "realframes":  # every training-allowed real frame (trainer/data/realframes.py)
        from trainer.data.realframes import RealFramesSource

        return RealFramesSource(root, spec.get("split", split), input_size, centres, flip, spec.get("shares"),
                                upright=upright)
    if kind in KINDS:
        return realsets.make(kind, root, spec.get("split", split), input_size, centres, flip, spec)
    raise UserError(f"unknown dataset kind {kind!r}; allowed: {', '.join(KINDS)}")
