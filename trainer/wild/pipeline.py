"""``python -m trainer wild DIR``: turn a folder of photos and videos of people into 3D-labelled samples.

    python -m trainer teacher-setup                   # once: the MediaPipe teacher environment
    python -m trainer wild DIR [--every 10]           # keypoints -> lifting -> skeleton fit -> pre-filter
    python -m trainer annotate DIR                    # a person accepts or rejects each fit
    # then train with  data: [{kind: synth, ...}, {kind: wild, root: DIR}]

Images (jpg, png, bmp) anywhere under DIR are used as they are; videos (mp4,
avi, mov, mkv, webm) give every ``--every``-th frame, written to
``DIR/wild/frames``. 2D keypoints come from ``--keypoints FILE`` (our 16
joints per image name, or MPII's JSON list) or from the MediaPipe teacher
(cached in ``DIR/wild/teacher.json``). Each person is lifted to 3D
(``lifting.py``), the rest skeleton is fitted to the lifted joints
(``fitting.py``), and an automatic pre-filter marks fits whose reprojection
error or joint limits are implausible. Everything goes to
``DIR/wild/labels.json`` (rewritten every 10 images, so a killed run resumes
where it stopped).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from engine import frames
from engine.errors import reports_user_errors
from trainer.data.realsets import read_labels
from trainer.wild import teacher as T
from trainer.wild.fitting import fit_skeleton, implausible
from trainer.wild.lifting import PoseBasis, lift

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp"}
VIDEO_EXT = {".mp4", ".avi", ".mov", ".mkv", ".webm"}
BASIS_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "skeletonnet" / "pose_basis_v3.npz"

#: pre-filter thresholds: RMS reprojection error of the fitted skeleton over the
#: person's 2D size (bounding-box diagonal), and the fewest confident joints
MAX_REPROJECTION = 0.06
MIN_JOINTS = 12
MIN_CONFIDENCE = 0.5


def collect(root: Path, every: int = 10) -> list[Path]:
    """Images under root, plus every ``every``-th frame of its videos (extracted once)."""
    root = Path(root)
    if not root.is_dir():
        raise T.TeacherError(f"{root}: not a folder")
    out_dir = root / "wild" / "frames"
    images, videos = [], []
    for p in sorted(root.rglob("*")):
        if (root / "wild") in p.parents or not p.is_file():
            continue
        ext = p.suffix.lower()
        if ext in IMAGE_EXT:
            images.append(p)
        elif ext in VIDEO_EXT:
            videos.append(p)
    for v in videos:
        cap = cv2.VideoCapture(str(v))
        if not cap.isOpened():
            print(f"wild: skipping {v} (cannot be decoded)", file=sys.stderr)
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        k = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if k % every == 0:
                f = out_dir / f"{v.stem}_{k:06d}.jpg"
                if not f.exists():
                    cv2.imwrite(str(f), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
                images.append(f)
            k += 1
        cap.release()
    if not images:
        raise T.TeacherError(f"{root}: no images or videos found")
    return images


def default_basis():
    """The lifting's pose basis (``PoseBasis.default``), cached on disk."""
    if BASIS_CACHE.exists():
        try:
            return PoseBasis.load(BASIS_CACHE)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            print(f"{BASIS_CACHE}: unreadable pose-basis cache ({type(e).__name__}), rebuilding it", file=sys.stderr)
    basis = PoseBasis.default()
    BASIS_CACHE.parent.mkdir(parents=True, exist_ok=True)
    tmp = BASIS_CACHE.with_name(BASIS_CACHE.stem + ".part.npz")   # written whole, then renamed
    basis.save(tmp)
    os.replace(tmp, BASIS_CACHE)
    return basis


