"""The motion model against the per-frame optimisation lifter and a constant pose, on held-out
mocap through webcams of the training distribution (trainer/motion/evaluate.py), from exact 2D and
from 2D with the network's measured noise; and its speed.

    python -m benchmarks.motion [--heldout cmu|01_03] [--onnx assets/motion.onnx]
        [--models NAME=PATH ...] [--cmu DIR] [--per-clip 2]
        [--noise benchmarks/results/network_2d_errors.json] [--lifter-frames 12]

``--heldout cmu`` (default): every clip of the held-out CMU test subjects (13, 14, 15, 86, 94, 143;
``trainer.motion.cmu``), up to ``--per-clip`` 5-second segments of each, a body and camera per
segment; writes benchmarks/results/motion_cmu.json. ``--heldout 01_03``: the old single clip
(CMU 01_03, 4 cameras and bodies per segment), with the lifter rows; writes
benchmarks/results/motion.json. ``--models`` adds more models (ONNX files or training checkpoints)
as rows of the same table, on the same observations.

Rows: the motion model (every frame from its causal window, as the app runs it), the same followed
by the app's One-Euro rotation filter (config.yaml ``filter.rotation``), the optimisation lifter
(``trainer/wild/lifting.py``, one frame at a time, on ``--lifter-frames`` consecutive frames of
two segments from their 31st: it takes 2-20 s a frame here) with the motion model on those same frames
beside it, and a constant pose (the test frames' own mean). SkeletonNet's own 3D needs images: it
is compared on real video (docs/motion.md). Speed: p50 of the exported model alone and of a whole
``MotionModel`` call (features, model, forward kinematics), batch 1, one thread. Writes
benchmarks/results/motion.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from engine import frames
from engine import motion as M
from engine import skeleton as S
from engine.errors import reports_user_errors
from engine.filters import RotationFilter
from trainer.motion import data as D
from trainer.motion import evaluate as E
from trainer.motion.cli import onnx_runner, runner
from trainer.motion.train import load_noise

ROT_FILTER = (1.5, 10.0, 1.0)  # config.yaml filter.rotation: min_cutoff, beta, d_cutoff


def one_euro(rotations: np.ndarray) -> np.ndarray:
    """The app's rotation filter over each sequence (B, F, 16, 3, 3) at 30 frames/s."""
    out = np.empty_like(rotations)
    for b in range(len(rotations)):
        f = RotationFilter(*ROT_FILTER)
        for t in range(rotations.shape[1]):
            out[b, t] = f(rotations[b, t], t / D.FPS)
    return out


LIFTER_START = 30  # frames into a segment where the lifter's subset starts (the motion model's window is full)


def lifter_joints(obs: D.Observation, frames_per_segment: int, segments=(0, 1)) -> np.ndarray:
    """The optimisation lifter on ``frames_per_segment`` consecutive frames of some segments, from
    ``LIFTER_START``: world-axis joints (n, F, 16, 3)."""
    from tqdm import tqdm

    from trainer.wild.lifting import PoseBasis, lift

    basis = PoseBasis.default()
    out = np.zeros((len(segments), frames_per_segment, S.NUM_JOINTS, 3))
    with tqdm(total=len(segments) * frames_per_segment, desc="optimisation lifter", unit="frame", mininterval=5) as bar:
        for i, b in enumerate(segments):
            k = obs.K[b]
            for t in range(frames_per_segment):
                x, _ = lift(obs.uv[b, LIFTER_START + t], basis, focal=float(k[0, 0]), centre=(k[0, 2], k[1, 2]))
                out[i, t] = frames.camera_to_world(x)
                bar.update(1)
    return out


def subset(obs: D.Observation, segments, n: int) -> D.Observation:
    sel = lambda a: a[list(segments), LIFTER_START:LIFTER_START + n]
    return D.Observation(sel(obs.uv), sel(obs.uv_true), obs.K[list(segments)], obs.size[list(segments)], sel(obs.rays),
                         sel(obs.inside), sel(obs.twist), sel(obs.rotations), sel(obs.joints))


