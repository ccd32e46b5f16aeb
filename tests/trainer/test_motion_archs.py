"""The motion model's architectures (trainer/motion/model.py): each exports to ONNX with the same
numbers as torch and only operators TensorRT takes, sees only its window's past frames (causal, no
delay: the output moves with the newest frame), and the stored window pool (trainer/motion/pool.py)
gives exactly the features of shorter windows."""
import numpy as np
import pytest
import torch

from engine import motion as M
from trainer.export import tensorrt_problems
from trainer.motion import data as D
from trainer.motion.cli import export_onnx, onnx_runner, parity
from trainer.motion.model import MotionNetConfig, build_net, tcn_depth

CONFIGS = [MotionNetConfig(window=9, hidden=64, blocks=1, arch="mlp"),
           MotionNetConfig(window=27, hidden=48, arch="tcn"),
           MotionNetConfig(window=9, hidden=32, blocks=2, heads=4, arch="transformer")]


def scrambled(cfg):
    torch.manual_seed(0)
    net = build_net(cfg)
    for p in net.parameters():  # away from the rest-pose start, so the test sees real outputs
        p.data.normal_(0, 0.2)
    for m in net.modules():  # batch norm statistics away from 0/1 as well
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.normal_(0, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.arch)
def test_onnx_equals_torch(tmp_path, cfg):
    net = scrambled(cfg)
    path = export_onnx(net, tmp_path / f"{cfg.arch}.onnx")
    assert parity(net, path) < 1e-4
    assert tensorrt_problems(path) == []  # only operators TensorRT 10 takes
    run, window = onnx_runner(path)
    assert window == cfg.window
    x = np.random.default_rng(1).normal(size=(3, cfg.window, M.FEATURES)).astype(np.float32)
    out = run(x)
    assert out.shape == (3, M.OUTPUTS, 3, 3)
    np.testing.assert_allclose(out @ np.swapaxes(out, -1, -2), np.broadcast_to(np.eye(3), out.shape), atol=1e-4)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.arch)
def test_every_frame_of_the_window_counts_and_the_newest_most_directly(cfg):
    """Changing the newest frame changes the output (no delay); every older frame reaches it too."""
    net = scrambled(cfg)
    x = torch.from_numpy(np.random.default_rng(2).normal(size=(1, cfg.window, M.FEATURES)).astype(np.float32))
    with torch.no_grad():
        ref = net(x)
        for t in range(cfg.window):
            y = x.clone()
            y[:, t] += 1.0
            assert (net(y) - ref).abs().max() > 1e-4, t


def test_tcn_windows_are_powers_of_three():
    assert [tcn_depth(w) for w in (3, 9, 27, 81)] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="3, 9, 27 or 81"):
        tcn_depth(10)


def test_the_last_frames_of_a_long_window_are_the_short_window():
    """What the pool relies on: features of the last 9 frames of 27-frame windows equal the
    9-frame windows' own (padding included), and the view rotation is the same."""
    rng = np.random.default_rng(5)
    clip = D.sampler_sequence(rng, 60)
    obs = D.simulate(np.stack([clip, clip]), rng, D.NoiseModel.default())
    real = np.ones((2, 27))
    real[1, :20] = 0  # tracking started 7 frames ago: the window is padded with its first real frame
    sel = np.stack([np.arange(27), np.maximum(np.arange(27), 20)])  # padding: copies of the first real frame
    take = lambda a: np.take_along_axis(a[:, -27:], sel.reshape(sel.shape + (1,) * (a.ndim - 2)), 1)
    x27, v27 = M.window_features(take(obs.rays), take(obs.inside), take(obs.twist), real)
    x9, v9 = M.window_features(take(obs.rays)[:, -9:], take(obs.inside)[:, -9:], take(obs.twist)[:, -9:], real[:, -9:])
    np.testing.assert_allclose(x27[:, -9:], x9, atol=1e-6)
    np.testing.assert_allclose(v27, v9, atol=1e-12)


def test_the_sampler_takes_quaternion_banks_and_mirrors_them():
    rng = np.random.default_rng(6)
    rot = D.sampler_sequence(rng, 80)
    quat = D.as_quaternions(rot)
    assert quat.shape == (80, 15, 4) and quat.dtype == np.float32
    np.testing.assert_allclose(D.as_rotations(quat), rot, atol=1e-6)
    bank = {"CMU a": quat}
    plain = D.Sampler(bank, 9, D.NoiseModel.default(), seed=3, exact_share=1.0, perturb_share=0.0)
    mirrored = D.Sampler(bank, 9, D.NoiseModel.default(), seed=3, exact_share=1.0, perturb_share=0.0, mirror_share=1.0)
    _, _, a = plain.batch(16)
    _, _, b = mirrored.batch(16)
    # the same windows, cameras and bodies, the mirrored ones with left and right swapped
    assert np.abs(a.joints - b.joints).max() > 0.05
    np.testing.assert_allclose(a.K, b.K)
