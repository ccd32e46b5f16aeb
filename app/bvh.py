"""BVH files the app writes: crash-safe recordings and repaired copies.

The format itself (hierarchy, frames, reading, which rows a repair keeps) is
``animation.bvh``; here it goes through the app's outputs (app/outputs.py): a
recording is written as ``NAME.partial.bvh`` and renamed when it stops, its frames are
written as they come with ``fsync`` about once a second, so the file is a valid BVH at
every write; ``repair_bvh`` writes a repaired copy of a file cut mid-line by a kill or with
bad rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from animation.bvh import BVHError, BVHWriter, read_bvh, repair_plan
from app.outputs import OutputError, OutputFile, open_outputs
from engine import skeleton as S


class BVHRecorder(BVHWriter):
    """Records poses to a BVH file (``animation.bvh.BVHWriter``: constant frame rate, resampled
    from timestamps).

    ``out`` is an ``OutputFile`` (app/outputs.py) or a target path: the clip
    is written as ``NAME.partial.bvh`` and renamed to the target by
    ``close()``; ``keep()`` (an interrupted or failed recording) keeps the
    frames written so far. A write error (disk full) raises ``OutputError``
    with one line; the file then still ends on the last whole frame and its
    header counts exactly those frames.
    """

    def __init__(self, out: OutputFile | str | Path, fps: float = 30.0, units: str = "cm",
                 skeleton: S.Skeleton | None = None, floor_offset: float | None = None):
        own = not isinstance(out, OutputFile)
        if own and units not in ("m", "cm"):  # before any file is made
            raise ValueError(f"BVH units {units!r}; allowed: m, cm")
        sink = OutputFile(out, "BVH recording").open() if own else out
        self.path = sink.target
        try:
            super().__init__(sink, fps, units, skeleton, floor_offset)
        except OutputError:
            if own:
                sink.discard()
            raise

    @property
    def writing_to(self) -> Path:
        """The file the frames are in while recording (the partial file)."""
        return self.out.partial


@dataclass
class Repair:
    kept: int                 # frame rows written to the repaired copy
    dropped: list[str]        # "line L (frame K): why", one per row left out
    declared: int             # the original ``Frames:`` count
    out: Path | None          # the repaired file (None: nothing needed repair)


def repair_bvh(path: str | Path, out: str | Path | None = None, in_place: bool = False) -> Repair:
    """Repair a BVH cut short by a crash or with bad frame rows. The original is never shortened.

    The rows kept and dropped are ``animation.bvh.repair_plan``'s. The
    copy goes to ``out`` (default ``NAME.repaired.bvh`` beside the file, which
    must not exist yet); with ``in_place`` the original is replaced, only after
    the copy has been read back and verified. Raises BVHError / OutputError.
    """
    path = Path(path)
    plan = repair_plan(path)
    if plan.data is None:
        return Repair(plan.kept, [], plan.declared, None)
    if in_place:
        target = path
    elif out is not None:
        target = Path(out)
    else:
        target = path.with_name(f"{path.stem}.repaired{path.suffix}")
        if target.exists():
            raise OutputError(f"{target}: already exists; remove it or choose another name with --out")
    if Path(target).resolve() == path.resolve() and not in_place:
        raise OutputError(f"{target}: is the file being repaired; use --in-place to replace it")
    (o,) = open_outputs((target, "repaired BVH"))
    try:
        o.append(plan.data)
        o.sync()
        back = read_bvh(o.partial)
        if back.num_frames != plan.kept or back.bad_rows or back.names != plan.clip.names:
            raise BVHError(f"{o.partial}: the repaired copy did not read back the same; {path} is unchanged")
    except BaseException:
        o.discard()
        raise
    return Repair(plan.kept, plan.dropped, plan.declared, o.commit())
