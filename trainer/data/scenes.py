"""Rooms for the synthetic people (style ``room`` of ``python -m trainer synth``).

- **Backgrounds**: perspective views cut out of the 7 indoor CC0 panoramas of the npm package
  ``@pmndrs/assets@1.7.0`` (apartment, hall, lab, lobby, studio, warehouse, workshop; EXR, 512x256,
  tone-mapped to 8 bit) seen with the sample's own camera rotation and a random turn of the room,
  libjxl-testdata's furnished room photo ``jxl/hdr_room.png`` (BSD-3), and, as a fallback share, the
  OpenCV / scikit-image photos and procedural textures of the older styles. ``fetch_backgrounds``
  (``python -m trainer.data.scenes``) decodes them once into ``data/backgrounds/``.
- **Floor**: the plane y = 0 under the feet, ray-cast per pixel in the sample's camera up to the
  room's far wall (wood planks, tiles, carpet, concrete), lit by the same key light and ambient
  term as the body, with a soft contact shadow and the body's cast shadow.
- **Furniture** in front of the body: a desk (top slab, legs or a closed front) or a chair back,
  boxes ray-cast in the same camera, always nearer to the camera than the body, so they hide what
  they cover (the labels mark those joints ``occluded``).
- **Cameras** (``room_camera``): a laptop on a desk (0.7-1.0 m high, level or looking slightly up),
  a camera at eye height, or one mounted high looking down (pitch to about 45 degrees); framings
  from full body to waist-up (the frame's lower edge at the hips).
- **Light** (``light_for``): key light and ambient matched to the background's mean brightness and
  colour.
"""
from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engine import skeleton as S
from engine.errors import UserError, reports_user_errors

ROOT = Path(__file__).resolve().parents[2]
BG_DIR = ROOT / "data" / "backgrounds"
PMNDRS = "@pmndrs/assets@1.7.0"
INDOOR = ("apartment", "hall", "lab", "lobby", "studio", "warehouse", "workshop")
JXL_PACKAGE = "libjxl-testdata"
JXL_MEMBER = "usr/share/libjxl-testdata/jxl/hdr_room.png"
FETCH = "python -m trainer.data.scenes"
JXL_PORTRAIT = (151, 251, 277, 349)  # rows, columns of the portrait's canvas in hdr_room.png
#: licences of the files under data/backgrounds (also in docs/data.md)
LICENCES = {**{f"pmndrs_{n}.png": f"CC0-1.0 ({PMNDRS}, hdri/{n}.exr.js)" for n in INDOOR},
            "hdr_room.png": f"BSD-3-Clause (Debian {JXL_PACKAGE}, jxl/hdr_room.png)"}


# --------------------------------------------------------------------------- fetching

def _tonemap(hdr: np.ndarray) -> np.ndarray:
    """Linear HDR RGB (H, W, 3) -> 8-bit BGR: exposure from the log-mean luminance, Reinhard, sRGB."""
    x = np.nan_to_num(np.maximum(hdr.astype(np.float64), 0.0))
    lum = x @ np.array([0.2126, 0.7152, 0.0722])
    key = np.exp(np.mean(np.log(lum + 1e-4)))
    x = x * (0.22 / key)
    x = x / (1.0 + x) * 1.25
    srgb = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.clip(x, 0, None), 1 / 2.4) - 0.055)
    return np.clip(srgb * 255 + 0.5, 0, 255).astype(np.uint8)[..., ::-1]


def _decode_exr(data: bytes) -> np.ndarray:
    """EXR bytes -> float RGB (H, W, 3), with the ``openexr`` package (OpenCV here lacks EXR)."""
    try:
        import OpenEXR
    except ImportError:
        raise UserError("decoding the room panoramas needs the openexr package: pip install openexr==3.5.3") from None
    with tempfile.NamedTemporaryFile(suffix=".exr") as f:
        f.write(data)
        f.flush()
        chans = OpenEXR.File(f.name).channels()
    if "RGB" in chans:
        return np.asarray(chans["RGB"].pixels, np.float32)
    return np.stack([np.asarray(chans[c].pixels, np.float32) for c in "RGB"], -1)


