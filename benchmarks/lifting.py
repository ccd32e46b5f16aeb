"""Lifting accuracy (projected matching pursuit, trainer/wild/lifting.py) on held-out poses.

``python -m benchmarks.lifting`` learns the pose basis from CMU 01_01 (and its
mirror) plus 3,000 sampled poses, then lifts held-out poses (CMU 01_03 with
random headings, and freshly sampled poses) from their perspective
projections (camera 4 m away, f = 1000 px) with 0, 2, 5 and 10 px of 2D noise,
and reports PA-MPJPE (mm) and time per pose. Writes benchmarks/results/lifting.json.
"""
import json
import time
from pathlib import Path

import numpy as np

from engine import skeleton as S
from trainer.data import poses as P
from trainer.metrics import pa_mpjpe
from trainer.wild.lifting import PoseBasis, lift

F_CV = np.diag([1.0, -1.0, -1.0])


def main():
    sk = S.Skeleton.default()
    basis = PoseBasis.default()
    rng2 = np.random.default_rng(1)
    held = P.load_clip_poses(["01_03.bvh"], stride=20)["01_03.bvh"]
    groups = {"CMU 01_03": np.stack([sk.forward_kinematics(P.reorient(p, rng2)) for p in held]),
              "sampled": np.stack([sk.forward_kinematics(P.sampled_pose(rng2)) for _ in range(60)])}
    rows = []
    for noise in (0, 2, 5, 10):
        row = {"noise_px": noise}
        t = time.perf_counter()
        n = 0
        for name, poses in groups.items():
            errs = []
            for j in poses:
                cam = j @ F_CV.T + [0, 0, 4.0]
                uv = cam[:, :2] / cam[:, 2:] * 1000 + rng2.normal(0, noise, (16, 2))
                x, _ = lift(uv, basis)
                errs.append(pa_mpjpe(x[None], (cam - cam[S.ROOT])[None])[0])
                n += 1
            row[f"pa_mpjpe_mm {name}"] = round(float(np.mean(errs)), 1)
        row["ms_per_pose"] = round((time.perf_counter() - t) / n * 1000, 1)
        rows.append(row)
        print(row, flush=True)
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/lifting.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
