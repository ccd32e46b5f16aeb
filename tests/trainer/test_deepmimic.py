"""DeepMimic clips retargeted onto our skeleton, checked by positions against DeepMimic's own
forward kinematics (``trainer/motion/deepmimic.py``). Needs the pybullet wheel (fetched once into
``data/motion/deepmimic``); skipped when it cannot be downloaded."""
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine import rotations as R
from engine import skeleton as S
from engine.errors import UserError
from trainer import fetch
from trainer.motion import deepmimic as D

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "data" / "motion" / "deepmimic"
SK = S.Skeleton.default()
J, B = S.JOINT_INDEX, S.BONE_INDEX
LIMBS = {"thighs": ("r_thigh", "l_thigh"), "shins": ("r_shin", "l_shin"),
         "upper arms": ("r_upper_arm", "l_upper_arm"), "forearms": ("r_forearm", "l_forearm"),
         "spine": ("spine",), "neck and head": ("neck", "head")}


@pytest.fixture(scope="module")
def cache():
    try:
        clips = D.fetch_clips(CACHE)
    except UserError as e:
        pytest.skip(f"the pybullet {D.PYBULLET_VERSION} wheel with DeepMimic's clips cannot be downloaded: {e}")
    assert len(clips) == 15 and (CACHE / D.CHARACTER_FILE).is_file()
    return CACHE


@pytest.fixture(scope="module")
def character(cache):
    return D.read_character(cache / D.CHARACTER_FILE)


def clip(cache, character, name):
    frames = D.read_frames(cache / f"humanoid3d_{name}.txt", character)
    return frames, D.retarget(frames, character), D.deepmimic_joints(frames, character)


def directions(joints):
    v = joints[..., S.BONES[:, 1], :] - joints[..., S.BONES[:, 0], :]
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@pytest.mark.parametrize("name", ["walk", "cartwheel"])
def test_bone_directions_agree_with_deepmimic_forward_kinematics(cache, character, name):
    _, rotations, theirs = clip(cache, character, name)
    ours = SK.forward_kinematics(rotations)
    cos = np.sum(directions(ours) * directions(theirs), axis=-1)
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))  # (F, 15)
    for group, bones in LIMBS.items():
        a = angle[:, [B[b] for b in bones]]
        assert a.mean() < 5.0 and a.max() < 10.0, (group, a.mean(), a.max())


def test_deepmimic_kinematics_stand_on_the_floor_and_walk_forward(cache, character):
    """Our reading of the clip format (w-first quaternions, knee signs, 0.25 scale) puts the
    walk's feet on the floor (the sole is 5 cm below the ankle joint) and walks it forward."""
    frames, _, theirs = clip(cache, character, "walk")
    height = theirs[..., 1] + frames[0, 2]  # relative to frame 0's root, which stands at its height
    for ankle in ("r_ankle", "l_ankle"):
        assert 0.02 < height[:, J[ankle]].min() < 0.08
    travel = theirs[-1, J["pelvis"]] - theirs[0, J["pelvis"]]
    assert travel[2] > 1.0 and abs(travel[0]) < 0.1  # forward is +Z
    # each limb keeps its DeepMimic length (a wrong quaternion order would not change that, but a
    # wrong offset table would)
    lengths = np.linalg.norm(theirs[:, S.BONES[:, 1]] - theirs[:, S.BONES[:, 0]], axis=-1)
    assert np.ptp(lengths[:, [B["r_thigh"], B["l_shin"], B["r_forearm"]]], axis=0).max() < 1e-9


