"""Renderer and avatars: GPU skinning equals numpy LBS, the offscreen silhouette
equals the numpy-projected mesh, a real GLFW window under Xvfb, VRM 0.x / 1.0
loading and bad-input messages."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pygltflib
import pytest

from animation.gltf import DEFAULT_AVATAR, AvatarError, load_avatar, load_avatar_or_default
from animation.render import Renderer
from animation.render.camera import from_opencv
from engine import rotations as R
from engine import skeleton as S

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def avatar():
    return load_avatar(DEFAULT_AVATAR)


@pytest.fixture(scope="module")
def renderer(avatar):
    r = Renderer(256, 256, avatar=avatar)
    yield r
    r.close()


def random_pose(seed):
    rng = np.random.default_rng(seed)
    # moderate random rotations around the rest pose
    return R.axis_angle_to_matrix(rng.normal(scale=0.5, size=(15, 3)))


def test_gpu_skinning_equals_numpy_lbs(renderer, avatar):
    k = avatar.skinning_matrices(random_pose(0), np.array([0.1, -0.05, 0.2]))
    gpu = renderer.skin_on_gpu(k)
    ref = avatar.skin(k)
    assert np.abs(gpu - ref).max() < 1e-5


def test_a_new_avatar_frees_the_old_ones_gl_objects(avatar):
    r = Renderer(64, 64, avatar=avatar)
    r.skin_on_gpu(avatar.skinning_matrices())  # the transform-feedback array too
    old = [r._avatar_vao, r._vao_tf, *r._vbos, r._ibo, r._bone_tex, *r._textures]
    r.set_avatar(avatar)
    try:
        assert all(type(o.mglo).__name__ == "InvalidObject" for o in old)  # released
        k = avatar.skinning_matrices(random_pose(1))
        assert np.abs(r.skin_on_gpu(k) - avatar.skin(k)).max() < 1e-5  # the new upload draws
    finally:
        r.close()


def camera(width, height):
    k = np.array([[420.0, 0, width / 2 - 3.5], [0, 420.0, height / 2 + 2.0], [0, 0, 1]])
    # camera 3.2 m in front of the avatar (world +Z), looking back at it, slight roll
    roll = R.axis_rotation(2, np.deg2rad(4.0))
    rot = roll @ np.diag([1.0, -1.0, -1.0])  # world (Y-up, facing +Z) -> OpenCV camera facing -Z
    t = -rot @ np.array([0.0, 0.9, 3.2])
    return k, rot, t


def numpy_silhouette(avatar, matrices, k, rot, t, w, h):
    """Independent rasteriser: a pixel is covered when its centre lies inside a projected
    triangle (the rule GL uses), tested per triangle over its bounding box."""
    v = avatar.skin(matrices)
    cam = v @ rot.T + t
    uv = cam[:, :2] / cam[:, 2:3] * [k[0, 0], k[1, 1]] + [k[0, 2], k[1, 2]]
    mask = np.zeros((h, w), bool)
    for a, b, c in uv[avatar.indices.reshape(-1, 3)]:
        x0, x1 = int(np.ceil(min(a[0], b[0], c[0]))), int(np.floor(max(a[0], b[0], c[0])))
        y0, y1 = int(np.ceil(min(a[1], b[1], c[1]))), int(np.floor(max(a[1], b[1], c[1])))
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
        if x1 < x0 or y1 < y0:
            continue
        ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        d = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        if abs(d) < 1e-12:
            continue
        l1 = ((xs - a[0]) * (c[1] - a[1]) - (ys - a[1]) * (c[0] - a[0])) / d
        l2 = ((b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])) / d
        mask[ys, xs] |= (l1 >= 0) & (l2 >= 0) & (l1 + l2 <= 1)
    return mask


@pytest.mark.slow
def test_offscreen_silhouette_matches_projection(avatar):
    w, h = 320, 400
    r = Renderer(w, h, avatar=avatar)
    r.background = (0.0, 0.0, 0.0)
    k, rot, t = camera(w, h)
    view, proj = from_opencv(k, rot, t, w, h)
    for seed in range(3):
        mats = r.set_pose(random_pose(seed))
        r._clear()
        r.draw_avatar(view, proj)
        img = r.read()
        gl = img.max(axis=2) > 0
        ref = numpy_silhouette(avatar, mats, k, rot, t, w, h)
        iou = (gl & ref).sum() / (gl | ref).sum()
        assert ref.sum() > 5000 and iou >= 0.98, iou
    r.close()


WINDOW_SCRIPT = r"""
import sys, numpy as np, cv2, glfw
from animation.gltf import load_avatar, DEFAULT_AVATAR
from animation.render import Renderer, create_window
from animation.render.camera import from_opencv
w, h = 480, 360
win = create_window(w, h, visible=True)
r = Renderer(w, h, window=win, avatar=load_avatar(DEFAULT_AVATAR))
r.background = (0.0, 0.0, 0.0)
k = np.array([[280.0, 0, w / 2], [0, 280.0, h / 2], [0, 0, 1]])
rot = np.diag([1.0, -1.0, -1.0]); t = -rot @ np.array([0.0, 0.9, 3.0])
view, proj = from_opencv(k, rot, t, w, h)
r._clear(); r.draw_avatar(view, proj)
img = r.read()
glfw.swap_buffers(win)
cv2.imwrite(sys.argv[1], img[..., ::-1])
glfw.terminate()
"""


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display (make test runs under xvfb-run)")
def test_real_glfw_window_shows_the_avatar_where_projected(tmp_path, avatar):
    # a separate process: an EGL context made current first would kill GLFW in this one
    shot = tmp_path / "window.png"
    r = subprocess.run([sys.executable, "-c", WINDOW_SCRIPT, str(shot)], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    img = cv2.imread(str(shot))[..., ::-1]
    assert img.shape == (360, 480, 3)
    w, h = 480, 360
    k = np.array([[280.0, 0, w / 2], [0, 280.0, h / 2], [0, 0, 1]])
    rot = np.diag([1.0, -1.0, -1.0])
    t = -rot @ np.array([0.0, 0.9, 3.0])
    ref = numpy_silhouette(avatar, avatar.skinning_matrices(), k, rot, t, w, h)
    shown = img.max(axis=2) > 0
    iou = (shown & ref).sum() / (shown | ref).sum()
    assert iou >= 0.98, iou


def test_retargeting_follows_our_bone_directions(avatar):
    rots = random_pose(5)
    g = avatar.node_globals(rots)
    pos = {h: g[n][:3, 3] for h, n in avatar.humanoid.items()}
    sk = S.Skeleton.default()
    for h, (bone, end) in {"leftUpperArm": ("l_upper_arm", "leftLowerArm"), "rightLowerLeg": ("r_shin", "rightFoot"),
                           "leftLowerArm": ("l_forearm", "leftHand"), "rightUpperLeg": ("r_thigh", "rightLowerLeg"),
                           "spine": ("spine", "neck")}.items():
        d = pos[end] - pos[h]
        want = rots[S.BONE_INDEX[bone]] @ sk.bone_vectors[S.BONE_INDEX[bone]]
        cos = d @ want / np.linalg.norm(d) / np.linalg.norm(want)
        assert cos > 1 - 1e-9, (h, cos)
    # identity rotations give a T-pose facing +Z: arms along +-X
    g = avatar.node_globals(np.broadcast_to(np.eye(3), (15, 3, 3)))
    arm = g[avatar.humanoid["leftHand"]][:3, 3] - g[avatar.humanoid["leftUpperArm"]][:3, 3]
    assert arm[0] > 0.4 and abs(arm[1]) < 0.02 and abs(arm[2]) < 0.02


# --------------------------------------------------------------------------- VRM and bad input

def vrm_file(tmp_path, version: str, drop: str | None = None, face_minus_z: bool = False) -> Path:
    g = pygltflib.GLTF2().load(str(DEFAULT_AVATAR))
    src = load_avatar(DEFAULT_AVATAR)
    node_of = dict(src.humanoid)
    for i, node in enumerate(g.nodes):
        node.name = f"bone_{i:02d}"  # names carry no meaning: the extension must
    if face_minus_z:  # VRM 0.x convention: the model faces -Z in the file
        for node in g.nodes:
            if node.translation:
                node.translation = [-node.translation[0], node.translation[1], -node.translation[2]]
        blob = bytearray(g.binary_blob())
        for acc_i in (g.meshes[0].primitives[0].attributes.POSITION, g.meshes[0].primitives[0].attributes.NORMAL):
            acc = g.accessors[acc_i]
            view = g.bufferViews[acc.bufferView]
            data = bytes(blob[view.byteOffset:view.byteOffset + view.byteLength])
            arr = np.frombuffer(data, "f4").reshape(-1, 3).copy()
            arr[:, [0, 2]] *= -1
            blob[view.byteOffset:view.byteOffset + view.byteLength] = arr.tobytes()
            if acc.min:
                acc.min, acc.max = arr.min(0).tolist(), arr.max(0).tolist()
        ibm_acc = g.accessors[g.skins[0].inverseBindMatrices]
        view = g.bufferViews[ibm_acc.bufferView]
        m = np.frombuffer(bytes(blob[view.byteOffset:view.byteOffset + view.byteLength]), "f4").reshape(-1, 4, 4).copy()
        m[:, 3, 0] *= -1  # column-major: translation in the last row here
        m[:, 3, 2] *= -1
        blob[view.byteOffset:view.byteOffset + view.byteLength] = m.tobytes()
        g.set_binary_blob(bytes(blob))
    if drop:
        node_of.pop(drop)
    if version == "0":
        g.extensions = {"VRM": {"specVersion": "0.0", "humanoid": {
            "humanBones": [{"bone": b, "node": n, "useDefaultValues": True} for b, n in node_of.items()]}}}
        g.extensionsUsed = ["VRM"]
    else:
        g.extensions = {"VRMC_vrm": {"specVersion": "1.0", "humanoid": {
            "humanBones": {b: {"node": n} for b, n in node_of.items()}}}}
        g.extensionsUsed = ["VRMC_vrm"]
    path = tmp_path / f"test_{version}.vrm"
    g.save_binary(str(path))
    return path


@pytest.mark.parametrize("version, kind", [("0", "VRM 0.x"), ("1", "VRM 1.0")])
def test_vrm_humanoid_mapping(tmp_path, version, kind, avatar):
    a = load_avatar(vrm_file(tmp_path, version, face_minus_z=(version == "0")))
    assert a.kind == kind
    assert a.humanoid == avatar.humanoid  # same nodes, found through the extension alone
    # both face +Z once loaded: the left hand is at +X
    left = a.rest_global[a.humanoid["leftHand"]][:3, 3]
    toes = a.skin(a.skinning_matrices())[:, 2].max()
    assert left[0] > 0.3 and toes > 0.1
    # and pose the same as the default avatar
    rots = random_pose(7)
    np.testing.assert_allclose(a.skin(a.skinning_matrices(rots))[:, 1],
                               avatar.skin(avatar.skinning_matrices(rots))[:, 1], atol=1e-4)


def test_bad_inputs_each_give_one_line(tmp_path):
    with pytest.raises(AvatarError, match=r"nope\.vrm: avatar file not found$"):
        load_avatar(tmp_path / "nope.vrm")
    g = pygltflib.GLTF2().load(str(DEFAULT_AVATAR))
    g.skins = []
    g.nodes[-1].skin = None
    g.save_binary(str(tmp_path / "noskin.glb"))
    with pytest.raises(AvatarError, match=r"noskin\.glb: the model has no skin \(it is not rigged\)"):
        load_avatar(tmp_path / "noskin.glb")
    with pytest.raises(AvatarError,
                       match=r"test_0\.vrm: VRM 0\.x avatar is missing required humanoid bones: leftHand$"):
        load_avatar(vrm_file(tmp_path, "0", drop="leftHand"))
    g = pygltflib.GLTF2().load(str(DEFAULT_AVATAR))
    g.extensionsRequired = ["KHR_draco_mesh_compression"]
    g.extensionsUsed = ["KHR_draco_mesh_compression"]
    g.save_binary(str(tmp_path / "draco.glb"))
    with pytest.raises(AvatarError,
                       match=r"draco\.glb: needs the unsupported glTF extension KHR_draco_mesh_compression"):
        load_avatar(tmp_path / "draco.glb")
    (tmp_path / "junk.glb").write_bytes(b"glTF garbage")
    with pytest.raises(AvatarError, match=r"junk\.glb: not a readable glTF/GLB/VRM file"):
        load_avatar(tmp_path / "junk.glb")
    said = []
    a = load_avatar_or_default(tmp_path / "draco.glb", warn=said.append)
    assert a.path == str(DEFAULT_AVATAR)
    assert len(said) == 1 and said[0].endswith("; using the default avatar") and "\n" not in said[0]


def silhouette_box(renderer, rotations, root):
    """(top, bottom, left, right) rows/columns of the avatar's pixels, background black."""
    renderer.set_pose(rotations, root)
    renderer.render()
    covered = np.argwhere(renderer.read().max(axis=2) > 0)
    if not len(covered):
        return None
    (top, left), (bottom, right) = covered.min(0), covered.max(0)
    return top, bottom, left, right


