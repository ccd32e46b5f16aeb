"""Lifting accuracy (trainer/wild/lifting.py) on held-out poses.

``python -m benchmarks.lifting`` learns the pose basis (``PoseBasis.default``:
CMU 01_01 and Boxing_Toes with their mirrors plus 10,000 sampled poses, and
100,000 more sampled poses for the search's density prior), then
lifts held-out poses, CMU 01_03 (every 60th frame, random headings) and
freshly sampled poses, from their perspective projections (camera 4 m away,
f = 1000 px) with 0, 2, 5 and 10 px of 2D noise. It reports PA-MPJPE (mm)
of the pursuit alone (stage 1) and of the full lifting (pursuit, depth-order
search, refinement), the time per pose, and one row where the lifting is told
a focal length 1.5 times too long (a wrong guess of the lens). Runs on two
processes; writes benchmarks/results/lifting.json.
"""
import argparse
import json
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from engine import frames
from engine import skeleton as S
from trainer.data import poses as P
from trainer.metrics import pa_mpjpe

FOCAL = 1000.0
_BASIS = None


def held_out(seed: int = 1, stride: int = 60, sampled: int = 60) -> dict:
    sk = S.Skeleton.default()
    rng = np.random.default_rng(seed)
    clip = P.load_clip_poses(["01_03.bvh"], stride=stride)["01_03.bvh"]
    return {"CMU 01_03": np.stack([sk.forward_kinematics(P.reorient(p, rng)) for p in clip]),
            "sampled": np.stack([sk.forward_kinematics(P.sampled_pose(rng)) for _ in range(sampled)])}


def _task(args):
    from trainer.wild.lifting import PoseBasis, lift

    global _BASIS
    name, poses, noise, focal_factor, seed = args
    if _BASIS is None:
        _BASIS = PoseBasis.default()
    rng = np.random.default_rng(seed)
    e_pursuit, e_lift = [], []
    t = time.perf_counter()
    for j in poses:
        cam = frames.world_to_camera(j) + [0, 0, 4.0]
        uv = cam[:, :2] / cam[:, 2:] * FOCAL + rng.normal(0, noise, (16, 2))
        gt = (cam - cam[S.ROOT])[None]
        x, info = lift(uv, _BASIS, focal=FOCAL * focal_factor, centre=(0.0, 0.0))
        e_lift.append(pa_mpjpe(x[None], gt)[0])
        e_pursuit.append(pa_mpjpe(info["pursuit"][None], gt)[0])
    return {"group": name, "noise_px": noise, "focal_factor": focal_factor, "poses": len(poses),
            "pursuit_pa_mpjpe_mm": round(float(np.mean(e_pursuit)), 1),
            "lifting_pa_mpjpe_mm": round(float(np.mean(e_lift)), 1),
            "lifting_median_mm": round(float(np.median(e_lift)), 1),
            "s_per_pose": round((time.perf_counter() - t) / len(poses), 2)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", default="0,2,5,10", help="2D noise levels in px (default 0,2,5,10)")
    ap.add_argument("--out", default="benchmarks/results/lifting.json")
    ap.add_argument("--plot", default="docs/images/lifting_noise.png")
    ap.add_argument("--plot-only", action="store_true", help="redraw the plot from --out without lifting")
    args = ap.parse_args(argv)
    if args.plot_only:
        plot(json.loads(Path(args.out).read_text()), args.plot)
        return
    groups = held_out()
    tasks = [(name, poses, float(n), 1.0, 100 + k) for k, n in enumerate(args.noise.split(","))
             for name, poses in groups.items()]
    tasks += [(name, poses, 0.0, 1.5, 200) for name, poses in groups.items()]
    with Pool(2) as pool:
        rows = pool.map(_task, tasks, chunksize=1)
    print(f"{'group':<10} {'noise px':>8} {'focal':>6} {'poses':>5} {'pursuit mm':>10} {'lifting mm':>10} "
          f"{'median':>7} {'s/pose':>6}")
    for r in rows:
        print(f"{r['group']:<10} {r['noise_px']:>8g} {r['focal_factor']:>6g} {r['poses']:>5} "
              f"{r['pursuit_pa_mpjpe_mm']:>10} {r['lifting_pa_mpjpe_mm']:>10} {r['lifting_median_mm']:>7} "
              f"{r['s_per_pose']:>6}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    plot(rows, args.plot)


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    for group, colour in (("CMU 01_03", "tab:blue"), ("sampled", "tab:orange")):
        rs = sorted((r for r in rows if r["group"] == group and r["focal_factor"] == 1.0), key=lambda r: r["noise_px"])
        x = [r["noise_px"] for r in rs]
        ax.plot(x, [r["lifting_pa_mpjpe_mm"] for r in rs], "o-", color=colour, label=f"{group}: full lifting")
        ax.plot(x, [r["pursuit_pa_mpjpe_mm"] for r in rs], "s--", color=colour, alpha=0.6,
                label=f"{group}: pursuit only")
    ax.axhline(40, color="grey", lw=0.8, ls=":")
    ax.text(9.9, 36, "aim: 40 mm", color="grey", fontsize=8, ha="right", va="top")
    ax.set_xlabel("2D keypoint noise (px, body about 400 px tall)")
    ax.set_ylabel("PA-MPJPE (mm)")
    ax.set_ylim(0, None)
    ax.legend(fontsize=7)
    ax.set_title("Lifting held-out poses from 2D (python -m benchmarks.lifting)", fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
