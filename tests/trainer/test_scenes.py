"""The room style: dressed bodies (textures through Anny's UV layout), scenes (backgrounds, floor,
furniture, cameras), and the labels of joints the furniture hides."""
import numpy as np
import pytest

from engine import skeleton as S
from engine.errors import UserError
from trainer.data import bodies as B
from trainer.data import poses as P
from trainer.data import scenes as Z
from trainer.data import synth as Y


@pytest.fixture(scope="module")
def anny_model():
    return B.load_anny()


def test_every_vertex_and_texel_gets_a_material_and_every_lookup_lands_in_the_painted_texture(anny_model):
    lay = B.uv_layout(anny_model)
    size = lay.covered.shape[0]
    assert 0.4 < lay.covered.mean() < 0.95  # the atlas: part of the square, not nothing, not everything
    for k in range(3):
        body = B.make_body(anny_model, np.random.default_rng(k), k, textured=True)
        a = body.avatar
        n = len(a.positions)
        assert body.vertex_materials.shape == (n,) and len(a.uvs) == n
        assert set(np.unique(body.vertex_materials)) <= set(range(len(B.MATERIALS)))
        assert set(np.unique(body.texel_materials)) <= set(range(len(B.MATERIALS)))
        assert (body.vertex_materials == B.M_SKIN).any() and (body.vertex_materials != B.M_SKIN).any()
        # every UV the renderer interpolates lies inside the texture, on a painted texel
        assert (a.uvs >= 0).all() and (a.uvs <= 1).all()
        tex = a.textures[0]
        assert tex.shape == (size, size, 4) and (tex[..., 3] == 255).all()
        tri_uv = a.uvs[a.indices.reshape(-1, 3)]
        for w in (np.array([1, 1, 1]) / 3, np.array([0.6, 0.2, 0.2]), np.array([0.2, 0.2, 0.6])):
            uv = (tri_uv * w[None, :, None]).sum(1)
            ij = np.clip((uv * size).astype(int), 0, size - 1)
            assert lay.covered[ij[:, 1], ij[:, 0]].mean() > 0.95  # lookups inside triangles hit painted texels
        # a vertex and the texel its UV points at agree on the material (edges of garments aside)
        ij = np.clip((a.uvs * size).astype(int), 0, size - 1)
        assert (body.texel_materials[ij[:, 1], ij[:, 0]] == body.vertex_materials).mean() > 0.93
        # seam vertices are split: every Anny vertex is there, some more than once
        assert n > 13718 and len(np.unique(lay.vertex)) == 13718


def test_garments_sit_where_they_belong(anny_model):
    body = B.make_body(anny_model, np.random.default_rng(0), 0, textured=True)
    labels = body.avatar.node_names
    outfit = dict(body.outfit, top="long", sleeve=0.95, bottom="trousers", hem=0.97, shoes=True, hair="short")
    verts = body.avatar.positions.astype(np.float64)
    bones = body.avatar.joints[:, 0].astype(int)
    g = body.avatar.rest_global
    rest = B.rest_places(verts, labels, bones, g)
    mat = B.materials(verts, bones, labels, outfit, rest)
    def by_bone(name):
        return mat[bones == labels.index(name)]

    assert (by_bone("Spine1") == B.M_TOP).mean() > 0.9
    assert (by_bone("LeftUpLeg") == B.M_BOTTOM).mean() > 0.9
    assert (by_bone("RightFoot") == B.M_SHOES).all()
    assert (by_bone("LeftHand") == B.M_SKIN).all()
    head = verts[bones == labels.index("Head")]
    top = mat[bones == labels.index("Head")][head[:, 1] > head[:, 1].max() - 0.02]
    assert (top == B.M_HAIR).all()
    bare = B.materials(verts, bones, labels, dict(outfit, top="shirtless", bottom="shorts", hem=0.3, shoes=False,
                                                  hair="none"), rest)
    assert (bare[bones == labels.index("Spine1")] == B.M_SKIN).all()
    assert (bare[bones == labels.index("LeftLeg")] == B.M_SKIN).mean() > 0.9
    assert (bare[bones == labels.index("LeftFoot")] == B.M_SKIN).all()