def fetch_backgrounds(root: Path | None = None, quiet: bool = False) -> Path:
    """Fetch and decode the room backgrounds into ``root`` (default data/backgrounds): the 7 indoor
    panoramas of ``@pmndrs/assets`` (``npm pack``) and libjxl-testdata's room photo (``apt-get
    download``). Files already there are kept. Raises UserError (one line) when a tool is missing."""
    root = Path(root or BG_DIR)
    root.mkdir(parents=True, exist_ok=True)
    say = (lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not all((root / f"pmndrs_{n}.png").exists() for n in INDOOR):
            if shutil.which("npm") is None:
                raise UserError(f"room backgrounds need npm (apt-get install npm), then run: {FETCH}")
            say(f"fetching {PMNDRS} (npm pack) ...")
            r = subprocess.run(["npm", "pack", PMNDRS, "--silent"], cwd=tmp, capture_output=True, text=True, check=False)
            tgz = sorted(tmp.glob("*.tgz"))
            if r.returncode != 0 or not tgz:
                raise UserError(f"npm pack {PMNDRS} failed ({(r.stderr or r.stdout).strip().splitlines()[-1:]}); "
                                f"run {FETCH} where npm can reach its registry")
            with tarfile.open(tgz[0]) as tf:
                for n in INDOOR:
                    text = tf.extractfile(f"package/hdri/{n}.exr.js").read().decode()
                    b64 = text.split("base64,", 1)[1].split("'", 1)[0].split('"', 1)[0]
                    img = _tonemap(_decode_exr(base64.b64decode(b64)))
                    cv2.imwrite(str(root / f"pmndrs_{n}.png"), img)
        if not (root / "hdr_room.png").exists():
            if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
                raise UserError(f"the room photo needs apt-get and dpkg-deb ({JXL_PACKAGE}); then run: {FETCH}")
            say(f"fetching {JXL_PACKAGE} (apt-get download) ...")
            r = subprocess.run(["apt-get", "download", JXL_PACKAGE], cwd=tmp, capture_output=True, text=True, check=False)
            debs = sorted(tmp.glob(f"{JXL_PACKAGE}*.deb"))
            if not debs:
                raise UserError(f"apt-get download {JXL_PACKAGE} failed ({r.stderr.strip().splitlines()[-1:]}); "
                                f"run apt-get update, then {FETCH}")
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tmp / "x")], check=True, capture_output=True)
            img = cv2.imread(str(tmp / "x" / JXL_MEMBER), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise UserError(f"{JXL_PACKAGE} has no {JXL_MEMBER}")
            if img.dtype == np.uint16:
                img = (img / 257.0 + 0.5).astype(np.uint8)
            img = img[..., :3].copy()
            # the photo has one portrait painting (a person) on the wall: paint its canvas over
            # with a plain dark canvas, so the backgrounds stay free of people
            y0, y1, x0, x1 = JXL_PORTRAIT
            ramp = np.linspace(0.8, 1.2, y1 - y0)[:, None, None]
            img[y0:y1, x0:x1] = np.clip(np.array([22, 30, 38]) * ramp, 0, 255).astype(img.dtype)
            cv2.imwrite(str(root / "hdr_room.png"), img[..., :3])
    (root / "LICENCES.txt").write_text("".join(f"{k}: {v}\n" for k, v in LICENCES.items()))
    return root


@dataclass
class Rooms:
    """Decoded backgrounds: equirectangular panoramas (BGR) and flat room photos (BGR)."""
    panoramas: list = field(default_factory=list)
    photos: list = field(default_factory=list)


def load_rooms(root: Path | None = None, fetch: bool = True) -> Rooms:
    """The room backgrounds, fetched first when missing (``fetch``); UserError when they cannot be."""
    root = Path(root or BG_DIR)
    names = [f"pmndrs_{n}.png" for n in INDOOR] + ["hdr_room.png"]
    if not all((root / n).exists() for n in names):
        if not fetch:
            raise UserError(f"room backgrounds missing in {root}: run {FETCH}")
        fetch_backgrounds(root)
    pano = [cv2.imread(str(root / f"pmndrs_{n}.png"), cv2.IMREAD_COLOR) for n in INDOOR]
    photo = [cv2.imread(str(root / "hdr_room.png"), cv2.IMREAD_COLOR)]
    if any(p is None for p in pano + photo):
        raise UserError(f"unreadable files in {root}: delete the folder and run {FETCH}")
    return Rooms(pano, photo)


# --------------------------------------------------------------------------- cameras

def look_rotation(eye: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """World (Y-up) -> OpenCV camera rotation for a camera looking along heading ``yaw`` (about +Y,
    0 = +Z) tilted up by ``pitch`` (radians), rolled by ``roll``."""
    z = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
    x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = np.cos(roll), np.sin(roll)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ np.stack([x, y, z])


#: camera kinds: (share, height range m, horizontal distance range m, pitch limits deg (up +))
CAMERA_KINDS = {"laptop": (0.35, (0.7, 1.0), (0.7, 2.0), (-6.0, 20.0)),
                "eye": (0.35, (1.0, 1.8), (1.2, 4.0), (-25.0, 12.0)),
                "high": (0.30, (1.9, 2.7), (1.5, 4.5), (-45.0, -8.0))}
FRAMES = ((640, 480), (1280, 720), (1920, 1080), (1080, 1920))


@dataclass
class RoomCamera:
    rot: np.ndarray          # (3, 3) world -> OpenCV camera
    t: np.ndarray            # (3,)
    f: float                 # focal length, frame pixels
    frame: tuple             # (width, height)
    rel_az: float            # camera azimuth relative to the body's facing (radians)
    pitch: float             # camera elevation seen from the body centre (radians)
    eye: np.ndarray          # (3,) camera centre, world
    kind: str                # CAMERA_KINDS key
    framing: str             # "full" or "waist"


def room_camera(rng, joints_w: np.ndarray, facing: np.ndarray) -> RoomCamera:
    """A camera in a room looking at the body (joints ``joints_w`` (16, 3), feet on y = 0)."""
    kinds = list(CAMERA_KINDS)
    kind = kinds[rng.choice(len(kinds), p=[CAMERA_KINDS[k][0] for k in kinds])]
    _, hr, dr, (plo, phi) = CAMERA_KINDS[kind]
    centre = joints_w.mean(0)
    face_az = np.arctan2(facing[0], facing[2])
    rel = np.deg2rad(rng.normal(0, 35)) if rng.random() < 0.75 else rng.uniform(-np.pi, np.pi)
    az = face_az + rel
    dist = rng.uniform(*dr)
    height = rng.uniform(*hr)
    eye = np.array([centre[0] + dist * np.sin(az), height, centre[2] + dist * np.cos(az)])
    w, h = FRAMES[rng.integers(len(FRAMES))]
    f = (max(w, h) / 2) / np.tan(np.deg2rad(rng.uniform(50, 85)) / 2)
    half_v = np.arctan(h / 2 / f)
    d_h = np.hypot(*(centre - eye)[[0, 2]])
    top = joints_w[:, 1].max() + 0.12
    framing = "waist" if rng.random() < (0.55 if kind == "laptop" else 0.3) else "full"
    if framing == "waist":  # the frame's lower edge through the hips (give or take a hand)
        hip_y = joints_w[S.ROOT, 1] + rng.uniform(-0.12, 0.12)
        pitch = np.arctan2(hip_y - height, d_h) + half_v
    else:
        a_low, a_high = np.arctan2(-0.05 - height, d_h), np.arctan2(top - height, d_h)
        slack = 2 * half_v - (a_high - a_low)
        pitch = 0.5 * (a_low + a_high) + (rng.uniform(-0.4, 0.4) * slack if slack > 0 else 0.0)
        if slack < 0:  # the body does not fit: keep the head in
            pitch = a_high - 0.9 * half_v
    pitch = np.clip(pitch, np.deg2rad(plo), np.deg2rad(phi))
    yaw = np.arctan2(*(centre - eye)[[0, 2]]) + rng.uniform(-0.15, 0.15) * w / f
    roll = np.deg2rad(rng.normal(0, 3) if rng.random() < 0.9 else rng.uniform(-10, 10))
    rot = look_rotation(eye, yaw, pitch, roll)
    elev = np.arcsin(np.clip((height - centre[1]) / np.linalg.norm(eye - centre), -1, 1))
    return RoomCamera(rot, -rot @ eye, float(f), (w, h), float(rel), float(elev), eye, kind, framing)


# --------------------------------------------------------------------------- per-pixel rays

def pixel_rays(k: np.ndarray, rot: np.ndarray, size: int, ss: int = 1) -> np.ndarray:
    """World directions (size*ss, size*ss, 3) of the crop's pixels (``ss``-fold supersampled)."""
    n = size * ss
    c = (np.arange(n) + 0.5) / ss - 0.5
    u, v = np.meshgrid(c, c)
    d = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones_like(u)], -1)
    d = d @ rot  # camera -> world: R^T d
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def panorama_view(pano: np.ndarray, rays: np.ndarray, turn: float, tilt: float = 0.0) -> np.ndarray:
    """The panorama (equirectangular, BGR) seen along world ``rays``, the room turned by ``turn``."""
    h, w = pano.shape[:2]
    dx, dy, dz = rays[..., 0], rays[..., 1], rays[..., 2]
    lon = np.arctan2(dx, dz) + turn
    lat = np.arcsin(np.clip(dy, -1, 1)) + tilt
    mu = ((lon / (2 * np.pi) + 0.5) % 1.0) * w - 0.5
    mv = np.clip((0.5 - lat / np.pi) * h - 0.5, 0, h - 1)
    return cv2.remap(pano, mu.astype(np.float32), mv.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_WRAP)


