"""Network size and speed per backbone and input size.

``python -m benchmarks.models [--json benchmarks/results/models.json] [--runs 50]``

Prints a table (parameters, GFLOPs, ONNX MB, ONNX Runtime latency per frame at
batch 1 with 2 threads and 1 thread) and writes it as JSON. FLOPs count
multiply-adds x2 of convolutions, transposed convolutions and linear layers.
Random weights: speed does not depend on them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainer.export import export_onnx
from trainer.model import DEFAULT_FOCAL, SkeletonNet, SkeletonNetConfig

CONFIGS = {
    "lite0_160_hg64 (default)": dict(backbone="lite0", input_size=160, hg_channels=64, presence=True),
    "lite0_192_hg64": dict(backbone="lite0", input_size=192, hg_channels=64, presence=True),
    "mobilenet_192_hg64": dict(backbone="mobilenet", input_size=192, hg_channels=64),
    "mobilenet_192_hg128": dict(backbone="mobilenet", input_size=192, hg_channels=128),
    "mobilenet_224_hg64": dict(backbone="mobilenet", input_size=224, hg_channels=64),
    "resnet18_192_hg128": dict(backbone="resnet18", input_size=192, hg_channels=128),
    "resnet18_256_hg128": dict(backbone="resnet18", input_size=256, hg_channels=128),
    "resnet50_256_hg256 (paper)": dict(backbone="resnet50", input_size=256, hg_channels=256),
}


def count_flops(net: nn.Module, size: int) -> float:
    total = 0

    def hook(m, inp, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += 2 * out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.ConvTranspose2d):
            total += 2 * inp[0].numel() * (m.out_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += 2 * out.numel() * m.in_features

    hs = [m.register_forward_hook(hook) for m in net.modules()
          if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    with torch.no_grad():
        net(torch.rand(1, 3, size, size), net.default_camera(1))
    for h in hs:
        h.remove()
    return total / 1e9


def ort_latency(path: Path, size: int, threads: int, runs: int) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feed = {"image": np.random.rand(1, 3, size, size).astype(np.float32)}
    if "camera" in [i.name for i in sess.get_inputs()]:  # model contract 2: the crop's intrinsics
        feed["camera"] = np.array([[DEFAULT_FOCAL * size, (size - 1) / 2, (size - 1) / 2]], np.float32)
    for _ in range(30):  # warm-up
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default="benchmarks/results/models.json")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--only", default=None, help="substring of a config name")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in CONFIGS.items():
            if args.only and args.only not in name:
                continue
            cfg = SkeletonNetConfig(**kw)
            net = SkeletonNet(cfg).eval()
            params = sum(p.numel() for p in net.parameters()) / 1e6
            gflops = count_flops(net, cfg.input_size)
            path = export_onnx(net, Path(tmp) / "m.onnx")
            mb = path.stat().st_size / 2**20
            ms2 = ort_latency(path, cfg.input_size, 2, args.runs)
            ms1 = ort_latency(path, cfg.input_size, 1, args.runs)
            row = dict(config=name, params_m=round(params, 2), gflops=round(gflops, 2), onnx_mb=round(mb, 1),
                       ort_ms_2threads=round(ms2, 2), fps_2threads=round(1000 / ms2, 1), ort_ms_1thread=round(ms1, 2))
            rows.append(row)
            print(f"{name:32s} {params:6.2f}M {gflops:6.2f} GFLOPs {mb:6.1f} MB  "
                  f"ORT {ms2:6.2f} ms ({1000 / ms2:5.0f} fps, 2 threads)  {ms1:6.2f} ms (1 thread)", flush=True)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                               "onnxruntime_threads": [2, 1], "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
