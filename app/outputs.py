"""Every file the app writes (poses, BVH, video, bench JSON, screenshots) goes through here.

Rules (README "Using it"):

* All outputs of a command are opened together by ``open_outputs``, after the
  model and the inputs have been checked, and before the first frame is
  processed; if one cannot be opened, none is (the partial files made so far
  are removed) and the user gets one line naming the file and the problem.
* A target ``poses.jsonl`` is written as ``poses.partial.jsonl`` beside it.
  ``commit()`` renames it over the target once it is complete, so a file that
  existed before is replaced only by a complete one.
* ``keep()`` (Ctrl+C, a full disk, a recording stopped by an error) keeps the
  frames written so far: the partial file becomes the target when no target
  existed before, otherwise it stays beside it under its partial name (the
  old target is not touched). The caller tells the user which.
* Writes go straight to the file descriptor; a failed write (disk full)
  truncates the file back to the end of the last complete write, so the file
  on disk always ends on a whole record, and raises ``OutputError``.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from engine.errors import UserError

_REASONS = {
    errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "read-only file system", errno.EACCES: "permission denied", errno.EPERM: "permission denied",
    errno.ENOENT: "no such folder", errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "it is a folder", errno.EFBIG: "the file is too large", errno.EIO: "input/output error",
    errno.ENAMETOOLONG: "the name is too long",
}


class OutputError(UserError):
    """An output cannot be opened or written; one line naming the file and the problem."""

    def __init__(self, message: str, why: str = ""):
        super().__init__(message)
        self.why = why or message


def reason(e: OSError) -> str:
    """A short human reason for an OSError."""
    return _REASONS.get(e.errno, e.strerror or type(e).__name__)


def partial_name(target: Path, n: int = 1) -> Path:
    """``clip.bvh`` -> ``clip.partial.bvh`` (``clip.partial-2.bvh`` ... when taken)."""
    tag = "partial" if n == 1 else f"partial-{n}"
    return target.with_name(f"{target.stem}.{tag}{target.suffix}")


class OutputFile:
    """One output: written to a partial file beside ``target``, renamed when complete."""

    def __init__(self, target: str | Path, what: str = "output"):
        self.target = Path(target).expanduser()
        self.what = what
        self.partial: Path | None = None
        self.existed = False
        self.fd: int | None = None
        self.size = 0          # bytes on disk that end on a whole record
        self.final: Path | None = None
        self.external = False  # written by another library (hand_over), so ``size`` is not known
        self._made_dirs: list[Path] = []

    # ------------------------------------------------------------------ opening

    def _check(self) -> None:
        t = self.target
        if t.is_dir():
            raise OutputError(f"{t}: is a folder; give a file name for the {self.what}")
        for parent in [t.parent, *t.parent.parents]:
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"{t}: cannot write the {self.what} ({parent} is not a folder)")
                break

    def open(self) -> "OutputFile":
        """Create the partial file (and missing folders); OutputError with one line when it cannot be."""
        self._check()
        t = self.target
        missing = []
        for parent in [t.parent, *t.parent.parents]:
            if parent.exists():
                break
            missing.append(parent)
        try:
            for d in reversed(missing):
                d.mkdir()
                self._made_dirs.append(d)
            self.existed = t.exists()
            for n in range(1, 1000):
                p = partial_name(t, n)
                try:
                    self.fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    continue
                self.partial = p
                break
            else:
                raise OutputError(f"{t}: too many partial files beside it; remove {partial_name(t)} and others")
        except OSError as e:
            self.discard()
            raise OutputError(f"{t}: cannot write the {self.what} ({reason(e)})", reason(e)) from None
        return self

    def hand_over(self) -> Path:
        """For writers that open the file by name (OpenCV's video writer): the partial path."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.external = True
        return self.partial

    # ------------------------------------------------------------------ writing

    def append(self, data: bytes) -> None:
        """Write ``data`` at the end; on failure the file is cut back to its last whole write."""
        try:
            view = memoryview(data)
            while view:
                n = os.pwrite(self.fd, view, self.size + (len(data) - len(view)))
                view = view[n:]
        except OSError as e:
            self._restore()
            raise self.error(e) from None
        self.size += len(data)

    def overwrite(self, offset: int, data: bytes) -> None:
        """Rewrite bytes already in the file (e.g. a header count); no new space is needed."""
        try:
            os.pwrite(self.fd, data, offset)
        except OSError as e:
            raise self.error(e) from None

    def sync(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError as e:
            raise self.error(e) from None

    def error(self, e: OSError) -> OutputError:
        return OutputError(f"{self.partial}: cannot write the {self.what} ({reason(e)})", reason(e))

    def _restore(self) -> None:
        try:
            os.ftruncate(self.fd, self.size)
        except OSError:
            pass

    # ------------------------------------------------------------------ finishing

    def _close(self) -> None:
        if self.fd is not None:
            try:
                os.fsync(self.fd)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None

    def commit(self) -> Path:
        """The file is complete: it replaces the target. Returns the target."""
        if self.final is not None:
            return self.final
        if self.fd is not None:
            fd = self.fd
            try:
                os.fsync(fd)
            except OSError as e:
                self._restore()
                raise self.error(e) from None
        self._close()
        try:
            os.replace(self.partial, self.target)
        except OSError as e:
            raise OutputError(f"{self.target}: cannot replace it with {self.partial} ({reason(e)}); "
                              f"the new {self.what} is in {self.partial}") from None
        self.final = self.target
        return self.final

    def keep(self) -> Path | None:
        """The file is incomplete: keep what it holds without touching an existing target.

        Returns where the data is: the target when none existed before, else the partial
        file; None when nothing had been written (the partial file is removed)."""
        if self.final is not None:
            return self.final
        if not self.external and self.size == 0:  # nothing was written: nothing to keep
            self.discard()
            return None
        self._close()
        self.final = self.partial
        if not self.existed:
            try:  # link + unlink: a rename that never replaces a file
                os.link(self.partial, self.target)
                os.unlink(self.partial)
                self.final = self.target
            except OSError:
                pass
        return self.final

    def discard(self) -> None:
        """Nothing worth keeping: remove the partial file and the folders made for it."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.partial is not None:
            try:
                os.unlink(self.partial)
            except OSError:
                pass
        for d in reversed(self._made_dirs):
            try:
                d.rmdir()
            except OSError:
                pass
        self.final = None


def open_outputs(*specs: tuple[str | Path | None, str]) -> list[OutputFile | None]:
    """Open every ``(path, what)`` output (``None`` paths give ``None``), all or none."""
    opened: list[OutputFile] = []
    seen: set[Path] = set()
    try:
        out: list[OutputFile | None] = []
        for path, what in specs:
            if path is None or path == "":
                out.append(None)
                continue
            o = OutputFile(path, what)
            key = o.target.resolve()
            if key in seen:
                raise OutputError(f"{o.target}: given for two outputs; each needs its own file")
            seen.add(key)
            opened.append(o.open())
            out.append(o)
        return out
    except BaseException:
        for o in opened:
            o.discard()
        raise