def _hash01(i: np.ndarray, j: np.ndarray, seed: int) -> np.ndarray:
    """A random number 0..1 per integer cell (i, j)."""
    x = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663) ^ (seed * 83492791)
    x = (x ^ (x >> 13)) * 1274126177
    return ((x ^ (x >> 16)) & 0xFFFF) / 65535.0


def floor_texture(rng, x: np.ndarray, z: np.ndarray, mean_bgr: np.ndarray) -> np.ndarray:
    """Floor colour (..., 3) BGR 0..1 at floor points (x, z) metres: planks, tiles, carpet or concrete."""
    a = rng.uniform(0, np.pi)
    p, q = x * np.cos(a) + z * np.sin(a), -x * np.sin(a) + z * np.cos(a)
    kind = rng.choice(["planks", "tiles", "carpet", "concrete"], p=[0.4, 0.25, 0.2, 0.15])
    seed = int(rng.integers(1 << 20))
    if rng.random() < 0.5:  # the room's own colour
        base = np.clip(mean_bgr * rng.uniform(0.7, 1.2), 0.05, 0.95)
    elif kind == "planks":
        base = np.array([0.25, 0.42, 0.62]) * rng.uniform(0.5, 1.3)
    else:
        base = np.full(3, rng.uniform(0.25, 0.85)) * rng.uniform(0.9, 1.1, 3)
    if kind == "planks":
        wdt, ln = rng.uniform(0.1, 0.22), rng.uniform(0.8, 2.0)
        row = np.floor(p / wdt)
        col = np.floor(q / ln + _hash01(row, row, seed))
        jitter = 0.8 + 0.4 * _hash01(row, col, seed)
        grain = 1 + 0.06 * np.sin(q * 40 + 6 * np.sin(p * 23 + row))
        seam = np.minimum(np.abs(p / wdt - np.round(p / wdt)) * wdt, 1.0) < 0.004
        v = (jitter * grain)[..., None] * base
        v[seam] *= 0.6
    elif kind == "tiles":
        s = rng.uniform(0.3, 0.6)
        ti, tj = np.floor(p / s), np.floor(q / s)
        grout = (np.minimum(np.abs(p / s - np.round(p / s)), np.abs(q / s - np.round(q / s))) * s) < 0.006
        v = (0.92 + 0.16 * _hash01(ti, tj, seed))[..., None] * base
        v[grout] = base * 0.55
    elif kind == "carpet":
        n = np.sin(p * 37 + 3 * np.sin(q * 11)) * np.sin(q * 29 + 2 * np.sin(p * 13))
        v = (0.93 + 0.07 * n)[..., None] * base
    else:
        n = np.sin(p * 3.1 + 2 * np.sin(q * 1.7)) + 0.5 * np.sin(q * 7.3 + np.sin(p * 5.1))
        v = (0.9 + 0.06 * n)[..., None] * base
    return np.clip(v, 0, 1)


