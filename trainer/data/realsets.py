"""Loaders for real datasets, for users who have them (none ships on these machines).

**Human3.6M**, in the widely used preprocessed layout of the ``h36m-fetch``
tools (frames extracted to JPEG, one ``annot.h5`` per sequence)::

    ROOT/cameras.json                        {"54138969": {"f": [fx, fy], "c": [cx, cy]}, ...}
    ROOT/S1/Directions-1/annot.h5            pose/3d (N, 32, 3) mm, camera space; camera (N,); frame (N,)
    ROOT/S1/Directions-1/imageSequence/54138969/img_000001.jpg

Subjects 1, 5, 6, 7, 8 train and 9, 11 test; 50 fps sampled to 10 fps (every
5th frame); the 32 joints mapped to our 16 (MPII order) by ``H36M_TO_MPII``.
Rotation labels are derived from the joints by the minimal-twist rule
(``engine.skeleton.rotations_from_joints``), since the preprocessed layout has no angles.

**MPII**, in the JSON layout most 2D pose code uses (``annot/train.json``,
``annot/valid.json``: a list of ``{"image", "center": [x, y], "scale",
"joints": 16 x [x, y], "joints_vis": 16}``; images in ``ROOT/images``). 2D
only: these samples supervise the xy heatmaps (``mask_3d = 0``) and, having no
rotations, not the rotation regressor (``mask_rot = 0``) unless fitted 3D labels
are given (the in-the-wild pipeline).
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import h5py
import numpy as np

from engine import frames
from engine import skeleton as S
from engine.errors import UserError
from engine.preprocess import Box, crop
from trainer.data.dataset import SampleSource, global_classes, make_targets

#: where a placeholder skeleton stands when a sample has no 3D label: 3 m in front of the camera
THREE_M_AHEAD = frames.camera_to_world(np.array([0.0, 0.0, 3.0]))

H36M_TRAIN = (1, 5, 6, 7, 8)
H36M_TEST = (9, 11)
#: H36M 32-joint index of each of our 16 joints (MPII order)
H36M_TO_MPII = np.array([3, 2, 1, 6, 7, 8, 0, 13, 14, 15, 27, 26, 25, 17, 18, 19])
H36M_ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
                "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether")


class H36MSource(SampleSource):
    name = "h36m"

    def __init__(self, root: str | Path, split: str, input_size: int, centres=None, flip: bool = False,
                 stride: int = 5, subjects=None):
        self.root = Path(root)
        cams = self.root / "cameras.json"
        if not cams.exists():
            raise UserError(f"{self.root}: cameras.json missing (Human3.6M layout, see trainer/data/realsets.py)")
        self.cameras = json.loads(cams.read_text())
        subjects = subjects or (H36M_TRAIN if split == "train" else H36M_TEST)
        self.items = []  # (image path, joints3d (16,3) m, K, action index)
        for s in subjects:
            for seq in sorted((self.root / f"S{s}").glob("*/annot.h5")):
                action = seq.parent.name.split("-")[0]
                try:
                    with h5py.File(seq, "r") as f:
                        pose, cam, frame = f["pose/3d"][:], f["camera"][:], f["frame"][:]
                except (OSError, KeyError) as e:
                    raise UserError(f"{seq}: malformed annot.h5 ({e})") from None
                for p3, c, fr in zip(pose, cam, frame):
                    if (int(fr) - 1) % stride:
                        continue
                    img = seq.parent / "imageSequence" / str(int(c)) / f"img_{int(fr):06d}.jpg"
                    cp = self.cameras.get(str(int(c)))
                    if cp is None:
                        raise UserError(f"{cams}: no intrinsics for camera {int(c)}")
                    k = np.array([[cp["f"][0], 0, cp["c"][0]], [0, cp["f"][1], cp["c"][1]], [0, 0, 1.0]])
                    act = H36M_ACTIONS.index(action) if action in H36M_ACTIONS else -1
                    self.items.append((img, np.asarray(p3, np.float64)[H36M_TO_MPII] / 1000.0, k, act))
        if not self.items:
            raise UserError(f"{self.root}: no Human3.6M sequences for subjects {list(subjects)}")
        self.input_size, self.centres, self.flip = input_size, centres, flip

    def __len__(self):
        return len(self.items)

    def sample(self, i: int, rng=None) -> dict:
        path, j3, k, act = self.items[i % len(self.items)]
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise UserError(f"{path}: missing or unreadable image")
        j2 = (j3 @ k.T)[:, :2] / j3[:, 2:]
        box = Box.around(j2, 1.25 if rng is None else rng.uniform(1.15, 1.4))
        size = 256
        img = crop(frame, box, size)
        j3w = frames.camera_to_world(j3)  # the frame the network predicts, from the camera's
        rot = S.rotations_from_joints(j3w - j3w[S.ROOT])
        out = make_targets(img, box.to_crop(j2, size), j3w, rot, box.intrinsics(k, size), self.input_size,
                           bool(self.flip and rng is not None and rng.random() < 0.5))
        out["global_class"] = self.class_of(out)  # rotations derived from the joints, per sample
        out["clip_id"] = np.int64(act)
        return out


class MPIISource(SampleSource):
    name = "mpii"

    def __init__(self, root: str | Path, split: str, input_size: int, centres=None, flip: bool = False):
        self.root = Path(root)
        ann = self.root / "annot" / ("train.json" if split == "train" else "valid.json")
        if not ann.exists():
            raise UserError(f"{ann}: MPII annotation file missing (layout: see trainer/data/realsets.py)")
        try:
            self.items = json.loads(ann.read_text())
            for it in self.items:
                if np.asarray(it["joints"]).shape != (16, 2) or "image" not in it:
                    raise ValueError("joints must be 16 x [x, y]")
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"{ann}: malformed MPII annotations ({e})") from None
        self.input_size, self.centres, self.flip = input_size, centres, flip

    def __len__(self):
        return len(self.items)

    def sample(self, i: int, rng=None) -> dict:
        it = self.items[i % len(self.items)]
        frame = cv2.imread(str(self.root / "images" / it["image"]), cv2.IMREAD_COLOR)
        if frame is None:
            raise UserError(f"{self.root / 'images' / it['image']}: missing or unreadable image")
        side = float(it["scale"]) * 200.0 * (1.25 if rng is None else rng.uniform(1.1, 1.35))
        c = np.asarray(it["center"], np.float64)
        box = Box(c[0] - side / 2, c[1] - side / 2, side)
        size = 256
        img = crop(frame, box, size)
        j2 = box.to_crop(it["joints"], size)
        # no 3D: a placeholder skeleton keeps shapes; masks switch its losses off
        rest = np.broadcast_to(np.eye(3), (15, 3, 3))
        j3 = S.Skeleton.default().rest_joints + THREE_M_AHEAD
        k = np.array([[1000.0, 0, 0], [0, 1000.0, 0], [0, 0, 1]])
        out = make_targets(img, j2, j3, rest, k, self.input_size, False)
        flip = bool(self.flip and rng is not None and rng.random() < 0.5)
        if flip:  # mirror the 2D labels only (no 3D here)
            out["image"] = np.ascontiguousarray(out["image"][:, :, ::-1])
            jj = out["joints_2d"][S.JOINT_FLIP].copy()
            jj[:, 0] = self.input_size - 1 - jj[:, 0]
            out["joints_2d"] = jj
            cm = out["coords_map"][S.JOINT_FLIP].copy()
            cm[:, 0] = self.input_size / 4 - 1 - cm[:, 0]
            out["coords_map"] = cm
        out["mask_3d"] = np.float32(0.0)
        out["mask_rot"] = np.float32(0.0)
        out["global_class"] = np.int64(0)
        out["clip_id"] = np.int64(-1)
        out["visible"] = out["visible"] * np.asarray(it.get("joints_vis", [1] * 16), np.float32)
        return out


def read_decisions(path: Path) -> dict[str, str]:
    """The annotation decisions (``decisions.jsonl``): the last word on each image wins; a torn last line
    (a crash while writing) is ignored."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            d = json.loads(line)
            out[d["image"]] = d["decision"]
        except (ValueError, KeyError, TypeError):
            continue
    return out