def reprojection(joints_world: np.ndarray, joints_2d: np.ndarray,
                 weights: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Best scaled-orthographic fit (scale, 2D offset) of 3D joints to 2D keypoints.

    Returns the RMS error (pixels), the scale (pixels per metre) and the
    projected joints (16, 2). The camera looks along -z of the world (our
    convention), so image x = world x, image y = -world y.
    """
    x = np.asarray(joints_world, np.float64)[:, :2] * [1.0, -1.0]
    y = np.asarray(joints_2d, np.float64)
    w = np.asarray(weights, np.float64)
    ws = max(w.sum(), 1e-9)
    xm, ym = (x * w[:, None]).sum(0) / ws, (y * w[:, None]).sum(0) / ws
    xc, yc = x - xm, y - ym
    s = max(float((w[:, None] * xc * yc).sum() / max((w[:, None] * xc * xc).sum(), 1e-12)), 1e-9)
    proj = s * xc + ym
    err = float(np.sqrt((((proj - y) ** 2).sum(1) * w).sum() / ws))
    return err, s, proj


def label_one(joints_2d: np.ndarray, conf: np.ndarray, basis, image_size: tuple[int, int] | None = None) -> dict:
    """Lift, fit and pre-filter one person. All arrays as lists (JSON).

    ``image_size`` (width, height): the lifting takes a pinhole camera with the
    focal length of the larger side (a normal lens, about 53 degrees) centred
    on the image; without it, a distant (nearly orthographic) camera.
    """
    vis = (conf >= MIN_CONFIDENCE).astype(np.float64)
    reasons = []
    if vis.sum() < MIN_JOINTS:
        reasons.append(f"only {int(vis.sum())} confident joints")
    camera = {} if image_size is None else {"focal": float(max(image_size)),
                                            "centre": (image_size[0] / 2.0, image_size[1] / 2.0)}
    cam, info = lift(joints_2d, basis, np.maximum(vis, 0.05), **camera)
    world = frames.camera_to_world(cam)
    fit = fit_skeleton(world, np.maximum(vis, 0.05))
    err, scale, proj = reprojection(fit.joints, joints_2d, vis)
    box = joints_2d[vis > 0] if vis.sum() >= 2 else joints_2d
    diag = float(np.linalg.norm(box.max(0) - box.min(0)))
    rel = err / max(diag, 1e-9)
    if rel > MAX_REPROJECTION:
        reasons.append(f"reprojection {rel:.3f} of the body size > {MAX_REPROJECTION}")
    reasons += implausible(fit.rotations)
    return {"joints_2d": joints_2d.tolist(), "confidence": conf.tolist(), "joints_3d": fit.joints.tolist(),
            "rotations": fit.rotations.tolist(), "reprojection_px": err, "reprojection_rel": rel,
            "scale_px_per_m": scale, "projected_2d": proj.tolist(), "lifting_px": info["reprojection_px"],
            "fit_mm": fit.error_mm, "auto": "ok" if not reasons else "reject", "reasons": reasons}


def build_labels(root: Path, every: int = 10, keypoints: Path | None = None, teacher_python: Path | None = None,
                 progress: bool = True) -> dict:
    root = Path(root)
    images = collect(root, every)
    wdir = root / "wild"
    wdir.mkdir(parents=True, exist_ok=True)
    if keypoints is not None:
        given = T.load_keypoint_file(keypoints)
        kp = {p: given.get(p.name) for p in images}
    else:
        entries = T.run_teacher(images, wdir / "teacher.json", teacher_python)
        kp = {p: T.teacher_keypoints(entries.get(str(p.resolve()))) for p in images}
    out_path = wdir / "labels.json"
    labels = read_labels(root, missing_ok=True)
    basis = default_basis()

    def save():
        tmp = out_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(labels))
        os.replace(tmp, out_path)

    todo = [p for p in images if p.relative_to(root).as_posix() not in labels]
    for k, p in enumerate(tqdm(todo, desc="lifting and fitting", unit="img", disable=not progress)):
        key = p.relative_to(root).as_posix()
        if kp.get(p) is None:
            labels[key] = {"auto": "reject", "reasons": ["no person found"]}
        else:
            j2, c = kp[p]
            img = cv2.imread(str(p))
            size = None if img is None else (img.shape[1], img.shape[0])
            labels[key] = label_one(np.asarray(j2, np.float64), np.asarray(c, np.float64), basis, size)
        if k % 10 == 9:
            save()
    save()
    return labels


@reports_user_errors("trainer")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer wild", description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--every", type=int, default=10, help="use every N-th video frame (default 10)")
    ap.add_argument("--keypoints", default=None, help="JSON keypoints instead of the MediaPipe teacher")
    args = ap.parse_args(argv)
    labels = build_labels(Path(args.dir), args.every, Path(args.keypoints) if args.keypoints else None)
    ok = sum(v["auto"] == "ok" for v in labels.values())
    print(f"{len(labels)} images: {ok} pass the pre-filter, {len(labels) - ok} rejected "
          f"-> {Path(args.dir) / 'wild' / 'labels.json'}; next: python -m trainer annotate {args.dir}")
    return 0