# --------------------------------------------------------------------------- furniture

@dataclass
class Box:
    centre: np.ndarray   # (3,) world
    half: np.ndarray     # (3,) half sizes along the box's own axes (x side, y up, z depth)
    yaw: float           # box axes turned about +Y
    colour: np.ndarray   # (3,) BGR 0..1
    name: str = "box"


def furniture(rng, cam: RoomCamera, joints_w: np.ndarray) -> list[Box]:
    """Furniture between the camera and the body: a desk (55 % with a laptop camera, else 30 %) or
    a chair back (15 %), or none. Every box is nearer to the camera than the body's joints minus a
    margin, so it hides whatever it covers."""
    eye = cam.eye
    centre = joints_w.mean(0)
    fwd = (centre - eye) * np.array([1.0, 0.0, 1.0])
    fwd /= np.linalg.norm(fwd)
    side = np.array([fwd[2], 0.0, -fwd[0]])
    near = ((joints_w - eye) @ fwd).min() - rng.uniform(0.15, 0.35)  # the body's nearest joint, less a margin
    lateral = (centre - eye) @ side
    yaw = np.arctan2(fwd[0], fwd[2])
    u = rng.random()
    wood = np.array([[0.3, 0.45, 0.6], [0.85, 0.85, 0.85], [0.12, 0.12, 0.13], [0.55, 0.6, 0.62],
                     [0.4, 0.55, 0.7]])[rng.integers(5)] * rng.uniform(0.8, 1.15)
    boxes: list[Box] = []
    if u < (0.55 if cam.kind == "laptop" else 0.3):  # a desk
        top_h = rng.uniform(0.68, 0.78) if cam.kind != "laptop" else min(cam.eye[1] - rng.uniform(0.05, 0.25), 0.8)
        depth = rng.uniform(0.5, 0.85)
        far = near
        if far - depth < 0.25 and cam.kind != "laptop":
            return []  # no room for a desk between the camera and the body
        mid = far - depth / 2
        width = rng.uniform(1.0, 1.8)
        off = lateral + rng.uniform(-0.25, 0.25)
        c = eye * np.array([1, 0, 1]) + fwd * mid + side * off
        thick = rng.uniform(0.025, 0.05)
        boxes.append(Box(c + np.array([0, top_h - thick / 2, 0]), np.array([width / 2, thick / 2, depth / 2]),
                         yaw, wood, "desk"))
        leg_col = wood if rng.random() < 0.5 else np.full(3, rng.uniform(0.1, 0.7))
        if rng.random() < 0.5:  # a closed front (the side towards the camera)
            boxes.append(Box(c + np.array([0, (top_h - thick) / 2, 0]) - fwd * (depth / 2 - 0.02),
                             np.array([width / 2 - 0.02, (top_h - thick) / 2, 0.01]), yaw, leg_col * 0.9, "desk"))
        for sx in (-1, 1):
            for sz in (-1, 1):
                boxes.append(Box(c + side * sx * (width / 2 - 0.04) + fwd * sz * (depth / 2 - 0.04) +
                                 np.array([0, (top_h - thick) / 2, 0]), np.array([0.02, (top_h - thick) / 2, 0.02]),
                                 yaw, leg_col, "desk"))
    elif u < (0.55 if cam.kind == "laptop" else 0.3) + 0.15 and near > 0.6:  # a chair back
        h0, h1 = rng.uniform(0.4, 0.5), rng.uniform(0.8, 1.1)
        c = eye * np.array([1, 0, 1]) + fwd * (near - 0.04) + side * (lateral + rng.uniform(-0.2, 0.2))
        col = np.array([[0.1, 0.1, 0.1], [0.35, 0.2, 0.12], [0.4, 0.25, 0.15], [0.5, 0.5, 0.5]])[rng.integers(4)]
        boxes.append(Box(c + np.array([0, (h0 + h1) / 2, 0]), np.array([rng.uniform(0.2, 0.26), (h1 - h0) / 2, 0.035]),
                         yaw + rng.uniform(-0.3, 0.3), col * rng.uniform(0.8, 1.2), "chair"))
        for sx in (-1, 1):  # its back posts down to the seat
            boxes.append(Box(c + side * sx * 0.2 + np.array([0, h0 / 2, 0]), np.array([0.02, h0 / 2, 0.02]),
                             yaw, col, "chair"))
    return boxes


