"""Tracking: does the app report the person the teacher sees, that same person, and nobody where nobody is?

``python -m benchmarks.tracking [--every 2] [--json benchmarks/results/tracking.json]``: about 10 min on the
2-core CPU with the held-out caches in place (``python -m benchmarks.heldout_video`` makes them).

The app is the estimator ``mocap process`` builds (``Estimator.open`` with ``config.yaml``:
person detector, tracked crop, presence, filters, motion model as configured), a fresh one per video, run
over every frame; a frame is *reported* when its pose has ``detected``.

1. **Tracked** (target >= 95 %): on the held-out test videos (``trainer/data/videos.yaml``, split test:
   Pose2Sim's 8 lab views, fetched and labelled by ``benchmarks.heldout_video``; BlazePose heavy on every
   K-th frame, ``--every``), the share of frames where the teacher finds a person in which the app reports
   one. **Same person**: of those, the share where the app's 2D torso centre (mean of the shoulders and
   hips) lies inside the teacher's person box (the box around the teacher's joints of confidence > 0.5,
   grown by ``MARGIN`` of its size on each side). The multi-person views show a second person, whom the
   teacher may not have picked.
2. **False reports** (target <= 1 %): the share of frames of person-free footage where the app reports
   someone: OpenCV's ``tree.avi`` (Debian ``opencv-doc``); pans over Blender's bundled studio-light
   panoramas (Debian ``blender-data``, ``datafiles/studiolights/world/*.exr``, CC0; reserved for
   evaluation: ``apt-get download`` into ``data/tracking/``, read with the ``OpenEXR`` package), each a
   30-frame perspective pan (640x480, 65 degrees) at three headings, each looked at (two pans of
   ``sunset`` show people on a promenade and are left out); and people-free crops of the
   held-out views with nobody but the teacher's person in them (single-person cam03 and cam04): the
   largest 4:3 window outside the union of the teacher's person boxes over the video, resized to 640x480.
3. **Baselines**: the person detector alone on every frame (``engine.detector.PersonDetector`` as the
   app builds it, its own default score threshold; reported = any detection, same person = the best
   detection's hip centre inside the teacher's box); "always report" (100 % tracked, 100 % false reports)
   and "never report" (0 %, 0 %).

Writes ``benchmarks/results/tracking.json``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.acquisition import OPENCV_DATA
from engine import skeleton as S
from engine.errors import UserError
from trainer.data.videos import ROOT, Splits, load_splits, video_frames

RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "data" / "tracking"
PANORAMA_DEB = "blender-data"
PANORAMA_DIR = "usr/share/blender/datafiles/studiolights/world"
WEBCAM = (640, 480)
HFOV = 65.0                 # degrees, the estimator's default field of view
PAN_FRAMES = 30
PAN_HEADINGS = (0.0, 120.0, 240.0)   # degrees: where each pan starts; it turns 40 degrees
#: pans that show people (looked at: small walkers and a sitting man on sunset's promenade): left out
PAN_WITH_PEOPLE = {("sunset", 120.0), ("sunset", 240.0)}
MARGIN = 0.15               # the teacher's person box grows by this much of its size on each side
VISIBLE = 0.5
#: held-out views with nobody but the teacher's person (cam01/cam02 show a bystander, the multi views two people)
CROP_VIDEOS = ("pose2sim_single_cam03", "pose2sim_single_cam04")
TORSO = [S.JOINT_INDEX[n] for n in ("r_shoulder", "l_shoulder", "r_hip", "l_hip")]
TARGET_TRACKED, TARGET_FALSE = 0.95, 0.01


def say(msg: str, end: str = "\n") -> None:
    print(msg, file=sys.stderr, end=end, flush=True)


# --------------------------------------------------------------------------- pure functions

def person_box(j2: np.ndarray, conf: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """(4,) x0, y0, x1, y1: the box around the joints ``j2`` (16, 2) pixels of confidence ``conf`` (16,) >
    VISIBLE (all when fewer than 2 are), grown by ``margin`` of its width / height on each side."""
    p = j2[conf > VISIBLE] if (conf > VISIBLE).sum() >= 2 else j2
    lo, hi = p.min(0), p.max(0)
    pad = margin * (hi - lo)
    return np.concatenate([lo - pad, hi + pad])


def torso_centre(j2: np.ndarray) -> np.ndarray:
    """(2,) the mean of the shoulders and hips of ``j2`` (16, 2)."""
    return np.asarray(j2, np.float64)[TORSO].mean(0)


def inside(p: np.ndarray, box: np.ndarray) -> bool:
    return bool(box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3])


def same_person(app_j2: np.ndarray, box: np.ndarray) -> bool:
    """Whether the app's person (16, 2 pixels) is the teacher's: its torso centre inside the teacher's box."""
    c = torso_centre(app_j2)
    return bool(np.all(np.isfinite(c))) and inside(c, box)


