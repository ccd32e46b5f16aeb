"""Frame conversions, each checked on vectors worked out by hand."""
import numpy as np

from engine import frames as F
from engine import rotations as R

# A person facing the camera, in camera (OpenCV) axes: their left is image
# right (+x), up is image up (-y), their forward points at the camera (-z).
CAM_LEFT, CAM_UP, CAM_FWD = np.array([1.0, 0, 0]), np.array([0, -1.0, 0]), np.array([0, 0, -1.0])


def test_camera_to_world_by_hand():
    # world: the rest-pose axes, left +X, up +Y, forward +Z
    np.testing.assert_allclose(F.camera_to_world(CAM_LEFT), [1, 0, 0])
    np.testing.assert_allclose(F.camera_to_world(CAM_UP), [0, 1, 0])
    np.testing.assert_allclose(F.camera_to_world(CAM_FWD), [0, 0, 1])
    # a point 2 m in front of the camera, 0.5 m below the optical axis
    np.testing.assert_allclose(F.camera_to_world([0, 0.5, 2.0]), [0, -0.5, -2.0])
    pts = np.random.default_rng(0).normal(size=(4, 5, 3))
    np.testing.assert_allclose(F.world_to_camera(F.camera_to_world(pts)), pts)


def test_world_to_unity_by_hand():
    # Unity is left-handed: an avatar facing +Z has its left at -X
    np.testing.assert_allclose(F.world_to_unity([1.0, 0, 0]), [-1, 0, 0])  # person's left
    np.testing.assert_allclose(F.world_to_unity([0, 1.0, 0]), [0, 1, 0])  # up
    np.testing.assert_allclose(F.world_to_unity([0, 0, 1.0]), [0, 0, 1])  # forward
    pts = np.random.default_rng(1).normal(size=(7, 3))
    np.testing.assert_allclose(F.unity_to_world(F.world_to_unity(pts)), pts)


def test_rotations_follow_points():
    rng = np.random.default_rng(2)
    r = R.quat_to_matrix(rng.normal(size=(6, 4)))
    v = rng.normal(size=(6, 3))
    for conv_p, conv_r in ((F.camera_to_world, F.camera_to_world_rotation),
                           (F.world_to_camera, F.world_to_camera_rotation),
                           (F.world_to_unity, F.world_to_unity_rotation),
                           (F.unity_to_world, F.unity_to_world_rotation)):
        rc = conv_r(r)
        np.testing.assert_allclose((rc @ conv_p(v)[..., None])[..., 0], conv_p((r @ v[..., None])[..., 0]), atol=1e-12)
        assert R.is_rotation(rc).all()


def test_unity_rotation_by_hand():
    # raising the left arm forward: world rotation of -90 deg about +Y takes +X (left) to +Z
    r_world = R.euler_to_matrix(np.array([0, 0, -90.0]), "ZXY", degrees=True)
    np.testing.assert_allclose(r_world @ [1, 0, 0], [0, 0, 1], atol=1e-12)
    # in Unity the left arm points -X and must go to +Z: +90 deg about +Y there
    r_unity = F.world_to_unity_rotation(r_world)
    np.testing.assert_allclose(r_unity, R.euler_to_matrix(np.array([0, 0, 90.0]), "ZXY", True), atol=1e-12)
    q = F.world_to_unity_quat(R.matrix_to_quat(r_world))
    s = np.sin(np.pi / 4)
    np.testing.assert_allclose(q, [0, s, 0, s], atol=1e-12)
    q2 = R.matrix_to_quat(R.quat_to_matrix(np.random.default_rng(3).normal(size=(5, 4))))
    a = F.world_to_unity_quat(q2)
    b = R.matrix_to_quat(F.world_to_unity_rotation(R.quat_to_matrix(q2)))
    assert np.allclose(a, b, atol=1e-12) or np.allclose(a, -b, atol=1e-12)
    np.testing.assert_allclose(F.unity_to_world_quat(a), q2, atol=1e-12)


def test_one_crop_rule_for_points_intrinsics_and_the_network_camera():
    """Box.to_crop inverts Box.to_frame; a frame point projected with the frame's intrinsics and
    moved into the crop lands where the crop intrinsics (Box.intrinsics) project it; Box.camera is
    those intrinsics for a centred principal point."""
    from engine.preprocess import Box

    box = Box(101.3, -20.5, 333.0)
    pts = np.random.default_rng(0).uniform(0, 640, (16, 2))
    np.testing.assert_allclose(box.to_frame(box.to_crop(pts, 192), 192), pts, atol=1e-9)
    k = np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]])
    x = np.random.default_rng(1).normal(size=(16, 3)) + [0, 0, 4.0]
    uv = (x @ k.T)[:, :2] / x[:, 2:]
    uv_crop = (x @ box.intrinsics(k, 192).T)[:, :2] / x[:, 2:]
    np.testing.assert_allclose(box.to_crop(uv, 192), uv_crop, atol=1e-9)
    fov = 2 * np.degrees(np.arctan(320 / 600.0))
    kc = box.intrinsics(k, 192)
    np.testing.assert_allclose(box.camera(192, 640, 480, fov), [kc[0, 0], kc[0, 2], kc[1, 2]], atol=1e-9)
