"""The motion model (trainer/motion): the shipped model's 3D from exact projections of the held-out
mocap clip stays within its measured level (and a model that returns the mean pose does not), the twist
input reaches the rotations, ONNX equals torch, and the simulated data is what the runtime sees."""
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import motion as M
from engine import skeleton as S
from trainer.motion import data as D
from trainer.motion import evaluate as E
from trainer.motion.cli import export_onnx, onnx_runner, parity
from trainer.motion.model import MotionNet, MotionNetConfig

SHIPPED = Path(__file__).resolve().parents[2] / "assets" / "motion.onnx"
# PA-MPJPE from exact 2D. The target is 35 mm; the shipped model measures 70.0 mm on the full
# test (python -m benchmarks.motion) and 67.6 mm on this test's cameras, so this asserts the level it
# reached (issue 25 stays open on the target, assets/MOTION_MODEL_CARD.md).
EXACT_2D_BOUND_MM = 75.0
needs_model = pytest.mark.skipif(not SHIPPED.exists(), reason="assets/motion.onnx not trained yet")


@pytest.fixture(scope="module")
def exact_obs():
    return E.test_sequences(None, n_draws=1, seed=11)


def test_onnx_equals_torch(tmp_path):
    torch.manual_seed(0)
    net = MotionNet(MotionNetConfig(window=9, hidden=64, blocks=1)).eval()
    for p in net.parameters():  # away from the rest-pose start, so the test sees real outputs
        p.data.normal_(0, 0.2)
    path = export_onnx(net, tmp_path / "m.onnx")
    assert parity(net, path) < 1e-4
    run, window = onnx_runner(path)
    assert window == 9


def mean_pose_model(tmp_path, window: int) -> Path:
    """A model that ignores its input and returns the mean pose of the training data (view axes)."""
    sampler = D.Sampler(D.motion_bank("train", deepmimic=False, sampler_frames=1200), window, D.NoiseModel.default())
    _, y, _ = sampler.batch(512)
    mean = torch.from_numpy(y.mean(0))                                   # (16, 3, 3)
    net = MotionNet(MotionNetConfig(window=window, hidden=32, blocks=1)).eval()
    with torch.no_grad():
        net.out.weight.zero_()
        net.out.bias.copy_(mean[..., :2].transpose(-1, -2).reshape(-1))  # first two columns
    return export_onnx(net, tmp_path / "mean.onnx")


@needs_model
def test_shipped_model_keeps_its_exact_2d_level_and_a_mean_pose_model_does_not(tmp_path, exact_obs):
    run, window = onnx_runner(SHIPPED)
    ours = E.scores(E.predict_sequences(run, exact_obs, window), exact_obs)
    assert ours["frames"] >= 1000
    assert ours["pa_mpjpe_mm"] <= EXACT_2D_BOUND_MM, ours
    mean_run, w = onnx_runner(mean_pose_model(tmp_path, window))
    mean = E.scores(E.predict_sequences(mean_run, exact_obs, w), exact_obs)
    assert mean["pa_mpjpe_mm"] > EXACT_2D_BOUND_MM, mean
    assert mean["pa_mpjpe_mm"] > 2 * ours["pa_mpjpe_mm"]


@needs_model
def test_the_networks_twist_reaches_the_bone_rotations(exact_obs):
    """Twist cannot be seen in 2D: with the true twist as input the rotations are nearer the truth
    than with a random one; the joints barely change."""
    run, window = onnx_runner(SHIPPED)
    told = E.scores(E.predict_sequences(run, exact_obs, window), exact_obs)
    rng = np.random.default_rng(0)
    blind = D.Observation(**{**exact_obs.__dict__, "twist": rng.uniform(-np.pi, np.pi, exact_obs.twist.shape)})
    guessed = E.scores(E.predict_sequences(run, blind, window), blind)
    assert told["bone_rotation_deg"] < guessed["bone_rotation_deg"] - 3, (told, guessed)
    assert guessed["pa_mpjpe_mm"] < told["pa_mpjpe_mm"] + 15


def test_simulated_truth_is_consistent_and_seen_like_the_runtime_sees_it():
    rng = np.random.default_rng(3)
    clip = D.cmu_clip("01_01.bvh")[:40]
    obs = D.simulate(np.stack([clip, clip]), rng, None, vary_body=False)
    # truth rotations rebuild the truth joints; pelvis rotation is the hips' (rigid torso)
    np.testing.assert_allclose(D.SKELETON.forward_kinematics(obs.rotations[:, :, :15]), obs.joints, atol=1e-9)
    np.testing.assert_allclose(obs.rotations[:, :, 15], obs.rotations[:, :, S.BONE_INDEX["r_hip"]], atol=1e-9)
    # exact 2D are the projections the runtime turns into rays: the rays point at the joints
    xc = obs.extra["camera_joints"]
    np.testing.assert_allclose(obs.rays / np.linalg.norm(obs.rays, axis=-1, keepdims=True),
                               xc / np.linalg.norm(xc, axis=-1, keepdims=True), atol=1e-9)
    # the runtime window at the last frame equals the sequence window of the evaluation
    x_seq, view_seq = D.sequence_windows(obs, 9)
    x, view = M.window_features(obs.rays[:, -9:], obs.inside[:, -9:], obs.twist[:, -9:], np.ones((2, 9)))
    np.testing.assert_allclose(x_seq[:, -1], x, atol=1e-6)
    # noise moves the 2D by about the measured size (crop units) and swaps left and right sometimes
    noisy = D.simulate(np.stack([clip] * 64), np.random.default_rng(4), D.NoiseModel.default())
    err = np.linalg.norm(noisy.uv - noisy.uv_true, axis=-1)
    side = 1.25 * np.ptp(noisy.uv_true, axis=-2).max(-1)
    rel = np.median(err / side[..., None])
    assert 0.02 < rel < 0.08, rel