def read_labels(root: Path, missing_ok: bool = False) -> dict:
    """``ROOT/wild/labels.json`` of ``python -m trainer wild``; a missing or malformed file is one clear line."""
    lab = Path(root) / "wild" / "labels.json"
    if not lab.exists():
        if missing_ok:
            return {}
        raise UserError(f"{lab}: no labels (run python -m trainer wild {root})")
    try:
        return json.loads(lab.read_text())
    except ValueError as e:
        raise UserError(f"{lab}: malformed labels ({e}); delete it and run python -m trainer wild {root}") from None


class WildSource(SampleSource):
    """Real images labelled by ``python -m trainer wild`` and accepted in ``python -m trainer annotate``.

    Each sample supervises the rotation regressor and the xy heatmaps only
    (``mask_3d = 0``, ``mask_rot = 1``: the paper's rule for its in-the-wild
    set). ``accept: auto`` in the data entry also takes fits that passed the
    pre-filter but were not reviewed; ``accept: all`` takes every image with keypoints (for 2D
    evaluation against the teacher); the default takes only accepted ones.
    ``split: val`` / ``test`` can name a held-out list (``holdout`` key: a file of image keys).
    """

    name = "wild"

    def __init__(self, root: str | Path, split: str, input_size: int, centres=None, flip: bool = False,
                 accept: str = "reviewed", holdout: str | None = None):
        self.root = Path(root)
        labels = read_labels(self.root)
        dec = read_decisions(self.root / "wild" / "decisions.jsonl")
        held = set()
        if holdout:
            try:
                held = {ln.strip() for ln in Path(holdout).read_text().splitlines() if ln.strip()}
            except (OSError, UnicodeDecodeError) as e:
                raise UserError(f"{holdout}: the held-out list cannot be read "
                                f"({getattr(e, 'strerror', None) or type(e).__name__})") from None
        keys = []
        for k, v in sorted(labels.items()):
            ok = dec.get(k) == "accept" or (accept == "auto" and k not in dec and v.get("auto") == "ok") or \
                (accept == "all" and "joints_2d" in v)
            if ok and ((k in held) == (split != "train") if holdout else True):
                keys.append(k)
        if not keys:
            raise UserError(f"{self.root}: no accepted images for split {split!r} (annotate them first)")
        self.items = [(k, labels[k]) for k in keys]
        self.input_size, self.flip = input_size, flip
        self.set_centres(centres)

    def set_centres(self, centres) -> None:
        """As ``SampleSource.set_centres``; the class of every image, as it is and mirrored, is looked
        up here once."""
        self.centres = centres
        self.classes = None if centres is None else global_classes(
            np.stack([np.asarray(lab["rotations"], np.float64) for _, lab in self.items]), centres)

    def __len__(self):
        return len(self.items)

    def sample(self, i: int, rng=None) -> dict:
        i %= len(self.items)
        key, lab = self.items[i]
        frame = cv2.imread(str(self.root / key), cv2.IMREAD_COLOR)
        if frame is None:
            raise UserError(f"{self.root / key}: missing or unreadable image")
        j2 = np.asarray(lab["joints_2d"], np.float64)
        conf = np.asarray(lab["confidence"], np.float64)
        box = Box.around(j2[conf >= 0.5] if (conf >= 0.5).sum() >= 2 else j2,
                         1.3 if rng is None else rng.uniform(1.2, 1.45))
        size = 256
        img = crop(frame, box, size)
        rot = np.asarray(lab["rotations"], np.float64)
        # a 3D placeholder consistent with the rotations (the fitted skeleton 3 m ahead); mask_3d = 0 keeps
        # it out of the losses
        j3 = np.asarray(lab["joints_3d"], np.float64) + THREE_M_AHEAD
        k = np.array([[1000.0, 0, 0], [0, 1000.0, 0], [0, 0, 1]])
        flip = bool(self.flip and rng is not None and rng.random() < 0.5)
        out = make_targets(img, box.to_crop(j2, size), j3, rot, k, self.input_size, flip, mask_3d=0.0)
        if self.classes is not None:
            out["global_class"] = np.int64(self.classes[int(flip), i])
        out["clip_id"] = np.int64(-2)
        vis = (conf >= 0.5).astype(np.float32)
        out["visible"] = out["visible"] * (vis[S.JOINT_FLIP] if flip else vis)
        return out


def make(kind: str, root: Path, split: str, input_size: int, centres, flip: bool, spec: dict):
    if kind == "wild":
        return WildSource(root, split, input_size, centres, flip, spec.get("accept", "reviewed"),
                          spec.get("holdout"))
    if kind == "h36m":
        return H36MSource(root, split, input_size, centres, flip)
    return MPIISource(root, split, input_size, centres, flip)
