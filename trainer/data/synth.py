"""``python -m trainer synth``: render a synthetic dataset of posed Anny bodies.

Each sample is a square crop (``--size``, ``SIZE`` = 192 by default) rendered directly
with crop intrinsics: a random full-frame camera (focal length, distance,
height, roll) looks at the body, the tight box around the projected joints is
enlarged and shifted at random (the way the engine crops at run time), and the
crop camera ``K_crop`` renders exactly that box.

Styles (``--style``): ``room`` (the default): bodies dressed through Anny's UV
layout (``bodies.paint_texture``), standing on a floor in rooms cut out of
indoor panoramas, with furniture in front and laptop / eye-height / high
cameras (``trainer.data.scenes``); ``webcam`` and ``legacy`` (the earlier
distributions, byte for byte): vertex-colour clothing over random crops of
photographs (OpenCV's and scikit-image's sample images, flipped and
re-coloured) or procedural textures. Then random occluders, motion blur,
noise and JPEG artefacts.

Labels per image (``labels.npz`` in each shard, see ``LABEL_KEYS``): joints in
crop pixels and in 3D (metres, relative to the camera centre) in the frame the
network predicts, world axes (``engine.frames``: Y-up; ``joints_frame`` =
"world" says so), the 15 absolute bone rotations (world axes: identity = T-pose
facing the camera), the global (pelvis) rotation, per-sample bone lengths,
``K_crop``, body and clip ids. ``FK(rotations, bone_lengths)`` reproduces the
root-relative joints, and projecting ``frames.world_to_camera(joints_3d)`` with
``K_crop`` gives the 2D joints.

Splits hold disjoint bodies and clips (train: CMU 01_01, val: Boxing_Toes,
test: CMU 01_03; each also gets sampled poses from its own seeds).
Deterministic from ``--seed``; resumable (finished shards are kept);
``--workers`` processes share the shards.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from animation.render import Renderer
from animation.render.camera import from_opencv
from engine import frames
from engine import rotations as R
from engine import skeleton as S
from engine.preprocess import Box
from trainer.data import poses as P
from trainer.data import scenes
from trainer.data.bodies import check_anny, load_anny, make_body
from trainer.data.card import write_card
from trainer.data.shards import JOINTS_FRAME

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
STYLES = ("room", "webcam", "legacy")
SIZE = 192  # the crop side by default (the network's input size: no resize per sample)
LABEL_KEYS = {
    "joints_2d": (16, 2), "joints_3d": (16, 3), "rotations": (15, 3, 3), "global_rotation": (3, 3),
    "bone_lengths": (15,), "K": (3, 3), "body_id": (), "clip_id": (), "crc": (), "occluded": (16,),
    "view_yaw": (), "view_pitch": (), "person": (), "in_frame": (16,),
}
CLIP_IDS = {"sampler": 0, **{name: i + 1 for i, name in enumerate(P.CLIP_SPLITS)}}


#: sample images that are not backgrounds: people (messi5 and basketball are kept for
#: evaluation), calibration boards, synthetic drawings, logos, text
EXCLUDED_PHOTOS = re.compile(r"^(messi\d*|basketball\d*|left\d*|right\d*|chessboard|pic\d|digits|ml|notes|"
                             r".*logo.*|LinuxLogo|WindowsLogo|alphabet.*|imageText.|mask|gradient|ellipses|"
                             r"detect_blob|cards|sudoku|box.*|pca_test1|licenseplate_motion|ela_.*|data01)$")


def background_photos() -> list[np.ndarray]:
    """Photographs for backgrounds: OpenCV's sample data (opencv-doc) and scikit-image's."""
    imgs = []
    root = Path("/usr/share/doc/opencv-doc/examples/data")
    for p in sorted(root.glob("*")) if root.exists() else []:
        if EXCLUDED_PHOTOS.match(p.stem):
            continue
        if p.suffix.lower() in (".jpg", ".png") and p.stat().st_size > 20_000:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is not None and min(img.shape[:2]) >= 200:
                imgs.append(img)
    try:
        import skimage.data as skd

        for name in ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "immunohistochemistry"):
            try:
                a = getattr(skd, name)()
            except Exception:  # noqa: BLE001 - some need a download: skip those
                continue
            a = cv2.cvtColor(a, cv2.COLOR_GRAY2BGR) if a.ndim == 2 else cv2.cvtColor(a[..., :3], cv2.COLOR_RGB2BGR)
            imgs.append(a)
    except ImportError:
        pass
    return imgs


def _background(rng, photos, size: int) -> np.ndarray:
    if photos and rng.random() < 0.75:
        img = photos[rng.integers(len(photos))]
        h, w = img.shape[:2]
        side = int(rng.uniform(0.3, 1.0) * min(h, w))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        bg = cv2.resize(img[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            bg = bg[:, ::-1]
        hsv = cv2.cvtColor(bg, cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-12, 12)) % 180
        hsv[..., 1:] *= rng.uniform(0.6, 1.3, 2)
        return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
    kind = rng.integers(3)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    if kind == 0:    # gradient
        t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))
    elif kind == 1:  # checker / stripes
        f = rng.uniform(3, 20)
        t = ((np.sin(xx * f * 6.28) > 0) ^ (np.sin(yy * f * 6.28 * rng.integers(0, 2)) > 0)).astype(np.float32)
    else:            # smooth noise
        t = cv2.resize(rng.random((8, 8)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    t = (t - t.min()) / max(np.ptp(t), 1e-6)
    return (c1 * (1 - t[..., None]) + c2 * t[..., None]).astype(np.uint8)


def _look_rotation(eye: np.ndarray, target: np.ndarray, roll: float) -> np.ndarray:
    """World (Y-up) -> OpenCV camera rotation for a camera at eye looking at target."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rot = np.stack([x, y, z])
    return R.axis_rotation(2, roll) @ rot


