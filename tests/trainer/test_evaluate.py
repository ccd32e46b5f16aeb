"""trainer.evaluate: the network gets each sample's camera, background crops are left out of the
pose metrics and score the presence output, and the constant-mean-pose baseline is printed beside
the model."""
import numpy as np
import pytest
import torch

from engine import rotations as R
from engine import skeleton as S
from trainer import evaluate as E

SK = S.Skeleton.default()


class Source:
    """Eight person samples in random poses and four background crops (placeholder labels)."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.items = []
        for i in range(12):
            person = float(i % 3 != 2)
            rot = R.axis_angle_to_matrix(rng.normal(scale=0.4, size=(15, 3))) if person else np.zeros((15, 3, 3))
            joints = SK.forward_kinematics(rot) if person else np.zeros((16, 3))
            img = np.zeros((3, 8, 8), np.float32)
            img[0, 0, 0] = i
            self.items.append({
                "image": img, "joints": joints.astype(np.float32), "rotations": rot.astype(np.float32),
                "global_rotation": (S.pelvis_rotation(rot) if person else np.eye(3)).astype(np.float32),
                "joints_2d": rng.uniform(0, 64, (16, 2)).astype(np.float32), "visible": np.ones(16, np.float32),
                "camera": np.array([70.0 + i, 31.5, 31.5], np.float32), "person": np.float32(person),
                "clip_id": np.int64(i % 2)})

    def __len__(self):
        return len(self.items)

    def sample(self, i, rng=None):
        return self.items[i]


class PerfectNet:
    """Gives each sample's own labels back (found by the index in its image) and a presence that
    separates people from background; records the cameras it got."""

    def __init__(self, src):
        self.src, self.cameras = src, []

    def __call__(self, images, camera=None):
        self.cameras.append(camera.numpy().copy())
        idx = images[:, 0, 0, 0].long().tolist()
        it = [self.src.items[i] for i in idx]
        out = {k: torch.tensor(np.stack([x[k] for x in it])) for k in ("joints", "rotations", "joints_2d")}
        out["confidence"] = torch.tensor([0.9 if x["person"] else 0.2 for x in it])
        return out


def test_evaluate_skips_background_scores_presence_and_prints_the_baseline():
    src = Source()
    net = PerfectNet(src)
    res = E.evaluate(net, src, SK.total_length)
    np.testing.assert_allclose(np.concatenate(net.cameras), np.stack([x["camera"] for x in src.items]))
    assert res["overall"]["samples"] == 8
    assert res["overall"]["mpjpe_mm"] < 1e-3 and res["overall"]["pa_mpjpe_mm"] < 1e-3
    assert res["overall"]["pck@0.2"] == 1.0
    assert sum(g["samples"] for g in res["per_group"].values()) == 8
    assert res["presence"] == {"person": 8, "background": 4, "accuracy": 1.0, "auc": 1.0, "threshold": 0.5}
    assert res["baseline"]["samples"] == 8 and res["baseline"]["mpjpe_mm"] > 20.0
    assert res["baseline"]["global_rotation_error_deg"] < 1e-6  # turned by the true global rotation
    table = E.format_table(res)
    assert "constant mean pose" in table and "ROC AUC 1.000" in table


def test_mean_pose_baseline_of_one_repeated_pose_is_exact():
    rng = np.random.default_rng(1)
    rb = R.axis_angle_to_matrix(rng.normal(scale=0.4, size=(15, 3)))
    g = R.quat_to_matrix(rng.normal(size=(6, 4)))
    rot = g[:, None] @ rb[None]
    gt = {"joints": SK.forward_kinematics(rot), "rotations": rot, "global_rotation": g}
    base = E.mean_pose_baseline(gt)
    np.testing.assert_allclose(base["joints"], gt["joints"] - gt["joints"][:, S.ROOT:S.ROOT + 1], atol=1e-9)
    np.testing.assert_allclose(base["rotations"], rot, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_roc_auc_matches_pair_counting(seed):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 5, 40).astype(float)  # many ties
    y = rng.random(40) < 0.4
    pairs = [(a > b) + 0.5 * (a == b) for a in s[y] for b in s[~y]]
    assert E.roc_auc(s, y) == pytest.approx(np.mean(pairs))
    assert np.isnan(E.roc_auc(s, np.ones(40)))
