"""Reading synthetic shards: ``shard_XXXXX/`` folders of JPEG files plus ``labels.npz``.

A shard whose labels are missing, unreadable or inconsistent, or one of whose
images fails its CRC or does not decode, is reported (one line, once) and
skipped; its samples are never used.

``joints_3d`` is in world axes (the frame the network predicts; metres,
relative to the camera centre), which ``joints_frame`` = "world" records.
Shards rendered before that tag existed hold camera-axis (OpenCV) joints: they
are converted here, once, when the shard is loaded.
"""
from __future__ import annotations

import sys
import zlib
from pathlib import Path

import cv2
import numpy as np

from engine import frames

LABEL_SHAPES = {
    "joints_2d": (16, 2), "joints_3d": (16, 3), "rotations": (15, 3, 3), "global_rotation": (3, 3),
    "bone_lengths": (15,), "K": (3, 3), "body_id": (), "clip_id": (), "crc": (), "occluded": (16,),
}


JOINTS_FRAME = "world"


class CorruptShard(Exception):
    pass


class Shard:
    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            with np.load(self.path / "labels.npz") as f:
                self.labels = {k: f[k] for k in f.files}
        except Exception as e:  # noqa: BLE001 - any unreadable file is a corrupt shard
            raise CorruptShard(f"labels.npz unreadable ({type(e).__name__})") from None
        n = len(self.labels.get("joints_2d", []))
        for k, shape in LABEL_SHAPES.items():
            if k not in self.labels:
                raise CorruptShard(f"labels.npz lacks '{k}'")
            if self.labels[k].shape != (n, *shape):
                raise CorruptShard(f"'{k}' has shape {self.labels[k].shape}, expected {(n, *shape)}")
            if self.labels[k].dtype.kind == "f" and not np.isfinite(self.labels[k]).all():
                raise CorruptShard(f"'{k}' holds non-finite values")
        tag = str(self.labels.pop("joints_frame", "camera"))
        if tag == "camera":  # rendered before the tag: convert once, here
            self.labels["joints_3d"] = frames.camera_to_world(self.labels["joints_3d"]).astype(np.float32)
        elif tag != JOINTS_FRAME:
            raise CorruptShard(f"joints_frame '{tag}' is not known (expected '{JOINTS_FRAME}')")
        missing = [i for i in range(n) if not (self.path / f"{i:06d}.jpg").exists()]
        if missing:
            raise CorruptShard(f"{len(missing)} of {n} images are missing")
        self.count = n

    def jpeg(self, i: int) -> bytes:
        data = (self.path / f"{i:06d}.jpg").read_bytes()
        if zlib.crc32(data) != int(self.labels["crc"][i]):
            raise CorruptShard(f"image {i:06d}.jpg fails its CRC")
        return data

    def image(self, i: int) -> np.ndarray:
        img = cv2.imdecode(np.frombuffer(self.jpeg(i), np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise CorruptShard(f"image {i:06d}.jpg does not decode")
        return img


def report(path: Path, why: str) -> None:
    print(f"corrupt shard {path}: {why}; skipped", file=sys.stderr)


def iter_shards(split_dir: Path):
    """Valid shards of a split folder, in order; corrupt ones reported and skipped."""
    for p in sorted(Path(split_dir).glob("shard_*")):
        if p.name.endswith(".partial") or not p.is_dir():
            continue
        try:
            yield Shard(p)
        except CorruptShard as e:
            report(p, str(e))
