"""Shared fixtures of the app tests: a model the trainer exports, a short clip, and real
file-system faults (a read-only mount, a small disk that fills up)."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parents[2]
WALK = REPO / "tests" / "data" / "sports2d_walk.mp4"  # Sports2D training footage (tests/data/NOTICE.md)


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    import torch

    from trainer.export import export_onnx
    from trainer.model import SkeletonNet, SkeletonNetConfig

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "m.onnx"
    export_onnx(SkeletonNet(SkeletonNetConfig()).eval(), path)
    return path


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "short.avi"
    cap = cv2.VideoCapture(str(WALK))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (480, 270))
    for _ in range(12):
        ok, f = cap.read()
        w.write(cv2.resize(f, (480, 270)))
    w.release()
    return path


def mocap(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=timeout)


def _mount(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"needs root to mount a tmpfs ({r.stderr.strip()})")


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder on a read-only file system (a tmpfs remounted read-only; chmod does not stop root).

    ``read_only_dir(files)`` fills it with ``{name: bytes}`` first and returns its path."""
    where = tmp_path / "ro"
    mounted = []

    def make(files: dict | None = None) -> Path:
        _mount(where, "size=4m")
        mounted.append(where)
        for name, data in (files or {}).items():
            (where / name).write_bytes(data)
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        assert not os.access(where, os.W_OK)
        return where

    yield make
    for m in mounted:
        _umount(m)


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(kib)``: a folder on a tmpfs of that size, to fill up during a recording."""
    mounted = []

    def make(kib: int) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        _mount(where, f"size={kib}k")
        mounted.append(where)
        return where

    yield make
    for m in mounted:
        _umount(m)
