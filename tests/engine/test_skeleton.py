"""Skeleton definition, forward kinematics, local/absolute conversions, Eq. 1."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import rotations as R
from engine import skeleton as S

SK = S.Skeleton.default()


def random_rotations(rng, shape):
    return R.quat_to_matrix(rng.normal(size=shape + (4,)))


def test_definition_matches_the_paper():
    assert S.NUM_JOINTS == 16 and S.NUM_BONES == 15
    assert S.JOINT_NAMES[:7] == ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis")
    assert S.JOINT_NAMES[S.ROOT] == "pelvis"
    # every joint but the root is the end of exactly one bone
    assert sorted(S.BONES[:, 1].tolist()) == sorted(set(range(16)) - {S.ROOT})
    # topological order
    for b, p in enumerate(S.BONE_PARENTS):
        assert p < b
        if p >= 0:
            assert S.BONES[p, 1] == S.BONES[b, 0]
    assert S.JOINT_NAMES[S.JOINT_FLIP[S.JOINT_INDEX["l_wrist"]]] == "r_wrist"
    assert S.BONE_NAMES[S.BONE_FLIP[S.BONE_INDEX["r_thigh"]]] == "l_thigh"
    assert S.JOINT_FLIP[S.ROOT] == S.ROOT


def test_rest_pose_conventions():
    j = SK.rest_joints
    idx = S.JOINT_INDEX
    assert np.allclose(j[S.ROOT], 0)
    assert j[idx["l_wrist"], 0] > 0 > j[idx["r_wrist"], 0]  # left is +X
    assert j[idx["head_top"], 1] > j[idx["thorax"], 1] > 0 > j[idx["l_ankle"], 1]  # Y-up
    height = j[idx["head_top"], 1] + SK.floor_offset
    assert 1.6 < height < 1.95
    assert np.allclose(j[:, 2], 0)  # T-pose in the XY plane


def test_identity_fk_reproduces_rest():
    eye = np.broadcast_to(np.eye(3), (15, 3, 3))
    np.testing.assert_allclose(SK.forward_kinematics(eye), SK.rest_joints, atol=1e-12)
    root = np.array([0.1, 0.9, 2.0])
    np.testing.assert_allclose(SK.forward_kinematics(eye, root), SK.rest_joints + root, atol=1e-12)


def test_left_elbow_bent_90_degrees_by_hand():
    rots = np.broadcast_to(np.eye(3), (15, 3, 3)).copy()
    # forearm turned about +Y by -90 degrees: its rest direction +X now points forward (+Z)
    rots[S.BONE_INDEX["l_forearm"]] = np.array([[0, 0, -1], [0, 1, 0], [1, 0, 0]], float)
    j = SK.forward_kinematics(rots)
    elbow = SK.rest_joints[S.JOINT_INDEX["l_elbow"]]
    length = np.linalg.norm(SK.rest_joints[S.JOINT_INDEX["l_wrist"]] - elbow)
    np.testing.assert_allclose(j[S.JOINT_INDEX["l_wrist"]], elbow + [0, 0, length], atol=1e-12)
    np.testing.assert_allclose(j[S.JOINT_INDEX["l_wrist"]], [0.46, 0.48, 0.26], atol=1e-12)
    # nothing else moves
    others = [i for i in range(16) if i != S.JOINT_INDEX["l_wrist"]]
    np.testing.assert_allclose(j[others], SK.rest_joints[others], atol=1e-12)


def test_fk_batched_and_preserves_bone_lengths():
    rng = np.random.default_rng(1)
    rots = random_rotations(rng, (4, 3, 15))
    j = SK.forward_kinematics(rots)
    assert j.shape == (4, 3, 16, 3)
    np.testing.assert_allclose(S.bone_lengths(j), np.broadcast_to(SK.bone_lengths, (4, 3, 15)), atol=1e-12)
    # a loop over bones gives the same joints
    ref = np.zeros((16, 3))
    for b, (s, e) in enumerate(S.BONES):
        ref[e] = ref[s] + rots[0, 0, b] @ SK.bone_vectors[b]
    np.testing.assert_allclose(j[0, 0], ref, atol=1e-12)


@settings(max_examples=50)
@given(st.integers(0, 2**31 - 1))
def test_absolute_local_round_trip(seed):
    rng = np.random.default_rng(seed)
    rots = random_rotations(rng, (2, 15))
    root = random_rotations(rng, (2,))
    local = S.absolute_to_local(rots, root)
    np.testing.assert_allclose(S.local_to_absolute(local, root), rots, atol=1e-9)
    # local of a bone leaving the pelvis is relative to the root rotation
    b = S.BONE_INDEX["spine"]
    np.testing.assert_allclose(local[:, b], np.swapaxes(root, -1, -2) @ rots[:, b], atol=1e-12)
    b, p = S.BONE_INDEX["l_forearm"], S.BONE_INDEX["l_upper_arm"]
    np.testing.assert_allclose(local[:, b], np.swapaxes(rots[:, p], -1, -2) @ rots[:, b], atol=1e-12)


def test_local_rotation_of_a_rigidly_turned_body_is_identity():
    rz = R.euler_to_matrix(np.array([0.0, 0.0, 70.0]), "ZXY", degrees=True)
    rots = np.broadcast_to(rz, (15, 3, 3))
    local = S.absolute_to_local(rots, rz)
    np.testing.assert_allclose(local, np.broadcast_to(np.eye(3), (15, 3, 3)), atol=1e-12)


def test_eq1_normalisation_by_hand():
    j = SK.rest_joints * 2.0 + np.array([1.0, 2.0, 3.0])  # twice as big, moved
    out = S.normalize_skeleton_scale(j, SK.total_length)
    np.testing.assert_allclose(out, SK.rest_joints, atol=1e-12)
    assert abs(S.bone_lengths(out).sum() - SK.total_length) < 1e-12
    # one bone of length 3 and the rest 0 scaled to a total of 1 -> that bone is 1 long
    j = np.zeros((16, 3))
    j[S.JOINT_INDEX["thorax"]] = [0, 3, 0]
    j[[S.JOINT_INDEX[n] for n in ("upper_neck", "head_top", "r_shoulder", "r_elbow", "r_wrist",
                                   "l_shoulder", "l_elbow", "l_wrist")]] = [0, 3, 0]
    out = S.normalize_skeleton_scale(j, 1.0)
    np.testing.assert_allclose(out[S.JOINT_INDEX["thorax"]], [0, 1, 0])


def test_skeleton_is_replaceable():
    j = SK.rest_joints * 0.9 + 5.0
    sk = S.Skeleton(j)
    np.testing.assert_allclose(sk.rest_joints[S.ROOT], 0)
    np.testing.assert_allclose(sk.bone_lengths, SK.bone_lengths * 0.9)
    with pytest.raises(ValueError, match="shape"):
        S.Skeleton(np.zeros((15, 3)))


def test_rotations_from_joints_give_the_joints_back():
    """The minimal-twist rule (labels with joints only): rotations whose forward kinematics
    reproduce the joints, with a pelvis frame made from the hips and the spine."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        joints = SK.forward_kinematics(R.quat_to_matrix(rng.normal(size=(15, 4))))
        rots = S.rotations_from_joints(joints)
        assert R.is_rotation(rots, 1e-9).all()
        np.testing.assert_allclose(SK.forward_kinematics(rots), joints, atol=1e-9)
    np.testing.assert_allclose(S.rotations_from_joints(SK.rest_joints), np.broadcast_to(np.eye(3), (15, 3, 3)),
                               atol=1e-9)