def test_clothes_change_the_render_only_inside_the_silhouette(anny_model):
    dressed = B.make_body(anny_model, np.random.default_rng(7), 1, textured=True, dress=True)
    bare = B.make_body(anny_model, np.random.default_rng(7), 1, textured=True, dress=False)
    np.testing.assert_array_equal(dressed.avatar.positions, bare.avatar.positions)
    rng = np.random.default_rng(3)
    rots = P.sample_webcam_pose(rng)[0]
    g = dressed.avatar.node_globals(rots)
    joints = dressed.joints(g)
    cam = Z.room_camera(rng, joints, np.array([0.0, 0.0, 1.0]))
    c = joints @ cam.rot.T + cam.t
    k = Y._crop_intrinsics(rng, c[:, :2] / c[:, 2:] * cam.f, cam.f, 128)
    light = (np.array([0.3, -0.8, -0.5]), np.array([0.7, 0.7, 0.65]), np.array([0.35, 0.35, 0.4]))
    r = Y.SynthRenderer(128)
    try:
        r.set_body(dressed)
        a = r.render(g, k, cam.rot, cam.t, rng, light=light)
        r.set_body(bare)
        b = r.render(g, k, cam.rot, cam.t, rng, light=light)
    finally:
        r.r.close()
    assert (a[..., 3] > 0).sum() > 500  # the body is in view
    np.testing.assert_array_equal(a[..., 3], b[..., 3])  # the same silhouette
    diff = np.abs(a[..., :3].astype(int) - b[..., :3].astype(int)).max(-1) > 0
    assert diff.any()  # the clothes show
    assert not diff[a[..., 3] == 0].any()  # and only inside the silhouette


def test_panorama_views_keep_the_horizon_level():
    pano = np.zeros((64, 128, 3), np.uint8)
    pano[:32] = 255  # sky white, ground black
    rng = np.random.default_rng(0)
    eye = np.array([0.0, 1.2, 3.0])
    for yaw in (0.0, 1.0, -2.5):
        rot = Z.look_rotation(eye, yaw, 0.0, 0.0)
        k = np.array([[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]])
        view = Z.panorama_view(pano, Z.pixel_rays(k, rot, 64), rng.uniform(0, 6))
        assert (view[:28] == 255).all() and (view[37:] == 0).all()  # above and below the image's centre row


def _standing_joints():
    joints = S.Skeleton.default().forward_kinematics(np.tile(np.eye(3), (15, 1, 1)))
    return joints - [0, joints[:, 1].min() - 0.08, 0]


def _floor_view(size):
    """A high camera looking 60 degrees down past a standing body, and a crop of ``size`` px around its
    optical axis: every pixel sees the floor, 1.4 m in front of the camera."""
    eye = np.array([0.0, 2.5, 2.0])
    rot = Z.look_rotation(eye, np.pi, np.deg2rad(-60), 0.0)
    cam = Z.RoomCamera(rot, -rot @ eye, 1000.0, (1280, 720), 0.0, np.deg2rad(-50), eye, "high", "full")
    k = np.array([[600.0, 0, (size - 1) / 2], [0, 600.0, (size - 1) / 2], [0, 0, 1]])
    return cam, k


def test_the_floor_shadow_of_an_all_floor_crop_at_the_default_size():
    """A crop of the default size that is all floor: 192 x 192 = 36,864 floor points, more than one
    cv2.remap row takes (32,767; ``python -m trainer synth --test 8 --seed 9173`` ended in that traceback).
    The shadow is the one the floor gets in pieces of a few hundred points, and dark under the body."""
    size = Y.SIZE
    joints = _standing_joints()
    cam, k = _floor_view(size)
    rays = Z.pixel_rays(k, cam.rot, size).reshape(-1, 3)
    t = -cam.eye[1] / rays[:, 1]
    assert (t > 0).all()  # every ray reaches the floor
    fx, fz = cam.eye[0] + rays[:, 0] * t, cam.eye[2] + rays[:, 2] * t
    light = np.array([0.2, -0.9, -0.3]) / np.linalg.norm([0.2, -0.9, -0.3])
    shade = Z._shadow(joints, light, fx, fz)
    assert shade.shape == (size * size,) and shade.dtype == np.float32
    pieces = np.concatenate([Z._shadow(joints, light, fx[i:i + 700], fz[i:i + 700]) for i in range(0, len(fx), 700)])
    np.testing.assert_array_equal(shade, pieces)
    under = Z._shadow(joints, light, joints[[S.JOINT_INDEX["r_ankle"], S.JOINT_INDEX["l_ankle"]], 0],
                      joints[[S.JOINT_INDEX["r_ankle"], S.JOINT_INDEX["l_ankle"]], 2])
    assert (under < 0.8).all() and (Z._shadow(joints, light, np.array([3.5]), np.array([3.5])) == 1).all()


