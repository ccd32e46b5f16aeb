"""Builds the real-frame cache that ``trainer.data.realframes.RealFramesSource`` reads: every
training-allowed frame with a person of the catalogue's real footage (``trainer/data/videos.yaml``: the
videos with a ``realframes`` entry, only the frames the catalogue lets train, and the ``photos``),
labelled by the MediaPipe teacher with its person segmentation (issue 24, point 4). docs/wild.md,
"Every real frame: realframes".

Build the cache (about 10 min on 2 CPU cores; resumable)::

    python -m trainer.wild.realframes build [--root data/realframes] [--teacher heavy|full]

The cache's layout: ``trainer/data/realframes.py``. Only frames where the teacher finds a person are in
its ``labels.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from engine.errors import UserError, reports_user_errors
from trainer.data import videos
from trainer.data.realframes import CACHE, VISIBLE
from trainer.fetch import md5_of

HEAVY = 2
PEOPLE = 4          # the teacher looks for up to this many people per frame (the others keep negatives clean)


def _photo_file(name: str, spec: dict, root: Path) -> Path | None:
    """The photograph's file on this machine (``spec``: its catalogue source), or None where its package is
    missing."""
    if "deb" in spec:
        p = Path(spec["path"])
        return p if p.exists() else None
    dest = root / "sources" / f"{name}.png"
    if not dest.exists():
        try:
            import skimage.data as sd
        except ImportError:
            return None
        a = np.asarray(getattr(sd, spec["skimage"])())
        a = np.repeat(a[..., None], 3, 2) if a.ndim == 2 else cv2.cvtColor(a[..., :3], cv2.COLOR_RGB2BGR)
        dest.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dest), a)
    return dest


def extract(root: Path = CACHE, every: int = 1) -> tuple[list[Path], dict]:
    """Write every allowed frame of every source to ROOT/frames/<key>.jpg; returns the frame files and
    per source {licence, md5, frames, file, package}."""
    out, info = [], {}
    (root / "frames").mkdir(parents=True, exist_ok=True)
    catalogue = videos.load_splits()
    used = catalogue.realframes()
    paths, missing = videos.fetch(catalogue, [v.name for v in used])
    for v in used:
        if v.name in missing:
            print(f"realframes: {v.name}: {missing[v.name]}, skipped", file=sys.stderr)
            continue
        f = paths[v.name]
        first, last = v.realframes["frames"]
        keys = []
        cap = cv2.VideoCapture(str(f))
        k = 0
        while k <= last:
            ok, img = cap.read()
            if not ok:
                break
            if k >= first and (k - first) % every == 0 and v.split_of(k) == "train":
                key = f"{v.name}_{k:06d}"
                dest = root / "frames" / f"{key}.jpg"
                if not dest.exists():
                    cv2.imwrite(str(dest), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
                keys.append(key)
            k += 1
        cap.release()
        out += [root / "frames" / f"{k}.jpg" for k in keys]
        src = v.source
        info[v.name] = {"licence": v.spec.get("licence", "?"), "md5": md5_of(f), "frames": len(keys),
                        "file": src.get("member") or src.get("path") or src.get("repo"),
                        "package": src.get("pip") or src.get("deb") or "this repository"}
    for name, photo in catalogue.photos.items():
        spec = photo["source"]
        f = _photo_file(name, spec, root)
        if f is None:
            print(f"realframes: {name}: not on this machine ({spec.get('deb') or spec.get('skimage')}), skipped",
                  file=sys.stderr)
            continue
        key = f"{name}_000000"
        dest = root / "frames" / f"{key}.jpg"
        if not dest.exists():
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise UserError(f"{f}: unreadable image")
            cv2.imwrite(str(dest), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        out.append(dest)
        info[name] = {"licence": photo.get("licence", "?"), "md5": md5_of(f), "frames": 1,
                      "file": spec.get("path") or f"skimage.data.{spec['skimage']}()",
                      "package": spec.get("deb") or "scikit-image"}
    return out, info


def run_teacher(images: list[Path], root: Path, teacher: str = "heavy") -> tuple[dict, str]:
    """The MediaPipe worker over ``images`` with masks and up to PEOPLE people (resumable)."""
    from trainer.wild.teacher import READY, WORKER, TeacherError, teacher_python

    py = teacher_python()
    if not py.exists() or not (py.parents[1] / READY).exists():
        raise TeacherError(f"no teacher environment at {py.parents[1]}: run  python -m trainer teacher-setup")
    complexity = 1
    if teacher == "heavy":
        from trainer.wild.teacher import (
            ensure_heavy,  # where the heavy model comes from (npm)
        )

        why = ensure_heavy(py)
        if why is None:
            complexity = HEAVY
        else:
            print(f"realframes: BlazePose heavy unavailable ({why}); using full", file=sys.stderr)
    model = {1: "full", 2: "heavy"}[complexity]
    out_json = root / f"teacher_{model}.json"
    lst = root / "teacher_list.txt"
    lst.write_text("\n".join(str(p.resolve()) for p in images) + "\n")
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([str(py), str(WORKER), str(lst), str(out_json), "--complexity", str(complexity),
                        "--masks", str(root / f"masks_{model}_raw"), "--people", str(PEOPLE)], env=env,
                       stderr=subprocess.PIPE, text=True, check=False)
    if r.returncode:
        tail = " | ".join(r.stderr.strip().splitlines()[-3:])
        raise TeacherError(f"the MediaPipe teacher failed (exit {r.returncode}): {tail}")
    return json.loads(out_json.read_text()), model


PATCH = 2.0         # a person patch: this times the box around the person (joints and mask), clipped to the frame
PATCH_MAX = 384     # pixels: a larger patch is shrunk to this side (decoding stays cheap per sample)


def _person_box(j2: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(4,) x0, y0, x1, y1 around all 16 joints and the mask's pixels above 0.3."""
    lo, hi = j2.min(0), j2.max(0)
    if mask is not None:
        ys, xs = np.nonzero(mask > 76)
        if len(xs):
            lo = np.minimum(lo, [xs.min(), ys.min()])
            hi = np.maximum(hi, [xs.max() + 1, ys.max() + 1])
    return np.array([*lo, *hi], np.float64)


