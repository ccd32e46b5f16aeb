"""The whole tracked frame of the app against MediaPipe BlazePose full, side by side in one run.

``python -m benchmarks.speed_vs_blazepose [--input VIDEO] [--frames N] [--blocks K] [--motion PATH]
[--min-confidence C] [--threads T] [--json benchmarks/results/speed_vs_blazepose.json]``

The target (issue): the whole tracked frame (SkeletonNet + the motion model that lifts 3D from a
window of 2D + the filters) is at least 1.5x faster than BlazePose full.

* **Frames.** The first N frames (default 120) of ``--input`` (default the Sports2D walking clip
  ``tests/data/sports2d_walk.mp4``, the bundled clip until issue 24: training footage, a person
  walking) are decoded once into memory before anything is timed; BlazePose gets the same frames as
  RGB through a temporary ``.npy`` file.
* **Ours.** The estimator ``mocap`` builds: ``Estimator.open(cfg.engine)`` with the
  repository's config (``app.config.load_config``: ``config.yaml``, person detector on acquisition,
  presence, One-Euro filters) and ``model.motion: true``, ``model.motion_path = --motion`` (default
  ``assets/motion.onnx``; when that file does not exist yet, ``runs/motion_a/motion.onnx``, and the
  output says which). Each ``est(frame, t)`` call is timed with ``time.perf_counter``, and the
  per-stage split is read from ``est.timings`` after each call (detector, preprocess, inference,
  motion, filter; "other" is the rest of the call: root motion and building the pose). A second
  estimator with ``model.motion: false`` (SkeletonNet alone) is the third row.
  One setting differs from ``config.yaml``: ``tracking.min_confidence`` is 0 (``--min-confidence``),
  so that every frame after the first takes the tracked single-pass path (crop from the last
  frame's joints, SkeletonNet, motion model, filters), the frame the target is about and the path
  README's Speed section measures. With the shipped model's presence below the configured 0.5 on
  most frames of that clip, the app would otherwise lose the person and run the person
  detector again on nearly every frame: ``--min-confidence 0.5`` measures that, and the output
  counts the frames on which the detector ran. ``--threads`` sets ``model.threads`` (SkeletonNet's
  ONNX Runtime intra-op threads; default the config's, 0 = one per core).
* **BlazePose full.** ``mediapipe.solutions.pose.Pose(model_complexity=1, static_image_mode=False)``
  (video mode with its own tracking: its fair real-time configuration) in ``.venv-teacher``
  (``python -m trainer teacher-setup``), run by ``benchmarks/blazepose_timer.py`` as one subprocess
  kept for the whole run; each ``pose.process(rgb)`` call is timed there.
* **Side by side.** One warm-up block per contender (all N frames, not counted), then K rounds
  (default 3), each a block of all N frames for ours, ours without the motion model, and BlazePose,
  in that order. Both sides are single processes with their default threading (noted in the
  output). Each contender keeps its tracking state from block to block, as a live app would; at a
  block's start the clip jumps back to its first frame, which either side may re-acquire.
* **Result.** Per block p50 / p95 ms, frames/s (frames over the summed call times) and CPU ms per
  frame (process CPU time over the block: how many cores a frame keeps busy). Per contender the
  median over blocks of each; the speed-up per round is BlazePose p50 / ours p50, and its median
  over the rounds is the figure against the 1.5x target.

Prints a table and writes the JSON (commands, machine load average before and after each block,
thread settings, per-block numbers). A user's mistake (missing video, no teacher environment,
missing motion model) is one line and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.errors import UserError, reports_user_errors

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = ROOT / "tests" / "data" / "sports2d_walk.mp4"  # was assets/demo.mp4
DEFAULT_MOTION = "assets/motion.onnx"
FALLBACK_MOTION = "runs/motion_a/motion.onnx"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "speed_vs_blazepose.json"
WORKER = Path(__file__).with_name("blazepose_timer.py")
TARGET = 1.5
STAGES = ("detector", "preprocess", "inference", "motion", "filter")
OURS, NO_MOTION, BLAZE = "ours", "ours_no_motion", "blazepose_full"
LABELS = {OURS: "ours: SkeletonNet + motion model + filters",
          NO_MOTION: "ours, motion off: SkeletonNet + filters",
          BLAZE: "BlazePose full (MediaPipe, video mode)"}
#: MediaPipe's thread defaults on desktop Linux, as its sources set them
MEDIAPIPE_THREADS = ("TFLite XNNPACK delegate with MediaPipe's desktop default of 1 inference thread "
                     "(mediapipe/calculators/tensor/inference_calculator_utils.cc, GetXnnpackDefaultNumThreads); "
                     "the graph's calculators run on MediaPipe's default executor thread pool")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rel(p: Path) -> str:
    try:
        return str(Path(os.path.abspath(p)).relative_to(ROOT))
    except ValueError:
        return str(p)


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------- inputs

def decode(path: Path, n: int) -> tuple[list[np.ndarray], float]:
    """The first ``n`` frames (BGR, as the app reads them) of a video or image folder, and its frame rate."""
    from app.capture import open_source

    if str(path).isdigit():
        raise UserError(f"--input {path}: a camera cannot be benchmarked; give a video file")
    src = open_source(str(path))
    try:
        frames = []
        while len(frames) < n:
            ok, frame, _ = src.read()
            if not ok:
                break
            frames.append(np.ascontiguousarray(frame))
        fps = float(getattr(src, "fps", 0) or 0) or 30.0
    finally:
        src.close()
    if not frames:
        raise UserError(f"{path}: no frame could be read")
    if len(frames) < n:
        say(f"{rel(path)} has {len(frames)} frames; using all of them (--frames {n} asked for more)")
    return frames, fps


def motion_model(arg: str | None) -> tuple[Path, str]:
    """The motion model to use and a line saying where it came from."""
    from engine.settings import repo_path

    if arg is not None:
        p = repo_path(arg)
        if not p.is_file():
            raise UserError(f"{p}: motion model not found (--motion; export one with python -m trainer motion export)")
        return p, f"{rel(p)} (--motion)"
    p = repo_path(DEFAULT_MOTION)
    if p.is_file():
        return p, f"{DEFAULT_MOTION} (the default)"
    q = repo_path(FALLBACK_MOTION)
    if q.is_file():
        return q, f"{FALLBACK_MOTION} ({DEFAULT_MOTION} does not exist yet)"
    raise UserError(f"no motion model: neither {DEFAULT_MOTION} nor {FALLBACK_MOTION} exists "
                    "(export one with python -m trainer motion export, or pass --motion PATH)")


def teacher_python() -> Path:
    from trainer.wild.teacher import READY, TEACHER_VENV

    py = TEACHER_VENV / "bin" / "python"
    if not py.exists() or not (TEACHER_VENV / READY).exists():
        raise UserError(f"no teacher environment at {rel(TEACHER_VENV)} (MediaPipe runs there): "
                        "run  .venv/bin/python -m trainer teacher-setup")
    return py


# --------------------------------------------------------------------------- contenders

class Ours:
    """The app's estimator over the frames, each call timed."""

    def __init__(self, cfg, frames: list[np.ndarray], fps: float, log):
        from engine.estimator import Estimator

        self.est = Estimator.open(cfg.engine, log=log)
        self.frames, self.fps = frames, fps
        self.t = 0.0  # the clock handed to the estimator: increasing across blocks, as a live session's

    def block(self) -> dict:
        est, n = self.est, len(self.frames)
        ms, found, det = np.zeros(n), 0, 0
        stages = {k: np.zeros(n) for k in STAGES}
        c0 = time.process_time()
        for i, frame in enumerate(self.frames):
            t = self.t + i / self.fps
            t0 = time.perf_counter()
            pose = est(frame, t)
            ms[i] = (time.perf_counter() - t0) * 1000.0
            for k in STAGES:
                stages[k][i] = est.timings.get(k, 0.0) * 1000.0
            found += bool(pose.detected)
            det += est.timings.get("detector", 0.0) > 0
        cpu = time.process_time() - c0
        self.t += n / self.fps + 1.0
        other = ms - sum(stages.values())
        out = summary(ms, cpu)
        out.update(found=found, detector_frames=det,
                   stages_ms={k: {"p50": r(np.percentile(v, 50)), "mean": r(v.mean())}
                              for k, v in [*stages.items(), ("other", other)]})
        return out


