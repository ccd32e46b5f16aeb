"""The network's 2D against the MediaPipe teacher on the held-out test videos: what training chooses its
checkpoints by (``video_val``, ``trainer.train.video_score``) and the core of ``python -m
benchmarks.heldout_video``, which adds the noise videos' error statistics, the picture and the report.

Videos: the catalogue's test videos (``trainer/data/videos.yaml``), fetched into ``data/heldout/``; in
groups (``GROUPS``): training chooses on ``select`` (Pose2Sim's single-person trial, 4 views), which makes
them validation videos; ``report`` (the two-person trial) is never used for a choice.

1. **Teacher.** Every K-th frame (JPEG, quality 95, ``data/heldout/frames/VIDEO/FRAME.jpg``) goes through
   ``trainer/wild/teacher_worker.py`` in ``.venv-teacher`` with MediaPipe's legacy pose solution at
   BlazePose GHUM **heavy** (``model_complexity=2``; ``trainer.wild.teacher.ensure_heavy`` puts the model
   where MediaPipe looks) or **full**. Cached in ``data/heldout/teacher_MODEL.json``; our 16 joints with
   their confidences in ``data/heldout/keypoints_MODEL.json`` (``benchmarks.tracking`` reads them).
2. **Oracle crop.** ``Box.around(teacher joints with confidence > 0.5, 1.25)`` (all 16 when fewer than 2
   are seen), the engine's tracking crop rule; the ONNX model runs on it with the crop's camera.
3. **End to end.** The estimator ``open_estimator`` opens runs over every frame of each test video; the
   frames with a teacher person are scored, a frame where it reports nobody counting as every joint missed.
4. **Baseline.** ``trainer.evaluate.mean_pose_2d`` of all the test crops, placed in each oracle crop.

PCK@a (``trainer.metrics.pck``): a joint is hit when its error is under a x the teacher's torso diagonal
(right shoulder to left hip); only joints the teacher sees (confidence > 0.5) count; the mean over frames.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine import skeleton as S
from engine.backend_base import turn_back
from engine.errors import UserError
from engine.preprocess import Box
from trainer.data.videos import HELDOUT, Splits, Video, fetch, load_splits, video_frames
from trainer.wild.teacher import NPM_POSE

CROP_SCALE = 1.25           # the oracle crop: the engine's tracking.crop_scale
VISIBLE = 0.5               # teacher confidence above which a joint counts
#: the test videos in groups: training chooses its checkpoints on "select" (Pose2Sim's single-person trial, 4
#: views), which makes them validation videos; "report" (the two-person trial, another recording of the same
#: man in the same lab) is never used for a choice, so its score is the untouched held-out number
GROUPS = {"all": lambda name: True, "select": lambda name: name.startswith("pose2sim_single_"),
          "report": lambda name: name.startswith("pose2sim_multi_")}
TEACHERS = {"heavy": 2, "full": 1}
TEACHER_DESC = {"heavy": f"BlazePose GHUM heavy (mediapipe 0.10.21 legacy pose solution, model_complexity 2, "
                         f"static images; pose_landmark_heavy.tflite from npm {NPM_POSE})",
                "full": "BlazePose GHUM full (mediapipe 0.10.21 legacy pose solution, model_complexity 1, "
                        "static images; as trainer wild)"}
#: runs trainer/wild/teacher_worker.py in the teacher environment with MediaPipe's pose solution at
#: another model_complexity (argv: complexity, worker, list, out)
WORKER_AT = r"""
import runpy, sys
complexity = int(sys.argv[1])
import mediapipe as mp
_Pose = mp.solutions.pose.Pose
class _At(_Pose):
    def __init__(self, *a, **k):
        k["model_complexity"] = complexity
        super().__init__(*a, **k)
mp.solutions.pose.Pose = _At
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def say(msg: str, end: str = "\n") -> None:
    print(msg, file=sys.stderr, end=end, flush=True)


# --------------------------------------------------------------------------- teacher

