"""A stored pool of training windows for the motion model: made once by ``trainer.motion.data.Sampler``
(CMU training subjects, webcams, bodies, the measured 2D noise), then read by every training run.

Making a window (simulating the camera, the noise and the features) costs more than a training
step of the networks here (about 1.5 ms a window against 1 ms on this 2-core CPU), so training on
the fly spends most of its time making data; a pool made once serves every architecture and
window length alike (which also makes their comparison at equal training time fair).

One pool serves every window up to its own: the features of each frame are normalised by the
newest frame alone (``engine.motion.window_features``), so the last ``T`` frames of a stored
window are exactly the features of the ``T``-frame window ending at the same frame (tested).

    python -m trainer.motion.pool --out data/motion/pool_T27 --windows 200000 [--window 27]
        [--noise benchmarks/results/network_2d_errors.json] [--cmu DIR] [--minutes 9]

Writes ``shard_NNNN.npz`` files of ``--shard`` windows (features float16 (n, T, FEATURES), target
rotations float32 (n, 16, 3, 3) in the newest frame's view axes), each from its own seed, and
``pool.json`` (the recipe). Resumable: a second call adds the missing shards; a call with another
recipe into the same folder is an error.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from engine.errors import UserError, reports_user_errors
from trainer.motion import data as D


def recipe(args) -> dict:
    return {"window": args.window, "noise": args.noise, "exact_share": args.exact_share,
            "noise_scale": list(args.noise_scale), "mocap_share": args.mocap_share, "mirror_share": args.mirror_share,
            "sampler_frames": args.sampler_frames, "deepmimic": not args.no_deepmimic, "shard": args.shard,
            "seed": args.seed}


def shard_paths(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("shard_*.npz"))


class Pool:
    """Every shard of a pool in memory (the newest ``window`` frames of each window, default all):
    ``batch(rng, n, window)`` -> features (n, window, FEATURES) float32 (the newest ``window``
    frames) and targets (n, 16, 3, 3) float32."""

    def __init__(self, folder: str | Path, window: int | None = None):
        folder = Path(folder)
        paths = shard_paths(folder)
        if not paths:
            raise UserError(f"{folder}: no window pool here (python -m trainer.motion.pool --out {folder})")
        self.recipe = json.loads((folder / "pool.json").read_text())
        xs, ys = [], []
        for p in paths:  # only the newest ``window`` frames are kept
            z = np.load(p)
            x = z["x"]
            if window is not None and window > x.shape[1]:
                raise UserError(f"the pool {folder} holds windows of {x.shape[1]} frames, not {window}")
            xs.append(np.ascontiguousarray(x[:, x.shape[1] - (window or x.shape[1]):]))
            ys.append(z["y"])
        self.x, self.y = np.concatenate(xs), np.concatenate(ys)
        self.window = self.x.shape[1]

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, rng: np.random.Generator, n: int, window: int):
        if window > self.window:
            raise UserError(f"the pool holds windows of {self.window} frames, not {window}")
        i = np.sort(rng.integers(0, len(self.x), n))
        return self.x[i, self.window - window:].astype(np.float32), self.y[i]


@reports_user_errors("trainer")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.motion.pool", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--windows", type=int, default=200000)
    ap.add_argument("--window", type=int, default=27)
    ap.add_argument("--shard", type=int, default=4096)
    ap.add_argument("--noise", default="benchmarks/results/network_2d_errors.json")
    ap.add_argument("--cmu", default=None)
    ap.add_argument("--exact-share", type=float, default=0.3)
    ap.add_argument("--noise-scale", type=float, nargs=2, default=(0.5, 1.5))
    ap.add_argument("--mocap-share", type=float, default=0.8)
    ap.add_argument("--mirror-share", type=float, default=0.5)
    ap.add_argument("--sampler-frames", type=int, default=30000)
    ap.add_argument("--no-deepmimic", action="store_true")
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=None, help="stop after this much wall time (resumable)")
    ap.add_argument("--part", default="0/1", help="I/N: make only shards k with k %% N == I (parallel makers)")
    a = ap.parse_args(argv)
    from trainer.motion.cmu import resolve_root
    from trainer.motion.data import load_noise

    cmu = str(resolve_root(a.cmu))
    rec = {**recipe(a), "cmu": cmu}
    a.out.mkdir(parents=True, exist_ok=True)
    meta = a.out / "pool.json"
    if meta.exists() and json.loads(meta.read_text()) != rec:
        raise UserError(f"{a.out} holds a pool of another recipe ({meta}); use another --out")
    meta.write_text(json.dumps(rec, indent=1))
    t0 = time.time()
    noise = load_noise(a.noise)
    bank = D.motion_bank("train", seed=a.seed, sampler_frames=a.sampler_frames, deepmimic=not a.no_deepmimic, cmu=cmu)
    shards = -(-a.windows // a.shard)
    part, parts = (int(v) for v in a.part.split("/"))
    sampler = D.Sampler(bank, a.window, noise, noise_scale=tuple(a.noise_scale), exact_share=a.exact_share,
                        mocap_share=a.mocap_share, mirror_share=a.mirror_share)
    made = 0
    for k in range(part, shards, parts):
        path = a.out / f"shard_{k:04d}.npz"
        if path.exists():
            continue
        if a.minutes is not None and time.time() - t0 > a.minutes * 60:
            break
        sampler.rng = np.random.default_rng(a.seed + 7919 * (k + 1))  # each shard its own draws
        xs, ys = [], []
        for _ in range(a.shard // 256):
            x, y, _ = sampler.batch(256)
            xs.append(x.astype(np.float16))
            ys.append(y)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, x=np.concatenate(xs), y=np.concatenate(ys))
        tmp.replace(path)
        made += 1
        print(f"{path} ({time.time() - t0:.0f} s)", flush=True)
    have = len(shard_paths(a.out))
    print(f"{a.out}: {have} of {shards} shards ({have * a.shard:,} windows of {a.window} frames); made {made} now")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