@pytest.mark.parametrize("source", ["walk", "cmu"])
def test_the_live_view_keeps_the_walking_avatar_framed(avatar, source):
    """Root motion walks the avatar 8 m towards the camera and 3 m sideways (or CMU 01_01 is
    played): the window's view (fit + follow) keeps it whole in view, feet included; a fixed
    view loses it."""
    if source == "cmu":
        cmu = Path("/usr/share/assimp/models/BVH/01_01.bvh")
        if not cmu.exists():
            pytest.skip("apt-get install assimp-testmodels")
        from animation.bvh import read_bvh
        from animation.bvh_retarget import clip_to_poses

        clip = clip_to_poses(read_bvh(cmu))
        idx = np.linspace(0, len(clip.rotations) - 1, 8).astype(int)
        rots, roots = clip.rotations[idx], clip.root_displacement[idx]
    else:
        steps = np.linspace(0, 1, 8)[:, None]
        rots = np.broadcast_to(np.eye(3), (8, 15, 3, 3))
        roots = steps * np.array([3.0, 0.0, 8.0])
    w, h = 320, 240
    r = Renderer(w, h, avatar=avatar)
    r.background = (0.0, 0.0, 0.0)
    r.camera.auto_fit, r.follow_tau = True, 0.0  # the window's settings, following at once
    for k in range(len(rots)):
        box = silhouette_box(r, rots[k], roots[k])
        assert box is not None, k
        top, bottom, left, right = box
        assert top > 2 and bottom < h - 3 and left > 2 and right < w - 3, (k, box)  # whole, feet included
        assert bottom - top > 0.5 * h, (k, box)  # and not a speck in the distance
    r.follow_tau = None  # a fixed view, as before: the avatar walks out of it
    r.camera.target = (0.0, 0.95, 0.0)
    lost = [silhouette_box(r, rots[k], roots[k]) for k in range(len(rots))]
    r.close()
    if source == "walk":
        assert lost[-1] is None or lost[-1][1] >= h - 3 or lost[-1][0] <= 2


