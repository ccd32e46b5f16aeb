"""DeepMimic's humanoid motion clips (shipped in the pybullet 3.2.7 wheel), retargeted onto our skeleton.

Source: the pybullet wheel (zlib licence) carries the 15 ``humanoid3d_*.txt`` clips of DeepMimic
(Peng et al. 2018: walk, run, jump, kick, punch, spin, spinkick, cartwheel, backflip, crawl, roll,
two dances, two get-ups; 1,620 frames) in ``pybullet_data/data/motions/`` and their character in
``pybullet_data/humanoid/humanoid.urdf``. :func:`fetch_clips` downloads the wheel with pip once
(``trainer.fetch``, into ``data/packages/pip``) and unpacks only those files into
``data/motion/deepmimic`` (git-ignored).

The clip format (JSON ``{"Loop": ..., "Frames": [[...], ...]}``), checked against the data and
pybullet's own reader (``humanoid_pose_interpolator.py``): each frame holds 44 numbers, the
duration to the next frame (seconds; the last frame's does not count), the root position (x, y,
z, metres), the root orientation, then the character's joints in its file's order (chest, neck,
right hip, right knee, right ankle, right shoulder, right elbow, left hip, left knee, left ankle,
left shoulder, left elbow): a spherical joint is a quaternion **(w, x, y, z)** of the body relative
to its parent body (some are not quite unit length: they are normalised), a knee or elbow is one
angle (radians) about the body's z axis.

The character (``humanoid.urdf``): Y-up, rest pose standing with the arms hanging down, facing
+X (the feet point +X) with its right side at +Z (its left at -Z); every joint frame is
parallel to its parent body's (no rest rotations); lengths are 4 times metres (pybullet loads it
with ``globalScaling=0.25``; DeepMimic's own character file holds the same offsets in metres).
The knees bend with negative angles (heel back), the elbows with positive ones (forearm forward).

Retargeting (:func:`retarget`): ``M`` (a turn of -90 degrees about Y) takes the character's rest
axes (facing +X, left -Z) onto ours (facing +Z, left +X), and also its world onto ours, followed by
one turn about Y that makes frame 0 face +Z (the twist about Y of the pelvis; the clip keeps its
own turns after that). A bone's absolute rotation is the DeepMimic body's global rotation, in our
axes, times a fixed rest correction: the minimal turn from our rest bone onto DeepMimic's rest
bone (identity for the legs; for the arms, from our T-pose down to DeepMimic's hanging arms).

- hips (both bones): the root body (the pelvis), as ``trainer.data.poses.make_rigid_torso``;
- thighs, shins: the hip and knee bodies (3-DoF hips keep their twist; the knee is a hinge);
- spine: the chest body's rotation followed by the minimal turn onto DeepMimic's pelvis-to-neck
  direction (DeepMimic bends at the waist and the chest, we have one spine bone); clavicles take
  the spine's rotation (``make_rigid_torso``);
- neck and head: the neck body (DeepMimic's head is rigid on its neck);
- upper arms, forearms: the shoulder and elbow bodies (the forearm ends at DeepMimic's wrist,
  which is fixed to the elbow body; we have no wrist or hand).

:func:`deepmimic_joints` gives DeepMimic's own joints by its forward kinematics, mapped onto our
16 (thorax = the base of DeepMimic's neck, upper neck and head top = the bottom and top of its
head sphere); the tests check our forward kinematics of the retargeted rotations against it.
``python -m trainer.motion.deepmimic`` fetches the clips and prints their lengths at 30 fps.
"""
from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import rotations as R
from engine import skeleton as S
from engine.errors import UserError, reports_user_errors
from trainer.data.poses import make_rigid_torso
from trainer.fetch import CACHE, pip_wheel

PYBULLET_VERSION = "3.2.7"
DEFAULT_CACHE = Path("data/motion/deepmimic")
CLIP_GLOB = "humanoid3d_*.txt"
CHARACTER_FILE = "humanoid.urdf"
_WHEEL_CLIPS = "pybullet_data/data/motions/"
_WHEEL_CHARACTER = "pybullet_data/humanoid/humanoid.urdf"
#: pybullet's globalScaling for this URDF (DeepMimic's metres)
URDF_SCALE = 0.25
#: DeepMimic's rest axes (and world) to ours: its +X (forward) -> our +Z, its -Z (left) -> our +X
M = R.axis_rotation(1, -np.pi / 2)
_B = S.BONE_INDEX
_J = S.JOINT_INDEX


