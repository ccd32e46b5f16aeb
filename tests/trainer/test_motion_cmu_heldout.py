"""Exported motion models on exact projections of a held-out CMU subject (trainer/motion/cmu.py: subject
143 is in the test split, never trained on nor used to choose checkpoints): each model's 3D stays
within the exact-2D level measured for it on the whole held-out test (python -m benchmarks.motion,
docs/motion.md), and the same test fails for a model that returns the mean pose."""
from pathlib import Path

import pytest
import torch

from trainer.motion import cmu as C
from trainer.motion import data as D
from trainer.motion import evaluate as E
from trainer.motion.cli import export_onnx, onnx_runner
from trainer.motion.model import MotionNet, MotionNetConfig

REPO = Path(__file__).resolve().parents[2]
SUBJECT = 143
#: model -> PA-MPJPE bound (mm) from exact 2D on this test's observations: the level measured on the
#: whole held-out test (python -m benchmarks.motion) plus a margin for this smaller sample
MODELS = {
    # the shipped model, the transformer trained on the CMU training subjects (issue 30, docs/motion.md):
    # 49.1 mm on the whole held-out CMU test, 42.6 mm on this test's observations (subject 143); the
    # previous model (issue 25, without the CMU database) 51.4 mm here, the mean-pose model 278 mm
    REPO / "assets" / "motion.onnx": 46.0,
}
needs_cmu = pytest.mark.skipif(not (C.DEFAULT_ROOT / "skeleton.npz").is_file(),
                               reason="the CMU database (../shared/mocap) is not here")


@pytest.fixture(scope="module")
def exact_obs():
    return E.test_sequences(None, n_draws=1, seed=30, cmu=C.DEFAULT_ROOT, per_clip=1, subjects=(SUBJECT,))


def mean_pose_model(path: Path, window: int) -> Path:
    """A model that ignores its input and returns the mean pose of CMU training windows (view axes)."""
    bank = D.motion_bank("train", cmu=C.DEFAULT_ROOT, deepmimic=False, sampler_frames=0)
    bank = dict(list(bank.items())[::20])
    _, y, _ = D.Sampler(bank, window, D.NoiseModel.default(), seed=1, exact_share=1.0).batch(512)
    mean = torch.from_numpy(y.mean(0))                                   # (16, 3, 3)
    net = MotionNet(MotionNetConfig(window=window, hidden=32, blocks=1)).eval()
    with torch.no_grad():
        net.out.weight.zero_()
        net.out.bias.copy_(mean[..., :2].transpose(-1, -2).reshape(-1))  # first two columns
    return export_onnx(net, path)


@needs_cmu
@pytest.mark.parametrize("model", list(MODELS), ids=lambda p: p.name)
def test_a_held_out_subject_is_lifted_within_the_measured_level(tmp_path, exact_obs, model):
    if not model.exists():
        pytest.skip(f"{model} is not here")
    bound = MODELS[model]
    run, window = onnx_runner(model)
    ours = E.scores(E.predict_sequences(run, exact_obs, window), exact_obs)
    assert ours["frames"] >= 3000, ours
    assert ours["pa_mpjpe_mm"] <= bound, ours
    mean_run, w = onnx_runner(mean_pose_model(tmp_path / "mean.onnx", window))
    mean = E.scores(E.predict_sequences(mean_run, exact_obs, w), exact_obs)
    assert mean["pa_mpjpe_mm"] > bound, mean
    assert mean["pa_mpjpe_mm"] > 1.5 * ours["pa_mpjpe_mm"], (mean, ours)
