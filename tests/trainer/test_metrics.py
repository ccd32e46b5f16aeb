"""Metrics against cases worked out by hand."""
import numpy as np
import pytest

from engine import rotations as R
from engine import skeleton as S
from trainer import metrics as M

SK = S.Skeleton.default()


def test_mpjpe_by_hand():
    gt = SK.rest_joints[None]
    pred = gt.copy()
    pred[0, S.JOINT_INDEX["l_wrist"]] += [0.0, 0.16, 0.0]  # one joint 160 mm off
    assert M.mpjpe(pred, gt)[0] == pytest.approx(160.0 / 16)
    # a translated prediction is root-aligned first
    assert M.mpjpe(gt + 5.0, gt)[0] == pytest.approx(0.0, abs=1e-9)
    # Eq. 1: a prediction twice as big scores 0 once scaled to the reference length
    assert M.mpjpe(gt * 2.0, gt, SK.total_length)[0] == pytest.approx(0.0, abs=1e-9)
    assert M.mpjpe(gt * 2.0, gt)[0] > 100


def test_pa_mpjpe_removes_similarity():
    rng = np.random.default_rng(0)
    gt = SK.forward_kinematics(R.quat_to_matrix(rng.normal(size=(15, 4))))[None]
    rot = R.quat_to_matrix(rng.normal(size=4))
    pred = 0.7 * gt @ rot.T + np.array([1.0, -2.0, 3.0])
    assert M.pa_mpjpe(pred, gt)[0] == pytest.approx(0.0, abs=1e-9)
    assert M.mpjpe(pred, gt)[0] > 50
    # a reflection is not a similarity: it is not removed
    assert M.pa_mpjpe(gt * [-1, 1, 1], gt)[0] > 10
    # hand case: 3 points, one off by 30 mm along a direction the alignment cannot absorb
    a = np.zeros((1, 16, 3))
    assert M.pa_mpjpe(a, a)[0] == pytest.approx(0.0)


def test_rotation_errors_by_hand():
    rz = R.axis_rotation(2, np.deg2rad(30.0))
    assert M.rotation_error(rz, np.eye(3)) == pytest.approx(30.0)
    assert M.rotation_error(np.eye(3), rz) == pytest.approx(30.0)
    rots = np.broadcast_to(np.eye(3), (1, 15, 3, 3)).copy()
    pred = rots.copy()
    pred[0, S.BONE_INDEX["l_forearm"]] = R.axis_rotation(1, np.deg2rad(45.0))
    # relative to the root: one bone off by 45 degrees -> mean 3 degrees
    err = M.bone_rotation_error(pred, np.eye(3)[None], rots, np.eye(3)[None])
    assert err[0] == pytest.approx(3.0)
    # a rigid turn of the whole body changes the global error but not the bone error
    turn = R.axis_rotation(1, np.deg2rad(90.0))
    err = M.bone_rotation_error(turn @ rots, turn[None], rots, np.eye(3)[None])
    assert err[0] == pytest.approx(0.0, abs=1e-9)
    assert M.rotation_error(turn, np.eye(3)) == pytest.approx(90.0)


def test_pck_hand_worked():
    from trainer.metrics import pck

    g = np.zeros((1, 16, 2))
    g[0, S.JOINT_INDEX["r_shoulder"]] = [0.0, 0.0]
    g[0, S.JOINT_INDEX["l_hip"]] = [30.0, 40.0]          # torso 50 px: PCK@0.2 radius 10 px
    p = g.copy()
    p[0, 0] += [9.0, 0.0]                               # inside
    p[0, 1] += [6.0, 8.0]                               # exactly 10 px: not under the radius
    p[0, 2] += [0.0, 30.0]                              # outside
    assert pck(p, g)[0] == pytest.approx(14 / 16)
    v = np.ones((1, 16))
    v[0, 2] = 0                                          # an invisible joint does not count
    assert pck(p, g, v)[0] == pytest.approx(14 / 15)
    assert pck(p, g, alpha=0.5)[0] == pytest.approx(15 / 16)   # radius 25 px: still misses the 30 px one
    assert pck(p, g, alpha=0.7)[0] == pytest.approx(1.0)
