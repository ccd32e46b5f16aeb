"""Human3.6M and MPII loaders on tiny fixtures written here in their real layouts."""
import json

import cv2
import h5py
import numpy as np
import pytest

from engine import frames
from engine import rotations as R
from engine import skeleton as S
from engine.errors import UserError
from trainer.data import realsets as RS


def h36m_fixture(root, rng):
    cam = "54138969"
    k = {"f": [1145.0, 1144.0], "c": [512.0, 515.0]}
    (root / "cameras.json").write_text(json.dumps({cam: k}))
    truth = {}
    for s in (1, 9):
        seq = root / f"S{s}" / "Walking-1"
        (seq / "imageSequence" / cam).mkdir(parents=True)
        poses = []
        for fr in range(1, 12):
            rots = R.axis_angle_to_matrix(rng.normal(scale=0.3, size=(15, 3)))
            ours = (frames.world_to_camera(S.Skeleton.default().forward_kinematics(rots))
                    + np.array([0.1, 0.2, 4.5]))  # camera, m
            full = np.zeros((32, 3))
            full[RS.H36M_TO_MPII] = ours * 1000.0
            poses.append(full)
            truth[(s, fr)] = ours
            cv2.imwrite(str(seq / "imageSequence" / cam / f"img_{fr:06d}.jpg"),
                        (rng.random((1002, 1000, 3)) * 255).astype(np.uint8))
        with h5py.File(seq / "annot.h5", "w") as f:
            f["pose/3d"] = np.array(poses)
            f["camera"] = np.full(len(poses), int(cam))
            f["frame"] = np.arange(1, len(poses) + 1)
    return truth


def test_h36m_subjects_sampling_mapping_and_targets(tmp_path):
    truth = h36m_fixture(tmp_path, np.random.default_rng(0))
    train = RS.H36MSource(tmp_path, "train", 128)
    test = RS.H36MSource(tmp_path, "test", 128)
    # subject 1 trains, subject 9 tests; 50 fps -> 10 fps keeps frames 1, 6, 11
    assert len(train) == 3 and len(test) == 3
    assert [p.name for p, *_ in train.items] == ["img_000001.jpg", "img_000006.jpg", "img_000011.jpg"]
    assert all("S9" in str(p) for p, *_ in test.items)
    np.testing.assert_allclose(train.items[1][1], truth[(1, 6)], atol=1e-9)  # 32 -> 16 mapping, mm -> m
    s = train.sample(1)
    want = frames.camera_to_world(truth[(1, 6)] - truth[(1, 6)][S.ROOT])
    want = S.normalize_skeleton_scale(want, S.Skeleton.default().total_length)
    np.testing.assert_allclose(s["joints"], want, atol=1e-5)
    # derived rotations reproduce the bone directions
    fk = S.Skeleton.default().forward_kinematics(s["rotations"].astype(np.float64))
    d1, d2 = fk[S.BONES[:, 1]] - fk[S.BONES[:, 0]], want[S.BONES[:, 1]] - want[S.BONES[:, 0]]
    cos = (d1 * d2).sum(1) / np.linalg.norm(d1, axis=1) / np.linalg.norm(d2, axis=1)
    assert cos.min() > 1 - 1e-6
    assert s["image"].shape == (3, 128, 128) and s["mask_3d"] == 1 and s["mask_rot"] == 1
    assert s["clip_id"] == RS.H36M_ACTIONS.index("Walking")


def test_h36m_bad_layout(tmp_path):
    with pytest.raises(UserError, match="cameras.json missing"):
        RS.H36MSource(tmp_path, "train", 128)
    (tmp_path / "cameras.json").write_text("{}")
    (tmp_path / "S1" / "A-1").mkdir(parents=True)
    (tmp_path / "S1" / "A-1" / "annot.h5").write_bytes(b"junk")
    with pytest.raises(UserError, match="malformed annot.h5"):
        RS.H36MSource(tmp_path, "train", 128)


def test_mpii_2d_only(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "annot").mkdir()
    img = np.zeros((480, 640, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), img)
    joints = S.Skeleton.default().rest_joints[:, :2] * [120, -120] + [320, 240]
    (tmp_path / "annot" / "train.json").write_text(json.dumps(
        [{"image": "a.jpg", "center": [320, 240], "scale": 1.2, "joints": joints.tolist(), "joints_vis": [1] * 16}]))
    src = RS.MPIISource(tmp_path, "train", 128)
    s = src.sample(0)
    assert s["mask_3d"] == 0 and s["mask_rot"] == 0
    side = 1.2 * 200 * 1.25  # MPII scale is person height / 200 px; the crop adds 25 %
    s256 = 256 / side
    in256 = (joints - (np.array([320.0, 240.0]) - side / 2)) * s256 - 0.5  # frame -> 256 crop pixels
    want = (in256 + 0.5) * (128 / 256) - 0.5                            # -> 128 px network input
    np.testing.assert_allclose(s["joints_2d"], want, atol=1e-3)
    (tmp_path / "annot" / "valid.json").write_text(json.dumps([{"image": "a.jpg", "joints": [[0, 0]] * 3}]))
    with pytest.raises(UserError, match="malformed MPII annotations"):
        RS.MPIISource(tmp_path, "valid", 128)


def test_2d_only_samples_mix_with_synthetic_in_one_batch(tmp_path):
    """The loss masks keep 2D-only samples from supervising rotations and 3D."""
    import torch

    from trainer.data.dataset import collate
    from trainer.losses import skeletonnet_loss
    from trainer.model import SkeletonNet, SkeletonNetConfig

    (tmp_path / "images").mkdir()
    (tmp_path / "annot").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.zeros((200, 200, 3), np.uint8))
    joints = (S.Skeleton.default().rest_joints[:, :2] * [50, -50] + [100, 100]).tolist()
    (tmp_path / "annot" / "train.json").write_text(json.dumps([{"image": "a.jpg", "center": [100, 100],
                                                                  "scale": 0.5, "joints": joints}]))
    h36m = tmp_path / "h36m"
    h36m.mkdir()
    h36m_fixture(h36m, np.random.default_rng(1))
    batch = collate([RS.MPIISource(tmp_path, "train", 64).sample(0), RS.H36MSource(h36m, "train", 64).sample(0)])
    cfg = SkeletonNetConfig(backbone="mobilenet", input_size=64, hg_channels=16, hg_depth=2, num_clusters=4,
                            head_hidden=32)
    net = SkeletonNet(cfg)
    out = net(batch["image"])
    loss, parts = skeletonnet_loss(out, {k: v for k, v in batch.items() if k != "image"}, cfg)
    assert torch.isfinite(loss)