def test_a_room_scene_that_is_all_floor_at_the_default_size(monkeypatch):
    """``render_scene`` at the default size with the camera looking down at the floor: the floor covers the
    whole crop in some of these draws (more points than a cv2.remap row takes), and every draw renders."""
    size = Y.SIZE
    joints = _standing_joints()
    cam, k = _floor_view(size)
    floors = []
    shadow = Z._shadow
    monkeypatch.setattr(Z, "_shadow", lambda j, light, fx, fz: floors.append(len(fx)) or shadow(j, light, fx, fz))
    for seed in range(6):
        scene = Z.render_scene(np.random.default_rng(seed), Z.Rooms(), cam, k, size, joints, [], Y._background)
        assert scene.background.shape == (size, size, 3) and scene.background.dtype == np.uint8
    assert floors and max(floors) == size * size


def test_cameras_stay_in_their_ranges():
    rng = np.random.default_rng(1)
    joints = S.Skeleton.default().forward_kinematics(np.tile(np.eye(3), (15, 1, 1)))
    joints = joints - [0, joints[:, 1].min() - 0.08, 0]
    kinds = set()
    for _ in range(300):
        cam = Z.room_camera(rng, joints, np.array([0.0, 0.0, 1.0]))
        kinds.add(cam.kind)
        _, (h0, h1), _, (p0, p1) = Z.CAMERA_KINDS[cam.kind]
        assert h0 <= cam.eye[1] <= h1
        optical = cam.rot[2]  # the optical axis in world axes
        pitch = np.rad2deg(np.arcsin(optical[1]))
        assert p0 - 1e-6 <= pitch <= p1 + 1e-6
        np.testing.assert_allclose(cam.rot @ cam.rot.T, np.eye(3), atol=1e-9)
        np.testing.assert_allclose(-cam.rot.T @ cam.t, cam.eye, atol=1e-9)
    assert kinds == set(Z.CAMERA_KINDS)


def test_furniture_stands_between_the_camera_and_the_body():
    rng = np.random.default_rng(2)
    joints = S.Skeleton.default().forward_kinematics(np.tile(np.eye(3), (15, 1, 1)))
    joints = joints - [0, joints[:, 1].min() - 0.08, 0]
    seen = 0
    for _ in range(200):
        cam = Z.room_camera(rng, joints, np.array([0.0, 0.0, 1.0]))
        boxes = Z.furniture(rng, cam, joints)
        fwd = (joints.mean(0) - cam.eye) * [1, 0, 1]
        fwd /= np.linalg.norm(fwd)
        nearest = ((joints - cam.eye) @ fwd).min()
        for b in boxes:
            seen += 1
            c, s = np.cos(b.yaw), np.sin(b.yaw)
            axes = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])
            corners = b.centre + (Z._SIGNS * b.half) @ axes
            assert ((corners - cam.eye) @ fwd).max() < nearest - 0.1
            assert corners[:, 1].min() >= -1e-9  # on or above the floor
    assert seen > 50


def _ray_hits_box(eye, point, box, grow):
    """Does the segment eye -> point cross ``box`` grown by ``grow`` metres on every side?"""
    c, s = np.cos(box.yaw), np.sin(box.yaw)
    axes = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])
    o, d = axes @ (eye - box.centre), axes @ (point - eye)
    d = np.where(np.abs(d) < 1e-12, 1e-12, d)
    half = box.half + grow
    t1, t2 = (-half - o) / d, (half - o) / d
    near, far = np.minimum(t1, t2).max(), np.maximum(t1, t2).min()
    return near <= far and far > 0 and near < 1