def count_reports(report, frames, fps: float = 30.0) -> tuple[int, int]:
    """(frames, frames reported) of ``report(frame, t) -> bool`` over ``frames`` (an iterable of BGR images)."""
    n = hits = 0
    for k, f in enumerate(frames):
        n += 1
        hits += bool(report(f, k / fps))
    return n, hits


def free_window(boxes: np.ndarray, width: int, height: int, aspect: float = WEBCAM[0] / WEBCAM[1]):
    """The largest window of ``aspect`` (w / h) in a ``width`` x ``height`` frame outside every box of
    ``boxes`` (N, 4): inside the largest of the four strips left, right, above and below their union,
    centred in it. (x0, y0, x1, y1) integers, or None when no strip is 32 px in both directions."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0, y0 = max(0, int(np.floor(b[:, 0].min()))), max(0, int(np.floor(b[:, 1].min())))
    x1, y1 = min(width, int(np.ceil(b[:, 2].max()))), min(height, int(np.ceil(b[:, 3].max())))
    strips = [(0, 0, x0, height), (x1, 0, width, height), (0, 0, width, y0), (0, y1, width, height)]
    best = None
    for sx0, sy0, sx1, sy1 in strips:
        w, h = sx1 - sx0, sy1 - sy0
        if w < 32 or h < 32:
            continue
        ww, hh = (w, int(w / aspect)) if w / h < aspect else (int(h * aspect), h)
        if best is None or ww * hh > best[0]:
            cx, cy = sx0 + (w - ww) // 2, sy0 + (h - hh) // 2
            best = (ww * hh, (cx, cy, cx + ww, cy + hh))
    return None if best is None else best[1]


def tone_map(hdr: np.ndarray) -> np.ndarray:
    """A linear HDR image (H, W, 3) RGB float to BGR uint8: median brought to mid grey, gamma 2.2, clipped."""
    x = np.nan_to_num(np.asarray(hdr, np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(0, None)
    x = x * (0.18 / max(float(np.median(x)), 1e-6))
    return (255 * np.clip(x, 0, 1) ** (1 / 2.2)).round().astype(np.uint8)[..., ::-1].copy()


def perspective_view(pano: np.ndarray, yaw_deg: float, pitch_deg: float, size=WEBCAM, hfov_deg: float = HFOV):
    """A pinhole view (size W x H) of an equirectangular panorama (H, W, 3), looking at heading ``yaw_deg``
    (0 = the panorama's centre column) and ``pitch_deg`` up."""
    import cv2

    W, H = size
    f = (W / 2) / np.tan(np.radians(hfov_deg) / 2)
    u, v = np.meshgrid(np.arange(W) - (W - 1) / 2, np.arange(H) - (H - 1) / 2)
    d = np.stack([u, -v, np.full_like(u, f)], -1)  # x right, y up, z forward
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    p, y = np.radians(pitch_deg), np.radians(yaw_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    d = d @ (ry @ rx).T
    lon = np.arctan2(d[..., 0], d[..., 2])
    lat = np.arcsin(np.clip(d[..., 1], -1, 1))
    ph, pw = pano.shape[:2]
    mx = ((lon / (2 * np.pi) + 0.5) * pw - 0.5).astype(np.float32)
    my = ((0.5 - lat / np.pi) * ph - 0.5).astype(np.float32)
    return cv2.remap(pano, mx % pw, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def pan(pano: np.ndarray, heading: float, n: int = PAN_FRAMES, turn: float = 40.0, pitch=(-5.0, 5.0)):
    """n views turning ``turn`` degrees from ``heading`` while tilting across ``pitch``."""
    for t in np.linspace(0, 1, n):
        yield perspective_view(pano, heading + turn * t, pitch[0] + (pitch[1] - pitch[0]) * t)


# --------------------------------------------------------------------------- footage

def panoramas() -> tuple[dict[str, np.ndarray], str | None]:
    """Blender's studio-light panoramas as BGR uint8 ({name: image}), and why none when there are none.
    The Debian package is fetched once with ``apt-get download`` into data/tracking/."""
    world = CACHE / "blender-data" / PANORAMA_DIR
    if not world.is_dir():
        debs = sorted(CACHE.glob(f"{PANORAMA_DEB}_*.deb"))
        if not debs:
            CACHE.mkdir(parents=True, exist_ok=True)
            say(f"tracking: apt-get download {PANORAMA_DEB} (about 31 MB) into {CACHE.relative_to(ROOT)} ...")
            r = subprocess.run(["apt-get", "download", PANORAMA_DEB], cwd=CACHE, capture_output=True, text=True)
            debs = sorted(CACHE.glob(f"{PANORAMA_DEB}_*.deb"))
            if r.returncode or not debs:
                return {}, f"apt-get download {PANORAMA_DEB} failed ({(r.stderr.strip().splitlines() or ['?'])[-1]})"
        r = subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(CACHE / "blender-data")], capture_output=True,
                           text=True)
        if r.returncode or not world.is_dir():
            return {}, f"dpkg-deb -x {debs[0].name} failed or has no {PANORAMA_DIR}"
    try:
        import OpenEXR
    except ImportError:
        return {}, "the OpenEXR package is not installed (pip install OpenEXR): OpenCV here reads no EXR"
    out = {}
    for p in sorted(world.glob("*.exr")):
        with OpenEXR.File(str(p)) as e:
            rgb = e.channels()["RGB"].pixels
        out[p.stem] = tone_map(rgb)
    return out, None


def teacher_labels(splits: Splits, names: list[str], every: int):
    """({name: {frame: (j2 (16, 2), conf (16,)) or None}} on every ``every``-th frame, {name: path},
    {name: fps}, teacher description): from the held-out caches (trainer.heldout), running the teacher where
    a frame is missing."""
    from trainer import heldout as H
    from trainer.data.videos import HELDOUT, fetch
    from trainer.wild.teacher import ensure_heavy, teacher_keypoints

    paths, missing = fetch(splits, names)
    if missing:
        raise UserError("; ".join(missing.values()))
    info = {n: H.video_info(paths[n]) for n in names}
    wanted = {n: H.labelled_frames(splits.videos[n], info[n][0], ("test",), every) for n in names}
    cache = HELDOUT / "keypoints_heavy.json"
    if cache.exists():
        c = json.loads(cache.read_text())
        vids = c.get("videos", {})
        if all(str(k) in vids.get(n, {}) for n in names for k in wanted[n]):
            lab = {n: {k: (None if vids[n][str(k)] is None else
                           (np.asarray(vids[n][str(k)])[:, :2], np.asarray(vids[n][str(k)])[:, 2])) for k in wanted[n]}
                   for n in names}
            return lab, paths, {n: info[n][1] for n in names}, c.get("teacher", "BlazePose heavy")
    py = H.teacher_python()
    kind = "heavy" if ensure_heavy(py) is None else "full"
    jpegs = {n: H.write_jpegs(n, paths[n], wanted[n]) for n in names}
    raw = H.run_teacher([p for n in jpegs for p in jpegs[n].values()], HELDOUT / f"teacher_{kind}.json",
                        H.TEACHERS[kind])
    lab = {n: {k: teacher_keypoints(raw.get(str(p.resolve()))) for k, p in jpegs[n].items()} for n in names}
    return lab, paths, {n: info[n][1] for n in names}, f"BlazePose {kind} (mediapipe 0.10.21)"


# --------------------------------------------------------------------------- the run

def _app(cfg):
    from engine.estimator import Estimator

    return Estimator.open(cfg.engine, log=lambda *_: None)


def _detector_reports(det, frame) -> list:
    return det.detect(frame)


def score_people(cfg, labels, paths, fps) -> dict:
    from tqdm import tqdm

    rows = {}
    from trainer.heldout import video_info

    total = sum(video_info(paths[n])[0] for n in labels)
    bar = tqdm(total=total, desc="held-out videos", unit="frame", file=sys.stderr, leave=False)
    for n, lab in labels.items():
        est = _app(cfg)
        det = est.detector
        r = {"teacher_frames": 0, "tracked": 0, "same": 0, "det_reported": 0, "det_same": 0, "frames": 0}
        for k, frame in video_frames(paths[n]):
            pose = est(frame, k / fps[n])
            r["frames"] += 1
            bar.update(1)
            tl = lab.get(k)
            if tl is None:
                continue
            box = person_box(*tl)
            r["teacher_frames"] += 1
            if pose.detected:
                r["tracked"] += 1
                r["same"] += same_person(np.asarray(pose.joints_2d), box)
            dets = _detector_reports(det, frame)
            if dets:
                r["det_reported"] += 1
                r["det_same"] += inside(np.asarray(dets[0].keypoints[0]), box)
        rows[n] = r
    bar.close()
    return rows


def nobody_clips(labels, paths) -> tuple[dict[str, list], list[str]]:
    """{clip name: frames (BGR)} of person-free footage, and lines for what was skipped."""
    import cv2

    clips, skipped = {}, []
    tree = OPENCV_DATA / "tree.avi"
    if tree.exists():
        clips["tree.avi"] = [f for _, f in video_frames(tree)]
    else:
        skipped.append(f"{tree} not found (apt-get install opencv-doc)")
    panos, why = panoramas()
    if why:
        skipped.append(f"Blender panoramas: {why}")
    for name, img in panos.items():
        for h in PAN_HEADINGS:
            if (name, h) in PAN_WITH_PEOPLE:
                continue
            clips[f"panorama {name} {h:.0f} deg"] = list(pan(img, h))
    for n in CROP_VIDEOS:
        if n not in labels:
            continue
        boxes = [person_box(*tl) for tl in labels[n].values() if tl is not None]
        frames = [f for _, f in video_frames(paths[n])]
        if not boxes or not frames:
            continue
        win = free_window(np.array(boxes), frames[0].shape[1], frames[0].shape[0])
        if win is None:
            skipped.append(f"{n}: no person-free window")
            continue
        x0, y0, x1, y1 = win
        clips[f"{n} crop {x1 - x0}x{y1 - y0} at ({x0}, {y0})"] = [
            cv2.resize(f[y0:y1, x0:x1], WEBCAM, interpolation=cv2.INTER_AREA) for f in frames]
    return clips, skipped


def score_nobody(cfg, clips) -> dict:
    from tqdm import tqdm

    rows = {}
    bar = tqdm(total=2 * sum(len(v) for v in clips.values()), desc="person-free footage", unit="frame",
               file=sys.stderr, leave=False)
    for name, frames in clips.items():
        est = _app(cfg)
        det = est.detector

        def app(f, t):
            bar.update(1)
            return est(f, t).detected

        def alone(f, t):
            bar.update(1)
            return bool(_detector_reports(det, f))

        n, hits = count_reports(app, frames)
        _, det_hits = count_reports(alone, frames)
        rows[name] = {"frames": n, "app_reports": hits, "detector_reports": det_hits}
    bar.close()
    return rows


def _pct(a: int, b: int) -> str:
    return "-" if not b else f"{100 * a / b:.1f} %"


def format_report(res: dict) -> str:
    lines = [f"tracking: the app ({res['app']}) against {res['teacher']} on held-out videos (every "
             f"{res['every']}-th frame labelled)", "",
             "| held-out video | teacher frames | app reports a person (tracked) | of which the teacher's person "
             "| same person, of teacher frames | detector alone: reports | detector alone: same person |",
             "|---|---|---|---|---|---|---|"]
    for name, r in [*res["people"].items(), ("all", res["people_all"])]:
        nm = f"**{name}**" if name == "all" else name
        lines.append(f"| {nm} | {r['teacher_frames']} | {_pct(r['tracked'], r['teacher_frames'])} "
                     f"| {_pct(r['same'], r['tracked'])} | {_pct(r['same'], r['teacher_frames'])} "
                     f"| {_pct(r['det_reported'], r['teacher_frames'])} | {_pct(r['det_same'], r['teacher_frames'])} |")
    lines += ["", "| person-free footage | frames | app reports a person | detector alone |", "|---|---|---|---|"]
    for name, r in [*res["nobody"].items(), ("all", res["nobody_all"])]:
        nm = f"**{name}**" if name == "all" else name
        lines.append(f"| {nm} | {r['frames']} | {_pct(r['app_reports'], r['frames'])} ({r['app_reports']}) "
                     f"| {_pct(r['detector_reports'], r['frames'])} ({r['detector_reports']}) |")
    s = res["summary"]
    lines += ["", f"tracked {100 * s['tracked']:.1f} % (target >= {100 * TARGET_TRACKED:.0f} %), same person "
              f"{100 * s['same_person']:.1f} % of teacher frames ({100 * s['same_of_tracked']:.1f} % of tracked), "
              f"false reports {100 * s['false_reports']:.2f} % (target <= {100 * TARGET_FALSE:.0f} %)",
              f"baselines: detector alone: reports {100 * s['detector_tracked']:.1f} %, same person "
              f"{100 * s['detector_same']:.1f} %, false reports {100 * s['detector_false']:.2f} %; always report: "
              "100 % / - / 100 %; never report: 0 % / 0 % / 0 %"]
    for line in res["skipped"]:
        lines.append(f"skipped: {line}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.tracking", description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=2, help="held-out videos: teacher labels on every K-th frame")
    ap.add_argument("--json", default=str(RESULTS / "tracking.json"))
    ap.add_argument("--model", default=None, help="the pose model (default: config.yaml's model.path)")
    args = ap.parse_args(argv)
    try:
        return run(args)
    except UserError as e:
        say(f"tracking: {e}")
        return 2


def run(args) -> int:
    from app.config import load_config

    t0 = time.perf_counter()
    splits = load_splits()
    names = [v.name for v in splits.of_split("test") if "pip" in v.source]  # demo_clip is cut from these
    labels, paths, fps, teacher = teacher_labels(splits, names, args.every)
    cfg = load_config(ROOT / "config.yaml", {"model.path": str(Path(args.model).resolve())} if args.model else None)
    people = score_people(cfg, labels, paths, fps)
    clips, skipped = nobody_clips(labels, paths)
    nobody = score_nobody(cfg, clips)
    pa = {k: sum(r[k] for r in people.values()) for k in next(iter(people.values()))}
    na = {k: sum(r[k] for r in nobody.values()) for k in ("frames", "app_reports", "detector_reports")}
    tf = max(pa["teacher_frames"], 1)
    summary = {"tracked": pa["tracked"] / tf, "same_person": pa["same"] / tf,
               "same_of_tracked": pa["same"] / max(pa["tracked"], 1),
               "false_reports": na["app_reports"] / max(na["frames"], 1),
               "detector_tracked": pa["det_reported"] / tf, "detector_same": pa["det_same"] / tf,
               "detector_false": na["detector_reports"] / max(na["frames"], 1),
               "targets": {"tracked": TARGET_TRACKED, "false_reports": TARGET_FALSE}}
    res = {"doc": __doc__.split("\n\n", 1)[1].strip(), "command": "python -m benchmarks.tracking" +
           (f" --every {args.every}" if args.every != 2 else ""), "app": "Estimator.open(config.yaml)",
           "model": cfg.model.path, "teacher": teacher.split(" (")[0], "every": args.every, "margin": MARGIN,
           "people": people, "people_all": pa, "nobody": nobody, "nobody_all": na, "summary": summary,
           "skipped": skipped, "wall_s": round(time.perf_counter() - t0, 1)}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    print(format_report(res))
    out = Path(args.json).resolve()
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else args.json}; {res['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