class BlazePose:
    """``benchmarks/blazepose_timer.py`` in the teacher environment, kept for the whole run."""

    def __init__(self, python: Path, frames_npy: Path, n: int, stderr_path: Path):
        self.cmd = [str(python), str(WORKER), str(frames_npy)]
        self.n = n
        self.stderr_path = stderr_path
        self.err = open(stderr_path, "w")
        env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True, env=env, cwd=ROOT)
        self.info = self._read(120.0)
        if not self.info.get("ready"):
            raise UserError(f"the BlazePose worker did not start: {self.info}")

    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            tail = " | ".join(Path(self.stderr_path).read_text(errors="replace").strip().splitlines()[-3:])
            why = "no answer in time" if not ready else f"exit {self.proc.returncode}"
            raise UserError(f"BlazePose (MediaPipe in .venv-teacher) failed ({why}): {tail[-400:]}")
        return json.loads(line)

    def block(self) -> dict:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        res = self._read(60.0 + 5.0 * self.n)
        if "error" in res:
            raise UserError(f"BlazePose worker: {res['error']}")
        out = summary(np.asarray(res["ms"], np.float64), res["cpu_s"])
        out.update(found=res["found"], os_threads=res["os_threads"])
        return out

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def r(x: float) -> float:
    return round(float(x), 3)


