"""BlazePose's landmark network as SkeletonNet's backbone (trainer/blazepose.py, issue 29).

* The torch module built from the packaged ``pose_landmark_full.tflite`` against the TFLite interpreter
  (ai-edge-litert) on a real photo (tests/engine/data/person_messi5.jpg).
* SkeletonNet on it: its 12 landmark joints start at BlazePose's own heatmap read-out; the distillation
  term's gradient reaches the heads (and the encoder once unfrozen); it trains and exports to ONNX with
  ONNX Runtime within 1e-4 of torch and no operator TensorRT lacks.
"""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine import skeleton as S
from trainer import layers as L
from trainer.blazepose import BlazePoseNet, Original, joint_sources, landmarks_to_joints_matrix, tflite_path, verify
from trainer.losses import LossWeights, distill_loss, skeletonnet_loss
from trainer.model import SkeletonNet, SkeletonNetConfig

DATA = Path(__file__).resolve().parents[1] / "engine" / "data"
MESSI = DATA / "person_messi5.jpg"


@pytest.fixture(scope="module")
def full_path():
    return tflite_path("full")  # sha256-checked; from .venv-teacher's mediapipe or the wheel


def _photo(size: int) -> torch.Tensor:
    img = cv2.imread(str(MESSI))
    h, w = img.shape[:2]
    side = max(h, w)
    canvas = np.zeros((side, side, 3), np.uint8)
    canvas[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = img
    x = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)[..., ::-1] / 255.0
    return torch.tensor(x.transpose(2, 0, 1)[None].copy(), dtype=torch.float32)


def test_torch_module_matches_the_tflite_interpreter_on_a_real_photo(full_path):
    pytest.importorskip("ai_edge_litert")
    w = verify("full", MESSI)
    assert w["landmarks_px"] < 1e-2, w        # of a 256 px crop
    assert w["heatmaps"] < 1e-2, w
    assert w["pose_flag"] < 1e-4, w


def test_taps_have_the_documented_shapes_at_other_sizes(full_path):
    net = BlazePoseNet("full", taps=("encoder", "decoder", "heatmaps"))
    with torch.no_grad():
        for s in (160, 224):
            o = net(torch.rand(2, 3, s, s))
            assert o["encoder"].shape == (2, 864, s // 32, s // 32)
            assert o["decoder"].shape == (2, 48, s // 4, s // 4)
            assert o["heatmaps"].shape == (2, 39, s // 4, s // 4)


def test_joint_map_is_the_teachers_rule():
    m = landmarks_to_joints_matrix()
    assert m.shape == (16, 33)
    np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-9)  # an affine combination: translations carry over
    src = joint_sources()
    assert len(src) == 12 and src[S.JOINT_INDEX["r_wrist"]] == 16 and src[S.JOINT_INDEX["l_ankle"]] == 27


def test_original_labels_a_crop_like_the_landmark_output(full_path):
    orig = Original("full")
    x = _photo(256)
    j, vis = orig(x)
    lm = BlazePoseNet("full", taps=("landmarks",))(x)["landmarks"][0, :33, :2].detach().numpy()
    ref = landmarks_to_joints_matrix() @ lm
    np.testing.assert_allclose(j[0].numpy(), ref, atol=1e-3)
    assert vis.shape == (1, 16) and float(vis.min()) >= 0 and float(vis.max()) <= 1
    # the same crop at 224 px: joints scale with the crop
    j224, _ = orig(_photo(224))
    assert np.abs(j224[0].numpy() - (j[0].numpy() + 0.5) * 224 / 256 + 0.5).mean() < 3.0


def test_landmark_joints_start_at_blazeposes_own_heatmaps(full_path):
    torch.manual_seed(0)
    net = SkeletonNet(SkeletonNetConfig(backbone="blazepose_full", input_size=224, presence=True)).train()
    x = _photo(224)
    with torch.no_grad():
        o = net(x)
        hm = BlazePoseNet("full", taps=("heatmaps",))(x)["heatmaps"]
    raw = L.soft_argmax(L.heatmap_probabilities(hm * 2.0))[0].numpy()
    src = joint_sources()
    got = o["coords_map"][0, :, :2].numpy()
    err = np.array([np.linalg.norm(got[j] - raw[lm]) for j, lm in src.items()])
    assert np.median(err) < 0.5 and err.max() < 2.0, err   # map pixels (4 input px each)


def _targets(net, b):
    k = net.cfg.heatmap_size
    g = torch.Generator().manual_seed(3)
    return {"global_class": torch.zeros(b, dtype=torch.long), "global_rotation": torch.eye(3).expand(b, 3, 3),
            "rotations": torch.eye(3).expand(b, 15, 3, 3), "joints": torch.zeros(b, 16, 3),
            "coords_map": torch.rand(b, 16, 3, generator=g) * (k - 1), "mask_3d": torch.ones(b),
            "person": torch.ones(b), "original_map": torch.rand(b, 16, 2, generator=g) * (k - 1),
            "original_vis": torch.ones(b, 16)}


def test_distillation_gradient_reaches_the_2d_heads_and_the_unfrozen_encoder(full_path):
    torch.manual_seed(0)
    cfg = SkeletonNetConfig(backbone="blazepose_full", input_size=64, hg_channels=16, num_clusters=4,
                            head_hidden=32, presence=True)
    net = SkeletonNet(cfg)
    o = net(torch.rand(2, 3, 64, 64))
    t = _targets(net, 2)
    loss = distill_loss(o["coords_map"], t["original_map"], t["original_vis"], t["person"])
    loss.backward()
    grad = {n: (p.grad is not None and float(p.grad.abs().sum()) > 0) for n, p in net.named_parameters()}
    assert grad["bp_xy.weight"] and any(v for n, v in grad.items() if n.startswith("hourglass."))
    assert any(v for n, v in grad.items() if n.startswith("backbone."))       # the encoder learns when unfrozen
    assert not any(v for n, v in grad.items() if n.startswith(("rot_head", "global_out", "bone_out", "presence_out")))
    # the term is part of the total only when weighted
    _, parts = skeletonnet_loss(o, t, cfg, LossWeights(distill=0.2))
    assert "distill" in parts
    _, parts = skeletonnet_loss(o, t, cfg, LossWeights())
    assert "distill" not in parts


@pytest.mark.slow
def test_blazepose_model_trains_and_exports(full_path, tmp_path):
    from trainer.export import export_onnx, onnx_parity, tensorrt_problems

    torch.manual_seed(0)
    cfg = SkeletonNetConfig(backbone="blazepose_full", input_size=96, hg_channels=16, num_clusters=4,
                            head_hidden=32, presence=True)
    net = SkeletonNet(cfg)
    x = torch.rand(4, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    tgt = _targets(net, 4)
    opt = torch.optim.Adam([p for n, p in net.named_parameters() if not n.startswith("backbone.")], lr=5e-3)
    losses = []
    for _ in range(25):
        loss, _ = skeletonnet_loss(net(x), tgt, cfg, LossWeights(distill=0.2))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
    net.eval()
    path = export_onnx(net, tmp_path / "bp.onnx")
    assert tensorrt_problems(path) == []
    diff = onnx_parity(net, path)
    assert max(diff["joints_3d"], diff["rotations"], diff["confidence"]) < 1e-4, diff
    assert diff["joints_2d"] / cfg.input_size < 1e-4, diff