def speed(path: Path, repeats: int = 300) -> dict:
    run, window = onnx_runner(path)
    x = np.zeros((1, window, M.FEATURES), np.float32)
    model = M.MotionModel(path)
    rng = np.random.default_rng(0)
    uv = rng.uniform(300, 700, (S.NUM_JOINTS, 2))
    k = np.array([[900.0, 0, 640], [0, 900.0, 360], [0, 0, 1]])
    rot = np.broadcast_to(np.eye(3), (S.NUM_BONES, 3, 3))
    t_model, t_call = [], []
    for i in range(repeats + 20):
        t0 = time.perf_counter()
        run(x)
        t1 = time.perf_counter()
        model(uv + i, k, 1280, 720, rot)
        t2 = time.perf_counter()
        if i >= 20:
            t_model.append(t1 - t0)
            t_call.append(t2 - t1)
    return {"onnx_p50_ms": round(float(np.median(t_model)) * 1000, 3),
            "motion_call_p50_ms": round(float(np.median(t_call)) * 1000, 3),
            "motion_call_p95_ms": round(float(np.percentile(t_call, 95)) * 1000, 3),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


@reports_user_errors("benchmarks.motion")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heldout", choices=("cmu", "01_03"), default="cmu")
    ap.add_argument("--onnx", default="assets/motion.onnx")
    ap.add_argument("--models", nargs="*", default=[], help="more models to compare: NAME=PATH (.onnx or .pt)")
    ap.add_argument("--cmu", default=None, help="CMU folder (default $MOTION_CMU_DIR or ../shared/mocap)")
    ap.add_argument("--per-clip", type=int, default=2, help="5-second segments per held-out CMU clip")
    ap.add_argument("--noise", default="benchmarks/results/network_2d_errors.json")
    ap.add_argument("--lifter-frames", type=int, default=None, help="default 12 on 01_03, 0 on cmu")
    ap.add_argument("--no-one-euro", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    cmu = a.heldout == "cmu"
    lifter_frames = a.lifter_frames if a.lifter_frames is not None else (0 if cmu else 12)
    out_json = a.json or ("benchmarks/results/motion_cmu.json" if cmu else "benchmarks/results/motion.json")
    models = {"motion model": a.onnx}
    for m in a.models:
        name, _, path = m.rpartition("=")
        models[name or path] = path
    runs = {name: runner(path) for name, path in models.items()}
    noise = load_noise(a.noise)
    if cmu:
        from trainer.motion.cmu import TEST_SUBJECTS, resolve_root
        root = str(resolve_root(a.cmu))
        title = f"held-out CMU subjects {', '.join(map(str, TEST_SUBJECTS))}"
        observe = lambda nm: E.test_sequences(nm, n_draws=1, cmu=root, per_clip=a.per_clip)
    else:
        title = "CMU 01_03 (held out)"
        observe = lambda nm: E.test_sequences(nm)
    res = {"command": "python -m benchmarks.motion " + " ".join(argv or []), "heldout": title,
           "models": models, "windows": {k: w for k, (_, w) in runs.items()}, "noise": noise.source, "conditions": {}}
    for name, nm in (("exact 2D", None), ("measured noise", noise)):
        obs = observe(nm)
        rows = {}
        first = None
        for model, (run, window) in runs.items():
            pred = E.predict_sequences(run, obs, window)
            first = pred if first is None else first
            rows[model] = E.scores(pred, obs)
            if model == "motion model" and not a.no_one_euro:
                rows["motion model + One-Euro"] = E.scores(one_euro(pred), obs)
        rows["constant mean pose"] = E.constant_baseline(obs)
        if lifter_frames:
            sub = subset(obs, (0, 1), lifter_frames)
            rows["optimisation lifter (subset)"] = E.joint_scores(lifter_joints(obs, lifter_frames), sub)
            rows["motion model (same subset)"] = E.scores(first[[0, 1], LIFTER_START:LIFTER_START + lifter_frames], sub)
        res["conditions"][name] = rows
    if a.onnx.endswith(".onnx"):
        res["speed"] = speed(Path(a.onnx))
    for name, rows in res["conditions"].items():
        print(f"\n{title}, {name}:")
        print(f"{'':30s} {'PA-MPJPE mm':>11s} {'MPJPE mm':>9s} {'accel mm/f2':>11s} {'bone rot deg':>12s} "
              f"{'frames':>6s}")
        for k, v in rows.items():
            print(f"{k:30s} {v['pa_mpjpe_mm']:11.1f} {v['mpjpe_mm']:9.1f} {v['accel_mm_f2']:11.1f} "
                  f"{v.get('bone_rotation_deg', float('nan')):12.1f} {v['frames']:6d}")
    if "speed" in res:
        s = res["speed"]
        print(f"\nspeed (1 thread, batch 1): exported model p50 {s['onnx_p50_ms']} ms; whole MotionModel call p50 "
              f"{s['motion_call_p50_ms']} ms, p95 {s['motion_call_p95_ms']} ms (load average {s['load_average']})")
    Path(out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(out_json).write_text(json.dumps(res, indent=1))
    print(f"wrote {out_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
