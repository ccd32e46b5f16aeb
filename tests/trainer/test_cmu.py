"""The CMU motion capture for the motion model (trainer/motion/cmu.py): a small fixture written here
in the shared folder's format (skeleton.npz, cmu/subject_NNN.npz with delta-coded int16 quaternions),
decoded as written, retargeted with every limb keeping its direction (CMU's own forward kinematics,
written here from the format's description, against ours), whole subjects held out, glitches cut,
and a missing folder is one line."""
from pathlib import Path

import numpy as np
import pytest

from engine import skeleton as S
from engine.errors import UserError
from trainer.motion import cmu as C

NAMES = ("hip abdomen chest neck head rCollar rShldr rForeArm rHand lCollar lShldr lForeArm lHand "
         "rButtock rThigh rShin rFoot lButtock lThigh lShin lFoot").split()
PARENTS = (-1, 0, 1, 2, 3, 2, 5, 6, 7, 2, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
# a Daz-like figure with rest bones that are not ours (knee->ankle leans back, the hand forward)
OFFSETS = np.array([
    [0, 0, 0], [0, 0.21, -0.01], [0, 0.12, -0.005], [0, 0.22, -0.02], [0, 0.07, 0.01],
    [-0.03, 0.19, -0.05], [-0.09, -0.02, 0.015], [-0.28, -0.02, 0.005], [-0.23, 0.01, 0.07],
    [0.03, 0.19, -0.05], [0.09, -0.02, 0.015], [0.28, -0.02, 0.005], [0.23, 0.01, 0.07],
    [-0.09, 0.04, 0.01], [0, -0.02, -0.02], [0, -0.37, 0.01], [0.01, -0.45, -0.05],
    [0.09, 0.04, 0.01], [0, -0.02, -0.02], [0, -0.37, 0.01], [-0.01, -0.45, -0.05]], np.float32)
SITES = ("head_top", "l_eye", "r_eye", "l_knuckles", "r_knuckles", "l_toe", "r_toe")
SCALE = 8192


def quat_matrix(q):
    """(x, y, z, w) -> 3x3, the format's formula (not engine.rotations)."""
    x, y, z, w = np.moveaxis(q, -1, 0)
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                     2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                     2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
                    -1).reshape(q.shape[:-1] + (3, 3))


def their_fk(q, root):
    """The format's forward kinematics: joints (T, 21, 3), global rotations (T, 21, 3, 3)."""
    r = quat_matrix(q)
    g, p = np.empty_like(r), np.empty(q.shape[:-1] + (3,))
    for j, par in enumerate(PARENTS):
        g[:, j] = r[:, j] if par < 0 else g[:, par] @ r[:, j]
        p[:, j] = root if par < 0 else p[:, par] + g[:, par] @ OFFSETS[j].astype(np.float64)
    return p, g


def smooth_quats(rng, frames, keys=6, spread=0.8):
    """Smooth random parent-local rotations (frames, 21, 4), w >= 0 at the keys, continuous signs."""
    aa = rng.normal(0, spread, (keys, 21, 3))
    aa[:, 0] *= 1.5
    t = np.linspace(0, keys - 1, frames)
    i = np.minimum(t.astype(int), keys - 2)
    a = (t - i)[:, None, None]
    v = aa[i] * (1 - a) + aa[i + 1] * a                       # interpolated axis-angles
    ang = np.linalg.norm(v, axis=-1, keepdims=True)
    axis = v / np.maximum(ang, 1e-12)
    return np.concatenate([axis * np.sin(ang / 2), np.cos(ang / 2)], -1)


def write_subject(root: Path, subject: int, clips: dict):
    arrays = {}
    for name, (q, pos) in clips.items():
        qi = np.round(q * SCALE).astype(np.int16)                       # (T, 21, 4)
        qi = np.moveaxis(qi, 0, -1)                                     # (21, 4, T)
        arrays[name + "_rot"] = np.concatenate([qi[..., :1], np.diff(qi, axis=-1)], -1).astype(np.int16)
        mm = np.round(pos.T * 1000).astype(np.int32)                    # (3, T)
        arrays[name + "_root"] = np.concatenate([mm[:, :1], np.diff(mm, axis=-1)], -1).astype(np.int32)
    (root / "cmu").mkdir(parents=True, exist_ok=True)
    np.savez(root / "cmu" / f"subject_{subject:03d}.npz", **arrays)


