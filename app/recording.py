"""A BVH recording in a live session: a part that can fail alone.

``Recording.toggle()`` (the R key) starts a clip in ``bvh.folder`` or stops
the one running. When the folder cannot be written or the disk fills up,
only the recording stops: the frames written so far are kept (app/outputs.py
``keep``), the terminal gets one line, ``hud()`` shows it, and the live
session goes on.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from app.outputs import OutputError


class Recording:
    def __init__(self, folder: Path, fps: float, units: str, log=print):
        self.folder, self.fps, self.units, self.log = Path(folder), fps, units, log
        self.rec = None
        self.failures = 0
        self.last_error = ""   # the latest failure (terminal line)
        self.hud_error = ""    # its short form, shown in the HUD until the next start
        self.saved: list[Path] = []

    @property
    def active(self) -> bool:
        return self.rec is not None

    def _new_path(self) -> Path:
        stamp = time.strftime("mocap-%Y%m%d-%H%M%S")
        path = self.folder / f"{stamp}.bvh"
        k = 2
        while path.exists():
            path = self.folder / f"{stamp}-{k}.bvh"
            k += 1
        return path

    def start(self, path: Path | None = None, strict: bool = False) -> bool:
        """Start recording to ``path`` (default: a new time-stamped file in the folder).

        With ``strict`` (a recording asked for on the command line) an unwritable
        file raises OutputError; otherwise it is reported and the session goes on."""
        from app.bvh import BVHRecorder

        if self.rec is not None:
            return True
        path = path or self._new_path()
        try:
            self.rec = BVHRecorder(path, fps=self.fps, units=self.units)
        except OutputError as e:
            if strict:
                raise
            self._failed(f"recording not started: {e}", f"REC FAILED: {e.why}")
            return False
        self.last_error = self.hud_error = ""
        self.log(f"recording {path} (written as {self.rec.writing_to.name} until it stops)")
        return True

    def add(self, t: float, rotations: np.ndarray, root_position: np.ndarray | None,
            pelvis: np.ndarray | None = None, local: np.ndarray | None = None) -> None:
        """One pose for the running clip (arguments as ``animation.bvh.BVHWriter.add``)."""
        if self.rec is None:
            return
        try:
            self.rec.add(t, rotations, root_position, pelvis, local)
        except OutputError as e:
            rec, self.rec = self.rec, None
            where = rec.keep()
            kept = f"the {rec.frames} frames before are kept in {where}" if where else "no frame was written"
            self._failed(f"recording stopped: {e}; {kept}", f"REC STOPPED: {e.why}, {rec.frames} frames kept")

    def stop(self) -> Path | None:
        """Stop and complete the running recording (if any); returns its file."""
        if self.rec is None:
            return None
        rec, self.rec = self.rec, None
        try:
            path = rec.close()
        except OutputError as e:
            where = rec.keep()
            self._failed(f"recording stopped: {e}; the {rec.frames} frames are kept in {where}",
                         f"REC STOPPED: {e.why}, {rec.frames} frames kept")
            return where
        self.saved.append(path)
        self.log(f"saved {path} ({rec.frames} frames, {rec.duration:.1f} s)")
        return path

    def close(self) -> None:
        """The session's cleanup: the running recording (if any) is stopped and completed."""
        self.stop()

    def toggle(self) -> None:
        if self.rec is None:
            self.start()
        else:
            self.stop()

    def _failed(self, message: str, short: str) -> None:
        self.failures += 1
        self.last_error, self.hud_error = message, short
        self.log(message)

    def hud(self) -> str:
        if self.rec is not None:
            return f"REC {self.rec.duration:5.1f} s"
        return self.hud_error or "R: record BVH"
