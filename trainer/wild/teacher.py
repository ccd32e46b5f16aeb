"""2D keypoints for real images: the MediaPipe teacher, JSON or MPII-layout files.

``python -m trainer teacher-setup`` creates ``.venv-teacher`` (MediaPipe
0.10.21 pins numpy<2 and protobuf<5, so it lives in its own environment) and
the trainer calls ``trainer/wild/teacher_worker.py`` there as a subprocess that
writes JSON.

MediaPipe's 33 landmarks map to our 16 joints (MPII order) by this rule:

* ankles, knees, hips, wrists, elbows, shoulders: the landmark of that name
  (MediaPipe's left/right are the person's own, as ours);
* pelvis: the hip midpoint moved up the trunk by 0.06 / 0.54 of the way to
  the shoulder midpoint (our pelvis joint sits 6 cm above the hip joints on a
  54 cm hip-to-shoulder trunk);
* thorax: the shoulder midpoint moved up by 0.02 / 0.54 of the trunk (our
  clavicles drop 2 cm from the thorax);
* upper neck and head top: on the line from the thorax through the ear
  midpoint, which is taken as the middle of the head: upper neck at
  a = 0.10 / 0.21 and head top at b = 0.32 / 0.21 of that vector (neck 10 cm,
  head 22 cm in the rest skeleton).

A joint's confidence is the smallest MediaPipe visibility of the landmarks
it is made from.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

from engine import skeleton as S
from engine.errors import UserError, reports_user_errors
from trainer.fetch import md5_of, npm_pack

#: BlazePose GHUM heavy comes from this npm package (the mediapipe wheel would download it)
NPM_POSE = "@mediapipe/pose@0.5.1675469404"
HEAVY_MD5 = "52337aea988efa7ce17851641f4b730a"


ROOT = Path(__file__).resolve().parents[2]
TEACHER_VENV = ROOT / ".venv-teacher"
WORKER = Path(__file__).with_name("teacher_worker.py")
MEDIAPIPE = "mediapipe==0.10.21"
READY = "skeletonnet-teacher-ready"

MP = {"nose": 0, "l_ear": 7, "r_ear": 8, "l_shoulder": 11, "r_shoulder": 12, "l_elbow": 13, "r_elbow": 14,
      "l_wrist": 15, "r_wrist": 16, "l_hip": 23, "r_hip": 24, "l_knee": 25, "r_knee": 26, "l_ankle": 27,
      "r_ankle": 28}
NECK_A, HEAD_B = 0.10 / 0.21, 0.32 / 0.21
PELVIS_UP, THORAX_UP = 0.06 / 0.54, 0.02 / 0.54


class TeacherError(UserError):
    """The teacher cannot run or its keypoints cannot be read (one line)."""


def mediapipe_to_joints(points: np.ndarray, visibility: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(33, D) MediaPipe landmarks (pixels, D = 2, or metres, D = 3) -> (16, D) joints and (16,) confidences.

    The module's rule; confidences are 1 when ``visibility`` (33,) is not given.
    """
    pts = np.asarray(points, np.float64)
    if pts.shape[0] != 33:
        raise ValueError(f"MediaPipe pose has 33 landmarks, got {pts.shape[0]}")
    vis = np.ones(33) if visibility is None else np.asarray(visibility, np.float64)
    j = np.zeros((S.NUM_JOINTS, pts.shape[1]))
    c = np.zeros(S.NUM_JOINTS)
    for name in ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow", "r_shoulder",
                 "l_shoulder", "l_elbow", "l_wrist"):
        j[S.JOINT_INDEX[name]] = pts[MP[name]]
        c[S.JOINT_INDEX[name]] = vis[MP[name]]
    mid_hip = (pts[MP["l_hip"]] + pts[MP["r_hip"]]) / 2
    mid_sh = (pts[MP["l_shoulder"]] + pts[MP["r_shoulder"]]) / 2
    trunk = mid_sh - mid_hip
    thorax = mid_sh + THORAX_UP * trunk
    ears = (pts[MP["l_ear"]] + pts[MP["r_ear"]]) / 2
    j[S.JOINT_INDEX["pelvis"]] = mid_hip + PELVIS_UP * trunk
    j[S.JOINT_INDEX["thorax"]] = thorax
    j[S.JOINT_INDEX["upper_neck"]] = thorax + NECK_A * (ears - thorax)
    j[S.JOINT_INDEX["head_top"]] = thorax + HEAD_B * (ears - thorax)
    v = lambda *names: min(vis[MP[n]] for n in names)
    c[S.JOINT_INDEX["pelvis"]] = v("l_hip", "r_hip", "l_shoulder", "r_shoulder")
    c[S.JOINT_INDEX["thorax"]] = v("l_hip", "r_hip", "l_shoulder", "r_shoulder")
    c[S.JOINT_INDEX["upper_neck"]] = c[S.JOINT_INDEX["head_top"]] = v("l_shoulder", "r_shoulder", "l_ear", "r_ear")
    return j, c


