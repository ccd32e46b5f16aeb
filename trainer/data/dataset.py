"""Training samples and loss targets from datasets on disk.

``SampleSource`` is the common interface (``__len__``, ``sample(i, rng)``):
``SynthSource`` reads synthetic shards. A sample is a dict of numpy arrays:
the image (3, S, S) float32 RGB 0..1 and the targets ``trainer.losses``
expects, computed here once:

* ``rotations`` (15, 3, 3) and ``global_rotation`` (3, 3), world axes;
* ``joints`` (16, 3): root-relative, world axes (Y-up), scaled by Eq. 1 so the
  bone lengths sum to the rest skeleton's total;
* ``coords_map`` (16, 3): x, y in heatmap pixels (pixel centres at integers),
  depth = map centre + (z - z_root) * (f / z_root) / stride, i.e. camera depth
  in the same pixel units as x and y (weak perspective at the root);
* ``mask_3d``: 1 for full 3D labels, 0 for 2D-only samples;
* ``mask_rot``: 1 when rotation labels exist (0 for plain 2D datasets);
* ``global_class``: nearest k-means centre (when centres are given; looked up once per dataset, for
  every sample and its mirror image, when the centres are set: ``SynthSource.set_centres``).

Flip augmentation mirrors the image left-right and swaps left/right joints
and bones, mirroring 3D joints and rotations (``M R M`` with M = diag(-1,1,1)).
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from engine import frames
from engine import skeleton as S
from engine.errors import UserError
from engine.preprocess import Box, crop, upright_angle
from trainer.clusters import assign_clusters
from trainer.data.shards import CorruptShard, iter_shards, report

MIRROR = np.diag([-1.0, 1.0, 1.0])
REFERENCE_LENGTH = S.Skeleton.default().total_length


def mirror_rotations(rotations: np.ndarray) -> np.ndarray:
    """Absolute bone rotations (..., 15, 3, 3) of the left-right mirror image of a pose."""
    return (MIRROR @ rotations @ MIRROR)[..., S.BONE_FLIP, :, :]


def global_classes(rotations: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(2, N) the k-means class of the global (pelvis) rotation of N poses' bone rotations (N, 15, 3, 3):
    row 0 as they are, row 1 mirrored (flip augmentation); the lookup ``make_targets``' samples need."""
    rot = np.asarray(rotations, np.float64)
    return np.stack([assign_clusters(S.pelvis_rotation(r).astype(np.float32), centres)
                     for r in (rot, mirror_rotations(rot))])


#: upright crops (the engine turns each crop so the hips-to-shoulders line points up, docs/conventions.md):
#: the angle noise (degrees, normal) and the share of crops turned by any angle (a wrong first guess)
UPRIGHT_NOISE_DEG = 8.0
UPRIGHT_ANY_ANGLE = 0.04


def upright_roll(joints_2d: np.ndarray) -> float:
    """The angle (radians, clockwise on the screen) of the engine's upright crop for a body with 2D joints
    (16, 2): ``engine.preprocess.upright_angle`` of its hip and shoulder centres."""
    j = np.asarray(joints_2d, np.float64)
    hips = j[[S.JOINT_INDEX["r_hip"], S.JOINT_INDEX["l_hip"]]].mean(0)
    shoulders = j[[S.JOINT_INDEX["r_shoulder"], S.JOINT_INDEX["l_shoulder"]]].mean(0)
    if not (np.isfinite(hips).all() and np.isfinite(shoulders).all()):
        return 0.0
    return float(upright_angle(hips, shoulders))


