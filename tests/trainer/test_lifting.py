"""Lifting: the pursuit's orthographic camera solver, exact recovery of a mocap exemplar, the
perspective bone placement, and the full lifting against the pursuit alone on held-out poses
(the full accuracy curve is ``python -m benchmarks.lifting``, reported in docs/wild.md)."""
import numpy as np
import pytest

from engine import frames
from engine import rotations as R
from engine import skeleton as S
from trainer.data import poses as P
from trainer.metrics import pa_mpjpe
from trainer.wild.lifting import PoseBasis, _batch_camera, _place, lift, pursuit

SK = S.Skeleton.default()


def test_orthographic_camera_is_recovered():
    rng = np.random.default_rng(0)
    x = SK.forward_kinematics(R.axis_angle_to_matrix(rng.normal(scale=0.5, size=(15, 3))))
    x = x - x.mean(0)
    rot = R.quat_to_matrix(rng.normal(size=4))
    x2 = 180.0 * x @ rot[:2].T
    res, r, s = _batch_camera(x2, x[None], np.ones(16))
    assert res[0] < 1e-9 and abs(s[0] - 180.0) < 1e-6
    np.testing.assert_allclose(r[0][:2], rot[:2], atol=1e-6)


def test_exemplar_is_lifted_exactly():
    rng = np.random.default_rng(1)
    poses = SK.forward_kinematics(np.stack([P.sampled_pose(rng) for _ in range(300)]))
    basis = PoseBasis.learn(poses, k=20)
    cam = frames.world_to_camera(poses[17])
    x, info = pursuit(cam[:, :2] * 200.0, basis)
    assert info["reprojection_px"] < 1e-3
    assert pa_mpjpe(x[None], (cam - cam[S.ROOT])[None])[0] < 1.0  # mm


def test_bone_placement_rebuilds_a_perspective_pose():
    """With the true pelvis depth and depth orders, every joint lands where it was (pinhole camera)."""
    rng = np.random.default_rng(2)
    cam = frames.world_to_camera(SK.forward_kinematics(P.sampled_pose(rng))) + [0.3, -0.1, 3.5]
    rays = cam / cam[:, 2:]
    joints = np.zeros((16, 3))
    joints[S.ROOT] = cam[S.ROOT]
    for b, (a, e) in enumerate(S.BONES):
        sign = 1.0 if cam[e] @ rays[e] / (rays[e] @ rays[e]) >= joints[a] @ rays[e] / (rays[e] @ rays[e]) else -1.0
        joints, pen = _place(joints, rays, b, sign, SK.bone_lengths[b], 1000.0, 5.0)
        assert pen < 1e-9
    np.testing.assert_allclose(joints, cam, atol=1e-9)


@pytest.mark.slow
def test_batched_pose_sampler_matches_the_single_one():
    """The prior's 100,000 poses come from the vectorised sampler: same distribution of local
    rotations (per bone: mean rotation matrix and the spread of rotation angles) as the loop."""
    rng = np.random.default_rng(4)
    one = np.stack([P.sample_local_pose(rng) for _ in range(4000)])
    many = P.sample_local_poses(np.random.default_rng(5), 4000)
    assert many.shape == one.shape == (4000, 15, 3, 3)
    np.testing.assert_allclose(many @ many.transpose(0, 1, 3, 2), np.broadcast_to(np.eye(3), many.shape), atol=1e-9)
    np.testing.assert_allclose(many.mean(0), one.mean(0), atol=0.04)
    ang = lambda r: np.degrees(np.arccos(np.clip((np.trace(r, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))
    for q in (25, 50, 75, 95):
        np.testing.assert_allclose(np.percentile(ang(many), q, axis=0), np.percentile(ang(one), q, axis=0), atol=4.0)


@pytest.fixture(scope="module")
def basis():
    return PoseBasis.default()


@pytest.mark.slow
def test_lifting_beats_the_pursuit_on_held_out_poses(basis):
    """Exact perspective projections of unseen poses: the depth-order search and refinement
    bring PA-MPJPE well under the pursuit's (~100 mm; the benchmark: docs/wild.md), and noisy
    keypoints are recognised as noisy."""
    rng = np.random.default_rng(11)
    clip = P.load_clip_poses(["01_03.bvh"], stride=600)["01_03.bvh"]      # the test clip: 8 frames
    err_lift, err_pursuit, fit_rms, weight = [], [], {0.0: [], 10.0: []}, {0.0: [], 10.0: []}
    for k, rot in enumerate(clip):
        cam = frames.world_to_camera(SK.forward_kinematics(P.reorient(rot, rng))) + [0.0, 0.0, 4.0]
        gt = (cam - cam[S.ROOT])[None]
        for noise in (0.0, 10.0) if k < 2 else (0.0,):
            uv = cam[:, :2] / cam[:, 2:] * 1000.0 + 320.0 + rng.normal(0, noise, (16, 2))
            x, info = lift(uv, basis, focal=1000.0, centre=(320.0, 320.0))
            fit_rms[noise].append(info["fit_rms_px"])
            weight[noise].append(info["prior_weight"])
            if noise == 0.0:
                err_lift.append(pa_mpjpe(x[None], gt)[0])
                err_pursuit.append(pa_mpjpe(info["pursuit"][None], gt)[0])
                assert info["reprojection_px"] < 5.0 and abs(info["depth_m"] - 4.0) < 0.4  # body ~400 px tall
    print("lift", np.round(err_lift), "pursuit", np.round(err_pursuit), "fit rms", fit_rms, "weight", weight)
    assert np.median(err_lift) < 50.0 and np.mean(err_lift) < 0.7 * np.mean(err_pursuit)
    # noisy keypoints are told apart from exact ones, and the refinement leans on the prior for them
    assert min(fit_rms[10.0]) > 2.5 * max(fit_rms[0.0]) and min(weight[10.0]) > 0.5 and max(weight[0.0]) < 0.1
