"""Issue 15's checks that the network can learn: the ImageNet EfficientNet-Lite0 weights are loaded
(a cat photo lands in ImageNet's cat classes), the heatmap branch gets a gradient of the position
loss's order at initialisation, and the network fits a few dozen synthetic images to a low 2D
error in a bounded number of steps (it does not when the heatmap losses or the backbone are
broken: tried with lam = readout = 0, 2D error stays ~12 px; and with a backbone giving zeros,
~17.6 px; the passing run reaches ~2.5 px)."""
import cv2
import numpy as np
import pytest
import torch

from engine import frames
from engine import rotations as R
from engine import skeleton as S
from trainer.data.dataset import collate, make_targets
from trainer.losses import LossWeights, skeletonnet_loss
from trainer.model import SkeletonNet, SkeletonNetConfig

SK = S.Skeleton.default()
HEATMAP_BRANCH = ("up1.", "up2.", "up3.", "gauss_conv.", "hourglass.", "hm_out.")
COLOURS = np.random.default_rng(123).integers(60, 255, (S.NUM_BONES, 3))


def drawn_samples(n: int, size: int, seed: int = 0) -> dict:
    """A batch of ``n`` labelled samples: random poses (forward kinematics of random bone
    rotations around a random heading) 1-4 m in front of a pinhole camera, drawn as coloured
    limbs (far bones first) on a noisy background, the crop framing the person 1.15-1.4x, its
    intrinsics following; labels from ``make_targets``."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        rot = R.axis_angle_to_matrix(rng.normal(scale=0.4, size=(S.NUM_BONES, 3)))
        rot = R.axis_angle_to_matrix(np.array([0.0, rng.uniform(-np.pi, np.pi), 0.0]))[None] @ rot
        j3 = frames.world_to_camera(SK.forward_kinematics(rot)) + np.array([0.0, 0.0, rng.uniform(1.0, 4.0)])
        p = j3[:, :2] / j3[:, 2:]
        fill = rng.uniform(1.15, 1.4)
        f = size / (fill * np.ptp(p, axis=0).max())
        if f < 0.55 * size:  # wider than a webcam sees
            continue
        c = (size - 1) / 2 - f * (p.min(0) + p.max(0)) / 2 + rng.uniform(-0.8, 0.8, 2) * (1 - 1 / fill) / 2 * size
        j2 = f * p + c
        img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
        for b in np.argsort(-(j3[S.BONES[:, 0], 2] + j3[S.BONES[:, 1], 2])):
            a, e = j2[S.BONES[b, 0]], j2[S.BONES[b, 1]]
            cv2.line(img, (int(round(a[0])), int(round(a[1]))), (int(round(e[0])), int(round(e[1]))),
                     tuple(int(v) for v in COLOURS[b]), max(2, size // 24), cv2.LINE_AA)
        k = np.array([[f, 0.0, c[0]], [0.0, f, c[1]], [0.0, 0.0, 1.0]])
        out.append(make_targets(img, j2, frames.camera_to_world(j3), rot, k, size, False))
    return collate(out)


def test_pretrained_lite0_sees_a_cat():
    from skimage import data

    from trainer.backbones import LITE_MEAN, LITE_STD, EfficientNetLite0, load_lite_imagenet

    img = cv2.resize(data.chelsea(), (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x = torch.tensor(img).permute(2, 0, 1)[None]
    x = (x - torch.tensor(LITE_MEAN).view(1, 3, 1, 1)) / torch.tensor(LITE_STD).view(1, 3, 1, 1)
    net = load_lite_imagenet(EfficientNetLite0(1000)).eval()
    with torch.no_grad():
        p = torch.softmax(net(x), -1)[0]
    assert 281 <= int(p.argmax()) <= 285  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert float(p[281:286].sum()) > 0.5
    # SkeletonNet(pretrained=True) keeps those weights (its own init does not overwrite them)
    sk = SkeletonNet(SkeletonNetConfig(backbone="lite0", input_size=64, num_clusters=8, head_hidden=64),
                     pretrained=True)
    ref = net.state_dict()
    for k, v in sk.backbone.state_dict().items():
        assert torch.equal(v, ref[k]), k


def _branch_grad(loss, params) -> float:
    g = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((x ** 2).sum() for x in g if x is not None)))


def test_heatmap_branch_gradient_is_within_10x_of_the_position_loss_at_init():
    torch.manual_seed(0)
    size = 96
    b = drawn_samples(8, size)
    cfg = SkeletonNetConfig(backbone="lite0", input_size=size, num_clusters=8, presence=True)
    net = SkeletonNet(cfg, pretrained=True).train()
    params = [p for n, p in net.named_parameters() if n.startswith(HEATMAP_BRANCH)]
    tgt = {k: v for k, v in b.items() if k != "image"}
    out = net(b["image"], b["camera"])
    ratios = {}
    for name, w in (("default", LossWeights()), ("paper", LossWeights(lam=0.001, readout=0.0))):
        _, parts = skeletonnet_loss(out, tgt, cfg, w, detach=False)
        hm = w.lam * parts["hm"] + (w.readout * parts["readout"] if "readout" in parts else 0.0)
        ratios[name] = _branch_grad(hm, params) / _branch_grad(w.gamma * parts["pos"], params)
    assert 0.1 <= ratios["default"] <= 10.0, ratios
    assert ratios["paper"] < 0.01, ratios  # the paper's lambda: the branch barely trained (issue 15)


@pytest.mark.slow
def test_network_overfits_a_few_dozen_synthetic_images():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        size = 64
        b = drawn_samples(24, size)
        cfg = SkeletonNetConfig(backbone="lite0", input_size=size, hg_channels=32, hg_depth=2, num_clusters=8,
                                head_hidden=128)
        net = SkeletonNet(cfg, pretrained=True).train()
        tgt = {k: v for k, v in b.items() if k != "image"}
        opt = torch.optim.Adam(net.parameters(), 2e-3)
        err, pos = [], []
        for step in range(61):
            out = net(b["image"], b["camera"])
            loss, parts = skeletonnet_loss(out, tgt, cfg, LossWeights())
            err.append(float((out["joints_2d"].detach() - b["joints_2d"]).norm(dim=-1).mean()))  # input pixels
            pos.append(float(parts["pos"]))
            if step == 60:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    assert err[0] > 12.0, err[0]  # a fresh network's maps are flat: joints at the centre
    assert err[-1] < 3.5, err      # about a map pixel (4 px): the crops' 2D joints are learned
    assert pos[-1] < 0.1 * pos[0], pos
