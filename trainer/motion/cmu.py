"""The CMU Graphics Lab motion-capture database (cgspeed's Daz conversion, as ``../shared/mocap``
holds it), retargeted onto our skeleton for the motion model.

The data: "The data used in this project was obtained from mocap.cs.cmu.edu. The database was
created with funding from NSF EIA-0196217." (the attribution CMU asks for; also in
assets/NOTICE.md and the model card). Free for all uses; the data set itself may not be sold.

The folder (``--cmu DIR``, else ``$MOTION_CMU_DIR``, else ``../shared/mocap`` beside the repository)
holds ``skeleton.npz`` (21 joint names, parents, rest offsets, end sites, the quaternion scale)
and ``cmu/subject_NNN.npz`` (per clip ``SS_TT_rot``: int16 (21, 4, T) time differences of
``round(scale * q)``, parent-local quaternions (x, y, z, w); ``SS_TT_root``: int32 (3, T) time
differences of the hip position in millimetres), all at 30 frames/s, Y up, metres, the rest pose
a T-pose facing +Z with the body's left at +X: our axes. Any folder in that format works (AMASS-
style data converted to it, or a subset).

Their forward kinematics (:func:`cmu_forward`): ``G_j = G_parent @ R_j``,
``p_j = p_parent + G_parent @ offsets[j]``, the hip at the root position.

Retargeting (:func:`retarget`), as ``trainer/motion/deepmimic.py`` does for DeepMimic: a bone's
absolute rotation is the global rotation of the CMU joint that drives it times a fixed rest
correction, the minimal turn from our rest bone onto the CMU rest bone (the offset of the joint it
points to), so every limb keeps its direction:

- hips (both bones): ``hip`` (the pelvis; its rest axes are ours);
- thighs, shins: ``rThigh``, ``rShin`` (towards ``rShin``, ``rFoot``), and the left side alike;
- spine: ``chest``'s rotation followed by the minimal turn onto the pelvis-to-``neck`` direction
  (the pelvis is the midpoint of the thighs; CMU bends at ``abdomen`` and ``chest``, we have one
  spine bone); clavicles take the spine's rotation (``make_rigid_torso``; CMU's collars are never
  animated);
- neck: ``neck`` (towards ``head``); head: ``head`` (towards the ``head_top`` site);
- upper arms, forearms: ``rShldr``, ``rForeArm`` (towards ``rForeArm``, ``rHand``).

Body proportions are not taken from the data (cgspeed put every subject on one 1.6 m figure): the
simulator draws a body per window (``trainer.motion.data.random_bodies``), as for DeepMimic.

Splits hold out whole subjects (the README's suggestion): test 13, 14, 15, 86, 94, 143; validation
(choosing checkpoints) 60, 61, 135, 141; subject 01 is in neither train nor these (CMU 01_03, as
the assimp-testmodels copy, stays the comparison test of ``trainer.motion.data``). Frames where a
knee, foot or hip flips by more than 90 degrees between frames (source glitches) are cut out with
``GLITCH_MARGIN`` frames on each side.

``python -m trainer.motion.cmu [--cmu DIR]`` retargets every clip into ``data/motion/cmu`` (a cache
keyed by the source files; about a minute) and prints the splits; ``--picture PATH`` draws CMU's
own skeleton beside ours.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import rotations as R
from engine import skeleton as S
from engine.errors import UserError, reports_user_errors
from trainer.data.poses import make_rigid_torso

REPO = Path(__file__).resolve().parents[2]
ENV = "MOTION_CMU_DIR"
DEFAULT_ROOT = REPO.parent / "shared" / "mocap"
DEFAULT_CACHE = REPO / "data" / "motion" / "cmu"
FPS = 30.0
TEST_SUBJECTS = (13, 14, 15, 86, 94, 143)
VAL_SUBJECTS = (60, 61, 135, 141)
#: out of every split: CMU 01_03 is the old comparison test (trainer.motion.data), 01_01 its neighbour
EXCLUDED_SUBJECTS = (1,)
#: a joint turning more than this between two frames is a source glitch (README: "pop frames")
GLITCH_DEG = 90.0
GLITCH_JOINTS = ("hip", "rThigh", "rShin", "rFoot", "lThigh", "lShin", "lFoot")
GLITCH_MARGIN = 15
MIN_FRAMES = 30
#: bump when the retargeting changes (invalidates the cache)
CACHE_VERSION = 1
NEEDED = ("hip", "abdomen", "chest", "neck", "head", "rCollar", "rShldr", "rForeArm", "rHand", "lCollar", "lShldr",
          "lForeArm", "lHand", "rThigh", "rShin", "rFoot", "lThigh", "lShin", "lFoot")

_B = S.BONE_INDEX
_J = S.JOINT_INDEX
#: our bone -> (CMU joint whose global rotation drives it, CMU joint or site its rest bone points to;
#: None: the joint's rest axes are ours)
DRIVERS = {
    "r_hip": ("hip", None), "l_hip": ("hip", None),
    "r_thigh": ("rThigh", "rShin"), "r_shin": ("rShin", "rFoot"),
    "l_thigh": ("lThigh", "lShin"), "l_shin": ("lShin", "lFoot"),
    "spine": ("chest", None), "neck": ("neck", "head"), "head": ("head", "head_top"),
    "r_clavicle": ("chest", None), "l_clavicle": ("chest", None),
    "r_upper_arm": ("rShldr", "rForeArm"), "r_forearm": ("rForeArm", "rHand"),
    "l_upper_arm": ("lShldr", "lForeArm"), "l_forearm": ("lForeArm", "lHand"),
}
#: our joint -> CMU joint or site at the same place (the pelvis: the midpoint of the thighs)
JOINTS = {
    "r_ankle": "rFoot", "r_knee": "rShin", "r_hip": "rThigh", "l_hip": "lThigh", "l_knee": "lShin",
    "l_ankle": "lFoot", "thorax": "neck", "upper_neck": "head", "head_top": "head_top",
    "r_wrist": "rHand", "r_elbow": "rForeArm", "r_shoulder": "rShldr", "l_shoulder": "lShldr",
    "l_elbow": "lForeArm", "l_wrist": "lHand",
}


# --------------------------------------------------------------------------- files

def resolve_root(path: str | Path | None = None) -> Path:
    """The CMU folder: ``path``, else ``$MOTION_CMU_DIR``, else ``../shared/mocap`` beside the
    repository. A folder without ``skeleton.npz`` and ``cmu/subject_*.npz`` is a ``UserError``."""
    root = Path(path or os.environ.get(ENV) or DEFAULT_ROOT)
    if not (root / "skeleton.npz").is_file() or not any((root / "cmu").glob("subject_*.npz")):
        raise UserError(f"CMU motion capture not found in {root} (needs skeleton.npz and cmu/subject_NNN.npz; "
                        f"point --cmu or ${ENV} at such a folder, docs/motion.md)")
    return root


@dataclass(frozen=True)
class CmuSkeleton:
    """``skeleton.npz``: joints (parents first) and end sites, metres, world axes of the rest pose."""

    names: tuple[str, ...]
    parents: np.ndarray        # (21,) int
    offsets: np.ndarray        # (21, 3)
    site_names: tuple[str, ...]
    site_parents: np.ndarray   # (7,) int
    site_offsets: np.ndarray   # (7, 3)
    quat_scale: float

    def index(self, name: str) -> int:
        return self.names.index(name)

    def rest_offset(self, name: str) -> np.ndarray:
        """Rest offset (3,) of a joint or an end site from its parent."""
        if name in self.names:
            return self.offsets[self.index(name)]
        return self.site_offsets[self.site_names.index(name)]


def read_skeleton(root: Path) -> CmuSkeleton:
    path = Path(root) / "skeleton.npz"
    try:
        z = np.load(path)
        sk = CmuSkeleton(tuple(str(n) for n in z["joint_names"]), z["parents"].astype(int),
                         z["offsets"].astype(np.float64), tuple(str(n) for n in z["site_names"]),
                         z["site_parents"].astype(int), z["site_offsets"].astype(np.float64), float(z["quat_scale"]))
    except (OSError, KeyError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    missing = [n for n in NEEDED if n not in sk.names] + ([] if "head_top" in sk.site_names else ["head_top"])
    if missing:
        raise UserError(f"{path}: not the CMU Daz skeleton (missing {', '.join(missing)})")
    if any(p >= i for i, p in enumerate(sk.parents)):
        raise UserError(f"{path}: parents must come before their children")
    return sk


def subject_files(root: Path) -> dict[int, Path]:
    """{subject number: its npz file}."""
    out = {}
    for p in sorted((Path(root) / "cmu").glob("subject_*.npz")):
        try:
            out[int(p.stem.split("_")[1])] = p
        except (IndexError, ValueError):
            continue
    return out


def split_of(subject: int) -> str | None:
    """'train', 'val', 'test' or None (excluded) for a subject number."""
    if subject in TEST_SUBJECTS:
        return "test"
    if subject in VAL_SUBJECTS:
        return "val"
    return None if subject in EXCLUDED_SUBJECTS else "train"


def read_clips(path: Path, quat_scale: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every clip of one subject file: {clip: (quaternions (T, 21, 4) x,y,z,w unit, root (T, 3) metres)}."""
    out = {}
    try:
        z = np.load(path)
        names = sorted({f[: -len("_rot")] for f in z.files if f.endswith("_rot")})
        for name in names:
            q = np.moveaxis(np.cumsum(z[name + "_rot"], axis=-1, dtype=np.int16), -1, 0) / quat_scale
            root = np.cumsum(z[name + "_root"].astype(np.int64), axis=-1).T / 1000.0
            out[name] = (q / np.linalg.norm(q, axis=-1, keepdims=True), root)
    except (OSError, KeyError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    return out


# --------------------------------------------------------------------------- kinematics

def cmu_forward(q: np.ndarray, root: np.ndarray, sk: CmuSkeleton) -> tuple[np.ndarray, np.ndarray]:
    """CMU's forward kinematics: quaternions (T, 21, 4), root (T, 3) -> joints (T, 21, 3) metres and
    global rotations (T, 21, 3, 3), world axes."""
    r = R.quat_to_matrix(np.asarray(q, np.float64))
    g, p = np.empty_like(r), np.empty(r.shape[:-2] + (3,))
    for j, par in enumerate(sk.parents):
        if par < 0:
            g[:, j], p[:, j] = r[:, j], root
        else:
            g[:, j] = g[:, par] @ r[:, j]
            p[:, j] = p[:, par] + g[:, par] @ sk.offsets[j]
    return p, g


def cmu_joints(q: np.ndarray, root: np.ndarray, sk: CmuSkeleton) -> np.ndarray:
    """CMU's own joints mapped onto our 16 (``JOINTS``; the pelvis between the thighs), world axes,
    metres, at the clip's root position. (T, 16, 3)."""
    p, g = cmu_forward(q, root, sk)
    out = np.empty((len(p), S.NUM_JOINTS, 3))
    for ours, theirs in JOINTS.items():
        if theirs in sk.names:
            out[:, _J[ours]] = p[:, sk.index(theirs)]
        else:
            k = sk.site_names.index(theirs)
            par = sk.site_parents[k]
            out[:, _J[ours]] = p[:, par] + g[:, par] @ sk.site_offsets[k]
    out[:, S.ROOT] = 0.5 * (p[:, sk.index("rThigh")] + p[:, sk.index("lThigh")])
    return out


def retarget(q: np.ndarray, sk: CmuSkeleton, root: np.ndarray | None = None) -> np.ndarray:
    """Absolute bone rotations (T, 15, 3, 3) of our skeleton from CMU quaternions (T, 21, 4)
    (rigid torso, the clip's own world and heading)."""
    root = np.zeros((len(q), 3)) if root is None else root
    p, g = cmu_forward(q, root, sk)
    u = S.Skeleton.default().bone_vectors
    out = np.empty((len(q), S.NUM_BONES, 3, 3))
    for bone, (joint, target) in DRIVERS.items():
        b = _B[bone]
        fix = np.eye(3) if target is None else R.rotation_between(u[b], sk.rest_offset(target))
        out[:, b] = g[:, sk.index(joint)] @ fix
    pelvis = 0.5 * (p[:, sk.index("rThigh")] + p[:, sk.index("lThigh")])
    spine = p[:, sk.index("neck")] - pelvis
    b = _B["spine"]
    out[:, b] = R.rotation_between(out[:, b] @ u[b], spine) @ out[:, b]
    return make_rigid_torso(out)


def glitch_frames(q: np.ndarray, sk: CmuSkeleton) -> np.ndarray:
    """Indices t where a glitch joint's parent-local rotation turns by more than ``GLITCH_DEG``
    from frame t - 1 to t. q: (T, 21, 4)."""
    idx = [sk.index(n) for n in GLITCH_JOINTS]
    d = np.abs(np.sum(q[1:, idx] * q[:-1, idx], -1)).clip(0, 1)
    turn = np.rad2deg(2 * np.arccos(d))
    return np.nonzero((turn > GLITCH_DEG).any(-1))[0] + 1


def clean_segments(n: int, bad: np.ndarray, margin: int = GLITCH_MARGIN, min_frames: int = MIN_FRAMES):
    """Frame ranges [(start, stop)] of a clip of ``n`` frames without the bad frames and ``margin``
    frames on each side of them, each at least ``min_frames`` long."""
    keep = np.ones(n, bool)
    for t in bad:
        keep[max(0, t - margin): t + margin] = False
    edges = np.diff(np.r_[0, keep.astype(int), 0])
    starts, stops = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return [(int(a), int(b)) for a, b in zip(starts, stops) if b - a >= min_frames]


# --------------------------------------------------------------------------- cache, splits

def _fingerprint(root: Path) -> str:
    h = hashlib.sha1(f"v{CACHE_VERSION} {GLITCH_DEG} {GLITCH_MARGIN} {MIN_FRAMES} {TEST_SUBJECTS} {VAL_SUBJECTS} "
                     f"{EXCLUDED_SUBJECTS}".encode())
    for p in [Path(root) / "skeleton.npz", *subject_files(root).values()]:
        st = p.stat()
        h.update(f"{p.name} {st.st_size} {int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def build(root: Path, cache: Path = DEFAULT_CACHE, verbose: bool = True) -> Path:
    """Retarget every clip of ``root`` into ``cache/<fingerprint>.npz`` (once; later calls reuse it):
    per split, float32 quaternions (N, 15, 4) of the clean segments laid end to end, their names and
    lengths. Returns the file."""
    root = Path(root)
    sk = read_skeleton(root)
    out = Path(cache) / f"{_fingerprint(root)}.npz"
    if out.is_file():
        return out
    parts = {s: ([], [], []) for s in ("train", "val", "test")}
    dropped = 0
    for subject, path in subject_files(root).items():
        split = split_of(subject)
        if split is None:
            continue
        for name, (q, _) in read_clips(path, sk.quat_scale).items():
            if len(q) < MIN_FRAMES:
                continue
            rot = retarget(q, sk)
            quat = R.matrix_to_quat(rot).astype(np.float32)
            segs = clean_segments(len(q), glitch_frames(q, sk))
            dropped += len(q) - sum(b - a for a, b in segs)
            for k, (a, b) in enumerate(segs):
                parts[split][0].append(quat[a:b])
                parts[split][1].append(f"CMU {name}" + (f" [{k}]" if len(segs) > 1 else ""))
                parts[split][2].append(b - a)
        if verbose:
            print(f"cmu: subject {subject:3d} -> {split}", flush=True)
    arrays = {}
    for split, (q, names, lengths) in parts.items():
        arrays[f"{split}_quat"] = np.concatenate(q) if q else np.zeros((0, S.NUM_BONES, 4), np.float32)
        arrays[f"{split}_names"] = np.array(names, dtype=str)
        arrays[f"{split}_lengths"] = np.array(lengths, dtype=np.int64)
    arrays["info"] = np.array(json.dumps({"root": str(root), "glitch_frames_dropped": int(dropped)}))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(out)
    except OSError as e:
        raise UserError(f"cannot write the CMU cache {out}: {e.strerror or e}") from None
    return out


def load_split(split: str, root: str | Path | None = None, cache: Path = DEFAULT_CACHE) -> dict[str, np.ndarray]:
    """{clip name: float32 quaternions (F, 15, 4)} of our 15 absolute bone rotations at 30 frames/s,
    for ``split`` ('train', 'val' or 'test'), from the cache (built first if needed)."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    path = build(resolve_root(root), cache)
    z = np.load(path)
    q, names, lengths = z[f"{split}_quat"], z[f"{split}_names"], z[f"{split}_lengths"]
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    return {str(n): q[a:a + m] for n, a, m in zip(names, starts, lengths)}


def as_matrices(quats: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) -> rotation matrices (..., 3, 3) float64."""
    return R.quat_to_matrix(np.asarray(quats, np.float64))


# --------------------------------------------------------------------------- picture, command

def save_picture(path: Path, root: Path, clips=("86_01", "143_18", "60_01"), frames: int = 4) -> None:
    """CMU's own skeleton (left of each pair) and ours retargeted (right), front and side views."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sk = read_skeleton(root)
    ours_sk = S.Skeleton.default()
    views = (("front, from +Z", 0), ("side, from -X", 2))
    fig, axes = plt.subplots(len(clips) * 2, frames, figsize=(3.2 * frames, 3.0 * 2 * len(clips)))
    for row, name in enumerate(clips):
        q, r = read_clips(subject_files(root)[int(name.split("_")[0])], sk.quat_scale)[name]
        theirs = cmu_joints(q, r, sk)
        theirs -= theirs[:, S.ROOT:S.ROOT + 1]
        ours = ours_sk.forward_kinematics(retarget(q, sk))
        for col, f in enumerate(np.linspace(0, len(q) - 1, frames).round().astype(int)):
            for v, (title, h) in enumerate(views):
                ax = axes[2 * row + v, col]
                for joints, dx in ((theirs[f], -0.9), (ours[f], 0.9)):
                    x, y = joints[:, h] + dx, joints[:, 1]
                    for b, (s0, e0) in enumerate(S.BONES):
                        bone = S.BONE_NAMES[b]
                        color = "tab:blue" if bone.startswith("l_") else "tab:red" if bone.startswith("r_") else "k"
                        ax.plot([x[s0], x[e0]], [y[s0], y[e0]], color=color, lw=2)
                ax.set_xlim(-2.0, 2.0), ax.set_ylim(-1.3, 1.3), ax.set_aspect("equal")
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_title(f"{name} frame {f}, {title}", fontsize=8)
    fig.suptitle("CMU's own forward kinematics (left of each pair) | our skeleton retargeted (right)\n"
                 "red: right side, blue: left side", fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)


@reports_user_errors("trainer")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer.motion.cmu",
                                 description="Retarget the CMU motion capture onto our skeleton (cached) and "
                                             "print the subject splits.")
    ap.add_argument("--cmu", default=None, help=f"CMU folder (default ${ENV} or {DEFAULT_ROOT})")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--picture", type=Path, help="also save the retargeting picture here")
    a = ap.parse_args(argv)
    root = resolve_root(a.cmu)
    path = build(root, a.cache)
    z = np.load(path)
    print(f"cache: {path}; {json.loads(str(z['info']))}")
    for split in ("train", "val", "test"):
        n = z[f"{split}_lengths"]
        print(f"{split}: {len(n)} segments, {int(n.sum()):,} frames ({n.sum() / FPS / 60:.1f} min)")
    if a.picture:
        save_picture(a.picture, root)
        print(f"saved {a.picture}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