def _camera(rng, pelvis: np.ndarray, facing: np.ndarray):
    """A random camera around the body: (R (3,3) world->camera, t (3,), focal px, azimuth, pitch)."""
    dist = rng.uniform(2.2, 7.0)
    az = np.arctan2(facing[0], facing[2]) + rng.uniform(-np.pi, np.pi)
    height = rng.uniform(0.2, 2.4)
    eye = np.array([pelvis[0] + dist * np.sin(az), height, pelvis[2] + dist * np.cos(az)])
    target = pelvis + rng.normal(0, 0.15, 3)
    rot = _look_rotation(eye, target, np.deg2rad(rng.normal(0, 6) if rng.random() < 0.8 else rng.uniform(-25, 25)))
    f = rng.uniform(500, 1500)
    rel = np.arctan2(np.sin(az - np.arctan2(facing[0], facing[2])), np.cos(az - np.arctan2(facing[0], facing[2])))
    pitch = np.arcsin(np.clip((height - pelvis[1]) / np.linalg.norm(eye - pelvis), -1, 1))
    return rot, -rot @ eye, f, rel, pitch


def _crop_intrinsics(rng, uv: np.ndarray, f: float, size: int, scale_range=(1.1, 1.5)) -> np.ndarray:
    """K_crop (3, 3) for a square box around projected joints ``uv`` (N, 2; principal point at 0),
    randomly scaled and shifted: the engine's crop rule (``engine.preprocess.Box``)."""
    box = Box.around(uv, rng.uniform(*scale_range), min_side=0.0)
    shift = rng.uniform(-0.08, 0.08, 2) * box.side
    return Box(box.left + shift[0], box.top + shift[1], box.side).intrinsics(np.diag([f, f, 1.0]), size)


#: webcam-shaped cameras: frame sizes (width, height) a webcam or phone delivers
FRAMES = ((640, 480), (1280, 720), (1920, 1080), (1080, 1920))


def _webcam_camera(rng, joints_w: np.ndarray, facing: np.ndarray):
    """A camera as a webcam user has one: 1-4 m away, mostly in front of them (70 %: heading
    within about 35 degrees; else any), 0.6-2.0 m high, horizontal field of view 50-90 degrees,
    the person anywhere in the frame, little roll. Returns (R (3,3) world->camera, t (3,), focal
    px, (width, height), azimuth relative to the facing direction, pitch)."""
    centre = joints_w.mean(0)
    dist = rng.uniform(1.0, 4.0)
    face_az = np.arctan2(facing[0], facing[2])
    rel = np.deg2rad(rng.normal(0, 35)) if rng.random() < 0.7 else rng.uniform(-np.pi, np.pi)
    az = face_az + rel
    height = rng.uniform(0.6, 2.0)
    eye = np.array([centre[0] + dist * np.sin(az), height, centre[2] + dist * np.cos(az)])
    w, h = FRAMES[rng.integers(len(FRAMES))]
    fov = np.deg2rad(rng.uniform(50, 90))
    f = (max(w, h) / 2) / np.tan(fov / 2)
    roll = np.deg2rad(rng.normal(0, 4) if rng.random() < 0.9 else rng.uniform(-15, 15))
    rot = _look_rotation(eye, centre + rng.normal(0, 0.1, 3), roll)
    # the person off the frame's centre: turn the camera by up to 20 % (across) / 12 % (up-down) of the view
    ax, ay = rng.uniform(-0.2, 0.2) * w / f, rng.uniform(-0.12, 0.12) * h / f
    rot = R.axis_rotation(1, ax) @ R.axis_rotation(0, ay) @ rot
    pitch = np.arcsin(np.clip((height - centre[1]) / np.linalg.norm(eye - centre), -1, 1))
    return rot, -rot @ eye, f, (w, h), rel, pitch


