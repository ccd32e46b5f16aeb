"""Poses for synthetic data, as our 15 absolute bone rotations (world axes, Y-up, facing +Z).

Sources: the CMU clips of Debian's ``assimp-testmodels`` (mapped onto our
skeleton by ``animation.bvh_retarget.clip_to_poses``) and their mirror images; a sampler of
parent-relative rotations within anatomical limits (flexion, abduction and
twist per joint); and a global orientation covering standing, crouching,
sitting (from the poses themselves), lying and turning away from the camera.

The pelvis is rigid (both hip bones share the pelvis rotation) and the
clavicles turn with the spine, as on the rendered rig.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from animation.bvh import read_bvh
from animation.bvh_retarget import clip_to_poses
from engine import rotations as R
from engine import skeleton as S
from engine.errors import UserError

CLIP_DIR = Path("/usr/share/assimp/models/BVH")
#: clip -> split; each split sees its own clips (nothing leaks between splits)
CLIP_SPLITS = {"01_01.bvh": "train", "Boxing_Toes.bvh": "val", "01_03.bvh": "test"}
MIRROR = np.diag([-1.0, 1.0, 1.0])
B = S.BONE_INDEX

#: (bone, axis limits in degrees as ((x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi))), parent-relative,
#: applied as Rz @ Rx @ Ry (twist about the bone's own rest axis where it is Y or X)
LIMITS = {
    "spine": ((-25, 60), (-35, 35), (-25, 25)),
    "neck": ((-30, 45), (-45, 45), (-25, 25)),
    "head": ((-25, 30), (-30, 30), (-15, 15)),
    "r_thigh": ((-110, 35), (-35, 35), (-15, 45)),    # x<0: forward (flexion); +z: abduction (right)
    "l_thigh": ((-110, 35), (-35, 35), (-45, 15)),
    "r_shin": ((0, 140), (-15, 15), (0, 0)),           # knee flexion only (+x: heel back)
    "l_shin": ((0, 140), (-15, 15), (0, 0)),
    "r_upper_arm": ((-80, 80), (-70, 70), (-80, 60)),
    "l_upper_arm": ((-80, 80), (-70, 70), (-60, 80)),
    "r_forearm": ((-60, 60), (0, 145), (0, 0)),       # elbow: +y swings the right forearm forward
    "l_forearm": ((-60, 60), (-145, 0), (0, 0)),
}


def load_clip_poses(names: list[str] | None = None, stride: int = 4) -> dict[str, np.ndarray]:
    """{clip name: (F, 15, 3, 3)} for the CMU clips (every ``stride``-th frame)."""

    out = {}
    for name in names or list(CLIP_SPLITS):
        path = CLIP_DIR / name
        if not path.exists():
            raise UserError(f"motion clips not found ({path}): apt-get install assimp-testmodels")
        out[name] = clip_to_poses(read_bvh(path), path=str(path)).rotations[::stride]
    return out


def mirror(rotations: np.ndarray) -> np.ndarray:
    """Mirror image of poses (..., 15, 3, 3) across the body's sagittal plane (left <-> right)."""
    r = MIRROR @ np.asarray(rotations) @ MIRROR
    return r[..., S.BONE_FLIP, :, :]


def make_rigid_torso(rotations: np.ndarray) -> np.ndarray:
    """Both hip bones take the pelvis rotation; clavicles take the spine's (as the rig renders)."""
    r = np.array(rotations, dtype=np.float64, copy=True)
    pelvis = S.pelvis_rotation(r)
    r[..., B["r_hip"], :, :] = pelvis
    r[..., B["l_hip"], :, :] = pelvis
    r[..., B["r_clavicle"], :, :] = r[..., B["spine"], :, :]
    r[..., B["l_clavicle"], :, :] = r[..., B["spine"], :, :]
    return r