def write_skeleton(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    site_parents = np.array([4, 4, 4, 12, 8, 20, 16], np.int16)
    site_offsets = np.array([[0, 0.18, 0], [0.04, 0.08, 0.08], [-0.04, 0.08, 0.08], [0.08, 0.01, 0.03],
                             [-0.08, 0.01, 0.03], [0.01, -0.04, 0.12], [-0.01, -0.04, 0.12]], np.float32)
    np.savez(root / "skeleton.npz", joint_names=np.array(NAMES, "<U8"), parents=np.array(PARENTS, np.int16),
             offsets=OFFSETS, site_names=np.array(SITES, "<U10"), site_parents=site_parents,
             site_offsets=site_offsets, quat_scale=np.int32(SCALE), fps=np.float32(30))


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mocap")
    write_skeleton(root)
    rng = np.random.default_rng(0)
    for subject, n_clips in ((2, 2), (5, 1), (13, 1), (60, 1), (1, 1)):
        clips = {}
        for k in range(n_clips):
            frames = 90 + 30 * k
            pos = np.cumsum(rng.normal(0, 0.01, (frames, 3)), 0) + [0, 0.9, 0]
            clips[f"{subject:02d}_{k + 1:02d}"] = (smooth_quats(rng, frames), pos)
        write_subject(root, subject, clips)
    return root


def directions(joints, bones):
    v = joints[..., S.BONES[bones, 1], :] - joints[..., S.BONES[bones, 0], :]
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


LIMBS = [S.BONE_INDEX[b] for b in ("r_upper_arm", "r_forearm", "l_upper_arm", "l_forearm",
                                   "r_thigh", "r_shin", "l_thigh", "l_shin", "spine", "neck", "head")]


def test_the_fixture_decodes_as_written(fixture_root):
    sk = C.read_skeleton(fixture_root)
    clips = C.read_clips(fixture_root / "cmu" / "subject_002.npz", sk.quat_scale)
    assert sorted(clips) == ["02_01", "02_02"]
    q, root = clips["02_01"]
    rng = np.random.default_rng(0)
    rng.normal(0, 0.01, (90, 3))                                      # the fixture's draws, in order
    want = smooth_quats(rng, 90)
    np.testing.assert_allclose(q, want / np.linalg.norm(want, axis=-1, keepdims=True), atol=2e-4)
    assert root.shape == (90, 3) and abs(root[0, 1] - 0.9) < 0.05


def test_retargeting_keeps_limb_directions(fixture_root):
    """CMU's own forward kinematics of the fixture against ours of the retargeted rotations: the
    upper arms, forearms, thighs, shins, spine, neck and head point the same way (within 2 degrees;
    the same body with random proportions too)."""
    sk = C.read_skeleton(fixture_root)
    q, root = C.read_clips(fixture_root / "cmu" / "subject_002.npz", sk.quat_scale)["02_02"]
    theirs_all, g = their_fk(q, root)
    theirs = np.empty((len(q), S.NUM_JOINTS, 3))
    for ours, name in C.JOINTS.items():
        if name == "head_top":
            theirs[:, S.JOINT_INDEX[ours]] = theirs_all[:, 4] + g[:, 4] @ np.array([0, 0.18, 0])
        else:
            theirs[:, S.JOINT_INDEX[ours]] = theirs_all[:, NAMES.index(name)]
    theirs[:, S.ROOT] = 0.5 * (theirs_all[:, NAMES.index("rThigh")] + theirs_all[:, NAMES.index("lThigh")])
    np.testing.assert_allclose(C.cmu_joints(q, root, sk), theirs, atol=1e-6)
    rot = C.retarget(q, sk)
    for bones in (S.Skeleton.default().bone_vectors, S.Skeleton.default().bone_vectors * [1.1, 0.9, 1.05]):
        ours = S.forward_kinematics(rot, bones)
        cos = (directions(ours, LIMBS) * directions(theirs, LIMBS)).sum(-1)
        worst = np.rad2deg(np.arccos(np.clip(cos, -1, 1))).max()
        assert worst < 2.0, worst
    # the motion moves: the comparison is not of two rest poses
    assert np.ptp(directions(theirs, LIMBS), axis=0).max() > 0.5
    # rotations, rigid torso (both hips the pelvis's rotation, the hip joint's own)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-9)
    np.testing.assert_allclose(rot[:, S.BONE_INDEX["r_hip"]], g[:, 0], atol=1e-9)
    np.testing.assert_allclose(rot[:, S.BONE_INDEX["l_hip"]], g[:, 0], atol=1e-9)


def test_left_stays_left(fixture_root):
    """The fixture's left arm raised sideways (about the chest's z) comes out as our left arm raised."""
    sk = C.read_skeleton(fixture_root)
    q = np.zeros((1, 21, 4))
    q[..., 3] = 1
    a = np.deg2rad(70) / 2
    q[0, NAMES.index("lShldr")] = [0, 0, np.sin(a), np.cos(a)]        # +X arm turned up about +Z
    joints = S.Skeleton.default().forward_kinematics(C.retarget(q, sk))[0]
    lw, rw = joints[S.JOINT_INDEX["l_wrist"]], joints[S.JOINT_INDEX["r_wrist"]]
    assert lw[0] > 0.2 and lw[1] > joints[S.JOINT_INDEX["l_shoulder"], 1] + 0.3
    assert rw[0] < -0.5 and abs(rw[1] - joints[S.JOINT_INDEX["r_shoulder"], 1]) < 0.1


def test_whole_subjects_are_held_out(fixture_root, tmp_path):
    train = C.load_split("train", fixture_root, cache=tmp_path)
    val = C.load_split("val", fixture_root, cache=tmp_path)
    test = C.load_split("test", fixture_root, cache=tmp_path)
    subj = lambda split: {int(n.split()[1].split("_")[0]) for n in split}
    assert subj(train) == {2, 5} and subj(val) == {60} and subj(test) == {13}
    assert 1 not in subj(train) | subj(val) | subj(test)              # subject 01 (01_03's) is nowhere
    assert {len(v) for v in test.values()} == {90}
    # the cached quaternions are the retargeted rotations
    sk = C.read_skeleton(fixture_root)
    q, _ = C.read_clips(fixture_root / "cmu" / "subject_013.npz", sk.quat_scale)["13_01"]
    np.testing.assert_allclose(C.as_matrices(test["CMU 13_01"]), C.retarget(q, sk), atol=1e-5)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    C.load_split("test", fixture_root, cache=tmp_path)                 # reused, not rebuilt
    assert len(list(tmp_path.glob("*.npz"))) == 1


def test_glitches_are_cut_out(fixture_root):
    sk = C.read_skeleton(fixture_root)
    q = np.zeros((200, 21, 4))
    q[..., 3] = 1
    q[100:, NAMES.index("rShin")] = [1, 0, 0, 0]                      # a 180 degree knee flip at frame 100
    assert list(C.glitch_frames(q, sk)) == [100]
    assert C.clean_segments(200, C.glitch_frames(q, sk)) == [(0, 85), (115, 200)]
    assert C.clean_segments(200, np.array([10, 190])) == [(25, 175)]
    assert C.clean_segments(60, np.array([30])) == []


def test_a_missing_folder_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(C.ENV, raising=False)
    with pytest.raises(UserError, match="CMU motion capture not found in"):
        C.resolve_root(tmp_path / "nowhere")
    assert C.main(["--cmu", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--cmu" in err, err
    monkeypatch.setenv(C.ENV, str(tmp_path / "env"))
    with pytest.raises(UserError, match=str(tmp_path / "env")):
        C.resolve_root(None)


@pytest.mark.skipif(not (C.DEFAULT_ROOT / "skeleton.npz").is_file(), reason="../shared/mocap not here")
def test_the_real_database_keeps_limb_directions():
    sk = C.read_skeleton(C.DEFAULT_ROOT)
    q, root = C.read_clips(C.subject_files(C.DEFAULT_ROOT)[143], sk.quat_scale)["143_18"]
    theirs = C.cmu_joints(q, root, sk)
    ours = S.Skeleton.default().forward_kinematics(C.retarget(q, sk))
    cos = (directions(ours, LIMBS) * directions(theirs, LIMBS)).sum(-1)
    assert np.rad2deg(np.arccos(np.clip(cos, -1, 1))).max() < 2.0
