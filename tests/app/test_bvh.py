"""BVH recording: an independent parser (bvhio, PyPI) re-reads our files and its
forward kinematics gives our joints back; Blender's layout rules; resampling;
crash safety under SIGKILL; long clips; repair; our recordings play back exactly."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import bvhio
import numpy as np
import pytest

from animation.bvh import read_bvh
from animation.bvh_retarget import clip_to_poses
from app.bvh import BVHRecorder, repair_bvh
from engine import rotations as R
from engine import skeleton as S

REPO = Path(__file__).resolve().parents[2]
SK = S.Skeleton.default()


def random_poses(n, seed=0):
    rng = np.random.default_rng(seed)
    return R.quat_to_matrix(rng.normal(size=(n, 15, 4)))


def bvhio_joints(path: Path, frame: int, scale: float) -> np.ndarray:
    """Our 16 joints from bvhio's world transforms: BVH joints are bone starts; leaf bone
    ends are End Sites, placed with bvhio's world rotation of the leaf joint."""
    bvh = bvhio.readAsBvh(str(path))
    ends = {}

    def walk(j):
        if j.EndSite is not None and not j.Children:
            ends[j.Name] = np.array([j.EndSite.x, j.EndSite.y, j.EndSite.z])
        for c in j.Children:
            walk(c)

    walk(bvh.Root)
    root = bvhio.readAsHierarchy(str(path))
    root.loadPose(frame)
    world = {j.Name: j for j, _, _ in root.layout()}
    out = np.zeros((16, 3))
    out[S.ROOT] = np.array(world["pelvis"].PositionWorld)
    for b, name in enumerate(S.BONE_NAMES):
        start, end = S.BONES[b]
        out[start] = np.array(world[name].PositionWorld)
        if name in ends:
            import glm

            # bvhio's joint spaces carry rest rotations (aligning +Y with each bone), accumulated
            # down the chain; undo them to express the End Site offset in the joint's space
            j = world[name]
            q, a = j.RestPose.Rotation, j.Parent
            while a is not None:
                q, a = a.RestPose.Rotation * q, a.Parent
            out[end] = np.array(j.pointToWorld(glm.inverse(q) * glm.vec3(*ends[name])))
    return out / scale


@pytest.mark.parametrize("units, scale", [("cm", 100.0), ("m", 1.0)])
def test_independent_parser_reproduces_our_joints(tmp_path, units, scale):
    poses = random_poses(8, 1)
    roots = np.random.default_rng(2).normal(scale=0.3, size=(8, 3))
    path = tmp_path / "clip.bvh"
    with BVHRecorder(path, fps=30, units=units) as rec:
        for k in range(8):
            rec.add(k / 30, poses[k], roots[k])
    for k in range(8):
        ours = SK.forward_kinematics(poses[k], np.array([0, SK.floor_offset, 0]) + roots[k])
        theirs = bvhio_joints(path, k, scale)
        assert np.abs(ours - theirs).max() < 1e-3, (k, np.abs(ours - theirs).max())


def test_layout_blender_reads(tmp_path):
    path = tmp_path / "clip.bvh"
    with BVHRecorder(path, fps=25, units="cm") as rec:
        rec.add(0.0, random_poses(1)[0])
    text = path.read_text()
    lines = [ln.strip() for ln in text.splitlines()]
    assert lines[0] == "HIERARCHY" and lines[1] == "ROOT pelvis" and lines[2] == "{"
    for i, ln in enumerate(lines):
        if ln.startswith(("ROOT", "JOINT", "End Site")):
            assert lines[i + 1] == "{"  # '{' on its own line
        if ln.startswith("JOINT"):
            assert lines[i + 3] == "CHANNELS 3 Zrotation Xrotation Yrotation"
    assert "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" in lines
    assert text.count("JOINT") == 15 and text.count("End Site") == 5
    assert lines[lines.index("MOTION") + 1].split() == ["Frames:", "1"]
    assert lines[lines.index("MOTION") + 2] == "Frame Time: 0.04000000"
    assert text.count("{") == text.count("}")


def test_resampled_to_constant_rate_from_timestamps(tmp_path):
    # a turn about Y at 90 deg/s sampled with jittered timestamps at about 24 Hz
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.uniform(0.03, 0.055, size=60))
    path = tmp_path / "clip.bvh"
    with BVHRecorder(path, fps=30) as rec:
        for t in times:
            ang = np.deg2rad(90.0 * t)
            rots = np.broadcast_to(R.axis_rotation(1, ang), (15, 3, 3))
            rec.add(float(t), rots)
    clip = read_bvh(path)
    assert abs(clip.frame_time - 1 / 30) < 1e-7
    expected_frames = int(np.floor((times[-1] - times[0]) * 30 + 1e-9)) + 1
    assert clip.num_frames == expected_frames
    # root yaw (ZXY Euler, Y last) on the grid t0 + k/30 is 90 deg/s * t
    grid = times[0] + np.arange(expected_frames) / 30
    np.testing.assert_allclose(clip.motion[:, 5], 90.0 * grid, atol=1e-3)