@dataclass(frozen=True)
class Character:
    """DeepMimic's humanoid from its URDF: joints in file order (the root first, each after its parent).

    ``offsets`` (J, 3): each joint's position in its parent body's frame, metres; ``axes`` (J, 3):
    hinge axes (revolute joints); ``kinds``: ``fixed``, ``spherical`` or ``revolute``;
    ``head_centre``, ``head_radius``: the neck body's head sphere (its centre on the body's +Y).
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    kinds: tuple[str, ...]
    offsets: np.ndarray
    axes: np.ndarray
    head_centre: float
    head_radius: float

    def index(self, name: str) -> int:
        return self.names.index(name)

    @property
    def frame_size(self) -> int:
        """Numbers per clip frame: duration, root position, root quaternion, then the joints."""
        return 8 + sum({"spherical": 4, "revolute": 1}.get(k, 0) for k in self.kinds[1:])


#: our bone -> (DeepMimic body that drives it, DeepMimic joint its rest bone points to, None: the
#: body's own rest axes are ours). Clavicles are replaced by the spine's rotation.
_DRIVERS = {
    "r_hip": ("root", None), "r_thigh": ("right_hip", "right_knee"), "r_shin": ("right_knee", "right_ankle"),
    "l_hip": ("root", None), "l_thigh": ("left_hip", "left_knee"), "l_shin": ("left_knee", "left_ankle"),
    "spine": ("chest", None), "neck": ("neck", None), "head": ("neck", None),
    "r_clavicle": ("chest", None), "r_upper_arm": ("right_shoulder", "right_elbow"),
    "r_forearm": ("right_elbow", "right_wrist"),
    "l_clavicle": ("chest", None), "l_upper_arm": ("left_shoulder", "left_elbow"),
    "l_forearm": ("left_elbow", "left_wrist"),
}
#: our joint -> DeepMimic joint at the same place (upper_neck, head_top: on the head sphere)
_JOINTS = {
    "r_ankle": "right_ankle", "r_knee": "right_knee", "r_hip": "right_hip",
    "l_hip": "left_hip", "l_knee": "left_knee", "l_ankle": "left_ankle", "pelvis": "root",
    "thorax": "neck", "r_wrist": "right_wrist", "r_elbow": "right_elbow", "r_shoulder": "right_shoulder",
    "l_shoulder": "left_shoulder", "l_elbow": "left_elbow", "l_wrist": "left_wrist",
}


# --------------------------------------------------------------------------- files

def fetch_clips(cache: Path = DEFAULT_CACHE, wheels: Path = CACHE / "pip") -> list[Path]:
    """The humanoid3d clip files in ``cache``, sorted; when there are none, the pybullet wheel (in
    ``wheels``, downloaded there with pip once) gives the clips and the character (``humanoid.urdf``).

    Raises ``UserError`` (one line) when the download or the unpacking fails.
    """
    cache = Path(cache)
    clips = sorted(cache.glob(CLIP_GLOB))
    if clips and (cache / CHARACTER_FILE).is_file():
        return clips
    spec = f"pybullet=={PYBULLET_VERSION}"
    print(f"deepmimic: unpacking the motion clips of the {spec} wheel (downloaded once, about 100 MB) into {cache}",
          flush=True)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the DeepMimic clip folder {cache}: {e.strerror or e}") from None
    wheel = pip_wheel(spec, Path(wheels))
    try:
        with zipfile.ZipFile(wheel) as z:
            names = z.namelist()
            members = [n for n in names if n.startswith(_WHEEL_CLIPS)  # not walker/ (another character)
                       and "/" not in n[len(_WHEEL_CLIPS):] and Path(n).match(CLIP_GLOB)]
            if not members or _WHEEL_CHARACTER not in names:
                raise UserError(f"{wheel.name} holds no DeepMimic humanoid3d clips or no "
                                f"{_WHEEL_CHARACTER}")
            for name in members + [_WHEEL_CHARACTER]:  # the character last: it marks a full cache
                target = cache / Path(name).name
                part = target.with_name(target.name + ".part")
                part.write_bytes(z.read(name))
                part.replace(target)
    except (zipfile.BadZipFile, OSError) as e:
        raise UserError(f"cannot unpack the DeepMimic clips from {wheel.name} into {cache}: "
                        f"{_one_line(str(e))}") from None
    return sorted(cache.glob(CLIP_GLOB))


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def read_character(path: Path) -> Character:
    """DeepMimic's humanoid from ``humanoid.urdf`` (lengths scaled to metres)."""
    path = Path(path)
    try:  # the wheel's file ends in a NUL byte
        root = ET.fromstring(path.read_bytes().rstrip(b"\0 \t\r\n"))
    except FileNotFoundError:
        raise UserError(f"DeepMimic character not found ({path}): run python -m trainer.motion.deepmimic") from None
    except (OSError, ET.ParseError) as e:
        raise UserError(f"cannot read the DeepMimic character {path}: {_one_line(str(e))}") from None
    try:
        names, parents, kinds, offsets, axes, head = _parse_urdf(root)
    except (AttributeError, ValueError, IndexError):  # a missing element or a bad number
        raise UserError(f"cannot read the DeepMimic character {path}: not the humanoid's URDF") from None
    needed = {n for n, _ in _DRIVERS.values()} | {n for _, n in _DRIVERS.values() if n} | set(_JOINTS.values())
    if names[:1] != ["root"] or min(parents[1:], default=-1) < 0 or not needed <= set(names) or head is None:
        raise UserError(f"{path} is not DeepMimic's humanoid (joints {', '.join(names)})")
    return Character(tuple(names), tuple(parents), tuple(kinds), np.array(offsets), np.array(axes),
                     head[0], head[1])