def teacher_python() -> Path:
    """The teacher environment's python, checked to be set up."""
    from trainer.wild.teacher import READY, TeacherError
    from trainer.wild.teacher import teacher_python as python

    py = python()
    if not py.exists() or not (py.parents[1] / READY).exists():
        raise TeacherError(f"no teacher environment at {py.parents[1]}: run  python -m trainer teacher-setup")
    return py


def run_teacher(images: list[Path], out_json: Path, complexity: int) -> dict:
    """trainer/wild/teacher_worker.py over ``images`` at ``complexity`` (resumable; one progress line)."""
    from trainer.wild.teacher import WORKER, TeacherError

    py = teacher_python()
    done = set(json.loads(out_json.read_text())["images"]) if out_json.exists() else set()
    todo = len({str(p.resolve()) for p in images} - done)
    if todo == 0:  # all cached: no worker (runs side by side, e.g. two training jobs' scores, share the cache)
        return json.loads(out_json.read_text())["images"]
    lst = out_json.with_suffix(f".list.{os.getpid()}.txt")  # one list per process
    lst.write_text("\n".join(str(p.resolve()) for p in images) + "\n")
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    say(f"teacher: {todo} frames to label ...", end="")
    p = subprocess.Popen([str(py), "-c", WORKER_AT, str(complexity), str(WORKER), str(lst), str(out_json)], env=env,
                         stderr=subprocess.PIPE, text=True)
    tail = []
    for line in p.stderr:
        if line.startswith("teacher: "):
            say(f"\rteacher: {line.split()[1]} frames labelled ...", end="")
        else:
            tail = (tail + [line.rstrip()])[-3:]
    rc = p.wait()
    lst.unlink(missing_ok=True)
    say(" done")
    if rc:
        raise TeacherError(f"the MediaPipe teacher failed (exit {rc}): {' | '.join(tail)}")
    return json.loads(out_json.read_text())["images"]


# --------------------------------------------------------------------------- frames

def labelled_frames(v: Video, count: int, splits_wanted: tuple[str, ...], every: int) -> list[int]:
    """Every ``every``-th frame (counting from 0) in the segments of the wanted splits."""
    return [k for k in range(0, count, every) if v.split_of(k) in splits_wanted]