def roll_crop(img_bgr: np.ndarray, joints_2d, joints_3d, rotations, k, angle: float):
    """A square crop turned about its centre as the engine turns an upright crop (``Box`` with ``angle``,
    radians: a body leaning by ``angle`` clockwise comes out upright), with its labels: the camera rolled
    about its optical axis. 2D through ``Box.to_crop``; 3D joints and absolute rotations (world axes) through
    ``engine.frames.roll_points_world`` / ``roll_rotations_world``; the intrinsics through
    ``Box.intrinsics``. Shapes: img (S, S, 3), joints_2d (16, 2), joints_3d (16, 3), rotations (15, 3, 3),
    k (3, 3)."""
    size = img_bgr.shape[0]
    box = Box(-0.5, -0.5, float(size), float(angle))     # the crop itself, turned about its centre
    img = crop(img_bgr, box, size)
    j2 = box.to_crop(np.asarray(joints_2d, np.float64), size)
    j3 = frames.roll_points_world(joints_3d, angle)
    rot = frames.roll_rotations_world(rotations, angle)
    return img, j2, j3, rot, box.intrinsics(k, size)


def make_targets(img_bgr: np.ndarray, joints_2d, joints_3d, rotations, k, input_size: int, flip: bool,
                 mask_3d: float = 1.0, person: float = 1.0) -> dict:
    """Resize a crop to the input size and build the loss targets (see module doc).

    joints_2d (16, 2) crop pixels; joints_3d (16, 3) metres relative to the camera centre, world axes
    (the frame the network predicts); rotations (15, 3, 3) world axes; k (3, 3) the crop's intrinsics in crop
    pixels. ``person = 0`` marks a background crop
    (its joints are placeholders that only the presence term ignores correctly).
    """
    h = img_bgr.shape[0]
    s = input_size / h
    img = cv2.resize(img_bgr, (input_size, input_size), interpolation=cv2.INTER_AREA) if h != input_size else img_bgr
    j2 = (np.asarray(joints_2d, np.float64) + 0.5) * s - 0.5
    j3 = np.asarray(joints_3d, np.float64)
    rot = np.asarray(rotations, np.float64)
    k = np.asarray(k, np.float64)
    f = float(k[0, 0]) * s
    cx, cy = (float(k[0, 2]) + 0.5) * s - 0.5, (float(k[1, 2]) + 0.5) * s - 0.5
    if flip:
        img = img[:, ::-1]
        j2 = j2[S.JOINT_FLIP].copy()
        j2[:, 0] = input_size - 1 - j2[:, 0]
        j3 = (j3 @ MIRROR)[S.JOINT_FLIP]  # x is the same axis in world and camera frames
        rot = mirror_rotations(rot)
        cx = input_size - 1 - cx
    joints = S.normalize_skeleton_scale(j3 - j3[S.ROOT], REFERENCE_LENGTH)
    stride = 4.0
    hm = input_size / stride
    z = frames.world_to_camera(j3)[:, 2]  # distance along the optical axis: the image boundary
    z_root = max(z[S.ROOT], 1e-3)
    depth = (hm - 1) / 2 + (z - z_root) * (f / z_root) / stride  # trainer.layers.encode_depth
    coords = np.stack([(j2[:, 0] + 0.5) / stride - 0.5, (j2[:, 1] + 0.5) / stride - 0.5, depth], -1)
    inside = ((coords[:, :2] >= -0.5) & (coords[:, :2] <= hm - 0.5)).all(-1)
    rgb = np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1), dtype=np.float32) / 255.0
    return {"image": rgb, "rotations": rot.astype(np.float32),
            "global_rotation": S.pelvis_rotation(rot).astype(np.float32), "joints": joints.astype(np.float32),
            "coords_map": np.clip(coords, -2, hm + 1).astype(np.float32), "mask_3d": np.float32(mask_3d),
            "mask_rot": np.float32(1.0), "global_class": np.int64(0), "visible": inside.astype(np.float32),
            "joints_2d": j2.astype(np.float32), "camera": np.array([f, cx, cy], np.float32),
            "person": np.float32(person)}