@pytest.mark.slow
def test_long_clip_writes_and_reads_back(tmp_path):
    n = 10_000
    poses = random_poses(50, 4)
    path = tmp_path / "long.bvh"
    with BVHRecorder(path, fps=60) as rec:
        for k in range(n):
            rec.add(k / 60, poses[k % 50])
    clip = read_bvh(path)
    assert clip.num_frames == n
    rots, _ = clip.global_transforms()
    idx = [clip.names.index(b) for b in S.BONE_NAMES]
    k = 9_999
    assert np.abs(rots[k, idx] - poses[k % 50]).max() < 1e-5
    bvh = bvhio.readAsBvh(str(path))
    assert bvh.FrameCount == n


WRITER = r"""
import sys, time, numpy as np
from app.bvh import BVHRecorder
from engine import rotations as R
rots = R.quat_to_matrix(np.random.default_rng(0).normal(size=(15, 4)))
rec = BVHRecorder(sys.argv[1], fps=30)
t0 = time.monotonic()
k = 0
while True:
    rec.add(k / 30, rots)
    k += 1
    if k % 10 == 0:
        print(rec.frames, flush=True)
    time.sleep(max(0.0, t0 + k / 30 - time.monotonic()))
"""


def test_recording_survives_sigkill(tmp_path):
    path = tmp_path / "killed.bvh"
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    reported = 0
    deadline = time.monotonic() + 30
    while reported < 60 and time.monotonic() < deadline:
        reported = int(p.stdout.readline())
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert reported >= 60
    assert not path.exists()  # a recording is written beside its name until it stops
    partial = tmp_path / "killed.partial.bvh"
    clip = read_bvh(partial)  # valid as it stands
    assert clip.num_frames >= reported - 30  # at most the last second (30 frames) lost
    assert clip.declared_frames == clip.num_frames and not clip.problems()
    assert bvhio.readAsBvh(str(partial)).FrameCount == clip.num_frames
    r = repair_bvh(partial)
    assert r.out is None and r.kept == clip.num_frames  # nothing to repair


def test_repair_cut_file_and_cli(tmp_path):
    path = tmp_path / "cut.bvh"
    with BVHRecorder(path, fps=30) as rec:
        for k in range(20):
            rec.add(k / 30, random_poses(1, k)[0])
    data = path.read_bytes()
    path.write_bytes(data[:-37])  # cut mid-line, count now too high
    cut = path.read_bytes()
    r = subprocess.run([sys.executable, "-m", "app", "repair-bvh", str(path)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "kept 19 frames, dropped 1 (line " in r.stdout and "incomplete last line" in r.stdout
    assert path.read_bytes() == cut  # the original is never shortened
    fixed = tmp_path / "cut.repaired.bvh"
    assert f"{fixed} written, {path} unchanged" in r.stdout
    assert read_bvh(fixed).num_frames == 19 and "Frames: 19\n" in fixed.read_text()
    assert bvhio.readAsBvh(str(fixed)).FrameCount == 19
    r = subprocess.run([sys.executable, "-m", "app", "repair-bvh", str(tmp_path / "none.bvh")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and r.stderr.strip().endswith("none.bvh: file not found")


def test_our_recording_plays_back_exactly(tmp_path):
    poses = random_poses(5, 9)
    path = tmp_path / "ours.bvh"
    with BVHRecorder(path, fps=30) as rec:
        for k in range(5):
            rec.add(k / 30, poses[k], np.array([0.05 * k, 0, 0]))
    back = clip_to_poses(read_bvh(path))
    assert back.source == "ours"
    np.testing.assert_allclose(back.rotations, poses, atol=1e-5)
    np.testing.assert_allclose(back.root_displacement[:, 0], 0.05 * np.arange(5), atol=1e-6)


def test_the_root_takes_the_given_pelvis_and_local_rotations(tmp_path):
    """A Pose's pelvis rotation is the BVH root rotation and its local rotations are written as
    given; the joints read back are ours."""
    from engine.pose import Pose

    rots = random_poses(3, 4)
    pelvis = R.quat_to_matrix(np.random.default_rng(5).normal(size=(3, 4)))
    path = tmp_path / "p.bvh"
    with BVHRecorder(path, fps=30) as rec:
        for k in range(3):
            pose = Pose(rotations=rots[k], pelvis_rotation=pelvis[k])
            rec.add(k / 30, pose.rotations, None, pose.pelvis_rotation, pose.local_rotations)
    clip = read_bvh(path)
    g, _ = clip.global_transforms()
    np.testing.assert_allclose(g[:, 0], pelvis, atol=1e-5)
    back = clip_to_poses(clip)
    np.testing.assert_allclose(back.rotations, rots, atol=1e-5)
