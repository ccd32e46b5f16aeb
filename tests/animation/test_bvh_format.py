"""The BVH file format and clips onto our skeleton: bad files are one-line errors, our
hierarchy follows the skeleton, CMU and 21-joint mocap clips map onto our bones."""
from pathlib import Path

import numpy as np
import pytest

from animation.bvh import BVHError, bvh_joints, read_bvh
from animation.bvh_retarget import clip_to_poses
from engine import rotations as R
from engine import skeleton as S

SK = S.Skeleton.default()
CMU = Path("/usr/share/assimp/models/BVH/01_01.bvh")
BOXING = Path("/usr/share/assimp/models/BVH/Boxing_Toes.bvh")


def test_bad_files_are_one_line_errors(tmp_path):
    p = tmp_path / "x.bvh"
    p.write_text("hello")
    with pytest.raises(BVHError, match="not a BVH file"):
        read_bvh(p)
    p.write_text("HIERARCHY\nROOT a\n{\nOFFSET 0 0 zz\n}\n")
    with pytest.raises(BVHError, match="malformed BVH"):
        read_bvh(p)


def test_hierarchy_matches_skeleton():
    joints = bvh_joints()
    assert [j.name for j in joints] == ["pelvis", *S.BONE_NAMES]
    assert sum(j.end_site is not None for j in joints) == 5


@pytest.mark.skipif(not CMU.exists(), reason="apt-get install assimp-testmodels")
@pytest.mark.parametrize("clip_path", [CMU, BOXING])
def test_mocap_clips_map_onto_our_skeleton(clip_path):
    clip = read_bvh(clip_path)
    poses = clip_to_poses(clip)
    assert poses.rotations.shape == (clip.num_frames, 15, 3, 3)
    assert R.is_rotation(poses.rotations[::50], 1e-6).all()
    # our bone directions follow the clip's bone directions exactly
    from animation.bvh_retarget import CLIP_MAPS, _joint_positions

    m = CLIP_MAPS[poses.source]
    rots, pos = clip.global_transforms()
    theirs = _joint_positions(clip, m["joints"], pos, rots)
    ours = SK.forward_kinematics(poses.rotations)
    d_t = theirs[:, S.BONES[:, 1]] - theirs[:, S.BONES[:, 0]]
    d_o = ours[:, S.BONES[:, 1]] - ours[:, S.BONES[:, 0]]
    cos = (d_t * d_o).sum(-1) / np.linalg.norm(d_t, axis=-1) / np.linalg.norm(d_o, axis=-1)
    assert cos.min() > 1 - 1e-9
