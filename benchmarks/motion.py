"""The motion model against the per-frame optimisation lifter and a constant pose, on the held-out
mocap clip (CMU 01_03) through webcams of the training distribution (trainer/motion/evaluate.py),
from exact 2D and from 2D with the network's measured noise; and its speed.

    python -m benchmarks.motion [--onnx assets/motion.onnx]
        [--noise benchmarks/results/network_2d_errors.json] [--lifter-frames 12]

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
from engine.filters import RotationFilter
from trainer.motion import data as D
from trainer.motion import evaluate as E
from trainer.motion.cli import onnx_runner
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
    sel = lambda a: a[list(segments), LIFTER_START:LIFTER_START + n]  # noqa: E731
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx", default="assets/motion.onnx")
    ap.add_argument("--noise", default="benchmarks/results/network_2d_errors.json")
    ap.add_argument("--lifter-frames", type=int, default=12)
    ap.add_argument("--json", default="benchmarks/results/motion.json")
    a = ap.parse_args(argv)
    run, window = onnx_runner(a.onnx)
    noise = load_noise(a.noise)
    res = {"command": "python -m benchmarks.motion " + " ".join(argv or []), "model": a.onnx, "window": window,
           "noise": noise.source, "conditions": {}}
    for name, nm in (("exact 2D", None), ("measured noise", noise)):
        obs = E.test_sequences(nm)
        pred = E.predict_sequences(run, obs, window)
        rows = {"motion model": E.scores(pred, obs),
                "motion model + One-Euro": E.scores(one_euro(pred), obs),
                "constant mean pose": E.constant_baseline(obs)}
        if a.lifter_frames:
            sub = subset(obs, (0, 1), a.lifter_frames)
            rows["optimisation lifter (subset)"] = E.joint_scores(lifter_joints(obs, a.lifter_frames), sub)
            rows["motion model (same subset)"] = E.scores(pred[[0, 1], LIFTER_START:LIFTER_START + a.lifter_frames], sub)
        res["conditions"][name] = rows
    res["speed"] = speed(Path(a.onnx))
    for name, rows in res["conditions"].items():
        print(f"\nCMU 01_03 (held out), {name}:")
        print(f"{'':30s} {'PA-MPJPE mm':>11s} {'MPJPE mm':>9s} {'accel mm/f2':>11s} {'bone rot deg':>12s} {'frames':>6s}")
        for k, v in rows.items():
            print(f"{k:30s} {v['pa_mpjpe_mm']:11.1f} {v['mpjpe_mm']:9.1f} {v['accel_mm_f2']:11.1f} "
                  f"{v.get('bone_rotation_deg', float('nan')):12.1f} {v['frames']:6d}")
    s = res["speed"]
    print(f"\nspeed (1 thread, batch 1): exported model p50 {s['onnx_p50_ms']} ms; whole MotionModel call p50 "
          f"{s['motion_call_p50_ms']} ms, p95 {s['motion_call_p95_ms']} ms (load average {s['load_average']})")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=1))
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
