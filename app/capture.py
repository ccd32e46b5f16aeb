"""Frame sources: a webcam by index, a video file, or a folder of images.

``open_source`` returns a ``Source`` read frame by frame (offline processing
uses every frame). ``LatestFrame`` wraps a source in a thread that keeps only
the newest frame, so a slow consumer never builds up latency; a webcam that
disappears is reopened every second while the app keeps running.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from pathlib import Path

import cv2

from engine.errors import UserError

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class CaptureError(UserError):
    pass


@contextlib.contextmanager
def quiet_opencv():
    """OpenCV's own warnings off while probing cameras (ours is the one line the user reads)."""
    log = cv2.utils.logging
    level = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(level)


def list_cameras(max_index: int = 8) -> list[tuple[int, int, int]]:
    """(index, width, height) of the cameras that open and deliver a frame."""
    found = []
    with quiet_opencv():
        for i in range(max_index):
            cap = cv2.VideoCapture(i)
            if cap.isOpened():
                ok, frame = cap.read()
                if ok and frame is not None:
                    found.append((i, frame.shape[1], frame.shape[0]))
            cap.release()
    return found


def _cameras_line() -> str:
    cams = list_cameras()
    return ("cameras found: " + ", ".join(f"{i} ({w}x{h})" for i, w, h in cams)) if cams else "no cameras found"


class Source:
    """Sequential frames with timestamps (seconds): ``read() -> (ok, frame, t)``."""

    fps: float = 30.0
    live: bool = False
    name: str = ""
    count: int = 0

    def read(self):
        raise NotImplementedError

    def close(self) -> None:
        pass


class VideoSource(Source):
    def __init__(self, path: Path):
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            raise CaptureError(f"{path}: cannot open the video (unreadable or not a video)")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 30.0
        self.count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.name = str(path)
        self.index = 0

    def read(self):
        ok, frame = self.cap.read()
        if not ok or frame is None:
            return False, None, 0.0
        t = self.index / self.fps
        self.index += 1
        return True, frame, t

    def close(self):
        self.cap.release()


class FolderSource(Source):
    def __init__(self, path: Path, fps: float = 30.0):
        self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXT)
        if not self.files:
            raise CaptureError(f"{path}: no images in this folder ({', '.join(sorted(IMAGE_EXT))})")
        self.fps, self.count, self.name, self.index = fps, len(self.files), str(path), 0

    def read(self):
        while self.index < len(self.files):
            f = self.files[self.index]
            t = self.index / self.fps
            self.index += 1
            frame = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if frame is not None:
                return True, frame, t
            print(f"{f}: not a readable image; skipped", file=sys.stderr)
        return False, None, 0.0


class CameraSource(Source):
    live = True

    def __init__(self, index: int, width: int = 1280, height: int = 720, fps: int = 30):
        self.index, self.size, self.want_fps = index, (width, height), fps
        self.cap = self._open()
        if self.cap is None:
            raise CaptureError(f"camera {index} cannot be opened; {_cameras_line()}")
        self.name = f"camera {index}"
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or float(fps)
        self.t0 = time.monotonic()

    def _open(self):
        with quiet_opencv():
            cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            return None
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        cap.set(cv2.CAP_PROP_FPS, self.want_fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    def read(self):
        ok, frame = self.cap.read() if self.cap is not None else (False, None)
        return (True, frame, time.monotonic() - self.t0) if ok and frame is not None else (False, None, 0.0)

    def reopen(self) -> bool:
        if self.cap is not None:
            self.cap.release()
        self.cap = self._open()
        return self.cap is not None

    def close(self):
        if self.cap is not None:
            self.cap.release()


def open_source(source, width: int = 1280, height: int = 720, fps: int = 30) -> Source:
    """A webcam index (int or digits), a video file, or an image folder."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return CameraSource(int(source), width, height, fps)
    p = Path(str(source)).expanduser()
    if not p.exists():
        raise CaptureError(f"{p}: no such file or folder")
    if p.is_dir():
        return FolderSource(p)
    return VideoSource(p)


class LatestFrame:
    """Reads a source in a thread and hands over only the newest frame.

    ``get(timeout)`` returns (frame, t, index) of a frame not returned before,
    or None; frames that arrive while the consumer is busy are dropped
    (``dropped`` counts them). Files are paced at their frame rate. A camera
    that stops delivering is reopened every second (``status`` says so).
    """

    def __init__(self, source: Source, loop: bool = False):
        self.source, self.loop = source, loop
        self.status = "running"
        self.dropped = 0
        self.ended = False
        self._frame = None
        self._new = threading.Condition()
        self._stop = False
        self._n = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        start = time.monotonic()
        k = 0
        while not self._stop:
            ok, frame, t = self.source.read()
            if not ok:
                if self.source.live:
                    self.status = f"{self.source.name} lost; retrying"
                    time.sleep(1.0)
                    if self.source.reopen():
                        self.status = "running"
                    continue
                if self.loop and isinstance(self.source, VideoSource):
                    self.source.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    self.source.index = 0
                    continue
                with self._new:
                    self.ended = True
                    self._new.notify_all()
                return
            if not self.source.live:  # pace files like a camera
                k += 1
                wait = start + k / self.source.fps - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                t = time.monotonic() - start
            with self._new:
                if self._frame is not None:
                    self.dropped += 1
                self._n += 1
                self._frame = (frame, t, self._n)
                self._new.notify_all()

    def get(self, timeout: float = 1.0):
        with self._new:
            if self._frame is None and not self.ended:
                self._new.wait(timeout)
            item, self._frame = self._frame, None
            return item

    def close(self):
        self._stop = True
        self._thread.join(timeout=2.0)
        self.source.close()
