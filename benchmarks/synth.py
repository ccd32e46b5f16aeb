"""Synthetic-data rendering speed: ``python -m benchmarks.synth [--images 300] [--size 256]``.

Renders one shard's worth of samples in this process (one body per 100
images, three cameras per pose) after loading Anny, the clips and the
photographs, and reports images per second. The full command
``python -m trainer synth --workers 2`` prints its own rate in its progress bar.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--json", default="benchmarks/results/synth.json")
    args = ap.parse_args(argv)
    from trainer.data import poses as P
    from trainer.data import synth as Y
    from trainer.data.bodies import load_anny

    model, clips, photos = load_anny(), P.load_clip_poses(), Y.background_photos()
    Y.render_shard("train", 999, 8, 1, args.size, model, clips, photos, bodies_per_shard=1)  # warm-up
    t = time.perf_counter()
    Y.render_shard("train", 1000, args.images, 1, args.size, model, clips, photos,
                   bodies_per_shard=max(1, args.images // 100))
    dt = time.perf_counter() - t
    row = {"images": args.images, "size": args.size, "seconds": round(dt, 2),
           "images_per_s": round(args.images / dt, 1)}
    print(f"{args.images} images at {args.size}x{args.size} in {dt:.1f} s: {row['images_per_s']} images/s "
          "(one process)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
