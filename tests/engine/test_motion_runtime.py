"""The motion model's runtime (engine/motion.py): twist, the view that makes a person at the edge of
a wide lens look like one in the centre, the causal window, one-line errors for a bad file, and
the estimator with the motion model on."""
from pathlib import Path

import numpy as np
import pytest

from engine import motion as M
from engine import rotations as R
from engine import skeleton as S
from engine.backend_base import BackendError
from engine.estimator import Estimator
from engine.preprocess import frame_intrinsics
from engine.settings import EngineSettings

REPO_MODEL = Path(__file__).resolve().parents[2] / "assets" / "motion.onnx"
SK = S.Skeleton.default()


def random_rotations(rng, n):
    return R.axis_angle_to_matrix(rng.normal(0, 1.2, (n, S.NUM_BONES, 3)))


def test_twist_is_the_turn_about_the_bone_and_leaves_its_direction():
    rng = np.random.default_rng(0)
    r = random_rotations(rng, 50)
    want = rng.uniform(-3.1, 3.1, (50, S.NUM_BONES))
    r2 = M.with_twist(r, want)
    np.testing.assert_allclose(np.angle(np.exp(1j * (M.twist_angles(r2) - want))), 0, atol=1e-9)
    np.testing.assert_allclose(SK.forward_kinematics(r2), SK.forward_kinematics(r), atol=1e-12)
    np.testing.assert_allclose(M.twist_angles(np.broadcast_to(np.eye(3), (S.NUM_BONES, 3, 3))), 0, atol=1e-12)
    # a turn about the rest bone itself is all twist; a swing alone has none
    u = SK.bone_vectors[S.BONE_INDEX["l_forearm"]]
    assert np.isclose(M.twist_angles(R.axis_angle_to_matrix(0.7 * u / np.linalg.norm(u))[None].repeat(15, 0))[
        S.BONE_INDEX["l_forearm"]], 0.7)
    swing = R.rotation_between(u, np.array([0.2, 0.9, 0.3]))
    assert abs(M.twist_angles(swing[None].repeat(15, 0))[S.BONE_INDEX["l_forearm"]]) < 1e-9


def test_features_do_not_change_when_the_camera_turns():
    """A person seen at the edge of the lens gives the same features as one in the centre: the view
    rotation undoes a camera turn (exactly when the mean ray lies on the turn's plane)."""
    rng = np.random.default_rng(1)
    joints = SK.forward_kinematics(R.axis_angle_to_matrix(rng.normal(0, 0.5, (9, S.NUM_BONES, 3))))
    cam = joints * [1, -1, -1] + [0, 0, 3.0]                     # (T, 16, 3) camera axes
    unit = cam / np.linalg.norm(cam, axis=-1, keepdims=True)
    centre = R.rotation_between(unit[-1].mean(0), np.array([0.0, 0.0, 1.0]))
    cam = cam @ centre.T                                          # newest mean ray on the axis
    inside, twist, real = np.ones((9, 16)), rng.uniform(-1, 1, (9, 15)), np.ones(9)
    x0, _ = M.window_features(cam / cam[..., 2:], inside, twist, real)
    for yaw in (0.5, -0.6):                                       # the person near the frame's edge
        turned = cam @ R.axis_rotation(1, yaw).T
        x1, view = M.window_features(turned / turned[..., 2:], inside, twist, real)
        np.testing.assert_allclose(x1, x0, atol=2e-5)
        np.testing.assert_allclose(view @ R.axis_rotation(1, -yaw), np.eye(3), atol=1e-9)  # world axes
    other = (SK.forward_kinematics(R.axis_angle_to_matrix(rng.normal(0, 0.5, (9, S.NUM_BONES, 3)))) * [1, -1, -1]
             + [0, 0, 3.0])
    assert np.abs(M.window_features(other / other[..., 2:], inside, twist, real)[0] - x0).max() > 0.1


def test_camera_rays_and_in_frame():
    k = frame_intrinsics(640, 480, 60.0)
    uv = np.array([[319.5, 239.5], [639.5, 0.0], [700.0, 10.0], [-1.0, 100.0]])
    rays = M.camera_rays(uv, k)
    np.testing.assert_allclose(rays[0], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(rays[1, 0], np.tan(np.deg2rad(30)), atol=1e-9)
    np.testing.assert_array_equal(M.in_frame(uv, 640, 480), [1, 1, 0, 0])


@pytest.mark.parametrize("content", [None, b"not an onnx file", "skeletonnet"])
def test_a_missing_or_wrong_motion_model_is_one_line(tmp_path, content):
    path = tmp_path / "motion.onnx"
    if content == "skeletonnet":
        path = REPO_MODEL.parent / "skeletonnet.onnx"
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(BackendError) as e:
        M.MotionModel(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    assert {None: "not found", b"not an onnx file": "cannot load", "skeletonnet": "not a motion model"}[content] in msg


class PerfectNetwork:
    """A stand-in SkeletonNet backend: the 2D of a walking person, and rotations with their twist."""

    input_size, name, model = 192, "scripted", "scripted"

    def __init__(self, rotations, k):
        self.rotations, self.k, self.i = rotations, k, 0

    def infer(self, frame, box, camera):
        from engine.backend_base import Outputs

        r = self.rotations[self.i]
        self.i += 1
        cam = SK.forward_kinematics(r) * [1, -1, -1] + [0.2, 0.1, 2.5]
        uv = cam[:, :2] / cam[:, 2:] * self.k[0, 0] + self.k[:2, 2]
        crop = box.to_crop(uv, self.input_size)
        return Outputs(SK.rest_joints, r, S.pelvis_rotation(r), crop, 1.0)


@pytest.mark.skipif(not REPO_MODEL.exists(), reason="assets/motion.onnx not trained yet")
@pytest.mark.parametrize("filtered", [False, True])
def test_estimator_with_the_motion_model_gives_rotations_that_rebuild_its_joints(filtered):
    rng = np.random.default_rng(2)
    w, h = 1280, 720
    k = frame_intrinsics(w, h, 65.0)
    base = R.axis_angle_to_matrix(rng.normal(0, 0.3, (S.NUM_BONES, 3)))
    rot = np.stack([R.axis_angle_to_matrix(np.array([0, 0.02 * i, 0])) @ base for i in range(40)])
    net = PerfectNetwork(rot, k)

    class Detector:
        def detect(self, frame):
            from engine.preprocess import Box
            cam = SK.rest_joints * [1, -1, -1] + [0.2, 0.1, 2.5]
            uv = cam[:, :2] / cam[:, 2:] * k[0, 0] + k[:2, 2]
            return [type("D", (), {"box": (*uv.min(0), *uv.max(0)), "crop": Box.around(uv)})()]

    motion = M.MotionModel(REPO_MODEL)
    est = Estimator(net, EngineSettings().replaced({"filter.enabled": filtered}), detector=Detector(), motion=motion)
    frame = np.zeros((h, w, 3), np.uint8)
    for i in range(40):
        pose = est(frame, i / 30)
        assert pose.detected
        np.testing.assert_allclose(pose.joints_3d, SK.forward_kinematics(pose.rotations), atol=1e-9)
        assert R.is_rotation(pose.rotations, 1e-6).all() and R.is_rotation(pose.pelvis_rotation, 1e-6)
        assert est.timings["motion"] > 0
    assert len(motion._frames) == motion.window
    est._lost(2.0, 0.0)  # tracking lost: the next person starts a fresh window
    assert len(motion._frames) == 0