def summary(ms: np.ndarray, cpu_s: float) -> dict:
    return {"p50_ms": r(np.percentile(ms, 50)), "p95_ms": r(np.percentile(ms, 95)), "mean_ms": r(ms.mean()),
            "fps": round(len(ms) / (ms.sum() / 1000.0), 1), "cpu_ms_per_frame": r(cpu_s * 1000.0 / len(ms)),
            "ms": [round(float(x), 3) for x in ms]}


# --------------------------------------------------------------------------- run

def thread_settings(cfg) -> dict:
    import cv2
    import onnxruntime as ort

    n = os.cpu_count() or 1
    return {"cpu_count": n, "opencv_threads": cv2.getNumThreads(), "onnxruntime": ort.__version__,
            "skeletonnet_intra_op_threads": cfg.model.threads or n,
            "detector_intra_op_threads": n, "motion_intra_op_threads": 1,
            "note": ("ONNX Runtime sessions as the app makes them (engine.backend_base.ort_session): "
                     f"SkeletonNet model.threads = {cfg.model.threads} (0 = one per core), the person "
                     "detector one per core, the motion model 1; default inter-op and execution mode"),
            "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                    if k in os.environ}}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median(xs) -> float:
    return r(np.median(np.asarray(xs, np.float64)))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed_vs_blazepose",
                                description="The app's tracked frame against MediaPipe BlazePose full, side by side.")
    p.add_argument("--input", default=str(DEFAULT_INPUT),
                   help="video file or image folder (default tests/data/sports2d_walk.mp4)")
    p.add_argument("--frames", type=int, default=120, help="frames per block, decoded once (default 120)")
    p.add_argument("--blocks", type=int, default=3, help="timed rounds after the warm-up (default 3)")
    p.add_argument("--motion", default=None,
                   help=f"motion model (default {DEFAULT_MOTION}, or {FALLBACK_MOTION} while that does not exist)")
    p.add_argument("--min-confidence", type=float, default=0.0,
                   help="tracking.min_confidence for ours (default 0: every frame on the tracked path; "
                        "config.yaml has 0.5)")
    p.add_argument("--threads", type=int, default=None,
                   help="model.threads for ours (SkeletonNet intra-op threads; default the config's, 0 = one per core)")
    p.add_argument("--json", default=str(DEFAULT_JSON), help="results file ('' to write none)")
    return p