def video_info(path: Path) -> tuple[int, float, int, int]:
    """(frame count, frames per second, width, height) of a video file."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UserError(f"{path}: cannot open the video")
    info = (int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS) or 30.0,
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    return info


def write_jpegs(name: str, path: Path, frames: list[int]) -> dict[int, Path]:
    out_dir = HELDOUT / "frames" / name
    out = {k: out_dir / f"{k:06d}.jpg" for k in frames}
    todo = {k for k, p in out.items() if not p.exists()}
    if todo:
        out_dir.mkdir(parents=True, exist_ok=True)
        for k, f in video_frames(path):
            if k in todo:
                cv2.imwrite(str(out[k]), f, [cv2.IMWRITE_JPEG_QUALITY, 95])
            if k >= max(todo):
                break
    return out


def held_out_videos(splits: Splits, group: str = "all") -> list[str]:
    """The test videos of ``group`` (``GROUPS``), as recorded: a clip derived from them (the bundled demo clip)
    would count their frames twice."""
    return [v.name for v in splits.of_split("test") if GROUPS[group](v.name) and "derived_from" not in v.spec]


@dataclass
class Labels:
    """The teacher's labels of the videos: ``joints[name][frame]`` = (16 x 2 frame pixels, 16 confidences)
    or None where it finds nobody; ``info[name]`` = ``video_info``; ``wanted[name]`` = the labelled frames."""
    joints: dict[str, dict[int, tuple[np.ndarray, np.ndarray] | None]]
    info: dict[str, tuple[int, float, int, int]]
    wanted: dict[str, list[int]]
    kind: str                 # heavy | full
    desc: str


def teacher_labels(splits: Splits, paths: dict[str, Path], tests: list[str], noise: list[str], every: int,
                   noise_every: int, teacher: str = "heavy") -> Labels:
    """The teacher on every ``every``-th frame of the test videos and every ``noise_every``-th of the noise
    segments (heavy falls back to full where it cannot be had); writes ``data/heldout/keypoints_KIND.json``,
    keeping the keypoints of videos not labelled here."""
    from trainer.wild.teacher import ensure_heavy, teacher_keypoints

    kind = teacher
    why = ensure_heavy(teacher_python()) if kind == "heavy" else None
    if why:
        say(f"held-out videos: BlazePose heavy not available ({why}); using the full model")
        kind = "full"
    info = {n: video_info(paths[n]) for n in tests + noise}
    wanted = {n: labelled_frames(splits.videos[n], info[n][0], ("test",) if n in tests else ("noise",),
                                 every if n in tests else noise_every) for n in tests + noise}
    jpegs = {n: write_jpegs(n, paths[n], wanted[n]) for n in tests + noise}
    raw = run_teacher([p for n in jpegs for p in jpegs[n].values()], HELDOUT / f"teacher_{kind}.json", TEACHERS[kind])
    joints = {n: {k: teacher_keypoints(raw.get(str(p.resolve()))) for k, p in jpegs[n].items()} for n in jpegs}
    desc = TEACHER_DESC[kind]
    kp_path = HELDOUT / f"keypoints_{kind}.json"
    kept = {}  # a run over some of the videos keeps the other videos' keypoints (benchmarks.tracking reads them)
    if kp_path.exists():
        try:
            kept = json.loads(kp_path.read_text()).get("videos", {})
        except ValueError:
            kept = {}
    kp_path.write_text(json.dumps({
        "teacher": desc, "joints": list(S.JOINT_NAMES),
        "doc": "per video, per frame: our 16 joints [x, y, confidence] in frame pixels (mediapipe_to_joints), "
               "or null when the teacher finds nobody",
        "videos": {**kept, **{n: {str(k): (None if lab is None else
                                         np.concatenate([lab[0], lab[1][:, None]], 1).round(3).tolist())
                                  for k, lab in joints[n].items()} for n in joints}}}))
    return Labels(joints, info, wanted, kind, desc)


# --------------------------------------------------------------------------- the network

def open_estimator(model: str | Path):
    """The estimator ``mocap process`` runs, opened from the engine alone: ``model`` on ONNX Runtime with one
    thread, the engine's tracking and filter settings (``EngineSettings()``, whose defaults config.yaml's
    sections are), the person detector on one thread, no motion model (it changes the 3D only; the 2D scored
    here is the network's)."""
    from engine.estimator import Estimator
    from engine.settings import EngineSettings

    settings = EngineSettings().replaced({"model.path": str(Path(model).resolve()), "model.backend": "onnxruntime",
                                          "model.threads": 1, "model.detector_threads": 1, "model.motion": False})
    return Estimator.open(settings, log=lambda *_: None)


def network_records(model: str | Path, labels: Labels, paths: dict[str, Path], tests: list[str],
                    noise: list[str] = (), opener=open_estimator,
                    on_record=None) -> tuple[dict[str, list[dict]], int, float]:
    """The network on every teacher frame: the oracle crop's 2D everywhere, and on the test videos the
    estimator's (``opener(model)``, one per video) over every frame. Returns ({video: [record]}, frames the
    estimator ran, seconds). A record: frame, teacher, conf, box (left, top, side), oracle (16 x 2 frame
    pixels) and on the test videos found, app (NaN when nobody is reported), app_confidence.
    ``on_record(name, frame_index, frame, record)`` is called for each."""
    recs: dict[str, list[dict]] = {}
    t_net = time.perf_counter()
    n_app_frames = 0
    for n in list(tests) + list(noise):
        with opener(model) as est:
            backend, size = est.backend, est.size
            count, fps, w, h = labels.info[n]
            last = max(labels.wanted[n]) if labels.wanted[n] else -1
            recs[n] = []
            say(f"\rnetwork: {n} ...{' ' * 20}", end="")
            for k, frame in video_frames(paths[n]):
                pose = None
                if n in tests:
                    pose = est(frame, k / fps)
                    n_app_frames += 1
                elif k > last:
                    break
                lab = labels.joints[n].get(k)
                if lab is None:
                    continue
                j2, conf = lab
                box = oracle_box(j2, conf)          # axis aligned: the baseline's placement and the crop unit
                # the network's crop, as the app turns it
                crop_box = oracle_box(j2, conf, upright=est.settings.tracking.upright)
                out = backend.infer(frame, crop_box, crop_box.camera(size, w, h, est.settings.tracking.fov_deg))
                rec = {"frame": k, "teacher": j2, "conf": conf, "box": (box.left, box.top, box.side),
                       "oracle": turn_back(out, crop_box, size)[1]}
                if pose is not None:
                    rec["found"] = bool(pose.detected)
                    rec["app"] = pose.joints_2d if pose.detected else np.full((S.NUM_JOINTS, 2), np.nan)
                    rec["app_confidence"] = float(pose.confidence)
                recs[n].append(rec)
                if on_record is not None:
                    on_record(n, k, frame, rec)
    t_net = time.perf_counter() - t_net
    say(f"\rnetwork: done ({t_net:.0f} s){' ' * 40}")
    return recs, n_app_frames, t_net


# --------------------------------------------------------------------------- scoring

def oracle_box(j2: np.ndarray, conf: np.ndarray, upright: bool = False) -> Box:
    """``Box.around`` the teacher joints it sees (all when fewer than 2), ``CROP_SCALE``; with ``upright``
    turned as the app turns its crops (``engine.estimator.body_angle``) when the teacher sees both hips and
    both shoulders."""
    vis = conf > VISIBLE
    angle = 0.0
    if upright and vis[[S.JOINT_INDEX[n] for n in ("r_hip", "l_hip", "r_shoulder", "l_shoulder")]].all():
        from engine.estimator import body_angle

        angle = float(body_angle(j2))
    return Box.around(j2[vis] if vis.sum() >= 2 else j2, CROP_SCALE, angle=angle)


def pck_scores(pred: np.ndarray, gt: np.ndarray, vis: np.ndarray) -> dict:
    from trainer import metrics as M

    if not len(gt):
        return {"pck@0.1": None, "pck@0.2": None}
    return {"pck@0.1": float(M.pck(pred, gt, vis, 0.1).mean()), "pck@0.2": float(M.pck(pred, gt, vis, 0.2).mean())}


def stack(recs: list[dict], key: str) -> np.ndarray:
    return np.stack([r[key] for r in recs]) if recs else np.zeros((0, S.NUM_JOINTS, 2))


def mean_pose(test_recs: list[dict]) -> np.ndarray:
    """The constant baseline: the mean teacher pose of all the test crops, in crop units."""
    from trainer.evaluate import mean_pose_2d

    unit = np.stack([(r["teacher"] - np.array(r["box"][:2])) / r["box"][2] for r in test_recs])
    return mean_pose_2d(unit, np.stack([r["conf"] > VISIBLE for r in test_recs]).astype(float))


def score_group(recs: list[dict], mean_pose: np.ndarray | None, end_to_end: bool) -> dict:
    """PCK of the oracle crop, the baseline and (test videos) the app, over frames with a teacher person."""
    gt, vis = stack(recs, "teacher"), np.stack([r["conf"] > VISIBLE for r in recs]).astype(float) if recs else None
    row = {"teacher_frames": len(recs)}
    if not recs:
        return row
    row["oracle"] = pck_scores(stack(recs, "oracle"), gt, vis)
    side = np.array([r["box"][2] for r in recs])
    row["oracle"]["error_crop"] = float((np.linalg.norm(stack(recs, "oracle") - gt, axis=-1) / side[:, None]
                                         * vis).sum() / vis.sum())
    if mean_pose is not None:
        base = np.stack([np.array(r["box"][:2]) + mean_pose * r["box"][2] for r in recs])
        row["baseline"] = pck_scores(base, gt, vis)
    if end_to_end:
        e2e = stack(recs, "app")
        found = np.array([r["found"] for r in recs])
        row["app"] = pck_scores(e2e, gt, vis)
        row["app"]["found"] = float(found.mean())
        row["app"]["found_frames"] = int(found.sum())
        row["app"]["pck@0.2_when_found"] = (pck_scores(e2e[found], gt[found], vis[found])["pck@0.2"]
                                            if found.any() else None)
        same = np.array([iou(bbox(r["app"]), bbox(r["teacher"][r["conf"] > VISIBLE])) > 0.3 if r["found"]
                         else False for r in recs])
        row["app"]["on_teacher_person"] = float(same[found].mean()) if found.any() else None
        row["app"]["pck@0.2_on_teacher_person"] = (pck_scores(e2e[same], gt[same], vis[same])["pck@0.2"]
                                                   if same.any() else None)
        row["app"]["size_vs_teacher"] = _size_ratio([r for r, s in zip(recs, same) if s], "app")
    row["oracle"]["size_vs_teacher"] = _size_ratio(recs, "oracle")
    return row


def bbox(p: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) around 2D points (zeros for none)."""
    return np.concatenate([p.min(0), p.max(0)]) if len(p) else np.zeros(4)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / u) if u > 0 else 0.0


def _size_ratio(recs: list[dict], key: str) -> float | None:
    """Median over frames of the predicted skeleton's bounding-box diagonal over the teacher's (visible joints)."""
    r = []
    for x in recs:
        v = x["conf"] > VISIBLE
        if v.sum() >= 4:
            bp, bt = bbox(x[key][v]), bbox(x["teacher"][v])
            r.append(np.hypot(*(bp[2:] - bp[:2])) / max(np.hypot(*(bt[2:] - bt[:2])), 1e-9))
    return float(np.median(r)) if r else None


def score_videos(recs: dict[str, list[dict]], labels: Labels, tests: list[str], group: str) -> dict:
    """{videos: per test video, overall, groups (select and report when ``group`` is all)} from the records."""
    test_recs = [r for n in tests for r in recs[n]]
    base = mean_pose(test_recs)
    rows = {n: {"frames": labels.info[n][0], "labelled": len(labels.wanted[n]), **score_group(recs[n], base, True)}
            for n in tests}
    overall = {"frames": sum(labels.info[n][0] for n in tests), "labelled": sum(len(labels.wanted[n]) for n in tests),
               **score_group(test_recs, base, True)}
    groups = {g: score_group([r for n in tests if GROUPS[g](n) for r in recs[n]], base, True)
              for g in ("select", "report")} if group == "all" else {}
    return {"videos": rows, "overall": overall, "groups": groups}


# --------------------------------------------------------------------------- the score training chooses by

def score(model: str | Path, videos: str = "select", every: int = 2, teacher: str = "heavy",
          splits: Splits | None = None, opener=open_estimator) -> dict:
    """The held-out score of ``model`` (ONNX) on the test videos of group ``videos``, every ``every``-th frame:
    {teacher, videos, overall, groups} as ``score_videos`` (the numbers of ``python -m
    benchmarks.heldout_video --videos GROUP --quick``)."""
    model = Path(model)
    if every < 1:
        raise UserError(f"every {every}: must be 1 or more")
    if not model.exists():
        raise UserError(f"{model}: model not found")
    splits = splits or load_splits()
    tests = held_out_videos(splits, videos)
    paths, missing = fetch(splits, tests)
    if missing:
        raise UserError("a test video is missing: " + "; ".join(f"{t}: {missing[t]}" for t in tests if t in missing))
    labels = teacher_labels(splits, paths, tests, [], every, 1, teacher)
    recs, _, _ = network_records(model, labels, paths, tests, opener=opener)
    return {"teacher": labels.desc, **score_videos(recs, labels, tests, videos)}
