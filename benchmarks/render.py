"""Renderer speed on this machine's OpenGL (here Mesa llvmpipe, software; any EGL driver works).

``python -m benchmarks.render [--json benchmarks/results/render.json] [--frames 200]``

Cases: the live view at 1280x720 (camera preview of a 1280x720 frame beside
the default avatar, posed every frame, with 2D and 3D skeleton overlays), and
the synthetic-data case at 256x256 offscreen with read-back to numpy. Both run
offscreen through EGL (a window adds only the buffer swap).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from animation.gltf import DEFAULT_AVATAR, load_avatar
from animation.render import Renderer
from engine import rotations as R
from engine import skeleton as S


def run(case: str, frames: int) -> dict:
    avatar = load_avatar(DEFAULT_AVATAR)
    rng = np.random.default_rng(0)
    poses = R.axis_angle_to_matrix(rng.normal(scale=0.4, size=(16, 15, 3)))
    sk = S.Skeleton.default()
    if case == "live_1280x720":
        r = Renderer(1280, 720, avatar=avatar)
        frame = (rng.random((720, 1280, 3)) * 255).astype(np.uint8)
        j2 = rng.random((16, 2)) * [1280, 720]
    else:
        r = Renderer(256, 256, avatar=avatar)
        frame = j2 = None
    times = {"pose_s": 0.0, "draw_s": 0.0, "read_s": 0.0}
    for i in range(frames + 10):
        t0 = time.perf_counter()
        rots = poses[i % 16]
        r.set_pose(rots)
        t1 = time.perf_counter()
        if frame is not None:
            r.render(frame=frame, joints_2d=j2, joints_3d_world=sk.forward_kinematics(rots, [0, 0.99, 0]))
        else:
            r.render()
        t2 = time.perf_counter()
        r.read() if frame is None else r.ctx.finish()
        t3 = time.perf_counter()
        if i >= 10:
            times["pose_s"] += t1 - t0
            times["draw_s"] += t2 - t1
            times["read_s"] += t3 - t2
    total = sum(times.values())
    gl = f"{r.ctx.info['GL_RENDERER']} ({r.ctx.info['GL_VERSION']})"
    r.close()
    return {"case": case, "gl": gl, "frames": frames, "fps": round(frames / total, 1),
            **{k.replace("_s", "_ms"): round(v / frames * 1000, 2) for k, v in times.items()}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default="benchmarks/results/render.json")
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args(argv)
    rows = [run(c, args.frames) for c in ("live_1280x720", "offscreen_256_readback")]
    print(f"OpenGL: {rows[0]['gl']}")
    for row in rows:
        print(f"{row['case']:24s} {row['fps']:7.1f} fps   pose {row['pose_ms']:.2f} ms  draw {row['draw_ms']:.2f} ms  "
              f"finish/read {row['read_ms']:.2f} ms")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"renderer": rows[0]["gl"] + " via EGL", "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
