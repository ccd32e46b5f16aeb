"""Two exported SkeletonNet models timed alternately on ONNX Runtime: which one is faster on this machine now.

``python -m benchmarks.ab_speed A.onnx B.onnx [--rounds 6] [--runs 20] [--threads 1 2] [--json FILE]``

A busy or throttled machine changes absolute times from one hour to the next (this 2-core CPU measured the
same file 19 ms in one session and 28 ms in another); timed in alternating rounds, both models meet the same
conditions, so their ratio holds. Each round runs each model ``--runs`` times on one random input at its own
input size (after 3 warm-up runs) and keeps the median; the table gives the median over rounds per model and
thread count, and B's time over A's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from engine.backends import BackendError, OnnxRuntimeBackend
from engine.errors import UserError, reports_user_errors


def time_rounds(backends: dict, rounds: int, runs: int, seed: int = 0) -> dict[str, list[float]]:
    """{name: [median ms of each round]}: every round times every backend in turn (``backend(x, camera)``)."""
    rng = np.random.default_rng(seed)
    inputs = {n: (rng.random((1, 3, b.input_size, b.input_size), np.float32),
                  np.array([b.input_size * 0.8, b.input_size / 2, b.input_size / 2], np.float32))
              for n, b in backends.items()}
    out: dict[str, list[float]] = {n: [] for n in backends}
    for _ in range(rounds):
        for n, b in backends.items():
            x, cam = inputs[n]
            for _ in range(3):
                b(x, cam)
            ts = []
            for _ in range(runs):
                t0 = time.perf_counter()
                b(x, cam)
                ts.append(time.perf_counter() - t0)
            out[n].append(float(np.median(ts)) * 1000)
    return out


@reports_user_errors("ab_speed")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="first model (.onnx)")
    ap.add_argument("b", help="second model (.onnx)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", default="", help="results file (default: none)")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.runs < 1:
        raise UserError("--rounds and --runs must be at least 1")
    rows = []
    for t in args.threads:
        try:
            backends = {"A": OnnxRuntimeBackend(Path(args.a), t, gpu=False),
                        "B": OnnxRuntimeBackend(Path(args.b), t, gpu=False)}
        except BackendError as e:
            raise UserError(str(e)) from None
        ms = time_rounds(backends, args.rounds, args.runs)
        a, b = float(np.median(ms["A"])), float(np.median(ms["B"]))
        rows.append({"threads": t, "a_ms": round(a, 2), "b_ms": round(b, 2), "b_over_a": round(b / a, 3),
                     "a_rounds": [round(v, 2) for v in ms["A"]], "b_rounds": [round(v, 2) for v in ms["B"]],
                     "a_size": backends["A"].input_size, "b_size": backends["B"].input_size})
    print(f"A = {args.a}, B = {args.b}; median over {args.rounds} alternating rounds of {args.runs} runs")
    print("| threads | A ms (px) | B ms (px) | B / A |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['a_ms']:.1f} ({r['a_size']}) | {r['b_ms']:.1f} ({r['b_size']}) | "
              f"{r['b_over_a']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": "python -m benchmarks.ab_speed " + " ".join(
            sys.argv[1:] if argv is None else argv), "a": args.a, "b": args.b, "rows": rows}, indent=1))
        print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