def test_joints_behind_furniture_are_labelled_occluded(anny_model, monkeypatch):
    """A wall up to the hips between the camera and the body: a joint inside the crop whose line of
    sight crosses it is labelled occluded; one whose line of sight passes clear of it is not."""
    made = []

    def wall(rng, cam, joints_w):
        fwd = (joints_w.mean(0) - cam.eye) * [1, 0, 1]
        fwd /= np.linalg.norm(fwd)
        near = ((joints_w - cam.eye) @ fwd).min() - 0.2
        top = joints_w[S.ROOT, 1] - 0.1
        box = Z.Box(cam.eye * [1, 0, 1] + fwd * near + [0, top / 2, 0], np.array([4.0, top / 2, 0.02]),
                    np.arctan2(fwd[0], fwd[2]), np.array([0.5, 0.5, 0.5]))
        made.append((cam.eye, joints_w, box))
        return [box]

    monkeypatch.setattr(Z, "furniture", wall)
    monkeypatch.setattr(Y, "_augment", lambda rng, img, j2, shapes=0.3: (img, np.zeros(len(j2), bool)))
    monkeypatch.setattr(Y, "NEGATIVE_SHARE", 0.0)
    out = Y.render_shard("train", 0, 16, 4, 96, anny_model, P.load_clip_poses(), [], bodies_per_shard=1,
                         cameras_per_pose=2, style="room")
    assert len(made) == 16
    j2, occ, in_frame = np.array(out["joints_2d"]), np.array(out["occluded"]), np.array(out["in_frame"])
    hidden = visible = 0
    for i, (eye, joints_w, box) in enumerate(made):
        for j in range(S.NUM_JOINTS):
            if not (in_frame[i, j] and (j2[i, j] >= 1).all() and (j2[i, j] <= 94).all()):
                continue
            if _ray_hits_box(eye, joints_w[j], box, -0.02):
                hidden += 1
                assert occ[i, j], (i, S.JOINT_NAMES[j])
            elif not _ray_hits_box(eye, joints_w[j], box, 0.02):
                visible += 1
                assert not occ[i, j], (i, S.JOINT_NAMES[j])
    assert hidden > 10 and visible > 10


def test_missing_backgrounds_and_tools_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="python -m trainer.data.scenes"):
        Z.load_rooms(tmp_path / "none", fetch=False)
    monkeypatch.setattr(Z.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="npm"):
        Z.fetch_backgrounds(tmp_path / "empty", quiet=True)


def test_light_follows_the_background():
    rng = np.random.default_rng(0)
    dark = Z.light_for(rng, np.array([20.0, 20.0, 20.0]))
    bright = Z.light_for(np.random.default_rng(0), np.array([220.0, 220.0, 220.0]))
    assert bright[1].mean() > dark[1].mean() and bright[2].mean() > dark[2].mean()
    warm = Z.light_for(np.random.default_rng(0), np.array([60.0, 120.0, 200.0]))  # BGR: orange room
    assert warm[1][0] > warm[1][2] and warm[2][0] > warm[2][2]  # RGB light: more red than blue
    assert dark[0][1] < 0  # the key light comes from above


def test_room_backgrounds_decode(tmp_path):
    rooms = Z.load_rooms()  # fetched here once into data/backgrounds (npm pack, apt-get download)
    assert len(rooms.panoramas) == len(Z.INDOOR) and all(p.shape == (256, 512, 3) for p in rooms.panoramas)
    assert rooms.photos[0].shape == (449, 676, 3)
    for p in rooms.panoramas:
        assert 30 < p.mean() < 225 and p.std() > 15  # tone-mapped: neither black, white nor flat
    y0, y1, x0, x1 = Z.JXL_PORTRAIT
    assert rooms.photos[0][y0:y1, x0:x1].std() < 12  # the portrait is painted over
    assert "CC0" in (Z.BG_DIR / "LICENCES.txt").read_text()