def test_rotations_are_rigid_torso_rotations_facing_plus_z(cache):
    rotations = D.load_clip(cache / "humanoid3d_walk.txt")
    assert R.is_rotation(rotations, 1e-9).all()
    assert np.allclose(rotations[:, B["r_hip"]], rotations[:, B["l_hip"]])
    assert np.allclose(rotations[:, B["l_clavicle"]], rotations[:, B["spine"]])
    pelvis = rotations[0, B["r_hip"]]
    forward, left = pelvis @ [0.0, 0.0, 1.0], pelvis @ [1.0, 0.0, 0.0]
    assert np.degrees(np.arctan2(forward[0], forward[2])) == pytest.approx(0.0, abs=3.0)
    assert left[0] > 0.95 and (pelvis @ [0.0, 1.0, 0.0])[1] > 0.95  # upright, left is +X
    joints = SK.forward_kinematics(rotations[0])
    assert joints[J["l_ankle"], 0] > joints[J["r_ankle"], 0] and joints[J["head_top"], 1] > 0.6


def test_left_and_right_are_not_swapped(cache, character):
    for name in ("walk", "cartwheel"):
        _, rotations, theirs = clip(cache, character, name)
        ours = SK.forward_kinematics(rotations)
        theirs = theirs - theirs[:, J["pelvis"]][:, None]
        # the hip line points the same way (right hip to left hip) in every frame
        hips = lambda j: j[:, J["l_hip"]] - j[:, J["r_hip"]]
        cos = np.sum(hips(ours) * hips(theirs), -1) / np.linalg.norm(hips(ours), axis=-1) \
            / np.linalg.norm(hips(theirs), axis=-1)
        assert cos.min() > 0.8, (name, cos.min())  # our hips droop 34 degrees, DeepMimic's are level
        for side, other in (("l_ankle", "r_ankle"), ("r_wrist", "l_wrist")):
            same = np.linalg.norm(ours[:, J[side]] - theirs[:, J[side]], axis=-1)
            swapped = np.linalg.norm(ours[:, J[side]] - theirs[:, J[other]], axis=-1)
            apart = np.linalg.norm(theirs[:, J[side]] - theirs[:, J[other]], axis=-1) > 0.3
            assert same.mean() < 0.12, (name, side, same.mean())  # the skeletons' proportions differ
            assert (same[apart] < swapped[apart]).all(), (name, side)


def test_resampling_follows_the_frame_durations(cache, character):
    frames, rotations, _ = clip(cache, character, "backflip")  # 29 frames of 0.0625 s (16 fps)
    duration = frames[:-1, 0].sum()
    at30 = D.load_clip(cache / "humanoid3d_backflip.txt")
    assert abs(len(at30) - duration * 30) <= 1 and R.is_rotation(at30, 1e-9).all()
    at16 = D.load_clip(cache / "humanoid3d_backflip.txt", fps=16.0)
    assert len(at16) == len(frames) and np.allclose(at16, rotations, atol=1e-9)
    at32 = D.load_clip(cache / "humanoid3d_backflip.txt", fps=32.0)  # every other frame is halfway
    assert len(at32) == 2 * len(frames) - 1
    assert np.allclose(at32[::2], rotations, atol=1e-9)
    half = R.geodesic_angle(at32[1:-1:2], rotations[:-1])
    assert np.allclose(half, R.geodesic_angle(at32[1:-1:2], rotations[1:]), atol=1e-6)
    assert np.allclose(2 * half, R.geodesic_angle(rotations[:-1], rotations[1:]), atol=1e-6)
    walk = D.load_clip(cache / "humanoid3d_walk.txt", fps=30.0)  # 38 steps of 1/30 s (rounded)
    assert len(walk) == 39


def test_a_failed_download_is_one_line(tmp_path, monkeypatch, capsys):
    def fail(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"] and f"pybullet=={D.PYBULLET_VERSION}" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "Looking in indexes\nERROR: No matching distribution\n")

    monkeypatch.setattr(fetch.subprocess, "run", fail)
    with pytest.raises(UserError) as e:
        D.fetch_clips(tmp_path / "clips", tmp_path / "pip")
    spec = f"pybullet=={D.PYBULLET_VERSION}"
    assert str(e.value) == (f"pip could not fetch {spec} (ERROR: No matching distribution); fetch it by hand: "
                            f"pip download --no-deps {spec} -d {tmp_path / 'pip'}")
    assert "unpacking the motion clips" in capsys.readouterr().out