def _frame_mask(k_crop: np.ndarray, f: float, frame: tuple[int, int], size: int) -> np.ndarray:
    """(size, size) bool: the crop pixels that lie inside the camera frame (principal point at the
    frame's centre). Outside it the engine's crop is black padding (engine/preprocess.py)."""
    w, h = frame
    s = k_crop[0, 0] / f
    u = (np.arange(size) - k_crop[0, 2]) / s  # frame pixels relative to the principal point
    v = (np.arange(size) - k_crop[1, 2]) / s
    return (np.abs(v)[:, None] <= h / 2) & (np.abs(u)[None, :] <= w / 2)


def _photometric(rng, img: np.ndarray) -> np.ndarray:
    """Camera-like colour: exposure, contrast, gamma, white balance, vignetting."""
    x = img.astype(np.float32) / 255.0
    if rng.random() < 0.7:
        x = (x - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.normal(0, 0.08)
        x = np.clip(x, 0, 1) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.4:
        x = x * rng.uniform(0.85, 1.15, 3)
    if rng.random() < 0.3:
        n = x.shape[0]
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n - 0.5 - rng.uniform(-0.3, 0.3, 2)[:, None, None]
        x = x * (1 - rng.uniform(0.2, 0.6) * (xx * xx + yy * yy))[..., None]
    return np.clip(x * 255.0, 0, 255).astype(np.uint8)


def _augment(rng, img: np.ndarray, joints_2d: np.ndarray, shapes: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    size = img.shape[0]
    occluded = np.zeros(len(joints_2d), bool)
    if rng.random() < shapes:  # occluding shapes
        for _ in range(rng.integers(1, 3)):
            mask = np.zeros((size, size), np.uint8)
            c = tuple(int(v) for v in rng.uniform(0, size, 2))
            axes = tuple(int(v) for v in rng.uniform(0.05, 0.25, 2) * size)
            if rng.random() < 0.5:
                cv2.ellipse(mask, c, axes, rng.uniform(0, 180), 0, 360, 1, -1)
            else:
                cv2.rectangle(mask, (c[0] - axes[0], c[1] - axes[1]), (c[0] + axes[0], c[1] + axes[1]), 1, -1)
            img[mask > 0] = rng.uniform(0, 255, 3).astype(np.uint8)
            ij = np.clip(np.round(joints_2d).astype(int), 0, size - 1)
            occluded |= mask[ij[:, 1], ij[:, 0]] > 0
    if rng.random() < 0.2:  # motion blur
        k = int(rng.integers(3, 10))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2] = 1.0 / k
        m = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kern = cv2.warpAffine(kern, m, (k, k))
        img = cv2.filter2D(img, -1, kern / max(kern.sum(), 1e-6))
    if rng.random() < 0.5:  # sensor noise
        img = np.clip(img + rng.normal(0, rng.uniform(1, 8), img.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:  # JPEG artefacts
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 80))])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img, occluded


