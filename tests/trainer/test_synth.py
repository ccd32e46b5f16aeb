"""Synthetic data: label consistency, determinism, split isolation, corrupt shards,
bad input, the dataset card."""
import shutil

import cv2
import numpy as np
import pytest

from engine import frames
from engine import skeleton as S
from engine.errors import UserError
from trainer.data import poses as P
from trainer.data import synth as Y
from trainer.data.shards import iter_shards

UNIT = S.Skeleton.default().bone_vectors / np.linalg.norm(S.Skeleton.default().bone_vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert Y.main(["--out", str(out), "--train", "12", "--val", "6", "--test", "6", "--shard-size", "6",
                   "--size", "128", "--bodies-per-shard", "2", "--seed", "3"]) == 0
    return out


@pytest.fixture(scope="module")
def anny_model():
    from trainer.data.bodies import load_anny

    return load_anny()


def all_labels(root, split):
    shards = list(iter_shards(root / split))
    return shards, {k: np.concatenate([s.labels[k] for s in shards]) for k in shards[0].labels}


@pytest.mark.slow
def test_labels_are_consistent(dataset):
    for split in ("train", "val", "test"):
        _, lab = all_labels(dataset, split)
        j3, j2, k = (lab[key].astype(np.float64) for key in ("joints_3d", "joints_2d", "K"))
        proj = np.einsum("nij,nkj->nki", k, frames.world_to_camera(j3))  # labels are in world axes
        proj = proj[..., :2] / proj[..., 2:]
        assert np.abs(proj - j2).max() < 0.5  # pixels
        rel = j3 - j3[:, S.ROOT:S.ROOT + 1]
        fk = S.forward_kinematics(lab["rotations"].astype(np.float64), UNIT * lab["bone_lengths"][..., None])
        assert np.abs(fk - rel).max() < 1e-3  # metres: within 1 mm
        assert np.abs(lab["global_rotation"] - S.pelvis_rotation(lab["rotations"].astype(np.float64))).max() < 1e-5


@pytest.mark.slow
def test_one_gl_context_per_process(dataset, tmp_path, monkeypatch):
    made = []

    class Counting(Y.Renderer):
        def __init__(self, *args, **kwargs):
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(Y, "Renderer", Counting)
    monkeypatch.setattr(Y, "_RENDERER", None)  # as in a fresh process
    assert Y.main(["--out", str(tmp_path), "--train", "2", "--val", "1", "--test", "1", "--shard-size", "1",
                   "--size", "64", "--bodies-per-shard", "1", "--no-card"]) == 0
    assert len(list(tmp_path.glob("*/shard_*"))) == 4
    assert len(made) == 1  # four shards, one GL context
    made[0].close()


def test_splits_do_not_share_bodies_or_clips(dataset):
    ids = {s: all_labels(dataset, s)[1] for s in ("train", "val", "test")}
    bodies = {s: set(v["body_id"].tolist()) for s, v in ids.items()}
    assert not (bodies["train"] & bodies["val"]) and not (bodies["train"] & bodies["test"])
    assert not (bodies["val"] & bodies["test"])
    allowed = {"train": {0, 1}, "val": {0, 2}, "test": {0, 3}}
    for s, v in ids.items():
        assert set(v["clip_id"].tolist()) <= allowed[s]


def test_card_and_contact_sheet(dataset):
    card = (dataset / "CARD.md").read_text()
    assert "| train | 12 | 2 |" in card
    assert cv2.imread(str(dataset / "contact_sheet.png")).shape == (8 * 160, 8 * 160, 3)
    assert (dataset / "distributions.png").exists()
    # renders beside real crops at the network's input size: two labelled rows of 8 tiles of 160 px
    from trainer.data.card import real_wheel

    if real_wheel() is not None:
        pair = cv2.imread(str(dataset / "synth_vs_real.png"))
        assert pair.shape == (2 * 22 + 2 * 160, 8 * 160, 3)
        assert "synth_vs_real.png" in card
        real = pair[22 + 160 + 22:]
        assert all(real[:, i * 160:(i + 1) * 160].std() > 20 for i in range(8))  # eight real crops, none blank


@pytest.mark.slow
def test_card_of_a_render_without_a_train_split(dataset, tmp_path):
    """An evaluation-only render (--train 0) still gets its card; the sheet shows the first split it has."""
    from trainer.data.card import write_card

    shutil.copytree(dataset / "val", tmp_path / "val")
    write_card(tmp_path)
    assert "| val | 6 | 1 |" in (tmp_path / "CARD.md").read_text()
    assert cv2.imread(str(tmp_path / "contact_sheet.png")).shape == (8 * 160, 8 * 160, 3)


@pytest.mark.slow
@pytest.mark.parametrize("style", ["room", "webcam"])
def test_same_seed_same_bytes_different_seed_different(anny_model, style):
    clips = P.load_clip_poses()
    a = Y.render_shard("train", 0, 4, 11, 96, anny_model, clips, [], bodies_per_shard=1, style=style)
    b = Y.render_shard("train", 0, 4, 11, 96, anny_model, clips, [], bodies_per_shard=1, style=style)
    c = Y.render_shard("train", 0, 4, 12, 96, anny_model, clips, [], bodies_per_shard=1, style=style)
    assert a["images"] == b["images"]
    assert all(x != y for x, y in zip(a["images"], c["images"]))


def test_silhouette_covers_the_projected_joints(anny_model):
    from trainer.data.bodies import make_body

    rng = np.random.default_rng(5)
    r = Y.SynthRenderer(160)
    covered, total = 0, 0
    for k in range(3):
        body = make_body(anny_model, rng, k)
        r.set_body(body)
        rots = P.sampled_pose(rng)
        g = body.avatar.node_globals(rots)
        joints = body.joints(g)
        rot, t, f, _, _ = Y._camera(rng, joints[S.ROOT], np.array([0.0, 0.0, 1.0]))
        cam = joints @ rot.T + t
        kk = Y._crop_intrinsics(rng, cam[:, :2] / cam[:, 2:] * f, f, 160)
        j2 = (cam @ kk.T)[:, :2] / cam[:, 2:]
        alpha = r.render(g, kk, rot, t, rng)[..., 3] > 0
        alpha = cv2.dilate(alpha.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # joints on the surface: 2 px
        ij = np.round(j2).astype(int)
        inside = (ij >= 0).all(1) & (ij < 160).all(1)
        covered += alpha[ij[inside, 1], ij[inside, 0]].sum()
        total += inside.sum()
    assert covered == total


def test_corrupt_shards_are_reported_and_skipped(dataset, tmp_path, capsys):
    root = tmp_path / "copy"
    shutil.copytree(dataset, root)
    (sorted((root / "val").glob("shard_*"))[0] / "labels.npz").write_bytes(b"not an npz")
    assert list(iter_shards(root / "val")) == []
    assert "corrupt shard" in capsys.readouterr().err
    # an image whose bytes change fails its CRC when read: the shard is dropped, never used
    from trainer.data.dataset import SynthSource

    src = SynthSource(root, "train", 96)
    path = sorted((root / "train").glob("shard_*"))[0] / "000000.jpg"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    s = src.sample(0, np.random.default_rng(0))
    assert s["image"].shape == (3, 96, 96)
    assert "fails its CRC" in capsys.readouterr().err
    assert src.bad == {0}
    for i in range(12):  # every later read avoids the bad shard
        src.sample(i, np.random.default_rng(i))
    assert capsys.readouterr().err == ""


def test_labels_written_before_the_frame_tag_are_converted_once_at_load(dataset, tmp_path, capsys):
    """Shards are written with world-axis joints and ``joints_frame`` = "world"; a shard from before
    the tag (camera-axis joints, no tag) loads as the same world-axis labels and the same targets."""
    from trainer.data.dataset import SynthSource

    root = tmp_path / "copy"
    shutil.copytree(dataset, root)
    shard = sorted((root / "val").glob("shard_*"))[0]
    with np.load(shard / "labels.npz") as f:
        new = {k: f[k] for k in f.files}
    assert str(new.pop("joints_frame")) == "world"
    old = dict(new, joints_3d=frames.world_to_camera(new["joints_3d"]).astype(np.float32))
    assert np.abs(old["joints_3d"] - new["joints_3d"]).max() > 0.1  # the two frames really differ
    before = SynthSource(root, "val", 96).sample(0)
    np.savez(shard / "labels.npz", **old)
    loaded = [sh for sh in iter_shards(root / "val") if sh.path == shard][0]
    np.testing.assert_allclose(loaded.labels["joints_3d"], new["joints_3d"], atol=1e-6)
    after = SynthSource(root, "val", 96).sample(0)
    for key in ("joints", "coords_map", "joints_2d", "camera", "rotations"):
        np.testing.assert_allclose(after[key], before[key], atol=1e-4, err_msg=key)
    np.savez(shard / "labels.npz", **new, joints_frame=np.array("sideways"))
    assert shard not in [sh.path for sh in iter_shards(root / "val")]
    assert "joints_frame 'sideways' is not known" in capsys.readouterr().err


def test_missing_clips_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(P, "CLIP_DIR", tmp_path)
    with pytest.raises(UserError, match="apt-get install assimp-testmodels"):
        P.load_clip_poses()


def test_flip_swaps_left_and_right(dataset):
    from trainer.data.dataset import make_targets

    sh = list(iter_shards(dataset / "train"))[0]
    lab = sh.labels
    img = sh.image(0)
    a = make_targets(img, lab["joints_2d"][0], lab["joints_3d"][0], lab["rotations"][0], lab["K"][0], 128, False)
    b = make_targets(img, lab["joints_2d"][0], lab["joints_3d"][0], lab["rotations"][0], lab["K"][0], 128, True)
    np.testing.assert_allclose(b["image"], a["image"][:, :, ::-1])
    li, ri = S.JOINT_INDEX["l_wrist"], S.JOINT_INDEX["r_wrist"]
    np.testing.assert_allclose(b["joints_2d"][li, 0], 127 - a["joints_2d"][ri, 0], atol=1e-4)
    np.testing.assert_allclose(b["joints"][li], a["joints"][ri] * [-1, 1, 1], atol=1e-5)
    # the flipped labels stay consistent: FK of flipped rotations gives flipped joints (directions)
    fk = S.Skeleton.default().forward_kinematics(b["rotations"].astype(np.float64))
    d_fk = fk[S.BONES[:, 1]] - fk[S.BONES[:, 0]]
    d_gt = b["joints"][S.BONES[:, 1]] - b["joints"][S.BONES[:, 0]]
    cos = (d_fk * d_gt).sum(1) / np.linalg.norm(d_fk, axis=1) / np.linalg.norm(d_gt, axis=1)
    assert cos.min() > 0.9999
