"""Perspective-correct decoding of the cross heatmaps (issue 15): exact labels built by
``make_targets`` from skeletons placed in camera space (handed over in world axes) decode back to the
``joints`` target (Eq. 1 scaled, world axes) within 1 mm, for crops anywhere in the frame, people 1-4 m
away, mirrored or not."""
import numpy as np
import pytest
import torch

from engine import frames
from engine import rotations as R
from engine import skeleton as S
from trainer import layers as L
from trainer.data.dataset import REFERENCE_LENGTH, make_targets
from trainer.model import MIN_FILL

SK = S.Skeleton.default()
STRIDE = 4


def random_sample(rng, crop_side: int):
    """A skeleton in camera axes 1-4 m away, a pose around the upright one, and the intrinsics (3, 3)
    of a square crop (``crop_side`` px) around its projection: the person spans 1/1.1-1/1.5 of
    the crop, shifted inside it. The focal length follows; draws where the crop would see more
    than 85 degrees (a whole webcam frame at most) are drawn again."""
    while True:
        j2, j3, rot, k = _draw(rng, crop_side)
        if k[0, 0] >= 0.55 * crop_side:
            return j2, j3, rot, k


def _draw(rng, crop_side: int):
    rot = R.axis_angle_to_matrix(rng.normal(scale=0.5, size=(S.NUM_BONES, 3)))
    heading = R.axis_angle_to_matrix(np.array([0.0, rng.uniform(-np.pi, np.pi), 0.0]) + rng.normal(scale=0.15, size=3))
    rot = heading[None] @ rot
    world = SK.forward_kinematics(rot)
    z = rng.uniform(1.0, 4.0)
    root = np.array([rng.uniform(-0.4, 0.4) * z, rng.uniform(-0.3, 0.3) * z, z])  # anywhere in a wide frame
    j3 = frames.world_to_camera(world) + root
    p = j3[:, :2] / j3[:, 2:]                                          # normalised image coordinates
    fill = rng.uniform(1.1, 1.5)
    f = crop_side / (fill * np.ptp(p, axis=0).max())  # crop pixels per unit
    mid = (p.min(0) + p.max(0)) / 2
    c = (crop_side - 1) / 2 - f * mid + rng.uniform(-0.9, 0.9, 2) * (1 - 1 / fill) / 2 * crop_side
    k = np.array([[f, 0.0, c[0]], [0.0, f, c[1]], [0.0, 0.0, 1.0]])
    j2 = f * p + c
    return j2, j3, rot, k


def decode(t: dict, input_size: int) -> np.ndarray:
    """The network's decoding (trainer.model.SkeletonNet.forward) applied to exact labels."""
    coords = torch.tensor(t["coords_map"], dtype=torch.float64)[None]
    cam = torch.tensor(t["camera"], dtype=torch.float64)[None]
    c = L.decode_perspective(coords, cam, STRIDE, input_size // STRIDE)
    world = torch.stack([c[..., 0], -c[..., 1], -c[..., 2]], dim=-1)
    return L.scale_to_length(world, REFERENCE_LENGTH, MIN_FILL * input_size / cam[:, 0])[0].numpy()


def decode_weak(t: dict, input_size: int) -> np.ndarray:
    """The old weak-perspective reading: x, y at the root's depth, the depth column as an offset."""
    f, cx, cy = (float(v) for v in t["camera"])
    c = t["coords_map"].astype(np.float64)
    u, v = (c[:, 0] + 0.5) * STRIDE - 0.5, (c[:, 1] + 0.5) * STRIDE - 0.5
    z = 1 + (c[:, 2] - (input_size // STRIDE - 1) / 2) * STRIDE / f
    world = np.stack([(u - cx) / f, -(v - cy) / f, -z], -1)
    return S.normalize_skeleton_scale(world - world[S.ROOT], REFERENCE_LENGTH)


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("input_size,crop_side", [(128, 128), (160, 320)])
def test_exact_labels_round_trip_within_a_millimetre(flip, input_size, crop_side):
    rng = np.random.default_rng([input_size, crop_side, flip])
    errs, weak, outside = [], [], 0
    img = np.zeros((crop_side, crop_side, 3), np.uint8)
    hm = input_size // STRIDE
    for _ in range(200):
        j2, j3, rot, k = random_sample(rng, crop_side)
        t = make_targets(img, j2, frames.camera_to_world(j3), rot, k, input_size, flip)
        assert t["visible"].all()  # every joint inside the crop: x, y not clipped
        depth = L.encode_depth(torch.tensor(j3[None, :, 2]), torch.tensor(j3[None, S.ROOT, 2]),
                               torch.tensor([float(t["camera"][0])], dtype=torch.float64), STRIDE, hm)[0].numpy()
        if depth.min() < -2 or depth.max() > hm + 1:  # beyond what the zy map holds (labels are clipped)
            outside += 1
            continue
        got = decode(t, input_size)
        errs.append(np.linalg.norm(got - t["joints"], axis=-1).max() * 1000)
        weak.append(np.linalg.norm(decode_weak(t, input_size) - t["joints"], axis=-1).max() * 1000)
    assert outside < 0.1 * 200, outside  # a person reaching towards or away from the camera
    assert max(errs) < 1.0, max(errs)
    assert np.median(weak) > 10.0, np.median(weak)  # weak perspective is far off: the test can tell


def test_encode_depth_is_what_make_targets_writes():
    rng = np.random.default_rng(1)
    j2, j3, rot, k = random_sample(rng, 192)
    t = make_targets(np.zeros((192, 192, 3), np.uint8), j2, frames.camera_to_world(j3), rot, k, 192, False)
    z = torch.tensor(j3[:, 2])[None]
    enc = L.encode_depth(z, z[:, S.ROOT], torch.tensor([t["camera"][0]], dtype=torch.float64), STRIDE, 192 // STRIDE)
    np.testing.assert_allclose(enc[0].numpy(), t["coords_map"][:, 2], atol=1e-4)
    # and the root decodes to depth 1 on its own ray
    c = L.decode_perspective(torch.tensor(t["coords_map"], dtype=torch.float64)[None],
                             torch.tensor(t["camera"], dtype=torch.float64)[None], STRIDE, 192 // STRIDE)[0].numpy()
    np.testing.assert_allclose(c[S.ROOT], j3[S.ROOT] / j3[S.ROOT, 2], atol=1e-5)
