"""Acquisition: does the person detector find people on real footage, and nobody where nobody is?

``python -m benchmarks.acquisition [--json benchmarks/results/acquisition.json] [--cache data/acquisition]``

Needs the teacher environment (``python -m trainer teacher-setup``), OpenCV's sample data
(``apt-get install opencv-doc``) and the Sports2D demo (``pip install --no-deps sports2d==0.8.34``);
a missing source is skipped with a line saying so.

1. **People** (real footage): the Sports2D walking clip (150 frames, ``tests/data/sports2d_walk.mp4``,
   "bundled clip" in the tables: the demo clip until issue 24), the Sports2D demo (230 frames),
   ``vtest.avi`` (every 3rd of 795 frames), ``messi5.jpg``, ``basketball1.png``,
   ``basketball2.png``. Frames are written once to ``--cache`` as JPEG and the MediaPipe teacher
   (``trainer/wild/teacher.py``) is run on them. A frame counts for recall when the teacher finds
   a person; it is *found* when one detection's body box (``Detection.box``) holds every teacher
   joint (our 16) of confidence >= 0.5 (all 16 when none is). The same with the suggested crop
   (``Detection.crop``), and the share of all frames with any detection, are reported too.
   The teacher's own first stage is this detector (on the same letterbox), so recall on
   teacher frames is an upper bound on what a different check would give: read it as "the
   conversion, decoding and geometry are right", and the all-frames column as the detector's
   own reach (every frame of these clips shows at least one person).
2. **Nobody**: videos made by panning and zooming over real photographs with no people in
   them (OpenCV and scikit-image samples, each checked by eye; 24 frames each, 640x480,
   1280x720 and 1920x1080 in turn), OpenCV's ``tree.avi`` (68 frames, a real video), and
   "face posters": a face-only crop (8-30 % of the frame height) drifting over a pan/zoom
   background. A frame reporting any detection is a false alarm.
3. **Two people**: two teacher people from different sources cut out and pasted on one
   1280x720 background (75 % and 50 % of its height); both must be found by two different
   detections.
4. **Cost**: the detector per frame (letterbox + ONNX Runtime + decode; 640x480, 1280x720,
   1920x1080) and the pose network per crop (``assets/skeletonnet.onnx`` at its input size:
   crop + ``to_input`` + ONNX Runtime), both with 2 threads, interleaved, medians.

Prints a table and writes JSON. Targets (issue 16): recall >= 95 %, false alarms <= 1 %,
acquisition <= about two tracked frames.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from engine.detector import PersonDetector, tile_regions
from engine.preprocess import Box, crop, to_input
from trainer.data.videos import video_frames

ROOT = Path(__file__).resolve().parents[1]
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
SIZES = ((640, 480), (1280, 720), (1920, 1080))
#: Background photographs with nobody in them (each looked at; left01-14 show a person holding
#: the chessboard, graf1/3 and pic1 have drawn people or heads, box_in_scene magazine covers:
#: all left out).
OPENCV_BACKGROUNDS = (
    "home.jpg", "building.jpg", "fruits.jpg", "baboon.jpg", "aero1.jpg", "aero3.jpg", "apple.jpg", "butterfly.jpg",
    "orange.jpg", "starry_night.jpg", "leuvenA.jpg", "leuvenB.jpg", "stuff.jpg", "board.jpg", "aloeL.jpg",
    "rubberwhale1.png", "HappyFish.jpg", "squirrel_cls.jpg", "ela_original.jpg", "licenseplate_motion.jpg",
    "smarties.png", "blox.jpg", "chicky_512.png")
SKIMAGE_BACKGROUNDS = ("coffee", "chelsea", "rocket", "coins", "moon", "brick", "grass", "gravel", "hubble_deep_field",
                       "immunohistochemistry", "stereo_motorcycle", "horse", "text", "page")
#: Face-only crops (x, y, w, h), checked by eye: scikit-image's astronaut (NASA, public domain),
#: OpenCV's messi5.jpg and basketball1.png.
FACES = (("skimage:astronaut", (160, 50, 110, 125)), ("messi5.jpg", (224, 76, 42, 52)),
         ("basketball1.png", (70, 78, 62, 72)))
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
#: Where the network runs on a frame: once on the letterboxed frame, or also on the squares
#: of side = the frame's short side (``engine.detector.tile_regions``; 3 passes on 4:3 and 16:9).
STRATEGIES = {"whole frame": lambda img: None,
              "whole frame + squares": lambda img: tile_regions(img.shape[1], img.shape[0])}


# --- sources ---------------------------------------------------------------------------------
def sports2d_demo() -> Path | None:
    try:
        import Sports2D
    except ImportError:
        return None
    p = Path(Sports2D.__file__).parent / "Demo" / "demo.mp4"
    return p if p.exists() else None


def skimage_image(name: str) -> np.ndarray:
    import skimage.data as sd

    a = getattr(sd, name)()
    a = np.asarray(a[0] if isinstance(a, tuple) else a)
    if a.dtype != np.uint8:
        a = (a.astype(np.float64) / max(float(a.max()), 1e-9) * 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, 2)
    return np.ascontiguousarray(a[..., :3][..., ::-1])


def person_frames(cache: Path) -> dict[str, list[Path]]:
    """Write (once) the real frames with people as JPEG; {set name: paths}."""
    sets = {"bundled clip": (ROOT / "tests" / "data" / "sports2d_walk.mp4", 1), "Sports2D demo": (sports2d_demo(), 1),
            "vtest.avi": (OPENCV_DATA / "vtest.avi", 3)}
    out: dict[str, list[Path]] = {}
    for name, (src, every) in sets.items():
        if src is None or not Path(src).exists():
            print(f"acquisition: {name}: source not found, skipped", file=sys.stderr)
            continue
        d = cache / "people" / name.replace(" ", "_").replace(".", "_")
        d.mkdir(parents=True, exist_ok=True)
        paths = sorted(d.glob("*.jpg"))
        if not paths:
            for k, f in video_frames(Path(src), every):
                cv2.imwrite(str(d / f"{k:05d}.jpg"), f, [cv2.IMWRITE_JPEG_QUALITY, 95])
            paths = sorted(d.glob("*.jpg"))
        out[name] = paths
    stills = [OPENCV_DATA / n for n in ("messi5.jpg", "basketball1.png", "basketball2.png")]
    if all(p.exists() for p in stills):
        out["OpenCV photos"] = stills
    else:
        print("acquisition: OpenCV sample photos not found (apt-get install opencv-doc), skipped", file=sys.stderr)
    return out


def pan_zoom(img: np.ndarray, size: tuple[int, int], n: int, rng: np.random.Generator):
    """n frames (size W x H) of a camera panning and zooming over a photograph."""
    h, w = img.shape[:2]
    W, H = size
    aspect = W / H
    full = (w, w / aspect) if w / h < aspect else (h * aspect, h)   # the largest window of that aspect
    z0, z1 = rng.uniform(0.45, 1.0, 2)
    c0 = rng.uniform(0, 1, 2)
    c1 = rng.uniform(0, 1, 2)
    for t in np.linspace(0, 1, n):
        z = z0 + (z1 - z0) * t
        ww, wh = full[0] * z, full[1] * z
        c = c0 + (c1 - c0) * t
        cx = ww / 2 + c[0] * (w - ww)
        cy = wh / 2 + c[1] * (h - wh)
        s = W / ww
        m = np.array([[s, 0, W / 2 - s * cx], [0, s, H / 2 - s * cy]])
        yield cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def background_images() -> dict[str, np.ndarray]:
    out = {}
    for n in OPENCV_BACKGROUNDS:
        img = cv2.imread(str(OPENCV_DATA / n))
        if img is not None:
            out[n] = img
    for n in SKIMAGE_BACKGROUNDS:
        try:
            out[f"skimage:{n}"] = skimage_image(n)
        except Exception as e:  # noqa: BLE001 - a sample that needs a download is skipped
            print(f"acquisition: skimage {n}: {type(e).__name__}, skipped", file=sys.stderr)
    return out


def face_crops() -> list[np.ndarray]:
    out = []
    for src, (x, y, w, h) in FACES:
        img = skimage_image(src.split(":")[1]) if src.startswith("skimage:") else cv2.imread(str(OPENCV_DATA / src))
        if img is not None:
            out.append(img[y:y + h, x:x + w].copy())
    return out


def nobody_frames(rng: np.random.Generator, per_photo: int = 24):
    """(set name, source, frame) for the footage with nobody in it."""
    bgs = background_images()
    for k, (name, img) in enumerate(bgs.items()):
        for f in pan_zoom(img, SIZES[k % 3], per_photo, rng):
            yield "pan/zoom photos", name, f
    tree = OPENCV_DATA / "tree.avi"
    if tree.exists():
        for _, f in video_frames(tree):
            yield "tree.avi", "tree.avi", f
    faces = face_crops()
    names = list(bgs)
    for k in range(12 if faces else 0):
        face = faces[k % len(faces)]
        bg = bgs[names[(7 * k + 3) % len(names)]]
        size = SIZES[k % 3]
        W, H = size
        fh0, fh1 = rng.uniform(0.08, 0.30, 2) * H
        p0, p1 = rng.uniform(0.1, 0.9, 2), rng.uniform(0.1, 0.9, 2)
        for t, f in zip(np.linspace(0, 1, per_photo), pan_zoom(bg, size, per_photo, rng)):
            fh = fh0 + (fh1 - fh0) * t
            fw = fh * face.shape[1] / face.shape[0]
            pw, ph = max(2, round(fw)), max(2, round(fh))
            patch = cv2.resize(face, (pw, ph), interpolation=cv2.INTER_AREA)
            cx, cy = (p0 + (p1 - p0) * t) * np.array([W, H])
            x0 = int(np.clip(cx - pw / 2, 0, W - pw))
            y0 = int(np.clip(cy - ph / 2, 0, H - ph))
            f[y0:y0 + ph, x0:x0 + pw] = patch
            yield "face posters", f"face {k % len(faces)} on {names[(7 * k + 3) % len(names)]}", f


# --- scoring ---------------------------------------------------------------------------------
def teacher_joints(entry: dict):
    from trainer.wild.teacher import teacher_keypoints

    tk = teacher_keypoints(entry)
    if tk is None:
        return None
    j, c = tk
    return j[c >= 0.5] if (c >= 0.5).any() else j


def inside(points: np.ndarray, box) -> bool:
    x0, y0, x1, y1 = box
    return bool(((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)).all())


def crop_box(b: Box):
    return (b.left, b.top, b.left + b.side, b.top + b.side)


def score_people(det: PersonDetector, frames: dict[str, list[Path]], teacher: dict, thresholds, where) -> dict:
    rows = {}
    lowest = min(thresholds)
    for name, paths in frames.items():
        per_t = {t: {"found_box": 0, "found_crop": 0, "any": 0} for t in thresholds}
        n_teacher = 0
        hip_err = []
        for p in paths:
            img = cv2.imread(str(p))
            dets = det.detect(img, min_score=lowest, regions=where(img))
            pts = teacher_joints(teacher.get(str(Path(p).resolve()), {}))
            if pts is not None:
                n_teacher += 1
            for t in thresholds:
                ds = [d for d in dets if d.score >= t]
                per_t[t]["any"] += bool(ds)
                if pts is not None:
                    per_t[t]["found_box"] += any(inside(pts, d.box) for d in ds)
                    per_t[t]["found_crop"] += any(inside(pts, crop_box(d.crop)) for d in ds)
            if pts is not None and dets:
                from trainer.wild.teacher import teacher_keypoints

                j, _ = teacher_keypoints(teacher[str(Path(p).resolve())])
                hips = (j[2] + j[3]) / 2
                best = min(dets, key=lambda d: np.hypot(*(d.keypoints[0] - hips)))
                hip_err.append(float(np.hypot(*(best.keypoints[0] - hips)) / max(best.side, 1e-6)))
        rows[name] = {"frames": len(paths), "teacher_frames": n_teacher,
                      "hip_centre_error_median": float(np.median(hip_err)) if hip_err else None,
                      "by_threshold": {str(t): v for t, v in per_t.items()}}
    return rows


def score_nobody(det: PersonDetector, rng, thresholds, where) -> dict:
    rows: dict[str, dict] = {}
    lowest = min(thresholds)
    for name, src, f in nobody_frames(rng):
        r = rows.setdefault(name, {"frames": 0, "by_threshold": {str(t): 0 for t in thresholds}, "worst": []})
        r["frames"] += 1
        dets = det.detect(f, min_score=lowest, regions=where(f))
        top = max((d.score for d in dets), default=0.0)
        for t in thresholds:
            r["by_threshold"][str(t)] += top >= t
        if dets:
            r["worst"].append((round(top, 3), src))
    for r in rows.values():
        r["worst"] = sorted(r["worst"], reverse=True)[:5]
    return rows


def score_two_people(det: PersonDetector, frames: dict[str, list[Path]], teacher: dict, thr: float, n: int,
                     rng, where) -> dict:
    """Two teacher people from different sources on one 1280x720 background, both to be found.

    Each person is cut out as the square 1.4 times the tight box around their teacher joints
    (so some of their own background comes along) and pasted at 75 % (the near person) and
    50 % (the one behind) of the frame height, left and right without overlap, on a pan/zoom
    background frame.
    """
    pools = {}
    for name, paths in frames.items():
        ok = [p for p in paths if teacher_joints(teacher.get(str(Path(p).resolve()), {})) is not None]
        if ok:
            pools[name] = ok
    names = list(pools)
    bgs = list(background_images().values())
    if len(names) < 2 or not bgs:
        return {"composites": 0}
    W, H = 1280, 720
    found = 0
    for k in range(n):
        a, b = rng.choice(len(names), 2, replace=False)
        canvas = next(pan_zoom(bgs[k % len(bgs)], (W, H), 1, rng))
        joints = []
        for src, frac, x_frac in ((names[a], 0.75, rng.uniform(0.22, 0.28)), (names[b], 0.5, rng.uniform(0.72, 0.78))):
            p = pools[src][rng.integers(len(pools[src]))]
            img = cv2.imread(str(p))
            j = teacher_joints(teacher[str(Path(p).resolve())])
            box = Box.around(j, 1.4)
            side = round(frac * H)
            patch = crop(img, box, side)
            x0 = int(np.clip(x_frac * W - side / 2, 0, W - side))
            y0 = H - side
            canvas[y0:y0 + side, x0:x0 + side] = patch
            joints.append((j - np.array([box.left, box.top])) * (side / box.side) - 0.5 + np.array([x0, y0]))
        dets = det.detect(canvas, min_score=thr, regions=where(canvas))
        ia_ = {i for i, d in enumerate(dets) if inside(joints[0], d.box)}
        ib_ = {i for i, d in enumerate(dets) if inside(joints[1], d.box)}
        found += any(x != y for x in ia_ for y in ib_)
    return {"composites": n, "both_found": found}


def timing(det: PersonDetector, pose_model: Path, runs: int) -> dict:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(pose_model), so, providers=["CPUExecutionProvider"])
    size = int(sess.get_modelmeta().custom_metadata_map.get("skeletonnet.input_size", sess.get_inputs()[0].shape[-1]))
    in_name = sess.get_inputs()[0].name
    extra = {}
    if "camera" in [i.name for i in sess.get_inputs()]:  # model contract 2: the crop's intrinsics too
        extra["camera"] = Box(440.0, 100.0, 400.0).camera(size, 1280, 720, 65.0)[None].astype(np.float32)
    src = cv2.imread(str(OPENCV_DATA / "messi5.jpg"))
    if src is None:
        src = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
    frames = {f"{w}x{h}": cv2.resize(src, (w, h)) for w, h in SIZES}
    box = Box(440.0, 100.0, 400.0)
    t_det = {f"{s} {k}": [] for s in STRATEGIES for k in frames}
    t_pose = []
    for k in range(runs + 3):
        for name, f in frames.items():
            for s, where in STRATEGIES.items():
                t0 = time.perf_counter()
                det.detect(f, regions=where(f))
                t_det[f"{s} {name}"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sess.run(None, {in_name: to_input(crop(frames["1280x720"], box, size)), **extra})
        t_pose.append(time.perf_counter() - t0)
    med = lambda v: float(np.median(v[3:]) * 1000)  # the first runs warm up
    return {"threads": 2, "runs": runs, "pose_input": size, "pose_ms": med(t_pose),
            "detector_ms": {k: med(v) for k, v in t_det.items()}}


def report(name: str, people: dict, nobody: dict, two: dict, thresholds, thr: float) -> dict:
    """Print one strategy's tables; return its summary."""
    t = str(thr)
    print(f"\n### {name} (min_score {thr})\n")
    print("| footage with people | frames | teacher finds a person | found (box covers teacher joints) "
          "| found (crop covers) | frames with a detection (all frames) | hip-centre error / body size |")
    print("|---|---|---|---|---|---|---|")
    tot = {"frames": 0, "teacher": 0, "box": 0, "crop": 0, "any": 0}
    for src, r in people.items():
        b = r["by_threshold"][t]
        n = max(r["teacher_frames"], 1)
        hip = r["hip_centre_error_median"]
        print(f"| {src} | {r['frames']} | {r['teacher_frames']} | {100 * b['found_box'] / n:.1f} % "
              f"| {100 * b['found_crop'] / n:.1f} % | {100 * b['any'] / r['frames']:.1f} % "
              f"| {'-' if hip is None else f'{hip:.3f}'} |")
        tot["frames"] += r["frames"]
        tot["teacher"] += r["teacher_frames"]
        tot["box"] += b["found_box"]
        tot["crop"] += b["found_crop"]
        tot["any"] += b["any"]
    recall = tot["box"] / max(tot["teacher"], 1)
    print(f"| **all** | {tot['frames']} | {tot['teacher']} | **{100 * recall:.1f} %** (target >= 95 %) "
          f"| {100 * tot['crop'] / max(tot['teacher'], 1):.1f} % "
          f"| {100 * tot['any'] / max(tot['frames'], 1):.1f} % | |")
    print("\n| footage with nobody | frames | frames reporting a person | highest scores |\n|---|---|---|---|")
    nf = nfa = 0
    for src, r in nobody.items():
        fa = r["by_threshold"][t]
        nf += r["frames"]
        nfa += fa
        print(f"| {src} | {r['frames']} | {100 * fa / r['frames']:.1f} % ({fa}) "
              f"| {', '.join(f'{sc} {where}' for sc, where in r['worst'][:3]) or '-'} |")
    false_alarm = nfa / max(nf, 1)
    print(f"| **all** | {nf} | **{100 * false_alarm:.2f} %** ({nfa}) (target <= 1 %) | |")
    print("\n| min_score | recall (teacher frames) | any detection (all people frames) | false alarms (nobody) |\n"
          "|---|---|---|---|")
    sweep = {}
    for th in thresholds:
        k = str(th)
        rec = sum(r["by_threshold"][k]["found_box"] for r in people.values()) / max(tot["teacher"], 1)
        anyd = sum(r["by_threshold"][k]["any"] for r in people.values()) / max(tot["frames"], 1)
        fa = sum(r["by_threshold"][k] for r in nobody.values()) / max(nf, 1)
        sweep[k] = {"recall": rec, "any_detection": anyd, "false_alarms": fa}
        print(f"| {th} | {100 * rec:.1f} % | {100 * anyd:.1f} % | {100 * fa:.2f} % |")
    if two.get("composites"):
        print(f"\ntwo-person composites: both people found by two different detections in "
              f"{two['both_found']} of {two['composites']} ({100 * two['both_found'] / two['composites']:.1f} %)")
    return {"recall": recall, "false_alarms": false_alarm, "teacher_frames": tot["teacher"],
            "people_frames": tot["frames"], "nobody_frames": nf, "crop_recall": tot["crop"] / max(tot["teacher"], 1),
            "any_detection_all_frames": tot["any"] / max(tot["frames"], 1), "sweep": sweep, "two_people": two,
            "people": people, "nobody": nobody}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "acquisition.json"))
    ap.add_argument("--cache", default=str(ROOT / "data" / "acquisition"))
    ap.add_argument("--model", default=str(ROOT / "assets" / "person_detector.onnx"))
    ap.add_argument("--pose-model", default=str(ROOT / "assets" / "skeletonnet.onnx"))
    ap.add_argument("--threshold", type=float, default=0.5, help="the detector's min_score the tables report")
    ap.add_argument("--composites", type=int, default=60)
    ap.add_argument("--runs", type=int, default=40, help="timing runs")
    args = ap.parse_args(argv)
    from trainer.wild.teacher import TeacherError, run_teacher

    thresholds = tuple(sorted(set(THRESHOLDS) | {args.threshold}))
    det = PersonDetector(args.model, threads=2, min_score=args.threshold)
    cache = Path(args.cache)
    frames = person_frames(cache)
    try:
        teacher = run_teacher([p for ps in frames.values() for p in ps], cache / "teacher.json")
    except TeacherError as e:
        print(f"acquisition: {e}", file=sys.stderr)
        return 2
    teacher = {str(Path(k).resolve()): v for k, v in teacher.items()}
    print(f"person detector {Path(args.model).name}")
    results = {}
    for name, where in STRATEGIES.items():
        people = score_people(det, frames, teacher, thresholds, where)
        nobody = score_nobody(det, np.random.default_rng(16), thresholds, where)
        two = score_two_people(det, frames, teacher, args.threshold, args.composites, np.random.default_rng(17), where)
        results[name] = report(name, people, nobody, two, thresholds, args.threshold)
    cost = timing(det, Path(args.pose_model), args.runs)
    ratio = {k: v / cost["pose_ms"] for k, v in cost["detector_ms"].items()}
    print(f"\n### cost (2 threads, medians of {cost['runs']})\n\npose network: {cost['pose_ms']:.1f} ms per "
          f"{cost['pose_input']} px crop\n\n| detector | ms per frame | x pose network |\n|---|---|---|")
    for k, v in cost["detector_ms"].items():
        print(f"| {k} | {v:.1f} | {ratio[k]:.2f} |")
    result = {"model": Path(args.model).name, "threshold": args.threshold, "strategies": results,
              "cost": {**cost, "detector_over_pose": ratio}}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
