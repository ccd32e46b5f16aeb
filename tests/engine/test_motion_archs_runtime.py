"""engine.motion.MotionModel runs every architecture of the motion model (trainer/motion/model.py) as
exported: frame by frame, as the app calls it, it gives what the offline evaluation gives for the
same frames (the newest frame of each causal window, padding when tracking starts), and the Pose's
rotations rebuild its joints."""
import numpy as np
import pytest
import torch

from engine import motion as M
from engine import skeleton as S
from trainer.motion import data as D
from trainer.motion import evaluate as E
from trainer.motion.cli import export_onnx, onnx_runner
from trainer.motion.model import MotionNetConfig, build_net


@pytest.mark.parametrize("cfg", [MotionNetConfig(window=9, hidden=32, arch="tcn"),
                                 MotionNetConfig(window=9, hidden=32, blocks=1, arch="transformer")],
                         ids=lambda c: c.arch)
def test_the_runtime_equals_the_offline_evaluation(tmp_path, cfg):
    torch.manual_seed(0)
    net = build_net(cfg)
    for p in net.parameters():
        p.data.normal_(0, 0.2)
    path = export_onnx(net.eval(), tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    obs = D.simulate(D.sampler_sequence(rng, 20)[None], rng, None, vary_body=False)
    run, window = onnx_runner(path)
    offline = E.predict_sequences(run, obs, window)[0]                 # (F, 16, 3, 3) world axes
    model = M.MotionModel(path)
    assert model.window == 9
    w, h = obs.size[0]
    for t in range(obs.uv.shape[1]):
        # the network-like rotations carry the true twist (the runtime takes only their twist)
        rot = M.with_twist(np.broadcast_to(np.eye(3), (S.NUM_BONES, 3, 3)), obs.twist[0, t])
        out = model(obs.uv[0, t], obs.K[0], w, h, rot)
        np.testing.assert_allclose(out.rotations, offline[t, :S.NUM_BONES], atol=2e-5)
        np.testing.assert_allclose(out.pelvis_rotation, offline[t, S.NUM_BONES], atol=2e-5)
        np.testing.assert_allclose(out.joints_3d, model.skeleton.forward_kinematics(out.rotations), atol=1e-9)