@reports_user_errors("speed_vs_blazepose")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.frames < 10:
        raise UserError(f"--frames {args.frames}: at least 10 are needed")
    if not 0.0 <= args.min_confidence <= 1.0:
        raise UserError(f"--min-confidence {args.min_confidence:g}: allowed 0 to 1")
    if args.blocks < 1:
        raise UserError(f"--blocks {args.blocks}: at least 1 is needed")
    wall0 = time.perf_counter()
    load_start = load_avg()
    video = Path(args.input).expanduser()
    if not video.exists():
        raise UserError(f"{args.input}: no such video")
    motion_path, motion_note = motion_model(args.motion)
    python = teacher_python()
    json_path = Path(args.json).expanduser() if args.json else None
    if json_path is not None and json_path.is_dir():
        raise UserError(f"--json {args.json}: is a folder")

    from app.config import load_config

    common = {"tracking.min_confidence": args.min_confidence}
    if args.threads is not None:
        common["model.threads"] = args.threads
    cfg_motion = load_config(None, {**common, "model.motion": True, "model.motion_path": str(motion_path)})
    cfg_plain = load_config(None, {**common, "model.motion": False})
    frames, fps = decode(video, args.frames)
    n = len(frames)
    h, w = frames[0].shape[:2]
    say(f"{n} frames of {rel(video)} ({w}x{h}, {fps:g} frames/s) in memory; motion model {motion_note}")

    logs: list[str] = []
    ours = {OURS: Ours(cfg_motion, frames, fps, logs.append), NO_MOTION: Ours(cfg_plain, frames, fps, logs.append)}
    for line in dict.fromkeys(logs):
        say(line)
    results: dict = {k: [] for k in (OURS, NO_MOTION, BLAZE)}
    warm: dict = {}
    loads: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="speed_vs_blazepose-") as tmp:
        npy = Path(tmp) / "frames_rgb.npy"
        arr = np.lib.format.open_memmap(npy, mode="w+", dtype=np.uint8, shape=(n, h, w, 3))
        for i, f in enumerate(frames):
            arr[i] = f[..., ::-1]  # BGR -> RGB, as MediaPipe takes it; not timed
        arr.flush()
        del arr
        blaze = BlazePose(python, npy, n, Path(tmp) / "worker_stderr.txt")
        try:
            if blaze.info["frames"] != n:
                raise UserError(f"the BlazePose worker read {blaze.info['frames']} frames, not {n}")
            contenders = {OURS: ours[OURS].block, NO_MOTION: ours[NO_MOTION].block, BLAZE: blaze.block}
            for k, run in contenders.items():
                say(f"warm-up: {LABELS[k]} ...")
                warm[k] = run()
            for b in range(args.blocks):
                for k, run in contenders.items():
                    before = load_avg()
                    res = run()
                    res.update(block=b, load_before=before, load_after=load_avg())
                    results[k].append(res)
                    loads.append({"block": b, "contender": k, "before": before, "after": res["load_after"]})
                say(f"round {b + 1}/{args.blocks}: p50 ours {results[OURS][-1]['p50_ms']:.2f} ms, motion off "
                    f"{results[NO_MOTION][-1]['p50_ms']:.2f} ms, BlazePose {results[BLAZE][-1]['p50_ms']:.2f} ms; "
                    f"load {load_avg()}")
        finally:
            blaze.close()

    speedup = [bp["p50_ms"] / o["p50_ms"] for o, bp in zip(results[OURS], results[BLAZE])]
    speedup_plain = [bp["p50_ms"] / o["p50_ms"] for o, bp in zip(results[NO_MOTION], results[BLAZE])]
    cpu_ratio = [bp["cpu_ms_per_frame"] / o["cpu_ms_per_frame"] for o, bp in zip(results[OURS], results[BLAZE])]
    rows = {}
    for k, blocks in results.items():
        rows[k] = {m: median([b[m] for b in blocks])
                   for m in ("p50_ms", "p95_ms", "mean_ms", "fps", "cpu_ms_per_frame")}
        rows[k]["found_frames"] = [b["found"] for b in blocks]
        if k != BLAZE:
            rows[k]["detector_frames"] = [b["detector_frames"] for b in blocks]
            rows[k]["stages_ms"] = {s: {m: median([b["stages_ms"][s][m] for b in blocks]) for m in ("p50", "mean")}
                                    for s in (*STAGES, "other")}
    load_end = load_avg()
    wall = time.perf_counter() - wall0
    med = median(speedup)
    est = ours[OURS].est
    command = "python -m benchmarks.speed_vs_blazepose " + " ".join(shlex.quote(a) for a in (argv if argv is not None
                                                                                               else sys.argv[1:]))
    res = {
        "target": f"BlazePose full p50 / ours p50 >= {TARGET}",
        "speedup_median": med, "speedup_per_round": [r(x) for x in speedup], "passes": bool(med >= TARGET),
        "cpu_time_ratio_median": median(cpu_ratio), "cpu_time_ratio_per_round": [r(x) for x in cpu_ratio],
        "cpu_time_ratio_doc": "BlazePose CPU ms per frame / ours (process CPU time over a block, all threads): "
                              "what each frame costs the machine, less sensitive to other load than wall time",
        "speedup_motion_off_median": median(speedup_plain),
        "speedup_motion_off_per_round": [r(x) for x in speedup_plain],
        "summary": {k: {"label": LABELS[k], **v} for k, v in rows.items()},
        "commands": {"benchmark": command.strip(),
                     "blazepose_worker": " ".join([rel(Path(blaze.cmd[0])), rel(WORKER), "FRAMES_RGB.npy"])},
        "input": {"video": rel(video), "frames": n, "size": [w, h], "fps": fps},
        "blocks": args.blocks, "warmup_blocks_per_contender": 1, "order_per_round": [OURS, NO_MOTION, BLAZE],
        "ours": {"config": "app.config.load_config() (config.yaml) with model.motion on / off and "
                           + ", ".join(f"{k} = {v}" for k, v in common.items()),
                 "backend": est.backend.name, "model": str(est.backend.model), "input_size": est.backend.input_size,
                 "motion_model": rel(motion_path), "motion_model_note": motion_note,
                 "motion_window": getattr(est.motion, "window", None),
                 "min_confidence": cfg_motion.tracking.min_confidence, "filter": cfg_motion.filter.enabled,
                 "log": list(dict.fromkeys(logs))},
        "blazepose": {"call": "mediapipe.solutions.pose.Pose(static_image_mode=False, model_complexity=1, "
                              "smooth_landmarks=True, enable_segmentation=False, min_detection_confidence=0.5, "
                              "min_tracking_confidence=0.5).process(rgb)",
                      **{k: v for k, v in blaze.info.items() if k not in ("ready", "threads")}},
        "threads": {"ours": thread_settings(cfg_motion),
                    "blazepose": {**blaze.info.get("threads", {}), "note": MEDIAPIPE_THREADS,
                                  "os_threads_after_blocks": [b["os_threads"] for b in results[BLAZE]]},
                    "processes": "one process per side (ours in the project venv, BlazePose in .venv-teacher), "
                                 "never running at the same time"},
        "machine": {"cpu": cpu_name(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "load_average_1_5_15": {"start": load_start, "end": load_end, "per_block": loads}},
        "wall_s": round(wall, 1),
        "warmup": {k: {m: v[m] for m in ("p50_ms", "p95_ms", "fps")} for k, v in warm.items()},
        "per_block": results,
    }
    print_table(res, rows, results, speedup, speedup_plain, motion_note, n, w, h, load_start, load_end, wall)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = json_path.with_name(json_path.name + ".partial")
        tmp.write_text(json.dumps(res, indent=1) + "\n")
        os.replace(tmp, json_path)
        say(f"results: {rel(json_path)}")
    return 0


def print_table(res, rows, results, speedup, speedup_plain, motion_note, n, w, h, load_start, load_end, wall) -> None:
    th = res["threads"]
    print(f"{n} frames {w}x{h} of {res['input']['video']}; {res['blocks']} rounds after one warm-up block each; "
          f"medians over the rounds")
    print(f"ours: {res['ours']['backend']} {Path(res['ours']['model']).name} ({res['ours']['input_size']} px), "
          f"motion model {motion_note}; tracking.min_confidence {res['ours']['min_confidence']:g}")
    print(f"BlazePose: mediapipe {res['blazepose']['mediapipe']} Pose(model_complexity=1, static_image_mode=False)")
    print(f"threads: ours ONNX Runtime intra-op {th['ours']['skeletonnet_intra_op_threads']} (SkeletonNet), "
          f"{th['ours']['detector_intra_op_threads']} (detector), 1 (motion); OpenCV {th['ours']['opencv_threads']}. "
          f"BlazePose: MediaPipe defaults (XNNPACK 1 inference thread on desktop, graph thread pool; "
          f"{max(th['blazepose']['os_threads_after_blocks'])} OS threads); {th['ours']['cpu_count']} cores")
    print()
    print(f"{'':44s} {'p50 ms':>8s} {'p95 ms':>8s} {'frames/s':>9s} {'CPU ms/fr':>10s} {'speed-up':>9s}")
    for k, row in rows.items():
        sp = "" if k == BLAZE else f"{median(speedup if k == OURS else speedup_plain):8.2f}x"
        print(f"{LABELS[k]:44s} {row['p50_ms']:8.2f} {row['p95_ms']:8.2f} {row['fps']:9.1f} "
              f"{row['cpu_ms_per_frame']:10.2f} {sp:>9s}")
    print()
    print("stages of ours, ms (median over rounds of each block's p50 / mean); 'other' is the rest of the call")
    print(f"{'':44s} " + " ".join(f"{s:>14s}" for s in (*STAGES, "other")))
    for k in (OURS, NO_MOTION):
        st = rows[k]["stages_ms"]
        print(f"{LABELS[k]:44s} " + " ".join(f"{st[s]['p50']:6.2f} / {st[s]['mean']:5.2f}" for s in (*STAGES, "other")))
    print(f"{'':44s} detector ran on {rows[OURS]['detector_frames']} / {rows[NO_MOTION]['detector_frames']} frames "
          f"per block; person found on ours {rows[OURS]['found_frames']}, BlazePose {rows[BLAZE]['found_frames']} "
          f"of {n}")
    print()
    print(f"{'round':>5s} {'ours p50':>9s} {'off p50':>9s} {'Blaze p50':>10s} {'speed-up':>9s} {'(off)':>7s}  "
          "load avg before ours")
    for b in range(len(speedup)):
        print(f"{b + 1:5d} {results[OURS][b]['p50_ms']:9.2f} {results[NO_MOTION][b]['p50_ms']:9.2f} "
              f"{results[BLAZE][b]['p50_ms']:10.2f} {speedup[b]:8.2f}x {speedup_plain[b]:6.2f}x  "
              f"{results[OURS][b]['load_before']}")
    verdict = "meets" if res["passes"] else "MISSES"
    print(f"speed-up (BlazePose full p50 / ours p50), median over rounds: {res['speedup_median']:.2f}x -> "
          f"{verdict} the {TARGET}x target")
    print(f"CPU time per frame, BlazePose / ours, median over rounds: {res['cpu_time_ratio_median']:.2f}x")
    print(f"load average (1, 5, 15 min): start {load_start}, end {load_end}; wall {wall:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
