"""Training data for the motion model without images: mocap through random webcams, with 2D noise
like SkeletonNet's on real frames (docs/motion.md).

Motion (``motion_bank``): every clip the packages hold, at 30 frames/s, as our 15 absolute bone
rotations (gravity world axes, rigid torso as in ``trainer.data.poses``), and their mirror images:

* train: CMU 01_01 (assimp-testmodels), the DeepMimic humanoid clips (``trainer.motion.deepmimic``)
  and smooth sequences of the joint-limit sampler (``sampler_sequence``);
* val: CMU Boxing_Toes; test: CMU 01_03 (the whole clip, never trained on).
* with ``cmu`` (the trainer's default): the CMU database's training subjects
  (``trainer.motion.cmu``, whole subjects held out for val and test) as float32 quaternions,
  mirrored on the fly by the ``Sampler``, with the DeepMimic clips and the sampler's sequences.

Observation (``simulate``): a random body (proportions varied), heading and webcam (distance 1-4 m,
field of view 50-90 degrees across the larger side, pitch -20 to 45 degrees, roll within 10, the
person off-centre and partly out of frame, portrait or landscape), the pelvis drifting; the joints
projected, then SkeletonNet-like noise (``NoiseModel``: per-joint bias and covariance in units of
the crop side, temporally correlated, left/right swaps and gross misses that last a few frames,
wilder guesses for joints outside the frame) and the network's twist with its own noise. Frame
drops and speed changes (also 60 frames/s cameras) come from the steps between observed frames
(``window_indices``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import frames
from engine import motion as M
from engine import rotations as R
from engine import skeleton as S
from engine.preprocess import frame_intrinsics
from trainer.data import poses as P

FPS = 30.0
SKELETON = S.Skeleton.default()
#: (width, height) of the simulated frames, with their probabilities
FRAME_SIZES = ((1280, 720), (1920, 1080), (640, 480), (1080, 1920), (720, 1280))
FRAME_P = (0.35, 0.2, 0.2, 0.15, 0.1)
_PAIRS = [(S.JOINT_INDEX["r_" + n], S.JOINT_INDEX["l_" + n])
          for n in ("ankle", "knee", "hip", "wrist", "elbow", "shoulder")]


# --------------------------------------------------------------------------- motion

def cmu_clip(name: str) -> np.ndarray:
    """A CMU clip of assimp-testmodels slerped to 30 frames/s (the DeepMimic clips' resampler), rigid
    torso. (F, 15, 3, 3)."""
    from animation.bvh import read_bvh
    from animation.bvh_retarget import clip_to_poses
    from trainer.motion.deepmimic import resample

    path = P.CLIP_DIR / name
    if not path.exists():
        from engine.errors import UserError
        raise UserError(f"motion clips not found ({path}): apt-get install assimp-testmodels")
    clip = clip_to_poses(read_bvh(path), path=str(path))
    return P.make_rigid_torso(resample(clip.rotations, np.full(len(clip.rotations), clip.frame_time), FPS))


def sampler_sequence(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Smooth motion through random key poses every 0.3-1.5 s, eased in between by slerp of each
    bone's absolute rotation: half of the keys from the joint-limit sampler (parent-local rotations
    anywhere within the limits, an upright body), half from the webcam sampler (standing or
    sitting, gesturing arms; ``trainer.data.poses.sample_webcam_pose``); the heading wanders from
    key to key. (frames, 15, 3, 3) absolute rotations, rigid torso."""
    keys = [0]
    while keys[-1] < frames:
        keys.append(keys[-1] + int(rng.integers(10, 46)))
    n = len(keys)
    limits = P.make_rigid_torso(S.local_to_absolute(P.sample_local_poses(rng, n),
                                                    np.stack([P.sample_global_upright(rng) for _ in range(n)])))
    webcam = np.stack([P.sample_webcam_pose(rng)[0] for _ in range(n)])
    key_rot = np.where((rng.random(n) < 0.5)[:, None, None, None], limits, webcam)
    yaw = rng.uniform(-np.pi, np.pi) + np.cumsum(rng.normal(0, 0.6, n))
    key_rot = R.axis_rotation(1, yaw)[:, None] @ key_rot
    q = R.matrix_to_quat(key_rot)                                         # (n, 15, 4)
    idx = np.searchsorted(keys, np.arange(frames), side="right") - 1
    a = (np.arange(frames) - np.asarray(keys)[idx]) / np.diff(keys)[idx]
    a = a * a * (3 - 2 * a)  # ease in and out
    qs = R.quat_slerp(q[idx], q[idx + 1], np.broadcast_to(a[:, None], q[idx].shape[:-1]))
    return P.make_rigid_torso(R.quat_to_matrix(qs))


def perturb(rot: np.ndarray, rng: np.random.Generator, deg: float = 12.0) -> np.ndarray:
    """Mocap windows (B, F, 15, 3, 3) with each limb and spine bone's parent-local rotation turned by
    one random offset per window (about ``deg`` degrees per axis): new poses near natural ones."""
    b = rot.shape[0]
    pelvis = S.pelvis_rotation(rot)
    local = S.absolute_to_local(rot, pelvis)
    offset = R.axis_angle_to_matrix(rng.normal(0, np.deg2rad(deg), (b, 1, S.NUM_BONES, 3)))
    return P.make_rigid_torso(S.local_to_absolute(local @ offset, pelvis))


def motion_bank(split: str, seed: int = 0, sampler_frames: int = 30000, deepmimic: bool = True,
                cmu: str | Path | bool | None = None) -> dict[str, np.ndarray]:
    """{name: rotation sequence at 30 frames/s} of one split.

    Without ``cmu`` (the recipe of issue 25): (F, 15, 3, 3) rotations, mirrors included for train;
    val CMU Boxing_Toes, test CMU 01_03 (assimp-testmodels).

    With ``cmu`` (a folder, or True for the default: ``trainer.motion.cmu.resolve_root``): the CMU
    database's subjects of that split (``trainer.motion.cmu``: whole subjects held out) as float32
    quaternions (F, 15, 4) without mirrors (``Sampler(mirror_share=...)`` mirrors windows on the
    fly), plus for train the DeepMimic clips (``deepmimic``) and the sampler's sequences."""
    if cmu is not None and cmu is not False:
        from trainer.motion import cmu as C
        bank = C.load_split(split, None if cmu is True else cmu)
        if split != "train":
            return bank
        if deepmimic:
            from trainer.motion.deepmimic import load_clips
            bank.update({f"DeepMimic {k}": P.make_rigid_torso(v) for k, v in load_clips(FPS).items()})
        rng = np.random.default_rng(seed)
        bank.update({f"sampler {i}": sampler_sequence(rng, 600) for i in range(sampler_frames // 600)})
        return bank
    if split == "test":
        return {"CMU 01_03": cmu_clip("01_03.bvh")}
    if split == "val":
        return {"CMU Boxing_Toes": cmu_clip("Boxing_Toes.bvh")}
    bank = {"CMU 01_01": cmu_clip("01_01.bvh")}
    if deepmimic:
        from trainer.motion.deepmimic import load_clips
        bank.update({f"DeepMimic {k}": P.make_rigid_torso(v) for k, v in load_clips(FPS).items()})
    rng = np.random.default_rng(seed)
    bank.update({f"sampler {i}": sampler_sequence(rng, 600) for i in range(sampler_frames // 600)})
    bank.update({f"{k} (mirror)": P.mirror(v) for k, v in list(bank.items()) if not k.startswith("sampler")})
    return bank


def as_quaternions(seq: np.ndarray) -> np.ndarray:
    """A bank sequence as float32 quaternions (F, 15, 4): rotations (F, 15, 3, 3) are converted."""
    seq = np.asarray(seq)
    return (R.matrix_to_quat(seq) if seq.shape[-2:] == (3, 3) else seq).astype(np.float32)


def as_rotations(seq: np.ndarray) -> np.ndarray:
    """A bank sequence as rotations (F, 15, 3, 3) float64: quaternions (F, 15, 4) are converted."""
    seq = np.asarray(seq)
    return R.quat_to_matrix(seq.astype(np.float64)) if seq.shape[-1] == 4 else seq.astype(np.float64)


# --------------------------------------------------------------------------- noise

@dataclass
class NoiseModel:
    """SkeletonNet-like 2D errors, per joint, in units of the crop side (1.25 x the person's box).

    bias: (16, 2) mean offset; cov: (16, 2, 2); swap: (6,) rate of each left/right pair swapped alone
    (ankle, knee, hip, wrist, elbow, shoulder); miss: (16,) rate of a gross miss (anywhere in the
    crop); flip: rate of frames where the whole body's left and right are swapped; rho:
    frame-to-frame correlation of the errors; outside: error std of joints outside the frame (the
    network guesses them); source: where the numbers come from.
    """

    bias: np.ndarray
    cov: np.ndarray
    swap: np.ndarray
    miss: np.ndarray
    flip: float = 0.0
    rho: float = 0.7
    outside: float = 0.10
    source: str = "prior guess"
    twist_deg: tuple = (15.0, 45.0)   # the network's twist error std, drawn per sequence
    twist_random: float = 0.25        # share of sequences whose twist input says nothing

    @classmethod
    def default(cls) -> "NoiseModel":
        """A prior guess used only until the network's errors on real frames are measured."""
        std = np.full(S.NUM_JOINTS, 0.035)
        for n in ("r_wrist", "l_wrist", "r_ankle", "l_ankle"):
            std[S.JOINT_INDEX[n]] = 0.06
        for n in ("r_elbow", "l_elbow", "r_knee", "l_knee", "head_top"):
            std[S.JOINT_INDEX[n]] = 0.045
        return cls(np.zeros((S.NUM_JOINTS, 2)), np.eye(2) * std[:, None, None] ** 2, np.full(6, 0.03),
                   np.full(S.NUM_JOINTS, 0.03), 0.03)

    @classmethod
    def load(cls, path: str | Path, key: str = "pooled") -> "NoiseModel":
        """From the network's errors measured on real frames (``benchmarks/results/network_2d_errors.json``,
        written by ``python -m benchmarks.heldout_video``; its "doc" field gives the schema). Swaps
        inside whole-body flips count as flips, not as pair swaps."""
        d = json.loads(Path(path).read_text())[key]
        pooled = d["all_joints"]
        per = [d["joints"].get(n) or {} for n in S.JOINT_NAMES]
        good = [p if p.get("inliers", 0) >= 5 else None for p in per]
        std = np.asarray(pooled["std"], float)
        bias = np.array([p["mean"] if p else (0.0, 0.0) for p in good], float)
        cov = np.array([p["cov"] if p else np.diag(std ** 2) for p in good], float)
        rate = lambda p, k: float(p.get(k) if p and p.get(k) is not None else pooled[k])
        alone = 1.0 - float(d.get("swaps_in_flipped_frames", 0.0))
        swap = np.array([0.5 * (rate(per[i], "swap_rate") + rate(per[j], "swap_rate")) * alone for i, j in _PAIRS])
        miss = np.array([rate(p, "miss_rate") for p in per])
        return cls(bias, cov, swap, miss, float(d.get("frames_body_flipped", 0.0)), float(d.get("rho", 0.7)),
                   source=f"{path} [{key}]")

    def scaled(self, k: float) -> "NoiseModel":
        """This noise with errors and event rates times ``k``."""
        c = lambda r: np.minimum(np.asarray(r) * k, 0.6)
        return NoiseModel(self.bias * k, self.cov * k * k, c(self.swap), c(self.miss), float(c(self.flip)), self.rho,
                          self.outside * k, self.source + f" x{k:.2f}", self.twist_deg, self.twist_random)


def _markov(rng, shape, rate, stay=0.7) -> np.ndarray:
    """Boolean events (B, F, ...) with mean ``rate`` that last about 1/(1-stay) frames."""
    rate = np.clip(np.asarray(rate, float), 0, 0.95)
    start = rate * (1 - stay) / np.maximum(1 - rate, 1e-6)
    out = np.zeros(shape, bool)
    on = rng.random((shape[0],) + shape[2:]) < rate
    for t in range(shape[1]):
        out[:, t] = on
        u = rng.random(on.shape)
        on = np.where(on, u < stay, u < start)
    return out


# --------------------------------------------------------------------------- observation

@dataclass
class Observation:
    """Per frame of B sequences of F frames (the newest last)."""
    uv: np.ndarray          # (B, F, 16, 2) noisy 2D, pixels
    uv_true: np.ndarray     # (B, F, 16, 2) exact projections
    K: np.ndarray           # (B, 3, 3) intrinsics
    size: np.ndarray        # (B, 2) width, height
    rays: np.ndarray        # (B, F, 16, 3)
    inside: np.ndarray      # (B, F, 16)
    twist: np.ndarray       # (B, F, 15) the network-like twist input, radians
    rotations: np.ndarray   # (B, F, 16, 3, 3) truth: 15 bones + pelvis, world axes (camera-aligned)
    joints: np.ndarray      # (B, F, 16, 3) truth: the body's joints, world axes, pelvis at the origin
    extra: dict = field(default_factory=dict)


def random_bodies(rng: np.random.Generator, n: int, vary: bool = True) -> np.ndarray:
    """Rest bone vectors (n, 15, 3): the default skeleton scaled 0.85-1.1 overall and by about
    5 % per body part (left and right alike)."""
    bv = np.broadcast_to(SKELETON.bone_vectors, (n, S.NUM_BONES, 3)).copy()
    if not vary:
        return bv
    parts = {"legs": ("r_thigh", "r_shin", "l_thigh", "l_shin"),
             "arms": ("r_upper_arm", "r_forearm", "l_upper_arm", "l_forearm"),
             "torso": ("spine",), "head": ("neck", "head"), "width": ("r_hip", "l_hip", "r_clavicle", "l_clavicle")}
    bv *= rng.uniform(0.85, 1.1, (n, 1, 1))
    for names in parts.values():
        k = rng.normal(1.0, 0.05, (n, 1))
        for b in names:
            bv[:, S.BONE_INDEX[b]] *= k
    return bv


def simulate(rot: np.ndarray, rng: np.random.Generator, noise: NoiseModel | None, vary_body: bool = True,
             drift: float = 0.25) -> Observation:
    """Observe rotation sequences (B, F, 15, 3, 3) (gravity world axes, 30 frames/s) through random
    webcams, with ``noise`` (None: exact 2D and exact twist)."""
    b, f = rot.shape[:2]
    # heading, body, camera
    yaw = R.axis_rotation(1, rng.uniform(-np.pi, np.pi, b))
    g = yaw[:, None, None] @ rot
    bones = random_bodies(rng, b, vary_body)
    local = S.forward_kinematics(g, bones[:, None])                       # (B, F, 16, 3) gravity world
    pitch, roll = np.deg2rad(rng.uniform(-20, 45, b)), np.deg2rad(rng.uniform(-10, 10, b))
    cam = R.axis_rotation(2, roll) @ R.axis_rotation(0, pitch) @ frames.CAMERA_TO_WORLD.T  # world -> camera
    which = rng.choice(len(FRAME_SIZES), b, p=FRAME_P)
    size = np.array(FRAME_SIZES, float)[which]
    fov = rng.uniform(50, 90, b)
    K = np.stack([frame_intrinsics(w, h, a) for (w, h), a in zip(size, fov)])
    depth = np.exp(rng.uniform(np.log(1.0), np.log(4.0), b))
    at = size * np.stack([rng.uniform(0.15, 0.85, b), rng.uniform(0.2, 0.85, b)], -1)
    p_last = np.stack([(at[:, 0] - K[:, 0, 2]) / K[:, 0, 0], (at[:, 1] - K[:, 1, 2]) / K[:, 1, 1], np.ones(b)],
                      -1) * depth[:, None]
    vel = rng.normal(0, drift, (b, 3)) / FPS
    root = p_last[:, None] + vel[:, None] * (np.arange(f) - (f - 1))[None, :, None]
    root[..., 2] = np.maximum(root[..., 2], 0.6)
    xc = local @ np.swapaxes(cam, -1, -2)[:, None] + root[:, :, None]     # camera axes
    z = np.maximum(xc[..., 2:], 0.05)
    uv_true = xc[..., :2] / z * K[:, None, None, [0, 1], [0, 1]] + K[:, None, None, [0, 1], [2, 2]]
    # (B, F, 15, 3, 3) app world axes (rest bones are in world axes)
    world = (frames.CAMERA_TO_WORLD @ cam)[:, None, None] @ g
    pelvis = S.pelvis_rotation(world)
    rotations = np.concatenate([world, pelvis[:, :, None]], 2)
    joints = frames.camera_to_world(local @ np.swapaxes(cam, -1, -2)[:, None])
    twist = M.twist_angles(world)
    uv = uv_true.copy()
    if noise is not None:
        uv, twist = _add_noise(rng, uv_true, size, twist, noise)
    rays = M.camera_rays(uv, K[:, None])
    inside = M.in_frame(uv, size[:, None, 0], size[:, None, 1])
    return Observation(uv, uv_true, K, size, rays, inside, twist, rotations, joints,
                       {"depth": depth, "fov": fov, "pitch": np.rad2deg(pitch), "camera_joints": xc})


def _add_noise(rng, uv_true, size, twist, nm: NoiseModel):
    b, f = uv_true.shape[:2]
    lo, hi = uv_true.min(-2), uv_true.max(-2)
    side = 1.25 * (hi - lo).max(-1)                                      # (B, F) crop side, pixels
    chol = np.linalg.cholesky(nm.cov + 1e-12 * np.eye(2))                 # (16, 2, 2)
    eps = rng.normal(size=(b, f, S.NUM_JOINTS, 2))
    for t in range(1, f):  # AR(1): errors persist from frame to frame
        eps[:, t] = nm.rho * eps[:, t - 1] + np.sqrt(1 - nm.rho ** 2) * eps[:, t]
    err = (chol[None, None] @ eps[..., None])[..., 0] + nm.bias
    outside = 1.0 - M.in_frame(uv_true, size[:, None, 0], size[:, None, 1])
    err += outside[..., None] * rng.normal(0, nm.outside, (b, f, S.NUM_JOINTS, 2))
    uv = uv_true + err * side[..., None, None]
    swaps = _markov(rng, (b, f, len(_PAIRS)), nm.swap) ^ _markov(rng, (b, f, 1), nm.flip)
    for k, (i, j) in enumerate(_PAIRS):
        s = swaps[:, :, k, None]
        ui, uj = uv[:, :, i].copy(), uv[:, :, j].copy()
        uv[:, :, i], uv[:, :, j] = np.where(s, uj, ui), np.where(s, ui, uj)
    miss = _markov(rng, (b, f, S.NUM_JOINTS), nm.miss)
    centre = (lo + hi) / 2
    wild = centre[:, :, None] + rng.uniform(-0.5, 0.5, (b, f, S.NUM_JOINTS, 2)) * side[..., None, None]
    uv = np.where(miss[..., None], wild, uv)
    # the network's twist: noisy, and in some sequences no better than chance
    sd = np.deg2rad(rng.uniform(*nm.twist_deg, (b, 1, 1)))
    te = rng.normal(size=twist.shape)
    for t in range(1, f):
        te[:, t] = nm.rho * te[:, t - 1] + np.sqrt(1 - nm.rho ** 2) * te[:, t]
    tw = twist + sd * te
    random = rng.random((b, 1, 1)) < nm.twist_random
    tw = np.where(random, rng.uniform(-np.pi, np.pi, twist.shape), tw)
    return uv, tw


# --------------------------------------------------------------------------- windows

def window_indices(rng: np.random.Generator, lengths: np.ndarray, n: int, span: int, p: np.ndarray | None = None,
                   drops: float = 0.3):
    """Random windows of ``span`` frames over a bank of sequences (drawn with probabilities ``p``,
    default by length): (sequence (n,), frame indices (n, span)); steps between observed frames
    are 1 (regular), 2 (a dropped frame) or 0 (a repeated one) in a share ``drops`` of windows,
    and the whole window plays at 0.45-1.5 x speed (a 60 frames/s camera is 0.5 x)."""
    seq = rng.choice(len(lengths), n, p=lengths / lengths.sum() if p is None else p)
    speed = rng.uniform(0.45, 1.5, (n, 1))
    step = np.ones((n, span)) * speed
    jitter = rng.random((n, 1)) < drops
    step = np.where(jitter, step * rng.choice([0.0, 1.0, 2.0], (n, span), p=[0.1, 0.75, 0.15]), step)
    t = np.cumsum(step, 1)
    t -= t[:, :1]
    need = t[:, -1]
    start = rng.uniform(0, 1, n) * np.maximum(lengths[seq] - 1 - need, 0)
    idx = np.minimum(np.round(start[:, None] + t), lengths[seq, None] - 1).astype(int)
    return seq, idx


class Sampler:
    """Training batches from a motion bank: features (B, T, FEATURES) float32 and the newest
    frame's truth in the view's world axes (rotations (B, 16, 3, 3)). Windows come from the
    mocap clips ``mocap_share`` of the time (the rest from the joint-limit sampler's sequences),
    by length within each group, and ``perturb_share`` of the mocap windows get their joints turned a
little (``perturb``). Each group of ``group`` windows has its own noise level, the measured noise
    times 0.5-1.5 (log-uniform), or exact 2D for a share ``exact_share`` of groups, the same share
    in every batch: every batch mixes levels alike, so batch norm's running statistics hold for
    the batches it trained on (with a random share per batch, validation swung by 30 mm). A share
    ``mirror_share`` of the mocap windows is mirrored (left and right swapped) on the fly, for banks
    stored without mirrors (the CMU database). Sequences may be rotations (F, 15, 3, 3) or
    quaternions (F, 15, 4)."""

    def __init__(self, bank: dict[str, np.ndarray], window: int, noise: NoiseModel, seed: int = 0,
                 noise_scale=(0.5, 1.5), exact_share: float = 0.1, pad_share: float = 0.1, mocap_share: float = 0.6,
                 perturb_share: float = 0.5, group: int = 16, mirror_share: float = 0.0):
        self.names = list(bank)
        self.lengths = np.array([len(s) for s in bank.values()], float)
        mocap = np.array([not n.startswith("sampler") for n in self.names])
        self.mocap, self.perturb_share, self.group, self.mirror_share = mocap, perturb_share, group, mirror_share
        share = (np.where(mocap, mocap_share, 1 - mocap_share) if mocap.any() and not mocap.all()
                 else np.ones(len(mocap)))
        group = np.where(mocap, self.lengths[mocap].sum(), self.lengths[~mocap].sum())
        self.p = share * self.lengths / group
        self.p /= self.p.sum()
        self.window, self.noise = window, noise
        self.rng = np.random.default_rng(seed)
        self.noise_scale, self.exact_share, self.pad_share = noise_scale, exact_share, pad_share
        self.offsets = np.r_[0, np.cumsum(self.lengths[:-1])].astype(int)
        # float32 quaternions: the whole CMU database fits (about 200 MB instead of 900 as matrices)
        self.all = np.concatenate([as_quaternions(s) for s in bank.values()])

    def batch(self, n: int):
        rng = self.rng
        seq, idx = window_indices(rng, self.lengths, n, self.window, self.p)
        rot = as_rotations(self.all[self.offsets[seq, None] + idx])
        flip = self.mocap[seq] & (rng.random(n) < self.mirror_share)
        if flip.any():
            rot[flip] = P.mirror(rot[flip])
        jiggle = self.mocap[seq] & (rng.random(n) < self.perturb_share)
        if jiggle.any():
            rot[jiggle] = perturb(rot[jiggle], rng)
        # a noise level per group of windows (every batch mixes levels: batch norm sees them all)
        parts = []
        groups = np.array_split(np.arange(n), max(1, n // self.group))
        exact = int(round(self.exact_share * len(groups)))  # the same mix in every batch
        for i, g in enumerate(groups):
            k = np.exp(rng.uniform(*np.log(self.noise_scale)))
            parts.append(simulate(rot[g], rng, None if i < exact else self.noise.scaled(k)))
        obs = concatenate(parts)
        real = np.ones((n, self.window))
        pad = rng.random(n) < self.pad_share
        first = np.where(pad, rng.integers(1, self.window, n), 0)
        sel = np.maximum(np.arange(self.window)[None], first[:, None])
        real[np.arange(self.window)[None] < first[:, None]] = 0
        take = lambda a: np.take_along_axis(a, sel.reshape(sel.shape + (1,) * (a.ndim - 2)), 1)
        x, view = M.window_features(take(obs.rays), take(obs.inside), take(obs.twist), real)
        target = view[:, None] @ obs.rotations[:, -1]
        return x, target.astype(np.float32), obs


def concatenate(parts: list[Observation]) -> Observation:
    """Observations of several groups of sequences as one (along the first axis)."""
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])
    fields = ("uv", "uv_true", "K", "size", "rays", "inside", "twist", "rotations", "joints")
    return Observation(*(cat(f) for f in fields),
                       {k: np.concatenate([p.extra[k] for p in parts]) for k in parts[0].extra})


def sequence_windows(obs: Observation, window: int):
    """Every frame of observed sequences as the newest of a causal window (padded at the start):
    features (B, F, T, FEATURES) float32 and view rotations (B, F, 3, 3)."""
    f = obs.rays.shape[1]
    idx = np.arange(f)[:, None] - (window - 1) + np.arange(window)[None]   # (F, T)
    real = (idx >= 0).astype(float)
    idx = np.maximum(idx, 0)
    real = np.broadcast_to(real, (obs.rays.shape[0], f, window))
    return M.window_features(obs.rays[:, idx], obs.inside[:, idx], obs.twist[:, idx], real)


def load_noise(path: str | None) -> NoiseModel:
    """The 2D noise statistics in ``path`` (``python -m benchmarks.heldout_video`` writes them), or the default
    noise model when ``path`` is empty; a missing file is one ``UserError`` line."""
    from engine.errors import UserError

    if not path:
        return NoiseModel.default()
    if not Path(path).exists():
        raise UserError(f"{path}: noise statistics not found (python -m benchmarks.heldout_video writes them)")
    return NoiseModel.load(path)
