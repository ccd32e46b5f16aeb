"""In-the-wild labels: the MediaPipe mapping and teacher, skeleton fitting, joint limits, the
labelling pipeline, the wild dataset and mixed batches, and the annotation tool under Xvfb."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from engine import frames
from engine import rotations as R
from engine import skeleton as S
from trainer.data import poses as P
from trainer.wild import teacher as T
from trainer.wild.fitting import fit_skeleton, implausible, twist_angles

REPO = Path(__file__).resolve().parents[2]
SK = S.Skeleton.default()
MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")  # only named, never read, in these tests
DEMO = REPO / "tests" / "data" / "sports2d_walk.mp4"  # training footage (tests/data/NOTICE.md)


def landmarks_for(joints: np.ndarray) -> np.ndarray:
    """MediaPipe-like landmarks placed on a rest-proportioned body: hips, shoulders, limbs on our
    joints, ears at the middle of the head (thorax + neck + half the head)."""
    lm = np.zeros((33, joints.shape[1]))
    for name, i in T.MP.items():
        if name in S.JOINT_INDEX:
            lm[i] = joints[S.JOINT_INDEX[name]]
    th, hd = joints[S.JOINT_INDEX["thorax"]], joints[S.JOINT_INDEX["head_top"]]
    mid_head = th + (hd - th) * (0.21 / 0.32)  # 10 cm neck + 11 cm of the 22 cm head, along the neck-head line
    lm[T.MP["l_ear"]] = mid_head + [0.07, 0, 0][: joints.shape[1]]
    lm[T.MP["r_ear"]] = mid_head - [0.07, 0, 0][: joints.shape[1]]
    return lm


def test_mediapipe_mapping_rebuilds_our_joints_on_a_moved_rest_body():
    rng = np.random.default_rng(0)
    rest = SK.rest_joints
    for _ in range(5):
        q = R.axis_angle_to_matrix(rng.normal(size=3))
        j = rest @ q.T + rng.normal(size=3)
        lm = landmarks_for(rest) @ q.T + (j[0] - rest[0] @ q.T)
        got, conf = T.mediapipe_to_joints(lm)
        np.testing.assert_allclose(got, j, atol=1e-9)
        assert np.all(conf == 1.0)
    vis = np.ones(33)
    vis[T.MP["l_ear"]] = 0.2
    _, conf = T.mediapipe_to_joints(landmarks_for(rest)[:, :2], vis)
    assert conf[S.JOINT_INDEX["head_top"]] == 0.2 and conf[S.JOINT_INDEX["l_wrist"]] == 1.0
    with pytest.raises(ValueError, match="33 landmarks"):
        T.mediapipe_to_joints(np.zeros((17, 2)))


@pytest.mark.skipif(not (T.TEACHER_VENV / T.READY).exists(),
                    reason="no teacher environment (make test creates it: python -m trainer teacher-setup)")
@pytest.mark.slow
def test_mediapipe_teacher_finds_the_person_in_a_photo(tmp_path):
    cap = cv2.VideoCapture(str(DEMO))  # the Sports2D walking clip: frame 60 shows one walker, upright
    for _ in range(61):
        ok, img = cap.read()
    assert ok
    photo = tmp_path / "walker.jpg"
    cv2.imwrite(str(photo), img)
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    res = T.run_teacher([photo, blank], tmp_path / "teacher.json")
    assert res[str(blank.resolve())]["landmarks"] is None
    j, c = T.teacher_keypoints(res[str(photo.resolve())])
    h, w = img.shape[:2]
    assert j.shape == (16, 2) and np.all((j >= 0) & (j < [w, h]))
    y = lambda n: j[S.JOINT_INDEX[n], 1]
    # an upright walker: head over neck over thorax over pelvis over knees over ankles
    assert y("head_top") < y("upper_neck") < y("thorax") < y("pelvis") < y("r_knee") < y("r_ankle")
    assert c[S.JOINT_INDEX["pelvis"]] > 0.5
    # a re-run reads the cache (no second teacher pass needed) and keeps the same answer
    again = T.run_teacher([photo], tmp_path / "teacher.json")
    assert again[str(photo.resolve())] == res[str(photo.resolve())]


def test_teacher_missing_environment_is_one_clear_error(tmp_path):
    with pytest.raises(T.TeacherError, match="teacher-setup"):
        T.run_teacher([MESSI], tmp_path / "t.json", python=tmp_path / "none" / "bin" / "python")


@pytest.mark.slow
def test_fitting_reproduces_exact_joints_with_rotations_fk_reproduces():
    rng = np.random.default_rng(3)
    clips = P.load_clip_poses(["01_03.bvh"], stride=60)["01_03.bvh"][:10]
    poses = list(clips) + [P.sampled_pose(rng) for _ in range(20)]
    for rot in poses:
        j = SK.forward_kinematics(rot)
        f = fit_skeleton(j)
        assert np.abs(f.joints - (j - j[S.ROOT])).max() < 0.005
        np.testing.assert_allclose(S.forward_kinematics(f.rotations, SK.bone_vectors), f.joints, atol=1e-12)
        assert R.is_rotation(f.rotations, 1e-9).all()
        assert np.all(np.diff(f.energy) <= 1e-9)  # each local/global step lowers the energy


def test_fitting_resolves_twist_as_a_swing_at_a_bent_elbow():
    """Joints leave the twist free; a screwed upper arm must come back as a pure elbow swing."""
    rot = np.broadcast_to(np.eye(3), (15, 3, 3)).copy()
    ua, fa = S.BONE_INDEX["r_upper_arm"], S.BONE_INDEX["r_forearm"]
    bend = R.axis_rotation(2, np.radians(80))          # forearm bent 80 deg about z (the rest arm is along x)
    screw = R.axis_rotation(0, np.radians(70))         # 70 deg of twist about the upper arm's own axis
    rot[ua] = screw
    rot[fa] = screw @ bend
    j = SK.forward_kinematics(rot)
    f = fit_skeleton(j)
    assert np.abs(f.joints - (j - j[S.ROOT])).max() < 0.005
    tw = twist_angles(f.rotations)
    assert tw[ua] < 5 and tw[fa] < 5, tw
    assert twist_angles(rot)[ua] > 60  # the input did carry the screw


def test_joint_limits():
    rest = np.broadcast_to(np.eye(3), (15, 3, 3)).copy()
    assert implausible(rest) == []
    knee = S.BONE_INDEX["r_shin"]
    back, fwd = rest.copy(), rest.copy()
    back[knee] = R.axis_rotation(0, np.radians(90))    # foot goes behind (-z): a normal knee bend
    fwd[knee] = R.axis_rotation(0, np.radians(-60))    # foot goes to the front (+z): a broken knee
    assert S.forward_kinematics(back, SK.bone_vectors)[S.JOINT_INDEX["r_ankle"], 2] < 0
    assert implausible(back) == []
    assert any("r knee bends forwards" in m for m in implausible(fwd))
    tw = rest.copy()
    tw[S.BONE_INDEX["l_forearm"]] = R.axis_rotation(0, np.radians(150))
    assert any("l_forearm twists" in m for m in implausible(tw))


def _keypoint_folder(tmp_path, n=3):
    """Photos (a plain picture per pose) with exact keypoints of known poses, as a --keypoints JSON."""
    rng = np.random.default_rng(5)
    root = tmp_path / "photos"
    root.mkdir()
    kp = {}
    for i in range(n):
        rot = P.sampled_pose(rng)
        cam = frames.world_to_camera(SK.forward_kinematics(rot)) + [0.0, 0.0, 4.0]
        uv = cam[:, :2] / cam[:, 2:] * 600 + [320, 240]
        img = np.full((480, 640, 3), 90, np.uint8)
        for a, b in S.BONES:
            cv2.line(img, tuple(int(v) for v in uv[a]), tuple(int(v) for v in uv[b]), (255, 255, 255), 6)
        cv2.imwrite(str(root / f"p{i}.png"), img)
        kp[f"p{i}.png"] = np.concatenate([uv, np.ones((16, 1))], 1).tolist()
    (tmp_path / "kp.json").write_text(json.dumps(kp))
    return root, tmp_path / "kp.json"


@pytest.fixture(scope="module")
def _labelled_once(tmp_path_factory):
    """``_keypoint_folder`` labelled by the pipeline (``--keypoints``), made once for the module."""
    from trainer.wild import pipeline as W

    base = tmp_path_factory.mktemp("labelled")
    root, kp = _keypoint_folder(base)
    assert W.main([str(root), "--keypoints", str(kp)]) == 0
    return base


@pytest.fixture
def labelled(_labelled_once, tmp_path):
    """A fresh copy of the labelled folder for one test: (photos folder, keypoints JSON)."""
    shutil.copytree(_labelled_once / "photos", tmp_path / "photos")
    shutil.copy(_labelled_once / "kp.json", tmp_path / "kp.json")
    return tmp_path / "photos", tmp_path / "kp.json"


@pytest.fixture(scope="module")
def synth_tiny(tmp_path_factory):
    """A tiny synthetic set (8 / 4 / 4 images at 96 px), made once for the module; tests only read it."""
    from trainer.data import synth as Y

    syn = tmp_path_factory.mktemp("syn") / "syn"
    assert Y.main(["--out", str(syn), "--train", "8", "--val", "4", "--test", "4", "--shard-size", "4",
                   "--size", "96", "--bodies-per-shard", "1", "--seed", "2", "--no-card"]) == 0
    return syn


@pytest.mark.slow
def test_pipeline_labels_a_folder_from_keypoints(tmp_path):
    from trainer.wild import pipeline as W

    root, kp = _keypoint_folder(tmp_path)
    # a short video gives every 2nd frame
    vw = cv2.VideoWriter(str(root / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(5):
        vw.write(np.zeros((48, 64, 3), np.uint8))
    vw.release()
    assert W.main([str(root), "--keypoints", str(kp), "--every", "2"]) == 0
    labels = json.loads((root / "wild" / "labels.json").read_text())
    frames = sorted(k for k in labels if k.startswith("wild/frames/clip_"))
    assert frames == [f"wild/frames/clip_{k:06d}.jpg" for k in (0, 2, 4)]
    assert all(labels[f]["reasons"] == ["no person found"] for f in frames)  # no keypoints given for them
    for i in range(3):
        lab = labels[f"p{i}.png"]
        assert lab["reprojection_rel"] < W.MAX_REPROJECTION, lab["reasons"]
        rot = np.asarray(lab["rotations"])
        np.testing.assert_allclose(S.forward_kinematics(rot, SK.bone_vectors), lab["joints_3d"], atol=1e-9)
    assert W.main([str(tmp_path / "nothing")]) == 2


@pytest.mark.slow
def test_wild_source_takes_accepted_images_and_masks_3d(labelled):
    from trainer.data.realsets import WildSource

    root, kp = labelled
    dec = root / "wild" / "decisions.jsonl"
    dec.write_text('{"image": "p0.png", "decision": "accept"}\n{"image": "p1.png", "decision": "reject"}\n'
                   '{"image": "p2.png", "decision": "reject"}\n{"image": "p2.png", "decision": "accept"}\n{"ima')
    src = WildSource(root, "train", 64, None, flip=True)
    assert [k for k, _ in src.items] == ["p0.png", "p2.png"]  # last word wins; a torn line is ignored
    s = src.sample(0)
    assert s["mask_3d"] == 0 and s["mask_rot"] == 1 and s["image"].shape == (3, 64, 64)
    lab = json.loads((root / "wild" / "labels.json").read_text())["p0.png"]
    np.testing.assert_allclose(s["rotations"], lab["rotations"], atol=1e-6)
    rng = np.random.default_rng(0)
    flipped = [src.sample(0, rng) for _ in range(8)]
    f = next(x for x in flipped if not np.allclose(x["image"], s["image"], atol=1e-6))
    # a flipped sample: left and right joints swap and mirror about the crop's centre column
    ok = np.abs(f["joints_2d"][S.JOINT_FLIP][:, 1] - s["joints_2d"][:, 1]).max()
    assert ok < 3.0
    assert len(WildSource(root, "train", 64, None, accept="auto").items) == 3 - 1  # p1 rejected by a person


@pytest.mark.slow
def test_mixed_training_with_wild_images(tmp_path, labelled, synth_tiny):
    from trainer import train as TR

    syn = synth_tiny
    root, kp = labelled
    cfg = {"out": str(tmp_path / "run"), "model": {"backbone": "mobilenet", "input_size": 64, "hg_channels": 16,
                                                   "hg_depth": 2, "num_clusters": 4, "head_hidden": 32},
           "data": [{"kind": "synth", "root": str(syn), "weight": 1.0},
                    {"kind": "wild", "root": str(root), "weight": 1.0, "accept": "auto"}],
           "val": None, "batch_size": 4, "steps": 3, "log_every": 1, "threads": 1, "export": False}
    p = tmp_path / "mix.yaml"
    p.write_text(yaml.safe_dump(cfg))
    assert TR.main([str(p)]) == 0
    b = TR.batch_for_step(*_sources(TR, cfg), 4, 0, 0, 0)
    assert sorted(b["mask_3d"].tolist()) == [0.0, 0.0, 1.0, 1.0]  # half synthetic, half real


@pytest.mark.slow
def test_wild_eval_reports_pck_and_fine_tuning_starts_from_init(tmp_path, capsys, labelled, synth_tiny):
    import torch

    from trainer import evaluate as E
    from trainer import train as TR

    root, kp = labelled
    (tmp_path / "hold.txt").write_text("p1.png\np2.png\n")
    syn = synth_tiny
    small = {"backbone": "mobilenet", "input_size": 64, "hg_channels": 16, "hg_depth": 2, "num_clusters": 4,
             "head_hidden": 32}
    base = {"model": small, "data": [{"kind": "synth", "root": str(syn)}], "val": None, "batch_size": 4,
            "log_every": 1, "threads": 1, "export": False}
    a = tmp_path / "a.yaml"
    a.write_text(yaml.safe_dump({**base, "out": str(tmp_path / "a"), "steps": 2}))
    assert TR.main([str(a)]) == 0
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump({**base, "out": str(tmp_path / "b"), "steps": 1,
                                 "init": str(tmp_path / "a" / "last.pt"), "lr": 1e-12, "lr_final": 1e-12}))
    assert TR.main([str(b)]) == 0
    wa = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    wb = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    np.testing.assert_array_equal(wa["cluster_centres"], wb["cluster_centres"])
    k = "rot_head.1.weight"
    assert torch.allclose(wa["model"][k], wb["model"][k], atol=1e-6)  # a tiny lr: b starts at a's weights
    capsys.readouterr()
    js = tmp_path / "pck.json"
    assert E.main(["--checkpoint", str(tmp_path / "a" / "last.pt"), "--kind", "wild", "--data", str(root),
                   "--split", "test", "--holdout", str(tmp_path / "hold.txt"), "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    assert res["samples"] == 2 and 0.0 <= res["pck@0.2"] <= 1.0 and res["error_2d_px"] > 0
    assert 0.0 <= res["baseline"]["pck@0.2"] <= 1.0 and res["baseline"]["error_2d_px"] > 0
    assert "constant mean 2D pose" in capsys.readouterr().out
    assert E.main(["--checkpoint", str(tmp_path / "a" / "last.pt"), "--kind", "wild", "--data", str(root),
                   "--split", "test", "--holdout", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err
    assert "missing.txt: the held-out list cannot be read (No such file or directory)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    b2 = tmp_path / "b2.yaml"
    b2.write_text(yaml.safe_dump({**base, "out": str(tmp_path / "b2"), "steps": 1, "init": str(tmp_path / "x.pt")}))
    assert TR.main([str(b2)]) == 2
    assert "init checkpoint" in capsys.readouterr().err


def test_mean_2d_pose_baseline_averages_visible_joints_only():
    from trainer.evaluate import mean_pose_2d

    g = np.zeros((3, 16, 2))
    g[0], g[1], g[2] = 10.0, 20.0, 90.0
    v = np.ones((3, 16))
    v[2] = 0.0  # the third crop's joints are not visible: they must not pull the mean
    v[:, 5] = 0.0  # joint 5 is never visible: the centre of all labels
    m = mean_pose_2d(g, v)
    assert m.shape == (16, 2)
    np.testing.assert_allclose(m[0], [15.0, 15.0])
    np.testing.assert_allclose(m[5], [40.0, 40.0])


def _sources(TR, cfg):
    srcs = [TR.make_source(s, "train", 64, np.broadcast_to(np.eye(3), (4, 3, 3)), True) for s in cfg["data"]]
    return srcs, [1.0, 1.0]


needs_display = pytest.mark.skipif(not os.environ.get("DISPLAY") or not shutil.which("xdotool"),
                                   reason="needs a display and xdotool (make test runs under xvfb-run)")


def _annotate(root, *extra):
    return subprocess.Popen([sys.executable, "-m", "trainer", "annotate", str(root), *extra], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _window(proc, timeout=120.0):
    """The id of proc's annotation window; fails with proc's own output when it exits or never shows one."""
    t = time.time()
    while time.time() - t < timeout:
        r = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(proc.pid),
                            "--name", "review fitted poses"], capture_output=True, text=True)
        if r.stdout.strip():
            return r.stdout.split()[0]
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"annotate exited ({proc.returncode}) before its window opened:\n{out}\n{err}")
        time.sleep(0.2)
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f"annotation window did not open in {timeout:.0f} s:\n{out}\n{err}")


def _keys(win, *keys, check=True):
    for k in keys:
        subprocess.run(["xdotool", "key", "--window", win, k], check=check, capture_output=True)
        time.sleep(0.4)


@pytest.mark.slow
@needs_display
def test_annotation_tool_keys_write_decisions_and_a_kill_keeps_them(tmp_path, labelled):
    root, kp = labelled
    shot = tmp_path / "shot.png"
    p = _annotate(root, "--screenshot", str(shot))
    win = _window(p)
    _keys(win, "a", "r", "b", "Right")           # accept p0, reject p1, back to p1, accept p1
    lines = [json.loads(x) for x in (root / "wild" / "decisions.jsonl").read_text().splitlines()]
    assert [(d["image"], d["decision"]) for d in lines] == [("p0.png", "accept"), ("p1.png", "reject"),
                                                             ("p1.png", "accept")]
    p.send_signal(signal.SIGKILL)                 # a crash: nothing decided is lost
    p.wait()
    from trainer.data.realsets import read_decisions

    assert read_decisions(root / "wild" / "decisions.jsonl") == {"p0.png": "accept", "p1.png": "accept"}
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[1] == 1500
    # a restart opens at the first undecided image (p2) and a reject there ends the review
    p = _annotate(root)
    win = _window(p)
    _keys(win, "x", check=False)  # the window closes on this key: xdotool's key-up may find it gone
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "2 accepted, 1 rejected, 0 left of 3" in out


def test_unreadable_basis_cache_is_rebuilt(tmp_path, monkeypatch, capsys):
    """A truncated pose-basis cache (a run killed while writing it) costs one line and a rebuild."""
    from trainer.wild import pipeline as W
    from trainer.wild.lifting import PoseBasis

    rng = np.random.default_rng(0)
    small = PoseBasis.learn(SK.forward_kinematics(np.stack([P.sampled_pose(rng) for _ in range(50)])), k=10)
    monkeypatch.setattr(PoseBasis, "default", classmethod(lambda cls: small))
    monkeypatch.setattr(W, "BASIS_CACHE", tmp_path / "pose_basis.npz")
    W.BASIS_CACHE.write_bytes(b"PK\x03\x04 truncated")
    np.testing.assert_array_equal(W.default_basis().basis, small.basis)
    assert "unreadable pose-basis cache" in capsys.readouterr().err
    np.testing.assert_array_equal(PoseBasis.load(W.BASIS_CACHE).basis, small.basis)   # rewritten whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pose_basis.npz"]