def teacher_python() -> Path:
    return TEACHER_VENV / "bin" / "python"


def setup(venv: Path = TEACHER_VENV, quiet: bool = False) -> Path:
    """Create the teacher environment (idempotent). Returns its python."""
    py = venv / "bin" / "python"
    if (venv / READY).exists() and subprocess.run([str(py), "-c", "import mediapipe"],
                                                  capture_output=True).returncode == 0:
        if not quiet:
            print(f"teacher environment ready: {venv}", file=sys.stderr)
        return py
    print(f"creating {venv} with {MEDIAPIPE} (about 1 GB, a minute or two) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    r = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", MEDIAPIPE])
    if r.returncode:
        raise TeacherError(f"pip could not install {MEDIAPIPE} into {venv} (exit {r.returncode})")
    (venv / READY).write_text(MEDIAPIPE + "\n")
    print(f"teacher environment ready: {venv}", file=sys.stderr)
    return py


def run_teacher(images: list[Path], out_json: Path, python: Path | None = None) -> dict:
    """MediaPipe landmarks for images (resumable: images already in out_json are skipped)."""
    py = Path(python or teacher_python())
    if not py.exists() or not (py.parents[1] / READY).exists():
        raise TeacherError(f"no teacher environment at {Path(py).parents[1]}: run  python -m trainer teacher-setup")
    out_json = Path(out_json)
    lst = out_json.with_suffix(".list.txt")
    lst.write_text("\n".join(str(Path(p).resolve()) for p in images) + "\n")
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    r = subprocess.run([str(py), str(WORKER), str(lst), str(out_json)], env=env, stderr=subprocess.PIPE, text=True)
    lst.unlink(missing_ok=True)
    if r.returncode:
        tail = "\n".join(r.stderr.strip().splitlines()[-3:])
        raise TeacherError(f"the MediaPipe teacher failed (exit {r.returncode}): {tail}")
    return json.loads(out_json.read_text())["images"]


def teacher_keypoints(entry: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """Our 16 joints (pixels) and confidences from one worker entry; None if no person was found."""
    if not entry or entry.get("landmarks") is None:
        return None
    lm = np.asarray(entry["landmarks"], np.float64)
    return mediapipe_to_joints(lm[:, :2], lm[:, 2])


def load_keypoint_file(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """2D keypoints from a JSON file, keyed by image file name.

    Two layouts: ``{"IMAGE": [[x, y, confidence] x 16], ...}`` in our joint
    order (MPII's), or MPII's JSON list ``[{"image": ..., "joints": [[x, y] x 16],
    "joints_vis": [0/1 x 16]}, ...]``.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise TeacherError(f"{path}: unreadable keypoint file ({e})") from None
    out = {}
    try:
        if isinstance(data, list):
            for it in data:
                j = np.asarray(it["joints"], np.float64).reshape(16, 2)
                out[Path(it["image"]).name] = (j, np.asarray(it.get("joints_vis", [1] * 16), np.float64))
        else:
            for name, v in data.items():
                a = np.asarray(v, np.float64).reshape(16, -1)
                out[Path(name).name] = (a[:, :2], a[:, 2] if a.shape[1] > 2 else np.ones(16))
    except (KeyError, ValueError, TypeError) as e:
        raise TeacherError(f"{path}: keypoints must be 16 joints per image ({e})") from None
    return out


@reports_user_errors("trainer")
def main_setup(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer teacher-setup",
                                 description="create the MediaPipe teacher environment (.venv-teacher)")
    ap.add_argument("--venv", default=str(TEACHER_VENV))
    args = ap.parse_args(argv)
    setup(Path(args.venv))
    return 0


def ensure_heavy(py: Path) -> str | None:
    """Put BlazePose heavy where the teacher's MediaPipe looks for it; None when it is there, else why not."""
    r = subprocess.run([str(py), "-c", "import mediapipe, os; print(os.path.dirname(mediapipe.__file__))"],
                       capture_output=True, text=True)
    if r.returncode:
        return "mediapipe does not import in the teacher environment"
    dest = Path(r.stdout.strip()) / "modules" / "pose_landmark" / "pose_landmark_heavy.tflite"
    if dest.exists() and md5_of(dest) == HEAVY_MD5:
        return None
    try:
        tgz = npm_pack(NPM_POSE)  # cached in data/packages/npm
    except UserError as e:
        return str(e)
    with tarfile.open(tgz) as t:
        data = t.extractfile("package/pose_landmark_heavy.tflite").read()
    if md5_of(data) != HEAVY_MD5:
        return f"{tgz.name}: pose_landmark_heavy.tflite is not the expected file"
    tmp = dest.with_suffix(".partial")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return None