_BOX_FACES = ((0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3))
_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], np.float64)


def _clip_near(poly: np.ndarray, near: float = 0.05) -> np.ndarray:
    """Clip a camera-space polygon (n, 3) to z >= near (Sutherland-Hodgman, one plane)."""
    out = []
    for i in range(len(poly)):
        a, b = poly[i], poly[(i + 1) % len(poly)]
        ina, inb = a[2] >= near, b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            out.append(a + (b - a) * (near - a[2]) / (b[2] - a[2]))
    return np.array(out)


def draw_boxes(boxes: list[Box], rot: np.ndarray, t: np.ndarray, k: np.ndarray, size: int, light) -> tuple:
    """Boxes drawn in the crop camera (world -> camera ``rot``, ``t``; intrinsics ``k``): BGR uint8
    (size, size, 3) and coverage (size, size) float 0..1 (anti-aliased edges). Faces are flat-shaded
    by the key light and ambient, drawn far to near."""
    light_dir, key, amb = light
    img = np.zeros((size, size, 3), np.uint8)
    cover = np.zeros((size, size), np.uint8)
    eye = -rot.T @ t
    faces = []
    for b in boxes:
        c, s = np.cos(b.yaw), np.sin(b.yaw)
        axes = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])  # rows: box x, y, z in world
        corners = b.centre + (_SIGNS * b.half) @ axes
        for f in _BOX_FACES:
            q = corners[list(f)]
            n = np.cross(q[1] - q[0], q[3] - q[0])
            n /= max(np.linalg.norm(n), 1e-12)
            if n @ (q.mean(0) - b.centre) < 0:
                n = -n
            if n @ (q.mean(0) - eye) >= 0:
                continue  # facing away
            shade = np.clip(b.colour[::-1] * (amb + key * max(-(n @ light_dir), 0.0)), 0, 1)[::-1]
            faces.append((np.linalg.norm(q.mean(0) - eye), q, shade))
    for _, q, shade in sorted(faces, key=lambda f: -f[0]):
        cam = _clip_near(q @ rot.T + t)
        if len(cam) < 3:
            continue
        uv = (cam @ k.T)[:, :2] / cam[:, 2:]
        if np.abs(uv).max() > 1e5:
            continue
        pts = np.round(uv * 16).astype(np.int32)  # 4 bits of sub-pixel precision
        cv2.fillConvexPoly(img, pts, tuple(float(v) * 255 for v in shade), cv2.LINE_AA, 4)
        cv2.fillConvexPoly(cover, pts, 255, cv2.LINE_AA, 4)
    return img, cover.astype(np.float32) / 255.0