class SynthRenderer:
    """Renders samples of bodies; one GL context (made with the first body) reused for
    everything this renderer draws. ``process_renderer`` keeps one per process."""

    def __init__(self, size: int = 256):

        self.size = size
        self.r = None
        self._Renderer = Renderer

    def resize(self, size: int) -> None:
        """Render crops of ``size`` pixels from now on (the same GL context)."""
        if size != self.size:
            self.size = size
            if self.r is not None:
                self.r.resize(size, size)

    def set_body(self, body) -> None:
        if self.r is None:
            self.r = self._Renderer(self.size, self.size, avatar=body.avatar)
        else:
            self.r.set_avatar(body.avatar)  # frees the previous body's GL objects

    def render(self, globals_: np.ndarray, k: np.ndarray, rot: np.ndarray, t: np.ndarray, rng,
               light: tuple | None = None) -> np.ndarray:
        """RGBA (size, size, 4): the body over a transparent background. ``light``: (direction,
        key RGB, ambient RGB); None draws a random one from ``rng`` (the webcam and legacy styles)."""

        r = self.r
        a = r.avatar
        r.write_bones(globals_[a.joint_nodes] @ a.inverse_bind)
        view, proj = from_opencv(k, rot, t, self.size, self.size, near=0.1, far=50.0)
        if light is None:
            d = rng.normal(0, 1, 3)
            d[1] = -abs(d[1]) - 0.3
            r.light_dir = d
            r.light_color = tuple(rng.uniform(0.45, 0.95) * rng.uniform(0.85, 1.0, 3))
            r.ambient = tuple(rng.uniform(0.2, 0.5) * rng.uniform(0.85, 1.0, 3))
        else:
            r.light_dir, r.light_color, r.ambient = (tuple(float(v) for v in x) for x in light)
        r.background = (0.0, 0.0, 0.0)
        r._clear(alpha=0.0)
        r.draw_avatar(view, proj)
        return r.read(components=4)


_RENDERER: SynthRenderer | None = None


def process_renderer(size: int) -> SynthRenderer:
    """This process's renderer: one GL context per process, shared by every shard it renders."""
    global _RENDERER
    if _RENDERER is None:
        _RENDERER = SynthRenderer(size)
    _RENDERER.resize(size)
    return _RENDERER


#: share of background crops (no person, or one well outside the crop) in the webcam style
NEGATIVE_SHARE = 0.08


#: per joint, how far the body's surface reaches below it (metres) when it is the lowest: the
#: room style stands the lowest point of the body on the floor (ankles use the body's own rest height)
_GROUND_MARGIN = {"r_knee": 0.06, "l_knee": 0.06, "r_hip": 0.1, "l_hip": 0.1, "pelvis": 0.12, "r_wrist": 0.04,
                  "l_wrist": 0.04, "r_elbow": 0.05, "l_elbow": 0.05, "head_top": 0.0}


def ground(body, g: np.ndarray, joints_w: np.ndarray) -> np.ndarray:
    """Node globals ``g`` moved up or down so the body stands on the floor y = 0."""
    rest = body.joints(body.avatar.rest_global)
    margin = np.array([_GROUND_MARGIN.get(name, 0.08) for name in S.JOINT_NAMES])
    for name in ("r_ankle", "l_ankle"):
        margin[S.JOINT_INDEX[name]] = rest[S.JOINT_INDEX[name], 1]
    low = (joints_w[:, 1] - margin).min()
    g = g.copy()
    g[:, 1, 3] -= low
    return g


_ROOMS = None


def process_rooms():
    """This process's room backgrounds (``scenes.load_rooms``), loaded once."""
    global _ROOMS
    if _ROOMS is None:
        _ROOMS = scenes.load_rooms()
    return _ROOMS