def sample_local_pose(rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Random parent-relative rotations (15, 3, 3) within the joint limits (identity root)."""
    return sample_local_poses(rng, 1, scale)[0]


def sample_local_poses(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    """``n`` random parent-relative poses (n, 15, 3, 3) within the joint limits (identity root);
    ``n`` = 1 draws the same numbers as :func:`sample_local_pose`."""
    local = np.broadcast_to(np.eye(3), (n, S.NUM_BONES, 3, 3)).copy()
    for bone, lims in LIMITS.items():
        lo = np.array([l[0] for l in lims]) * scale
        hi = np.array([l[1] for l in lims]) * scale
        # mixture: half the time near rest (people mostly stand), else anywhere within limits
        u = rng.uniform(lo, hi, (n, 3))
        near = np.clip(rng.normal(0, 0.25, (n, 3)) * (hi - lo) / 2 + np.clip(0, lo, hi), lo, hi)
        ang = np.deg2rad(np.where(rng.random((n, 1)) < 0.4, near, u))
        local[:, B[bone]] = (R.axis_rotation(2, ang[:, 2]) @ R.axis_rotation(0, ang[:, 0])
                             @ R.axis_rotation(1, ang[:, 1]))
    return local


def sample_global(rng: np.random.Generator) -> np.ndarray:
    """A global body orientation: mostly upright at any yaw (including facing away),
    sometimes leaning, sometimes lying (on the back, front or side)."""
    yaw = R.axis_rotation(1, rng.uniform(-np.pi, np.pi))
    u = rng.random()
    if u < 0.75:   # upright, a little lean
        tilt = R.axis_rotation(0, np.deg2rad(rng.normal(0, 8))) @ R.axis_rotation(2, np.deg2rad(rng.normal(0, 6)))
    elif u < 0.9:  # bending / strong lean
        tilt = R.axis_rotation(0, np.deg2rad(rng.uniform(-60, 70))) @ R.axis_rotation(2, np.deg2rad(rng.normal(0, 15)))
    else:          # lying
        tilt = R.axis_rotation(rng.integers(0, 2) * 2, np.deg2rad(rng.choice([-90, 90]) + rng.normal(0, 10)))
    return yaw @ tilt


def sampled_pose(rng: np.random.Generator) -> np.ndarray:
    """Absolute rotations (15, 3, 3) of a sampled pose with a sampled global orientation."""
    local = sample_local_pose(rng)
    return make_rigid_torso(S.local_to_absolute(local, sample_global(rng)))


def reorient(rotations: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A clip pose with its heading replaced by a sampled global orientation."""
    pelvis = S.pelvis_rotation(rotations)
    fwd = pelvis @ np.array([0.0, 0.0, 1.0])
    yaw = np.arctan2(fwd[0], fwd[2])
    return make_rigid_torso(sample_global(rng) @ R.axis_rotation(1, -yaw) @ rotations)


# --------------------------------------------------------------------------- webcam-shaped poses

def sample_global_upright(rng: np.random.Generator) -> np.ndarray:
    """A body orientation as a webcam sees people: upright with a little lean (90 %), bending
    forward (8 %), or leaning hard sideways / back (2 %); any yaw (the camera sets the view)."""
    yaw = R.axis_rotation(1, rng.uniform(-np.pi, np.pi))
    u = rng.random()
    if u < 0.9:
        tilt = R.axis_rotation(0, np.deg2rad(rng.normal(0, 6))) @ R.axis_rotation(2, np.deg2rad(rng.normal(0, 5)))
    elif u < 0.98:
        tilt = R.axis_rotation(0, np.deg2rad(rng.uniform(10, 60))) @ R.axis_rotation(2, np.deg2rad(rng.normal(0, 8)))
    else:
        tilt = R.axis_rotation(0, np.deg2rad(rng.uniform(-30, 30))) @ R.axis_rotation(2, np.deg2rad(rng.uniform(-35, 35)))
    return yaw @ tilt


def _local(x_deg, y_deg, z_deg) -> np.ndarray:
    """A parent-relative rotation in the sampler's convention (Rz @ Rx @ Ry), degrees."""
    x, y, z = np.deg2rad([x_deg, y_deg, z_deg])
    return R.axis_rotation(2, z) @ R.axis_rotation(0, x) @ R.axis_rotation(1, y)


def sample_webcam_pose(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Absolute rotations (15, 3, 3) of a pose a webcam user takes, and its kind: ``standing``
    (legs near straight, 45 %), ``sitting`` (thighs about horizontal, knees bent, 30 %) or ``hard``
    (the full joint-limit sampler, 25 %). Arms always come from the joint-limit sampler (gesturing,
    dancing); spine, neck and head stay within a natural range."""
    local = sample_local_pose(rng)
    u = rng.random()
    if u < 0.25:
        kind = "hard"
    else:
        kind = "standing" if u < 0.7 else "sitting"
        for side, sign in (("r", 1.0), ("l", -1.0)):
            if kind == "standing":
                thigh = _local(np.clip(rng.normal(-4, 12), -60, 30), rng.normal(0, 8), sign * abs(rng.normal(2, 6)))
                knee = np.clip(abs(rng.normal(0, 18)), 0, 90)
            else:
                thigh = _local(rng.uniform(-105, -70), rng.normal(0, 10), sign * rng.uniform(-5, 20))
                knee = rng.uniform(55, 115)
            local[B[f"{side}_thigh"]] = thigh
            local[B[f"{side}_shin"]] = _local(knee, rng.normal(0, 4), 0)
        local[B["spine"]] = _local(rng.normal(6 if kind == "sitting" else 2, 8), rng.normal(0, 10), rng.normal(0, 6))
        local[B["neck"]] = _local(rng.normal(0, 10), rng.normal(0, 15), rng.normal(0, 6))
        local[B["head"]] = _local(rng.normal(0, 10), rng.normal(0, 15), rng.normal(0, 6))
    return make_rigid_torso(S.local_to_absolute(local, sample_global_upright(rng))), kind


def reorient_upright(rotations: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A clip pose with its heading and lean replaced by ``sample_global_upright``."""
    pelvis = S.pelvis_rotation(rotations)
    fwd = pelvis @ np.array([0.0, 0.0, 1.0])
    yaw = np.arctan2(fwd[0], fwd[2])
    return make_rigid_torso(sample_global_upright(rng) @ R.axis_rotation(1, -yaw) @ rotations)