# --------------------------------------------------------------------------- light

def light_for(rng, bg_bgr_mean: np.ndarray, toward: np.ndarray | None = None):
    """Key light (direction it travels, RGB colour) and ambient RGB matched to the background's mean
    colour and brightness (BGR 0..255). ``toward`` (3,): the horizontal direction from the camera to
    the person; the key light then mostly comes from the camera's side (ceiling lights, windows or
    the screen in front of a webcam user), sometimes from the side or behind."""
    m = np.asarray(bg_bgr_mean, np.float64)[::-1] / 255.0
    bright = float(m @ np.array([0.2126, 0.7152, 0.0722]))
    tint = m / max(m.mean(), 1e-3)
    tint = np.clip(0.55 + 0.45 * tint, 0.5, 1.4)
    d = np.array([rng.normal(0, 0.6), -rng.uniform(0.6, 1.2), rng.normal(0, 0.6)])
    if toward is not None:
        side = np.array([toward[2], 0.0, -toward[0]])
        d = np.array([0.0, -rng.uniform(0.6, 1.2), 0.0]) + side * rng.normal(0, 0.6) + \
            toward * rng.uniform(-0.3, 1.0)
    # a camera's auto exposure keeps people visible in dark rooms: brightness follows the room, damped
    key = tint * (0.5 + 0.45 * bright) * rng.uniform(0.8, 1.15)
    amb = tint * (0.38 + 0.3 * bright) * rng.uniform(0.8, 1.15)
    return d / np.linalg.norm(d), np.clip(key, 0, 1.2), np.clip(amb, 0, 0.9)