def _parse_urdf(root: ET.Element):
    """Joints (child link names, parent indices, types, offsets in metres, axes) and the head sphere."""
    names, parents, kinds, offsets, axes = [], [], [], [], []
    child_of = {}
    for j in root.iter("joint"):
        parent, child = j.find("parent").get("link"), j.find("child").get("link")
        origin = j.find("origin")
        xyz = [float(v) for v in (origin.get("xyz") if origin is not None else "0 0 0").split()]
        axis = j.find("axis")
        names.append(child)
        parents.append(child_of.get(parent, -1))
        child_of[child] = len(names) - 1
        kinds.append(j.get("type"))
        offsets.append(np.array(xyz) * URDF_SCALE)
        axes.append([float(v) for v in axis.get("xyz").split()] if axis is not None else [0.0, 0.0, 1.0])
    head = None
    for link in root.iter("link"):
        if link.get("name") == "neck":
            col = link.find("collision")
            head = (float(col.find("origin").get("xyz").split()[1]) * URDF_SCALE,
                    float(col.find("geometry/sphere").get("radius")) * URDF_SCALE)
    return names, parents, kinds, offsets, axes, head


def read_frames(path: Path, character: Character | None = None) -> np.ndarray:
    """The raw frames of a clip, (F, 44): duration, root position, root quaternion (w first), joints."""
    path = Path(path)
    try:
        frames = np.asarray(json.loads(path.read_text())["Frames"], dtype=np.float64)
    except FileNotFoundError:
        raise UserError(f"DeepMimic clip not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"cannot read the DeepMimic clip {path}: {_one_line(str(e)) or type(e).__name__}") from None
    size = character.frame_size if character is not None else 44
    if frames.ndim != 2 or frames.shape[1] != size or len(frames) < 1:
        raise UserError(f"DeepMimic clip {path} has frames of shape {frames.shape}, not (F, {size})")
    if (frames[:-1, 0] < 0).any():
        raise UserError(f"DeepMimic clip {path} has negative frame durations")
    return frames


# --------------------------------------------------------------------------- kinematics

def _quat_wxyz(q: np.ndarray) -> np.ndarray:
    return R.quat_to_matrix(q[..., [1, 2, 3, 0]])


def _forward(frames: np.ndarray, ch: Character) -> tuple[np.ndarray, np.ndarray]:
    """DeepMimic's forward kinematics in its own world: body rotations (F, J, 3, 3), joints (F, J, 3)."""
    n, nj = len(frames), len(ch.names)
    rot = np.empty((n, nj, 3, 3))
    pos = np.empty((n, nj, 3))
    pos[:, 0] = frames[:, 1:4]
    rot[:, 0] = _quat_wxyz(frames[:, 4:8])
    k = 8
    for j in range(1, nj):
        p = ch.parents[j]
        pos[:, j] = pos[:, p] + rot[:, p] @ ch.offsets[j]
        if ch.kinds[j] == "spherical":
            local = _quat_wxyz(frames[:, k:k + 4])
            k += 4
        elif ch.kinds[j] == "revolute":
            local = R.axis_angle_to_matrix(ch.axes[j] * frames[:, k, None])
            k += 1
        else:
            local = np.eye(3)
        rot[:, j] = rot[:, p] @ local
    return rot, pos


def _world(rot: np.ndarray, ch: Character) -> np.ndarray:
    """DeepMimic world -> ours, with frame 0 turned to face +Z: ``Ry(-yaw) @ M``."""
    pelvis = M @ rot[0, ch.index("root")] @ M.T
    q = R.matrix_to_quat(pelvis)
    yaw = 2.0 * np.arctan2(q[1], q[3])  # the pelvis's twist about Y
    return R.axis_rotation(1, -yaw) @ M


def deepmimic_joints(frames: np.ndarray, character: Character) -> np.ndarray:
    """DeepMimic's own joints by its forward kinematics, as our 16 joints in our world axes (the
    heading of :func:`retarget`), metres, relative to the root position of frame 0. (F, 16, 3)."""
    ch = character
    rot, pos = _forward(frames, ch)
    w = _world(rot, ch)
    out = np.empty((len(frames), S.NUM_JOINTS, 3))
    for ours, theirs in _JOINTS.items():
        out[:, _J[ours]] = pos[:, ch.index(theirs)]
    neck, head_rot = pos[:, ch.index("neck")], rot[:, ch.index("neck")]
    up = np.array([0.0, 1.0, 0.0])
    out[:, _J["upper_neck"]] = neck + head_rot @ (up * (ch.head_centre - ch.head_radius))
    out[:, _J["head_top"]] = neck + head_rot @ (up * (ch.head_centre + ch.head_radius))
    return (out - pos[0, 0]) @ w.T


def retarget(frames: np.ndarray, character: Character) -> np.ndarray:
    """Absolute bone rotations (F, 15, 3, 3) in our conventions at the clip's own frames."""
    ch = character
    rot, pos = _forward(frames, ch)
    w = _world(rot, ch)
    u = S.Skeleton.default().bone_vectors
    out = np.empty((len(frames), S.NUM_BONES, 3, 3))
    for bone, (body, target) in _DRIVERS.items():
        b = _B[bone]
        fix = np.eye(3) if target is None else R.rotation_between(u[b], M @ ch.offsets[ch.index(target)])
        out[:, b] = w @ rot[:, ch.index(body)] @ M.T @ fix
    # one spine bone for DeepMimic's waist and chest: the chest's twist, the pelvis-to-neck direction
    spine = (pos[:, ch.index("neck")] - pos[:, ch.index("root")]) @ w.T
    b = _B["spine"]
    out[:, b] = R.rotation_between(out[:, b] @ u[b], spine) @ out[:, b]
    return make_rigid_torso(out)


def resample(rotations: np.ndarray, durations: np.ndarray, fps: float) -> np.ndarray:
    """Rotations (F, 15, 3, 3) at frames of the given durations to ``fps``, slerped per bone.

    Frame i starts at the sum of the durations before it (the last frame's duration does not
    count); the result has ``floor(total * fps) + 1`` frames (within 1 % of a frame), the first at
    time 0.
    """
    if not fps > 0:
        raise UserError(f"frame rate must be positive, got {fps}")
    rotations = np.asarray(rotations, dtype=np.float64)
    if len(rotations) < 2:
        return rotations.copy()
    t = np.concatenate([[0.0], np.cumsum(np.asarray(durations, np.float64)[:-1])])
    n = int(np.floor(t[-1] * fps + 0.01)) + 1  # durations are rounded (0.0333 s): keep the last frame
    tk = np.minimum(np.arange(n) / fps, t[-1])
    i = np.clip(np.searchsorted(t, tk, side="right") - 1, 0, len(t) - 2)
    span = t[i + 1] - t[i]
    frac = np.clip(np.where(span > 0, (tk - t[i]) / np.where(span > 0, span, 1.0), 1.0), 0.0, 1.0)
    q = R.matrix_to_quat(rotations)
    return R.quat_to_matrix(R.quat_slerp(q[i], q[i + 1], frac[:, None]))


def load_clip(path: Path, fps: float = 30.0) -> np.ndarray:
    """A DeepMimic clip as absolute bone rotations (F, 15, 3, 3) in our conventions, at ``fps``.

    The character file (``humanoid.urdf``) is read from the clip's folder (``fetch_clips`` puts
    it there). Frame 0 faces +Z; the clip keeps its own turns after that.
    """
    path = Path(path)
    character = read_character(path.parent / CHARACTER_FILE)
    frames = read_frames(path, character)
    return resample(retarget(frames, character), frames[:, 0], fps)


def load_clips(fps: float = 30.0) -> dict[str, np.ndarray]:
    """Every humanoid3d clip (fetched into the default cache if needed), by file stem."""
    return {p.stem: load_clip(p, fps) for p in fetch_clips()}


# --------------------------------------------------------------------------- picture, command

def save_picture(path: Path, cache: Path = DEFAULT_CACHE,
                 clips: tuple[str, ...] = ("humanoid3d_walk", "humanoid3d_cartwheel", "humanoid3d_backflip"),
                 frames: int = 4) -> None:
    """DeepMimic's own skeleton (left of each pair) and ours retargeted (right) for ``frames``
    frames of each clip, seen from the front (from +Z: the person's left, +X, on the right) and
    from their right side (from -X: +Z, forward, on the right). A short stroke from the head is
    the face's direction (DeepMimic's neck body +X; our head bone's +Z)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    character = read_character(Path(cache) / CHARACTER_FILE)
    sk = S.Skeleton.default()
    views = (("front, from +Z", 0, 1.0), ("side, from -X", 2, 1.0))  # (title, horizontal axis, sign)
    fig, axes = plt.subplots(len(clips) * 2, frames, figsize=(3.2 * frames, 3.0 * 2 * len(clips)))
    head = S.JOINT_INDEX["head_top"]
    for row, name in enumerate(clips):
        raw = read_frames(Path(cache) / f"{name}.txt", character)
        rot, _ = _forward(raw, character)
        w = _world(rot, character)
        theirs = deepmimic_joints(raw, character)
        theirs = theirs - theirs[:, S.ROOT:S.ROOT + 1]
        theirs_face = (w @ rot[:, character.index("neck")] @ np.array([1.0, 0.0, 0.0]))
        ours_rot = retarget(raw, character)
        ours = sk.forward_kinematics(ours_rot)
        ours_face = ours_rot[:, S.BONE_INDEX["head"]] @ np.array([0.0, 0.0, 1.0])
        for col, f in enumerate(np.linspace(0, len(raw) - 1, frames).round().astype(int)):
            for v, (title, h, sign) in enumerate(views):
                ax = axes[2 * row + v, col]
                for joints, face, dx in ((theirs[f], theirs_face[f], -0.9), (ours[f], ours_face[f], 0.9)):
                    x, y = sign * joints[:, h] + dx, joints[:, 1]
                    for b, (s0, e0) in enumerate(S.BONES):
                        bone = S.BONE_NAMES[b]
                        color = "tab:blue" if bone.startswith("l_") else "tab:red" if bone.startswith("r_") else "k"
                        ax.plot([x[s0], x[e0]], [y[s0], y[e0]], color=color, lw=2)
                    ax.plot([x[head], x[head] + 0.25 * sign * face[h]], [y[head], y[head] + 0.25 * face[1]],
                            color="tab:green", lw=2)
                ax.set_xlim(-2.0, 2.0), ax.set_ylim(-1.3, 1.3), ax.set_aspect("equal")
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_title(f"{name.removeprefix('humanoid3d_')} {f}, {title}", fontsize=8)
    fig.suptitle("DeepMimic FK (left of each pair) | our skeleton retargeted (right)\n"
                 "red: right side, blue: left side, green: face direction", fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)


@reports_user_errors("trainer")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.motion.deepmimic",
                                 description="Fetch DeepMimic's humanoid clips (pybullet wheel) and "
                                             "print their lengths after retargeting.")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="clip folder (default %(default)s)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--picture", type=Path, help="also save the retargeting picture here")
    args = ap.parse_args(argv)
    total = 0
    for path in fetch_clips(args.cache):
        n = len(load_clip(path, args.fps))
        total += n
        print(f"{path.stem}: {n} frames at {args.fps:g} fps")
    print(f"total: {total} frames")
    if args.picture:
        save_picture(args.picture, args.cache)
        print(f"saved {args.picture}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
