"""Dataset card for a synthetic dataset: counts, pose and view distributions, a contact sheet."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from animation.overlay import draw_skeleton
from engine import rotations as R
from engine import skeleton as S
from trainer.data import videos
from trainer.data.shards import iter_shards
from trainer.fetch import CACHE, wheel_pattern

#: real footage for the synthetic-vs-real picture: the Sports2D demo video (BSD-3), the frames the real-frame
#: source trains on (the catalogue, trainer/data/videos.yaml: training footage; later frames and the
#: Pose2Sim videos are held out)
REAL_VIDEO = "sports2d_demo"


def real_wheel() -> Path | None:
    """The wheel holding the real footage where it is on this machine (``trainer.fetch``'s cache), else None."""
    found = sorted((CACHE / "pip").glob(wheel_pattern(videos.load_splits().videos[REAL_VIDEO].source["pip"])))
    return found[0] if found else None


def real_crops(n: int = 8, size: int = 160, wheel: Path | None = None) -> list[np.ndarray]:
    """``n`` real crops (size x size BGR) of people in the Sports2D demo video's training frames: loose
    square boxes around the moving people (difference to the median frame). [] when the wheel is
    missing (``python -m trainer.wild.realframes build`` or ``python -m benchmarks.heldout_video`` fetch it)."""
    import tempfile
    import zipfile

    v = videos.load_splits().videos[REAL_VIDEO]
    wheel = wheel or real_wheel()
    if wheel is None or not Path(wheel).exists():
        return []
    (first, last), = v.realframes_ranges()
    with zipfile.ZipFile(wheel) as z, tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(z.read(v.source["member"]))
        f.flush()
        cap = cv2.VideoCapture(f.name)
        frames = []
        k = 0
        while k <= last:
            ok, img = cap.read()
            if not ok:
                break
            if k >= first:
                frames.append(img)
            k += 1
        cap.release()
    if not frames:
        return []
    small = [cv2.resize(fr, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA) for fr in frames]
    median = np.median(np.stack(small[::3]), 0).astype(np.int16)
    boxes = []
    for i in range(len(small)):
        moving = (np.abs(small[i].astype(np.int16) - median).max(2) > 35).astype(np.uint8)
        moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        moving = cv2.morphologyEx(moving, cv2.MORPH_CLOSE, np.ones((25, 9), np.uint8))  # join limbs and torso
        count, _, stats, _ = cv2.connectedComponentsWithStats(moving)
        if count < 2:
            continue
        c = 1 + int(np.argmax(stats[1:, 4]))  # the largest moving blob of the frame
        x, y, w, h, _ = stats[c]
        if h * 4 > 0.18 * frames[0].shape[0] and 1.4 * w < h < 5 * w:  # a whole upright person
            boxes.append((i, x * 4, y * 4, w * 4, h * 4))
    if not boxes:
        return []
    pick = [boxes[int(j)] for j in np.linspace(0, len(boxes) - 1, n).round()]
    crops = []
    for i, x, y, w, h in pick:
        side = int(max(w, h) * 1.25)
        cx, cy = x + w // 2, y + h // 2
        img = cv2.copyMakeBorder(frames[i], side, side, side, side, cv2.BORDER_CONSTANT)
        crop = img[cy - side // 2 + side:cy + side // 2 + side, cx - side // 2 + side:cx + side // 2 + side]
        crops.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return crops


def synth_vs_real(root: Path, n: int = 8, size: int = 160, seed: int = 1) -> np.ndarray | None:
    """Two rows at the network's input size: ``n`` renders of this dataset (top) over ``n`` real
    crops (bottom). None when there are no real frames or no renders."""
    real = real_crops(n, size)
    splits = [[*iter_shards(root / sp)] for sp in ("train", "val", "test")]
    shards = next((s for s in splits if s), [])
    if not real or not shards:
        return None
    rng = np.random.default_rng(seed)
    synth = []
    for _ in range(20 * n):
        if len(synth) == n:
            break
        sh = shards[rng.integers(len(shards))]
        i = int(rng.integers(sh.count))
        if "person" in sh.labels and sh.labels["person"][i] < 0.5:
            continue  # background-only crops say nothing about how people look
        synth.append(cv2.resize(sh.image(i), (size, size), interpolation=cv2.INTER_AREA))
    synth += [np.zeros((size, size, 3), np.uint8)] * (n - len(synth))
    top, bottom = np.concatenate(synth, 1), np.concatenate(real + [np.zeros_like(real[0])] * (n - len(real)), 1)
    band = np.full((22, top.shape[1], 3), 255, np.uint8)
    cv2.putText(band, "synthetic renders (this dataset)", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    band2 = band.copy()
    band2[:] = 255
    cv2.putText(band2, "real frames (Sports2D demo, frames 0-158)", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.concatenate([band, top, band2, bottom], 0)

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
    pair = synth_vs_real(root)
    if pair is not None:
        cv2.imwrite(str(root / "synth_vs_real.png"), pair)
    cfg = json.loads((root / "synth.json").read_text()) if (root / "synth.json").exists() else {}
    stats["settings"] = cfg
    (root / "card.json").write_text(json.dumps(stats, indent=2))
    lines = ["# Synthetic dataset card", "",
             "Rendered by `python -m trainer synth` (see `trainer/data/synth.py`) with "
             f"`{json.dumps(cfg)}`.", "",
             "Posed Anny bodies (CC0 assets) with random phenotypes; style `room` (the default): clothes, hair and "
             "skin painted into a texture through Anny's UV layout, people standing on a floor in rooms (CC0 "
             "panoramas of @pmndrs/assets, libjxl-testdata's room photo, some older photo backgrounds), furniture in "
             "front of them, laptop / eye-height / high cameras; styles `webcam` and `legacy`: vertex-colour "
             "clothing, photo and procedural backgrounds. Poses from CMU clips "
             "(Debian assimp-testmodels, mirrored too) and a joint-limit sampler; occluders, blur, noise, JPEG "
             "artefacts. Splits hold disjoint bodies and clips "
             "(clip ids: 0 sampler, 1 CMU 01_01 train, 2 Boxing_Toes val, 3 CMU 01_03 test).", "",
             "| split | images | shards | bodies |", "|---|---|---|---|"]
    for split, st in stats["splits"].items():
        lines.append(f"| {split} | {st['images']} | {st['shards']} | {st['bodies']} |")
    lines += ["", "Distributions (fractions per split):", "", "```", json.dumps(stats["splits"], indent=2), "```", "",
              "![distributions](distributions.png)", "", "![contact sheet](contact_sheet.png)", ""]
    if pair is not None:
        lines += [("Renders beside real frames at the network's input size (top: this dataset; bottom: the "
                   "Sports2D demo video, frames 0-158, loose boxes around the moving people):"), "",
                  "![synthetic vs real](synth_vs_real.png)", ""]
    (root / "CARD.md").write_text("\n".join(lines))
    return root / "CARD.md"