# --------------------------------------------------------------------------- the scene

@dataclass
class Scene:
    background: np.ndarray   # (S, S, 3) uint8 BGR: room view and floor
    front: np.ndarray        # (S, S, 3) uint8 BGR: furniture in front of the body
    front_alpha: np.ndarray  # (S, S) float 0..1: furniture coverage
    light: tuple             # (direction, key RGB, ambient RGB) for the body


def render_scene(rng, rooms: Rooms, cam: RoomCamera, k: np.ndarray, size: int, joints_w: np.ndarray,
                 photos: list, fallback) -> Scene:
    """The room around and in front of the body for one crop (``k`` crop intrinsics)."""
    rays = pixel_rays(k, cam.rot, size)
    u = rng.random()
    if u < 0.78 and rooms.panoramas:
        pano = rooms.panoramas[rng.integers(len(rooms.panoramas))]
        bg = panorama_view(pano, rays, rng.uniform(0, 2 * np.pi), np.deg2rad(rng.normal(0, 2)))
        floor_share = 1.0
    else:  # a flat picture behind the person: the room photo (12 %), or the older styles' photos / textures (10 %)
        if u < 0.9 and rooms.photos:
            img = rooms.photos[rng.integers(len(rooms.photos))]
            hh, ww = img.shape[:2]
            side = int(rng.uniform(0.35, 0.9) * min(hh, ww))
            y, x = rng.integers(0, hh - side + 1), rng.integers(0, ww - side + 1)
            bg = cv2.resize(img[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
            bg = bg[:, ::-1] if rng.random() < 0.5 else bg
        else:
            bg = fallback(rng, photos, size)
        floor_share = 0.6
    bg = bg.astype(np.float32) / 255.0
    mean_bgr = bg.reshape(-1, 3).mean(0)
    eye = cam.eye
    centre = joints_w.mean(0)
    fwd = (centre - eye) * np.array([1.0, 0.0, 1.0])
    fwd /= np.linalg.norm(fwd)
    light = light_for(rng, mean_bgr * 255, fwd)
    light_dir, key, amb = light
    # the floor: rays going down that reach y = 0 before the far wall
    wall = (centre - eye) @ fwd + rng.uniform(0.6, 3.5)
    down = rays[..., 1] < -1e-4
    t = np.where(down, -eye[1] / np.where(down, rays[..., 1], -1.0), np.inf)
    on_floor = down & ((rays @ fwd) * t < wall) & (rng.random() < floor_share)
    if on_floor.any():
        tf = t[on_floor]
        fx, fz = eye[0] + rays[..., 0][on_floor] * tf, eye[2] + rays[..., 2][on_floor] * tf
        col = floor_texture(rng, fx, fz, mean_bgr.astype(np.float64))
        lit = (amb + key * max(-light_dir[1], 0.0))[::-1]
        shade = _shadow(joints_w, light_dir, fx, fz)
        fog = np.exp(-np.maximum(tf - 2.0, 0) / 12.0)[:, None]  # far floor fades to the room's colour
        floor = col * (lit / max(lit.mean(), 1e-3))[None] * (0.6 + 0.4 * mean_bgr.mean() / 0.5) * shade[:, None]
        bg[on_floor] = np.clip(floor * fog + bg[on_floor] * (1 - fog), 0, 1)
        bg = np.where(on_floor[..., None], cv2.GaussianBlur(bg, (0, 0), 0.6), bg)  # soften the floor's pattern
    front, cover = draw_boxes(furniture(rng, cam, joints_w), cam.rot, cam.t, k, size, light)
    bg8 = np.clip(bg * 255 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:  # the room out of focus
        bg8 = cv2.GaussianBlur(bg8, (0, 0), rng.uniform(0.4, 1.6))
    return Scene(bg8, front, cover, light)


REMAP_ROW = 4096  # floor points per cv2.remap row (its maps must stay under 32,767 px a side)


def _shadow(joints_w: np.ndarray, light_dir: np.ndarray, fx: np.ndarray, fz: np.ndarray) -> np.ndarray:
    """Floor brightness factor at floor points (fx, fz): the body's soft cast shadow (its bones dropped
    onto the floor along the light) and a contact shadow around the feet. A top-down map of 4 m x 4 m
    around the body, 2 cm per cell."""
    n, cell = 200, 0.02
    origin = joints_w[S.ROOT, [0, 2]] - n * cell / 2
    drop = joints_w - light_dir[None] * (joints_w[:, 1:2] / max(-light_dir[1], 0.3))
    cast = np.zeros((n, n), np.float32)
    ij = np.round((drop[:, [0, 2]] - origin) / cell * 4).astype(np.int32)
    for a, b in S.BONES:
        cv2.line(cast, tuple(ij[a]), tuple(ij[b]), 1.0, 9, cv2.LINE_AA, 2)
    cast = cv2.GaussianBlur(cast, (0, 0), 5)
    contact = np.zeros((n, n), np.float32)
    for j in ("r_ankle", "l_ankle"):
        c = np.round((joints_w[S.JOINT_INDEX[j], [0, 2]] - origin) / cell * 4).astype(np.int32)
        cv2.circle(contact, tuple(c), 16, 1.0, -1, cv2.LINE_AA, 2)
    contact = cv2.GaussianBlur(contact, (0, 0), 4)
    shade = 1 - 0.4 * np.minimum(cast, 1) - 0.35 * np.minimum(contact, 1)
    mx = ((fx - origin[0]) / cell - 0.5).astype(np.float32).reshape(-1)
    mz = ((fz - origin[1]) / cell - 0.5).astype(np.float32).reshape(-1)
    # cv2.remap takes maps under 32,767 px a side (SHRT_MAX), and a crop can be nearly all floor (192 x 192 =
    # 36,864 points): the points go in rows of at most REMAP_ROW, padded; each point is looked up on its own,
    # so the layout does not change a value
    m = len(mx)
    if m == 0:
        return np.ones(0, np.float32)
    rows = -(-m // REMAP_ROW)
    cols = min(m, REMAP_ROW)
    mx, mz = (np.pad(a, (0, rows * cols - m)).reshape(rows, cols) for a in (mx, mz))
    out = cv2.remap(shade, mx, mz, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=1.0)
    return out.reshape(-1)[:m]


@reports_user_errors("trainer.data.scenes")  # a user mistake: one line, exit code 2
def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog=FETCH, description="fetch and decode the room backgrounds")
    ap.add_argument("--out", default=str(BG_DIR))
    args = ap.parse_args(argv)
    root = fetch_backgrounds(Path(args.out))
    print(f"room backgrounds ready in {root}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