def render_shard(split: str, shard: int, n: int, seed: int, size: int, model, clip_poses: dict,
                 photos: list, bodies_per_shard: int = 10, cameras_per_pose: int = 3, style: str = "room",
                 rooms=None) -> dict:
    """Render one shard: returns {"images": [jpeg bytes], **labels}.

    ``style``: ``room`` (the default since issue 24: textured, dressed people standing on a floor in
    rooms seen by laptop, eye-height or high cameras, with furniture in front; ``trainer.data.scenes``),
    ``webcam`` (issue 15: people as a webcam sees them, see ``_webcam_camera`` and
    ``poses.sample_webcam_pose``, with frame edges and background crops; photo backgrounds) or
    ``legacy`` (the earlier distribution: cameras 2.2-7 m away at any heading, poses anywhere in
    the joint limits; kept so earlier numbers can be reproduced). ``rooms``: ``scenes.Rooms``
    for the room style (default: ``process_rooms()``)."""

    if style not in STYLES:
        raise ValueError(f"style {style!r}; allowed: {', '.join(STYLES)}")
    room = style == "room"
    webcam = style in ("webcam", "room")
    rng = np.random.default_rng([seed, SPLIT_IDS[split], shard] + ([] if not webcam else [2 if room else 1]))
    if room and rooms is None:
        rooms = process_rooms()
    clip_names = [c for c, s in P.CLIP_SPLITS.items() if s == split]
    clip_pool = [(name, p) for name in clip_names for p in (clip_poses[name], P.mirror(clip_poses[name]))]
    renderer = process_renderer(size)
    out: dict = {k: [] for k in LABEL_KEYS}
    out["images"] = []
    per_body = int(np.ceil(n / bodies_per_shard))
    while len(out["images"]) < n:
        body_id = (SPLIT_IDS[split] << 24) | (shard << 8) | (len(out["images"]) // per_body)
        body = make_body(model, rng, body_id, photos, textured=room)
        renderer.set_body(body)
        for _ in range(int(np.ceil(per_body / cameras_per_pose))):
            if clip_pool and rng.random() < (0.3 if webcam else 0.5):
                name, pool = clip_pool[rng.integers(len(clip_pool))]
                pose = pool[rng.integers(len(pool))]
                rots = P.reorient_upright(pose, rng) if webcam else P.reorient(pose, rng)
                clip_id = CLIP_IDS[name]
            else:
                rots = P.sample_webcam_pose(rng)[0] if webcam else P.sampled_pose(rng)
                clip_id = 0
            g = body.avatar.node_globals(rots)
            joints_w = body.joints(g)
            if room:
                g = ground(body, g, joints_w)
                joints_w = body.joints(g)
            labels_w = body.rotation_labels(g, joints_w)
            facing = S.pelvis_rotation(labels_w) @ np.array([0.0, 0.0, 1.0])
            for _ in range(cameras_per_pose):
                if len(out["images"]) >= n:
                    break
                if room:
                    cam_r = scenes.room_camera(rng, joints_w, facing)
                    rot, t, f, frame, az, pitch = cam_r.rot, cam_r.t, cam_r.f, cam_r.frame, cam_r.rel_az, cam_r.pitch
                elif webcam:
                    rot, t, f, frame, az, pitch = _webcam_camera(rng, joints_w, facing)
                else:
                    rot, t, f, az, pitch = _camera(rng, joints_w[S.ROOT], facing)
                    frame = None
                cam = joints_w @ rot.T + t
                if cam[:, 2].min() < 0.3:
                    continue
                uv = cam[:, :2] / cam[:, 2:] * f
                in_frame = np.ones(len(uv), bool) if frame is None else \
                    (np.abs(uv[:, 0]) <= frame[0] / 2) & (np.abs(uv[:, 1]) <= frame[1] / 2)
                if frame is not None and (in_frame.sum() < 7 or not in_frame[S.JOINT_INDEX["thorax"]]):
                    continue  # too little of the person in the frame to be tracked
                # the room style crops around the joints in the frame (what a tracker sees); the others around all
                k = _crop_intrinsics(rng, uv[in_frame] if room else uv, f, size)
                negative = webcam and rng.random() < NEGATIVE_SHARE
                if negative:  # the crop moved off the person by about one to one and a half crop sides
                    a = rng.uniform(0, 2 * np.pi)
                    k[:2, 2] += np.array([np.cos(a), np.sin(a)]) * rng.uniform(0.9, 1.6) * size
                j2 = (cam @ k.T)[:, :2] / cam[:, 2:]
                scene = scenes.render_scene(rng, rooms, cam_r, k, size, joints_w, photos, _background) if room else None
                rgba = renderer.render(g, k, rot, t, rng, light=None if scene is None else scene.light)
                if negative and rng.random() < 0.5:
                    rgba[..., 3] = 0  # no body at all
                alpha = rgba[..., 3:4].astype(np.float32) / 255.0
                bg = _background(rng, photos, size) if scene is None else scene.background
                img = (rgba[..., :3][..., ::-1] * alpha + bg * (1 - alpha)).astype(np.uint8)
                hidden = np.zeros(len(j2), bool)
                if scene is not None:  # furniture in front of the body
                    fa = scene.front_alpha[..., None]
                    img = (scene.front * fa + img * (1 - fa)).astype(np.uint8)
                    ij = np.round(j2).astype(int)
                    inside = (ij >= 0).all(1) & (ij < size).all(1)
                    hidden[inside] = scene.front_alpha[ij[inside, 1], ij[inside, 0]] > 0.5
                if frame is not None and (not negative or rng.random() < 0.3):
                    img[~_frame_mask(k, f, frame, size)] = 0
                    img = _photometric(rng, img)
                img, occluded = _augment(rng, img, j2, 0.05 if room else 0.3)
                occluded |= hidden
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
                jpeg = buf.tobytes()
                # rest bones -> posed bones in world axes as the camera sees them (Y-up, facing it = identity)
                rot_label = frames.CAMERA_TO_WORLD @ rot @ labels_w
                out["images"].append(jpeg)
                out["joints_2d"].append(j2)
                out["joints_3d"].append(frames.camera_to_world(cam))
                out["rotations"].append(rot_label)
                out["global_rotation"].append(S.pelvis_rotation(rot_label))
                out["bone_lengths"].append(S.bone_lengths(joints_w))
                out["K"].append(k)
                out["body_id"].append(body_id)
                out["clip_id"].append(clip_id)
                out["crc"].append(zlib.crc32(jpeg))
                out["occluded"].append(occluded | ~in_frame | (j2 < 0).any(1) | (j2 > size - 1).any(1))
                out["view_yaw"].append(np.rad2deg(az))
                out["view_pitch"].append(np.rad2deg(pitch))
                out["person"].append(0.0 if negative else 1.0)
                out["in_frame"].append(in_frame)
    return out


def write_shard(path: Path, data: dict) -> None:
    """Write a shard folder atomically: JPEG files plus labels.npz."""
    tmp = path.with_name(path.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for i, jpeg in enumerate(data["images"]):
        (tmp / f"{i:06d}.jpg").write_bytes(jpeg)
    ints, bools = ("body_id", "clip_id", "crc"), ("occluded", "in_frame")
    labels = {k: np.asarray(data[k], dtype=np.int64 if k in ints else bool if k in bools else np.float32)
              for k in LABEL_KEYS}
    np.savez(tmp / "labels.npz", **labels, joints_frame=np.array(JOINTS_FRAME))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def _worker(args_tuple):
    split, shard, n, seed, size, out_dir, bodies, style = args_tuple
    model = _worker.model
    data = render_shard(split, shard, n, seed, size, model, _worker.clips, _worker.photos, bodies_per_shard=bodies,
                        cameras_per_pose=3 if style == "legacy" else 2, style=style)
    write_shard(Path(out_dir) / split / f"shard_{shard:05d}", data)
    return split, shard, len(data["images"])


def _init_worker():

    _worker.model = load_anny()
    _worker.clips = P.load_clip_poses()
    _worker.photos = background_photos()


def plan(counts: dict[str, int], shard_size: int) -> list[tuple[str, int, int]]:
    jobs = []
    for split, total in counts.items():
        for shard in range(int(np.ceil(total / shard_size))):
            jobs.append((split, shard, min(shard_size, total - shard * shard_size)))
    return jobs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer synth", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data/synth")
    ap.add_argument("--train", type=int, default=20000)
    ap.add_argument("--val", type=int, default=1000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--size", type=int, default=SIZE, help="crop side in pixels (the network's input size: no resize per sample)")
    ap.add_argument("--style", choices=STYLES, default="room",
                    help="room: dressed people in rooms with floors, furniture and room cameras (default); "
                         "webcam: the issue-15 distribution (people as a webcam sees them, photo backgrounds); "
                         "legacy: the earlier distribution")
    ap.add_argument("--shard-size", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--bodies-per-shard", type=int, default=10)
    ap.add_argument("--no-card", action="store_true", help="skip the dataset card")
    args = ap.parse_args(argv)

    check_anny()  # fail early with one line if Anny is missing
    P.load_clip_poses()  # fail early with one line if the clips are missing
    if args.style == "room":
        scenes.load_rooms()  # fetch the room backgrounds once, or fail early with one line
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(s, i, n, args.seed, args.size, str(out), args.bodies_per_shard, args.style) for s, i, n in
            plan({"train": args.train, "val": args.val, "test": args.test}, args.shard_size)]
    todo = [j for j in jobs if not (out / j[0] / f"shard_{j[1]:05d}" / "labels.npz").exists()]
    (out / "synth.json").write_text(json.dumps(vars(args), indent=2))

    bar = tqdm(total=sum(j[2] for j in jobs), initial=sum(j[2] for j in jobs if j not in todo),
               unit="img", desc="rendering", dynamic_ncols=True)
    if args.workers <= 1:
        _init_worker()
        for j in todo:
            bar.update(_worker(j)[2])
    else:

        with mp.get_context("spawn").Pool(args.workers, initializer=_init_worker) as pool:
            for _, _, n in pool.imap_unordered(_worker, todo):
                bar.update(n)
    bar.close()
    if not args.no_card:

        write_card(out)
    print(f"dataset ready in {out}", file=sys.stderr)
    return 0