def finalize(teacher: dict, model: str, info: dict, root: Path = CACHE) -> dict:
    """ROOT/labels.json and the per-person patches (``patches/<key>.jpg`` and ``.png``) from the worker's
    output: frames with a teacher person only."""
    from trainer.wild.teacher import mediapipe_to_joints

    frames_out, people = {}, {n: 0 for n in info}
    catalogue = videos.load_splits().videos
    (root / "patches").mkdir(parents=True, exist_ok=True)
    for p, e in sorted(teacher["images"].items()):
        key = Path(p).stem
        src = next((n for n in info if key.startswith(n + "_")), None)
        if src is None or not e.get("landmarks"):
            continue
        frame_no = int(key.rsplit("_", 1)[1])
        rev = catalogue[src].realframes["reviewed"] if src in catalogue else None
        if rev is not None and not any(a <= frame_no <= b for a, b in rev):
            continue
        lm = np.asarray(e["landmarks"], np.float64)
        j2, conf = mediapipe_to_joints(lm[:, :2], lm[:, 2])
        if (conf >= VISIBLE).sum() < 4:
            continue
        mask = cv2.imread(e["mask"], cv2.IMREAD_GRAYSCALE) if e.get("mask") else None
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is None or mask is None:
            continue
        h, w = img.shape[:2]
        conf[~((j2 >= 0) & (j2 <= [w - 1, h - 1])).all(1)] = 0.0  # guessed outside the picture: not seen
        box = _person_box(j2, mask)
        c, side = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]).max() * PATCH
        x0, y0 = np.maximum(np.floor(c - side / 2), 0).astype(int)
        x1, y1 = np.minimum(np.ceil(c + side / 2), [w, h]).astype(int)
        s = min(1.0, PATCH_MAX / max(x1 - x0, y1 - y0))
        pw, ph = max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))
        pimg = cv2.resize(img[y0:y1, x0:x1], (pw, ph), interpolation=cv2.INTER_AREA)
        pmask = cv2.resize(mask[y0:y1, x0:x1], (pw, ph), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(root / "patches" / f"{key}.jpg"), pimg, [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(root / "patches" / f"{key}.png"), pmask)
        jj = np.clip(np.round(j2).astype(int), 0, [w - 1, h - 1])
        seen = conf >= VISIBLE
        cover = float((mask[jj[:, 1], jj[:, 0]] > 127)[seen].mean()) if seen.any() else 0.0
        others = [mediapipe_to_joints(np.asarray(o)[:, :2], np.asarray(o)[:, 2])[0].round(2).tolist()
                  for o in e.get("others") or []]
        frames_out[key] = {"source": src, "width": w, "height": h, "joints_2d": j2.round(2).tolist(),
                           "confidence": conf.round(3).tolist(), "box": box.round(1).tolist(),
                           "others": others, "patch": [int(x0), int(y0), float(s)],
                           "mask_cover": round(cover, 3)}
        people[src] += 1
    for n, v in info.items():
        v["people"] = people[n]
    labels = {"teacher": teacher.get("teacher", model), "sources": info, "frames": frames_out}
    tmp = root / "labels.json.tmp"
    tmp.write_text(json.dumps(labels))
    os.replace(tmp, root / "labels.json")
    return labels


def build(root: Path = CACHE, teacher: str = "heavy", every: int = 1) -> dict:
    root = Path(root)
    images, info = extract(root, every)
    raw, model = run_teacher(images, root, teacher)
    return finalize(raw, model, info, root)


@reports_user_errors("trainer.wild.realframes")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.wild.realframes",
                                 description="the real-frame cache: every training-allowed frame with a person, "
                                             "labelled by the MediaPipe teacher (module doc)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="extract the frames, run the teacher, write labels.json and the patches")
    b.add_argument("--root", default=str(CACHE))
    b.add_argument("--teacher", choices=("heavy", "full"), default="heavy")
    b.add_argument("--every", type=int, default=1, help="every N-th video frame")
    args = ap.parse_args(argv)
    lab = build(Path(args.root), args.teacher, max(1, args.every))
    for n, v in lab["sources"].items():
        print(f"{n}: {v['frames']} frames, {v['people']} with a person, md5 {v['md5']}")
    print(f"{len(lab['frames'])} labelled frames in {args.root}/labels.json ({lab['teacher']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
