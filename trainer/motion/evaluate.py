"""The motion model's test: held-out mocap through webcams of the training distribution, every frame
predicted from its causal window as the app does: the held-out CMU subjects (``cmu``, whole
subjects, ``trainer.motion.cmu``) or the old single clip (CMU 01_03).

``test_sequences`` cuts the motion into 5-second segments, each seen by its own random body and
camera (``n_draws`` draws per segment); ``evaluate`` scores any predictor of world-axis rotations:
PA-MPJPE and root-relative MPJPE (mm, against the body's own joints), acceleration error
(mm/frame^2, root-relative, the jitter measure of Kanazawa et al. 2019), and bone rotation error
(degrees, relative to the pelvis, ``trainer.metrics.bone_rotation_error``).
"""
from __future__ import annotations

import numpy as np

from engine import motion as M
from engine import skeleton as S
from trainer.metrics import bone_rotation_error, mpjpe, pa_mpjpe
from trainer.motion import data as D

SEGMENT = 150


def test_sequences(noise: D.NoiseModel | None, n_draws: int = 4, seed: int = 7, split: str = "test",
                   segment: int = SEGMENT, cmu=None, per_clip: int = 2, subjects=None) -> D.Observation:
    """Observed segments of held-out motion: (B, segment) frames, each segment seen by its own
    random body and camera.

    Without ``cmu``: the held-out clip (CMU 01_03 for test, Boxing_Toes for val) cut into segments,
    ``n_draws`` draws per segment, B = segments x draws. With ``cmu`` (a folder or True): every
    clip of the held-out CMU subjects of ``split`` (``trainer.motion.cmu``), up to ``per_clip``
    segments of each, evenly spread over the clip (clips shorter than a segment are left out),
    ``n_draws`` draws each; ``subjects``: only the clips of these subject numbers."""
    rng = np.random.default_rng(seed)
    if cmu is None or cmu is False:
        clip = next(iter(D.motion_bank(split).values()))
        n = len(clip) // segment
        rot = np.concatenate([clip[: n * segment].reshape(n, segment, *clip.shape[1:])] * n_draws)
        return D.simulate(rot, rng, noise)
    segs = []
    for name, seq in D.motion_bank(split, cmu=cmu).items():
        if subjects is not None and int(name.split()[1].split("_")[0]) not in subjects:
            continue
        n = len(seq) // segment
        if n == 0:
            continue
        for k in np.unique(np.linspace(0, n - 1, min(per_clip, n)).round().astype(int)):
            start = int(round(k * (len(seq) - segment) / max(n - 1, 1)))
            segs.append(D.as_rotations(seq[start:start + segment]))
    rot = np.concatenate([np.stack(segs)] * n_draws)
    return D.simulate(rot, rng, noise)


def accel_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean |second difference| error (mm / frame^2) of root-relative joints (B, F, 16, 3) metres."""
    a = lambda j: j[:, 2:] - 2 * j[:, 1:-1] + j[:, :-2]
    return float(np.linalg.norm(a(pred) - a(gt), axis=-1).mean() * 1000)


def scores(rotations: np.ndarray, obs: D.Observation) -> dict:
    """Metrics of predicted world-axis rotations (B, F, 16, 3, 3) (15 bones + pelvis) against the truth."""
    b, f = rotations.shape[:2]
    joints = D.SKELETON.forward_kinematics(rotations[:, :, :S.NUM_BONES])
    flat = lambda a: a.reshape((b * f,) + a.shape[2:])
    gt = obs.joints
    return {"pa_mpjpe_mm": float(pa_mpjpe(flat(joints), flat(gt)).mean()),
            "mpjpe_mm": float(mpjpe(flat(joints), flat(gt)).mean()),
            "accel_mm_f2": accel_error(joints, gt),
            "bone_rotation_deg": float(bone_rotation_error(
                flat(rotations[:, :, :S.NUM_BONES]), flat(rotations[:, :, -1]),
                flat(obs.rotations[:, :, :S.NUM_BONES]), flat(obs.rotations[:, :, -1])).mean()),
            "frames": int(b * f)}


def joint_scores(joints: np.ndarray, obs: D.Observation) -> dict:
    """PA-MPJPE, MPJPE and acceleration error of predicted joints (B, F, 16, 3) (world axes, root-relative)."""
    b, f = joints.shape[:2]
    j = joints - joints[:, :, S.ROOT:S.ROOT + 1]
    flat = lambda a: a.reshape((b * f,) + a.shape[2:])
    return {"pa_mpjpe_mm": float(pa_mpjpe(flat(j), flat(obs.joints)).mean()),
            "mpjpe_mm": float(mpjpe(flat(j), flat(obs.joints)).mean()),
            "accel_mm_f2": accel_error(j, obs.joints), "frames": int(b * f)}


def predict_sequences(run, obs: D.Observation, window: int, batch: int = 2048, chunk: int = 32) -> np.ndarray:
    """World-axis rotations (B, F, 16, 3, 3) from ``run(features (N, T, FEATURES)) -> (N, 16, 3, 3)``
    (the view's axes) over every frame's causal window (``chunk`` sequences at a time)."""
    out = []
    for s in range(0, obs.rays.shape[0], chunk):
        part = D.Observation(*(getattr(obs, k)[s:s + chunk] for k in
                               ("uv", "uv_true", "K", "size", "rays", "inside", "twist", "rotations", "joints")))
        x, view = D.sequence_windows(part, window)
        b, f = x.shape[:2]
        xf = x.reshape(b * f, window, -1)
        y = np.concatenate([run(xf[i:i + batch]) for i in range(0, len(xf), batch)])
        out.append(M.from_view(y.reshape(b, f, M.OUTPUTS, 3, 3), view))
    return np.concatenate(out)


def constant_baseline(obs: D.Observation) -> dict:
    """A constant pose: the mean root-relative pose of the test frames themselves (an oracle constant)."""
    mean = obs.joints.reshape(-1, S.NUM_JOINTS, 3).mean(0)
    return joint_scores(np.broadcast_to(mean, obs.joints.shape).copy(), obs)
