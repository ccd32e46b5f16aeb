"""EfficientNet-Lite0 / Lite1 / Lite2 as SkeletonNet's backbone: size, speed, and (optionally) a
short-budget accuracy comparison (issue 24 point 5).

``python -m benchmarks.backbones [--data /tmp/bb_data] [--runs /tmp/bb_runs]
[--json benchmarks/results/backbones.json]``

For SkeletonNet at the shipped config (input 160, hg_channels 64, 200 clusters, presence) with each
backbone: parameters, GFLOPs, ONNX size, ONNX Runtime latency at batch 1 with 1 and 2 threads, and
training images/s at batch 16 (channels_last, Adam, the real loss on a batch of ``--data``).
Every timing alternates the candidates (lite0, lite1, lite2, lite0, ...) in short blocks, so load
from other processes on a shared machine hits them alike; the figures are medians over blocks.

``--runs FOLDER``: also read the accuracy of the training runs ``FOLDER/liteN`` and put steps, images
seen and 2D PCK@0.2 / MPJPE beside the speed. Those runs, one at a time, the same data and wall time::

    python -m trainer synth --out /tmp/bb_data --train 3000 --val 300 --test 0 --size 160 --workers 1 --style webcam
    cp trainer/configs/default.yaml /tmp/bb_runs/config.yaml
    # for N in lite0 lite1 lite2 (lite1/lite2 add --set clusters=/tmp/bb_runs/lite0/clusters.npz: the same classes)
    nice -n 10 python -m trainer train /tmp/bb_runs/config.yaml --set out=/tmp/bb_runs/$N --set model.backbone=$N \
        --set 'data=[{kind: synth, root: /tmp/bb_data, weight: 1.0}]' \
        --set 'val={kind: synth, root: /tmp/bb_data, split: val, max_samples: 64}' --set val_every=50 \
        --set log_every=10 --set time_limit_s=360 --set export=false --set threads=2
    nice -n 10 python -m trainer eval --checkpoint /tmp/bb_runs/$N/last.pt --data /tmp/bb_data --split val \
        --json /tmp/bb_runs/$N/eval.json
    python -m benchmarks.backbones --data /tmp/bb_data --runs /tmp/bb_runs

A short-budget comparison: minutes of CPU training from the ImageNet weights, not a converged model.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.models import count_flops
from trainer.export import export_onnx
from trainer.model import DEFAULT_FOCAL, SkeletonNet, SkeletonNetConfig

NAMES = ("lite0", "lite1", "lite2")
SHIPPED = dict(input_size=160, hg_channels=64, num_clusters=200, presence=True)


def ort_sessions(paths: dict, threads: int) -> dict:
    import onnxruntime as ort

    out = {}
    for name, path in paths.items():
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        out[name] = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return out


def alternated_latency(paths: dict, size: int, threads: int, rounds: int, per_round: int) -> dict:
    """Median ms per frame (batch 1) of each model; the models take turns, ``per_round`` frames each."""
    sessions = ort_sessions(paths, threads)
    feed = {"image": np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32),
            "camera": np.array([[DEFAULT_FOCAL * size, (size - 1) / 2, (size - 1) / 2]], np.float32)}
    for s in sessions.values():  # warm-up
        for _ in range(20):
            s.run(None, feed)
    times = {n: [] for n in sessions}
    for _ in range(rounds):
        for n, s in sessions.items():
            for _ in range(per_round):
                t = time.perf_counter()
                s.run(None, feed)
                times[n].append(time.perf_counter() - t)
    return {n: float(np.median(v) * 1000) for n, v in times.items()}


def a_batch(data: str | None, size: int, centres: np.ndarray, batch: int = 16) -> dict:
    """One training batch: from the synthetic dataset ``data`` when given, else random images with the
    targets of a random rendered-like batch (speed does not depend on the values)."""
    if data:
        from trainer.data.sources import make_source
        from trainer.train import batch_for_step

        src = make_source({"kind": "synth", "root": data}, "train", size, centres, True)
        return batch_for_step([src], [1.0], batch, 0, 0, 0)
    raise SystemExit("--data (a synthetic dataset, python -m trainer synth) is needed for the training speed")


def alternated_training(nets: dict, b: dict, rounds: int, steps: int) -> dict:
    """Images/s of one training step (forward, loss, backward, Adam) at the batch's size, channels_last,
    the models taking turns ``steps`` steps each per round; median over rounds."""
    from trainer.losses import LossWeights, skeletonnet_loss

    x = b["image"].contiguous(memory_format=torch.channels_last)
    tgt = {k: v for k, v in b.items() if k != "image"}
    opts = {n: torch.optim.Adam(net.parameters(), lr=1e-4) for n, net in nets.items()}
    w = LossWeights(lam=1.0, readout=0.2, presence=1.0)

    def step(n):
        net = nets[n]
        o = net(x, tgt["camera"])
        loss, _ = skeletonnet_loss({k: v.float() for k, v in o.items()}, tgt, net.cfg, w)
        opts[n].zero_grad(set_to_none=True)
        loss.backward()
        opts[n].step()

    for n in nets:  # warm-up
        nets[n].train()
        step(n)
    rates = {n: [] for n in nets}
    for _ in range(rounds):
        for n in nets:
            t = time.perf_counter()
            for _ in range(steps):
                step(n)
            rates[n].append(steps * len(x) / (time.perf_counter() - t))
    return {n: float(np.median(v)) for n, v in rates.items()}


def run_accuracy(folder: Path) -> dict | None:
    """Steps, images and scores of one ``python -m trainer train`` run folder with its ``eval.json``."""
    ev = folder / "eval.json"
    if not ev.exists():
        return None
    res = json.loads(ev.read_text())["overall"]
    tr = list(csv.DictReader(open(folder / "train.csv")))
    va = list(csv.DictReader(open(folder / "val.csv"))) if (folder / "val.csv").exists() else []
    cfg = json.loads(json.dumps(__import__("yaml").safe_load((folder / "config.yaml").read_text())))
    step = int(torch.load(folder / "last.pt", map_location="cpu", weights_only=False)["step"])
    return {"steps": step, "images": step * int(cfg["batch_size"]), "time_limit_s": cfg["time_limit_s"],
            "pck@0.2": res.get("pck@0.2"), "mpjpe_mm": res.get("mpjpe_mm"), "pa_mpjpe_mm": res.get("pa_mpjpe_mm"),
            "mean_train_img_per_s": round(float(np.mean([float(r["img_per_s"]) for r in tr[1:]] or [0])), 1),
            "val_curve": [{"step": int(r["step"]), "mpjpe_mm": float(r["mpjpe_mm"])} for r in va]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default="benchmarks/results/backbones.json")
    ap.add_argument("--data", default=None, help="synthetic dataset for the training-speed batch")
    ap.add_argument("--runs", default=None, help="folder of the accuracy runs (FOLDER/lite0, lite1, lite2)")
    ap.add_argument("--rounds", type=int, default=15, help="latency rounds (each model per_round frames a round)")
    ap.add_argument("--per-round", type=int, default=10)
    ap.add_argument("--train-rounds", type=int, default=4)
    ap.add_argument("--train-steps", type=int, default=3)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    size = SHIPPED["input_size"]
    centres = np.broadcast_to(np.eye(3), (SHIPPED["num_clusters"], 3, 3)).copy()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        nets, paths = {}, {}
        for n in NAMES:
            net = SkeletonNet(SkeletonNetConfig(backbone=n, **SHIPPED), centres).eval()
            paths[n] = export_onnx(net, Path(tmp) / f"{n}.onnx")
            rows[n] = {"backbone": n, "params_m": round(sum(p.numel() for p in net.parameters()) / 1e6, 2),
                       "backbone_params_m": round(sum(p.numel() for p in net.backbone.parameters()) / 1e6, 2),
                       "gflops": round(count_flops(net, size), 2),
                       "onnx_mb": round(paths[n].stat().st_size / 2**20, 1)}
            nets[n] = net
        for threads in (1, 2):
            for n, ms in alternated_latency(paths, size, threads, args.rounds, args.per_round).items():
                rows[n][f"ort_ms_{threads}thread"] = round(ms, 2)
    if args.data:
        b = a_batch(args.data, size, centres)
        torch.set_num_threads(2)
        nets = {n: net.to(memory_format=torch.channels_last) for n, net in nets.items()}
        for n, r in alternated_training(nets, b, args.train_rounds, args.train_steps).items():
            rows[n]["train_img_per_s_b16"] = round(r, 1)
    if args.runs:
        for n in NAMES:
            acc = run_accuracy(Path(args.runs) / n)
            if acc:
                rows[n]["accuracy_run"] = acc
    base = rows["lite0"]["ort_ms_2thread"]
    print(f"{'backbone':8s} {'params':>7s} {'GFLOPs':>6s} {'ONNX MB':>7s} {'ORT ms 1t':>9s} {'ORT ms 2t':>9s} "
          f"{'vs lite0':>8s} {'train img/s':>11s} {'steps':>6s} {'PCK@0.2':>7s} {'MPJPE':>6s}")
    for n, r in rows.items():
        a = r.get("accuracy_run") or {}
        print(f"{n:8s} {r['params_m']:6.2f}M {r['gflops']:6.2f} {r['onnx_mb']:7.1f} {r['ort_ms_1thread']:9.2f} "
              f"{r['ort_ms_2thread']:9.2f} {r['ort_ms_2thread'] / base:7.2f}x "
              f"{r.get('train_img_per_s_b16', float('nan')):11.1f} {a.get('steps', '-'):>6} "
              f"{a.get('pck@0.2') or float('nan'):7.3f} {a.get('mpjpe_mm') or float('nan'):6.1f}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, shared with other "
                   "workers (timings alternated between the backbones)",
        "config": SHIPPED, "latency": f"ONNX Runtime CPU, batch 1, median of {args.rounds} alternated rounds x "
                                       f"{args.per_round} frames", "rows": list(rows.values())}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