class SampleSource:
    """What every data source offers: ``name``, ``len(source)``, ``sample(i, rng=None) -> dict`` (``rng``:
    random augmentation; None: the plain sample) and ``set_centres`` (the k-means centres whose class
    the samples carry, ``global_class``; set after the source is built when the classes are computed
    from its own labels)."""

    name = ""
    centres: np.ndarray | None = None

    def set_centres(self, centres: np.ndarray | None) -> None:
        self.centres = centres

    def class_of(self, sample: dict) -> np.int64:
        """The k-means class of a sample's ``global_rotation`` (0 without centres)."""
        if self.centres is None:
            return np.int64(0)
        return np.int64(assign_clusters(sample["global_rotation"][None], self.centres)[0])


class SynthSource(SampleSource):
    """Samples of a synthetic split (``root/split/shard_*``); corrupt shards are skipped."""

    name = "synth"

    def __init__(self, root: str | Path, split: str, input_size: int, centres: np.ndarray | None = None,
                 flip: bool = False, upright: bool = False):
        root = Path(root)
        self.upright = upright
        if not (root / split).is_dir():
            raise UserError(f"dataset {root}: no '{split}' split (render one with python -m trainer synth)")
        self.shards = list(iter_shards(root / split))
        if not self.shards:
            raise UserError(f"dataset {root}/{split}: no usable shards")
        self.index = np.concatenate([np.stack([np.full(s.count, k), np.arange(s.count)], 1)
                                     for k, s in enumerate(self.shards)])
        self.input_size = input_size
        self.flip = flip
        self.bad: set[int] = set()
        self.set_centres(centres)

    def set_centres(self, centres: np.ndarray | None) -> None:
        """The k-means centres (K, 3, 3) whose class each sample carries (``global_class``); the
        class of every sample, as it is and mirrored, is looked up here once."""
        self.centres = centres
        self.classes = None if centres is None else global_classes(self.labels("rotations"), centres)

    def __len__(self) -> int:
        return len(self.index)

    def global_rotations(self) -> np.ndarray:
        return np.concatenate([s.labels["global_rotation"] for s in self.shards]).astype(np.float64)

    def labels(self, key: str) -> np.ndarray:
        return np.concatenate([s.labels[key] for s in self.shards])

    def sample(self, i: int, rng: np.random.Generator | None = None) -> dict:
        for _ in range(100):
            i %= len(self.index)
            k, j = self.index[i]
            sh = self.shards[k]
            if k not in self.bad:
                try:
                    img = sh.image(int(j))
                    break
                except CorruptShard as e:
                    report(sh.path, str(e))
                    self.bad.add(int(k))
            i = int(rng.integers(len(self.index))) if rng is not None else i + 1
        else:
            raise UserError("too many corrupt shards; regenerate the dataset")
        lab = sh.labels
        flip = bool(self.flip and rng is not None and rng.random() < 0.5)
        person = float(lab["person"][j]) if "person" in lab else 1.0
        j2, j3, rot, k = lab["joints_2d"][j], lab["joints_3d"][j], lab["rotations"][j], lab["K"][j]
        rolled = False
        if self.upright:  # the engine's upright crops (background crops turn by chance too)
            angle = upright_roll(j2) if person > 0.5 else 0.0
            if rng is not None:
                angle = (rng.uniform(-np.pi, np.pi) if rng.random() < UPRIGHT_ANY_ANGLE
                         else angle + np.deg2rad(rng.normal(0.0, UPRIGHT_NOISE_DEG)))
            if abs(angle) > 1e-6:
                img, j2, j3, rot, k = roll_crop(img, j2, j3, rot, k, angle)
                rolled = True
        out = make_targets(img, j2, j3, rot, k, self.input_size, flip, person=person)
        if rolled:
            out["global_class"] = self.class_of(out)
        elif self.classes is not None:
            out["global_class"] = np.int64(self.classes[int(flip), i])
        out["clip_id"] = np.int64(lab["clip_id"][j])
        return out


def collate(samples: list[dict]) -> dict:
    return {k: torch.as_tensor(np.stack([s[k] for s in samples])) for k in samples[0]}


def warn(msg: str) -> None:
    print(msg, file=sys.stderr)