def test_follow_is_smooth_and_the_floor_grid_is_drawn(avatar):
    from animation.render.camera import OrbitCamera

    cam = OrbitCamera(target=(0.0, 1.0, 0.0))
    path = []
    for _ in range(120):  # 2 s at 60 frames/s after a 1 m step of the root
        cam.follow((1.0, 1.0, 0.0), 1 / 60, tau=0.35)
        path.append(cam.target[0])
    steps = np.diff([0.0] + path)
    assert steps.max() < 0.05 and max(path) < 1.01 and abs(path[-1] - 1.0) < 0.01  # eases in, arrives
    cam = OrbitCamera(target=(0.0, 1.0, 0.0))
    for k in range(300):  # a steady 1.3 m/s walk is followed without lag after a few seconds
        cam.follow((0.0, 1.0, 1.3 * k / 60), 1 / 60)
    assert abs(cam.target[2] - 1.3 * 299 / 60) < 0.01
    r = Renderer(320, 240, avatar=avatar)
    r.background = (0.0, 0.0, 0.0)
    r.camera.auto_fit, r.follow_tau = True, 0.0
    r.render()
    plain = r.read()
    r.show_floor = True
    r.render()
    grid = r.read()
    r.close()
    changed = np.abs(grid.astype(int) - plain.astype(int)).sum(axis=2) > 0
    assert changed[160:].mean() > 0.02 and changed[:60].mean() == 0  # lines on the floor, none in the sky
