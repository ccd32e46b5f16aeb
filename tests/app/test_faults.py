"""Fault injection with real files (issue 17): every user mistake or fault ends in one line
naming the thing and the problem, with the exit code it should have, and every file that
existed before is byte-identical afterwards. Read-only folders are read-only mounts, a
full disk is a small tmpfs, interrupts are real SIGINT / SIGKILL of the app."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from animation.bvh import read_bvh
from animation.gltf import DEFAULT_AVATAR, load_avatar_or_default
from app.bvh import BVHRecorder
from app.recording import Recording
from engine import rotations as R
from tests.app.conftest import REPO, WALK, mocap

CMU = Path("/usr/share/assimp/models/BVH/01_01.bvh")
needs_display = pytest.mark.skipif(not os.environ.get("DISPLAY"),
                                   reason="needs a display (make test runs under xvfb-run)")


def snapshot(*folders) -> dict:
    """{path: bytes} of every file in the folders (to compare before / after)."""
    return {p: p.read_bytes() for f in folders for p in sorted(Path(f).rglob("*")) if p.is_file()}


def last_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def one_line_error(r, code=2) -> str:
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    line = last_line(r)
    assert line.startswith("mocap: "), r.stderr
    return line


def identity_onnx(path: Path) -> Path:
    """A valid ONNX model that is not SkeletonNet: one Identity node on an 'image' input."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 192, 192])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3, 192, 192])
    g = helper.make_graph([helper.make_node("Identity", ["image"], ["out"])], "identity", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def recorded_clip(path: Path, n: int = 30) -> Path:
    rots = R.quat_to_matrix(np.random.default_rng(0).normal(size=(n, 15, 4)))
    with BVHRecorder(path, fps=30) as rec:
        for k in range(n):
            rec.add(k / 30, rots[k], np.array([0.01 * k, 0, 0]))
    return path


# --------------------------------------------------------------------------- the model, before any output

def test_a_model_that_is_not_skeletonnet_changes_no_output(tmp_path, short_clip):
    bad = identity_onnx(tmp_path / "identity.onnx")
    keep = {tmp_path / "keep.jsonl": b'{"frame": 0}\n', tmp_path / "keep.bvh": b"HIERARCHY\nold\n"}
    for p, data in keep.items():
        p.write_bytes(data)
    before = snapshot(tmp_path)
    r = mocap("--set", f"model.path={bad}", "process", str(short_clip), "--out", str(tmp_path / "keep.jsonl"),
              "--bvh", str(tmp_path / "keep.bvh"))
    line = one_line_error(r)
    # engine.backends names what it checked, or the app's probe inference names what failed
    assert line.startswith(f"mocap: {bad}: not a SkeletonNet model")
    assert snapshot(tmp_path) == before  # byte-identical, and no partial file left beside them
    # a file that is not a model at all, and a folder
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    for path in (junk, tmp_path):
        r = mocap("--set", f"model.path={path}", "process", str(short_clip), "--out", str(tmp_path / "keep.jsonl"))
        assert one_line_error(r).startswith(f"mocap: {path}")
    assert snapshot(tmp_path) == {**before, junk: b"not a model"}


@pytest.mark.slow
@pytest.mark.parametrize("what", ["missing", "junk", "pose model"])
def test_a_missing_or_broken_motion_model_is_one_line_and_changes_no_output(model, tmp_path, short_clip, what):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    path = {"missing": tmp_path / "nope.onnx", "junk": junk, "pose model": model}[what]
    keep = tmp_path / "keep.jsonl"
    keep.write_bytes(b'{"frame": 0}\n')
    before = snapshot(tmp_path)
    r = mocap("--set", f"model.path={model}", "--set", f"model.motion_path={path}", "process", str(short_clip),
              "--out", str(keep))
    line = one_line_error(r)
    assert line.startswith(f"mocap: {path}: ") and line.endswith("(or set model.motion: off)"), line
    said = {"missing": "motion model not found", "junk": "cannot load", "pose model": "not a motion model"}
    assert said[what] in line
    assert snapshot(tmp_path) == before


def test_motion_off_needs_no_motion_model(model, tmp_path, short_clip):
    out = tmp_path / "p.jsonl"
    r = mocap("--set", f"model.path={model}", "--set", "model.motion=off", "--set",
              f"model.motion_path={tmp_path / 'nope.onnx'}", "process", str(short_clip), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "; motion model off" in r.stderr and len(out.read_text().splitlines()) == 12


# --------------------------------------------------------------------------- unwritable outputs

@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--out", "--bvh", "--video"])
def test_each_output_in_a_read_only_folder_is_one_line(model, short_clip, tmp_path, read_only_dir, flag):
    ro = read_only_dir({"old.jsonl": b"old\n"})
    keep = tmp_path / "keep.jsonl"
    keep.write_bytes(b"kept\n")
    before = snapshot(tmp_path)
    target = ro / ("old.jsonl" if flag == "--out" else "x.bvh" if flag == "--bvh" else "o.mp4")
    args = ["--out", str(keep)] if flag != "--out" else []
    r = mocap("--set", f"model.path={model}", "process", str(short_clip), *args, flag, str(target))
    what = {"--out": "poses", "--bvh": "BVH clip", "--video": "overlay video"}[flag]
    assert one_line_error(r) == f"mocap: {target}: cannot write the {what} (read-only file system)"
    assert snapshot(tmp_path) == before


def test_out_is_a_folder_and_bench_json_read_only(model, short_clip, tmp_path, read_only_dir):
    (tmp_path / "poses").mkdir()
    r = mocap("--set", f"model.path={model}", "process", str(short_clip), "--out", str(tmp_path / "poses"))
    assert one_line_error(r) == f"mocap: {tmp_path / 'poses'}: is a folder; give a file name for the poses"
    ro = read_only_dir({"bench.json": b"{}"})
    r = mocap("--set", f"model.path={model}", "bench", "--input", str(short_clip), "--json", str(ro / "bench.json"))
    assert one_line_error(r) == f"mocap: {ro / 'bench.json'}: cannot write the bench results (read-only file system)"
    assert (ro / "bench.json").read_bytes() == b"{}"
    assert list(tmp_path.glob("**/*.partial*")) == []


def test_video_into_a_missing_folder_is_made_and_listed(model, short_clip, tmp_path):
    video = tmp_path / "new" / "deeper" / "o.mp4"
    r = mocap("--set", f"model.path={model}", "process", str(short_clip), "--out", str(tmp_path / "p.jsonl"),
              "--video", str(video))
    assert r.returncode == 0, r.stderr
    assert last_line(r).endswith(f": {tmp_path / 'p.jsonl'}, {video}")
    import cv2

    cap = cv2.VideoCapture(str(video))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12


@pytest.mark.slow
def test_disk_full_during_processing_keeps_the_frames_and_old_files(model, tmp_path, small_disk):
    disk = small_disk(40)  # the BVH fills it after about 80 frames of the 150-frame demo clip
    keep = tmp_path / "keep.jsonl"
    keep.write_bytes(b"the old poses\n")
    r = mocap("--set", f"model.path={model}", "process", str(WALK), "--out", str(keep),
              "--bvh", str(disk / "clip.bvh"))
    line = one_line_error(r)
    assert line.startswith(f"mocap: {disk / 'clip.partial.bvh'}: cannot write the BVH clip (the disk is full); "
                           "stopped at frame ")
    assert line.endswith(f"the frames before are kept in {tmp_path / 'keep.partial.jsonl'} ({keep} is unchanged), "
                         f"{disk / 'clip.bvh'}")
    assert keep.read_bytes() == b"the old poses\n"
    frames = [json.loads(x) for x in (tmp_path / "keep.partial.jsonl").read_text().splitlines()]
    clip = read_bvh(disk / "clip.bvh")  # valid up to its last whole frame, header counting exactly those
    assert 20 < clip.num_frames < 150 and clip.declared_frames == clip.num_frames and not clip.problems()
    assert [f["frame"] for f in frames] == list(range(len(frames))) and clip.num_frames <= len(frames) <= 150


# --------------------------------------------------------------------------- interrupts

LONG_CLIP_FRAMES = 1200


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """The walking clip (WALK) looped to 1,200 frames at half size: long enough that an interrupt sent after
    the first frames always lands mid-run, however fast the model is."""
    cap = cv2.VideoCapture(str(WALK))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2)))
    path = tmp_path_factory.mktemp("clip") / "long.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, frames[0].shape[1::-1])
    for i in range(LONG_CLIP_FRAMES):
        out.write(frames[i % len(frames)])
    out.release()
    return path


def start_processing(model, tmp_path, clip, *extra):
    p = subprocess.Popen([sys.executable, "-m", "app", "--set", f"model.path={model}", "process",
                          str(clip), "--out", str(tmp_path / "keep.jsonl"),
                          "--bvh", str(tmp_path / "new.bvh"), *extra],
                         cwd=REPO, stderr=subprocess.PIPE, text=True,
                         # as from a terminal: a runner started in the background (nohup, &) ignores SIGINT,
                         # and a child inheriting that would never see the Ctrl+C this test sends
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    said = p.stderr.readline() + p.stderr.readline()  # the backend, then which files are written where
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until frames are on disk
        part = tmp_path / "keep.partial.jsonl"
        if part.exists() and part.read_bytes().count(b"\n") >= 10:
            break
        time.sleep(0.05)
    return p, said


@pytest.mark.slow
def test_ctrl_c_during_process_says_what_was_kept(model, tmp_path, long_clip):
    keep = tmp_path / "keep.jsonl"
    keep.write_bytes(b"the old poses\n")
    p, said = start_processing(model, tmp_path, long_clip)
    assert "as keep.partial.jsonl, new.partial.bvh until complete" in said
    p.send_signal(signal.SIGINT)
    err = p.stderr.read()
    assert p.wait(60) == 130 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    n = int(line.split("interrupted at frame ")[1].split(" ")[0])
    assert line == (f"interrupted at frame {n} of {LONG_CLIP_FRAMES}: the {n} frames processed are kept in "
                    f"{tmp_path / 'keep.partial.jsonl'} ({keep} is unchanged), {tmp_path / 'new.bvh'}")
    assert keep.read_bytes() == b"the old poses\n"
    assert len((tmp_path / "keep.partial.jsonl").read_text().splitlines()) == n
    assert 0 < read_bvh(tmp_path / "new.bvh").num_frames <= n and not (tmp_path / "new.partial.bvh").exists()


def test_sigkill_during_process_leaves_the_frames_in_the_named_files(model, tmp_path, long_clip):
    keep = tmp_path / "keep.jsonl"
    keep.write_bytes(b"the old poses\n")
    p, said = start_processing(model, tmp_path, long_clip)
    p.send_signal(signal.SIGKILL)
    p.wait(60)
    assert keep.read_bytes() == b"the old poses\n"
    lines = (tmp_path / "keep.partial.jsonl").read_text().splitlines()  # the names said at the start
    assert len(lines) >= 10 and all(json.loads(x)["frame"] == k for k, x in enumerate(lines))
    clip = read_bvh(tmp_path / "new.partial.bvh")
    assert clip.num_frames > 0 and not clip.bad_rows


# --------------------------------------------------------------------------- repair-bvh

def test_repair_never_shortens_the_file_and_keeps_frames_after_a_bad_row(tmp_path):
    path = recorded_clip(tmp_path / "clip.bvh", 30)
    lines = path.read_text().splitlines(keepends=True)
    first = next(i for i, x in enumerate(lines) if x.startswith("Frame Time")) + 1
    lines[first + 9] = " ".join(lines[first + 9].split()[:20]) + "\n"  # frame 10: a short row
    path.write_text("".join(lines))
    original = path.read_bytes()
    r = mocap("repair-bvh", str(path))
    assert r.returncode == 0, r.stderr
    fixed = tmp_path / "clip.repaired.bvh"
    assert r.stdout.strip() == (f"{path}: kept 29 frames, dropped 1 (line {first + 10} (frame 10): 20 values, "
                                f"expected 51); 'Frames: 30' set to 29; {fixed} written, {path} unchanged")
    assert path.read_bytes() == original
    clip = read_bvh(fixed)
    assert clip.num_frames == 29 and clip.declared_frames == 29 and not clip.problems()
    np.testing.assert_allclose(clip.motion[10:, 0], 100 * 0.01 * np.arange(11, 30), atol=1e-4)  # after the bad row
    # the copy is not written over an existing one; --in-place replaces only after the copy checks out
    r = mocap("repair-bvh", str(path))
    assert one_line_error(r) == f"mocap: {fixed}: already exists; remove it or choose another name with --out"
    r = mocap("repair-bvh", str(path), "--in-place")
    assert r.returncode == 0 and r.stdout.strip().endswith(f"; {path} replaced")
    assert read_bvh(path).num_frames == 29 and not list(tmp_path.glob("*.partial*"))
    r = mocap("repair-bvh", str(path))
    assert r.stdout.strip() == f"{path}: a valid BVH with 29 frames; nothing to repair, nothing written"


@pytest.mark.parametrize("cut_after, why", [("-", "incomplete last line"), ("-6", "incomplete last line"),
                                           ("-66.570000\n", "2 values, expected 51")])
def test_repair_a_file_cut_inside_a_number(tmp_path, cut_after, why):
    path = recorded_clip(tmp_path / "clip.bvh", 30)
    text = path.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    k = last.index(" ") + 1  # the last frame's second value was being written as -66.57 when the file was cut
    path.write_text(text + last[:k] + cut_after)
    original = path.read_bytes()
    r = mocap("repair-bvh", str(path))
    assert r.returncode == 0, r.stderr
    assert path.read_bytes() == original
    # a last line without its line end is incomplete even when its values parse ('-6' of '-66.57')
    assert f"kept 30 frames, dropped 1 (line 135 (frame 31): {why}" in r.stdout
    clip = read_bvh(tmp_path / "clip.repaired.bvh")
    assert clip.num_frames == 30 and clip.declared_frames == 30 and not clip.problems()


# --------------------------------------------------------------------------- play and config input

def bvh_with(tmp_path, name, edit) -> Path:
    path = recorded_clip(tmp_path / "src.bvh", 30)
    out = tmp_path / name
    out.write_bytes(edit(path.read_bytes()))
    return out


def test_play_rejects_bad_frame_times_and_reads_other_bytes(tmp_path):
    for value in (b"0", b"-0.0333", b"nan", b"abc"):
        clip = bvh_with(tmp_path, f"ft{value.decode()}.bvh",
                        lambda d: d.replace(b"Frame Time: 0.03333333", b"Frame Time: " + value))
        r = mocap("play", str(clip), "--no-window", "--vmc", "127.0.0.1:9")
        line = one_line_error(r)
        assert line.startswith(f"mocap: {clip}: 'Frame Time: {value.decode()}'"), line
    latin = bvh_with(tmp_path, "latin.bvh", lambda d: d.replace(b"End Site", b"End Sit\xe9\xff", 1))
    cfg = tmp_path / "config.yaml"
    cfg.write_bytes(b"vmc:\n  host: caf\xe9\n")
    r = mocap("--config", str(cfg), "play", str(latin), "--no-window", "--vmc", "127.0.0.1:9")
    assert one_line_error(r) == f"mocap: {cfg}: not UTF-8 text (byte 0xe9 on line 2); save the file as UTF-8"
    r = mocap("play", str(latin), "--no-window", "--vmc", "127.0.0.1:9", "--speed", "50")
    assert r.returncode == 0 and "Traceback" not in r.stderr and "30 frames" in r.stderr


def test_play_says_which_rows_it_skipped(tmp_path):
    def short_row(d: bytes) -> bytes:
        lines = d.split(b"\n")
        i = next(k for k, x in enumerate(lines) if x.startswith(b"Frame Time")) + 20
        lines[i] = b" ".join(lines[i].split()[:40])
        return b"\n".join(lines)

    clip = bvh_with(tmp_path, "short_row.bvh", short_row)
    r = mocap("play", str(clip), "--no-window", "--vmc", "127.0.0.1:9", "--speed", "50")
    assert r.returncode == 0, r.stderr
    assert (f"{clip}: 1 bad frame row skipped (line " in r.stderr and "(frame 20): 40 values, expected 51); "
            f"playing the 29 good frames (mocap repair-bvh {clip} writes a clean copy)" in r.stderr)


@pytest.mark.parametrize("speed", ["0", "-1", "nan", "fast"])
def test_play_speed_must_be_above_zero(tmp_path, speed):
    clip = recorded_clip(tmp_path / "c.bvh", 3)
    r = mocap("play", str(clip), "--no-window", "--speed", speed)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("mocap play: argument --speed: ") and "Traceback" not in r.stderr


# --------------------------------------------------------------------------- avatars

@pytest.mark.parametrize("fraction", [0.0, 0.005, 0.1, 0.5, 0.99, None])
def test_truncated_avatar_is_one_line_and_the_default_is_used(tmp_path, fraction):
    data = DEFAULT_AVATAR.read_bytes()
    n = len(data) - 1 if fraction is None else int(len(data) * fraction)
    cut = tmp_path / "cut.glb"
    cut.write_bytes(data[:n])
    said = []
    a = load_avatar_or_default(cut, warn=said.append)
    assert a.path == str(DEFAULT_AVATAR) and len(said) == 1
    expected = "empty file" if n == 0 else f"truncated GLB file ({n} of {len(data)} bytes)"
    assert said[0] == f"{cut}: {expected}; using the default avatar"


def test_corrupted_avatar_is_one_line(tmp_path):
    data = bytearray(DEFAULT_AVATAR.read_bytes())
    rng = np.random.default_rng(0)
    for k, at in enumerate([30, 1500, len(data) // 2, len(data) - 200]):
        bad = bytearray(data)
        bad[at:at + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
        path = tmp_path / f"bad{k}.glb"
        path.write_bytes(bytes(bad))
        said = []
        load_avatar_or_default(path, warn=said.append)  # never raises; some byte changes leave a usable file
        assert len(said) <= 1 and all(s.startswith(f"{path}: ") and s.endswith("; using the default avatar")
                                      for s in said)


@needs_display
@pytest.mark.parametrize("command", ["play", "run"])
def test_truncated_avatar_in_play_and_run(model, short_clip, tmp_path, command):
    data = DEFAULT_AVATAR.read_bytes()
    cut = tmp_path / "cut.glb"
    cut.write_bytes(data[: len(data) // 3])
    clip = recorded_clip(tmp_path / "c.bvh", 10)
    args = ["play", str(clip), "--max-frames", "3"] if command == "play" else \
        ["run", "--input", str(short_clip), "--max-frames", "3"]
    r = mocap("--set", f"model.path={model}", "--set", f"renderer.avatar={cut}", "--set", "renderer.width=320",
              "--set", "renderer.height=240", *args)
    assert r.returncode == 0, r.stderr
    assert f"{cut}: truncated GLB file ({len(data) // 3} of {len(data)} bytes); using the default avatar" in r.stderr


# --------------------------------------------------------------------------- live recording fails alone

def test_recording_into_a_read_only_folder_fails_alone(read_only_dir):
    ro = read_only_dir()
    said = []
    rec = Recording(ro, 30.0, "cm", log=said.append)
    rec.toggle()  # the R key
    assert not rec.active and rec.failures == 1
    assert said[0].startswith(f"recording not started: {ro}/mocap-") and said[0].endswith(
        ": cannot write the BVH recording (read-only file system)")
    assert rec.hud() == "REC FAILED: read-only file system"
    rec.add(0.0, np.broadcast_to(np.eye(3), (15, 3, 3)), None)  # the session goes on; nothing happens
    assert list(ro.iterdir()) == []


def test_disk_filling_during_a_live_recording_stops_only_it(small_disk):
    disk = small_disk(16)
    said = []
    rec = Recording(disk, 30.0, "cm", log=said.append)
    rec.toggle()
    rots = R.quat_to_matrix(np.random.default_rng(1).normal(size=(15, 4)))
    k = 0
    while rec.active and k < 10_000:
        rec.add(k / 30, rots, None)
        k += 1
    assert not rec.active and rec.failures == 1
    (path,) = disk.iterdir()
    clip = read_bvh(path)  # what was written is a valid clip, renamed from its partial name
    assert ".partial" not in path.name and clip.num_frames > 5 and clip.declared_frames == clip.num_frames
    assert said[-1].startswith("recording stopped: ") and "(the disk is full)" in said[-1]
    assert said[-1].endswith(f"the {clip.num_frames} frames before are kept in {path}")
    assert rec.hud() == f"REC STOPPED: the disk is full, {clip.num_frames} frames kept"
    rec.toggle()  # R again: a new recording on the full disk fails alone too
    assert rec.failures == 2 and not rec.active


@pytest.mark.slow
def test_headless_run_records_and_a_full_disk_does_not_end_it(model, tmp_path, small_disk):
    disk = small_disk(16)
    r = mocap("--set", f"model.path={model}", "--set", "tracking.min_confidence=0", "run", "--no-window",
              "--input", str(WALK), "--loop", "--bvh", str(disk / "live.bvh"),
              "--max-frames", "90")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    stopped = [x for x in r.stderr.splitlines() if x.startswith("recording stopped: ")]
    assert len(stopped) == 1 and "(the disk is full)" in stopped[0]
    assert r.stderr.strip().splitlines()[-1] == "stopped after 90 frames"  # the session ran to its end
    assert read_bvh(disk / "live.bvh").num_frames > 5
    # recording into a plain folder works headless too; an unwritable --bvh stops before anything runs
    r = mocap("--set", f"model.path={model}", "run", "--no-window", "--input", str(WALK),
              "--loop", "--bvh", str(tmp_path / "ok.bvh"), "--max-frames", "20")
    assert r.returncode == 0 and f"saved {tmp_path / 'ok.bvh'} (" in r.stderr
    assert read_bvh(tmp_path / "ok.bvh").num_frames > 0
    r = mocap("--set", f"model.path={model}", "run", "--no-window", "--input", str(WALK),
              "--bvh", "/proc/x.bvh")
    assert one_line_error(r).startswith("mocap: /proc/x.bvh: cannot write the BVH recording (")


PRESS_R = r"""
import sys
import glfw
from animation import window
from app import cli

show = window.Window.show
count = [0]

def pressing_r(self, *a, **k):
    count[0] += 1
    if count[0] == 3:  # the R key, through the window's own key table
        self._on_key(self.win, glfw.KEY_R, 0, glfw.PRESS, 0)
    if count[0] == 6:
        print("HUD:", k.get("hud"), file=sys.stderr, flush=True)
    return show(self, *a, **k)

window.Window.show = pressing_r
raise SystemExit(cli.main(sys.argv[1:]))
"""


@needs_display
def test_pressing_r_with_a_read_only_folder_keeps_the_window_running(model, short_clip, read_only_dir):
    ro = read_only_dir()
    r = subprocess.run([sys.executable, "-c", PRESS_R, "--set", f"model.path={model}", "--set", f"bvh.folder={ro}",
                        "--set", "renderer.width=320", "--set", "renderer.height=240",
                        "run", "--input", str(short_clip), "--loop", "--max-frames", "10"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "cannot write the BVH recording (read-only file system)" in r.stderr
    assert "REC FAILED: read-only file system" in r.stderr  # the HUD line
    assert r.stderr.strip().splitlines()[-1] == "stopped after 10 frames"


# --------------------------------------------------------------------------- consistency

@pytest.mark.slow
def test_files_are_not_mirrored_and_root_motion_is_bounded(model, short_clip, tmp_path):
    r = mocap("--set", f"model.path={model}", "--set", "camera.mirror=true", "run", "--no-window",
              "--input", str(short_clip), "--max-frames", "2")
    assert r.returncode == 0 and f"input: {short_clip}; VMC" in r.stderr and "(mirrored)" not in r.stderr
    # a noisy (untrained) model on every frame: the BVH root stays inside the bounds
    r = mocap("--set", f"model.path={model}", "--set", "tracking.min_confidence=0", "process",
              str(WALK), "--out", str(tmp_path / "p.jsonl"), "--bvh", str(tmp_path / "c.bvh"))
    assert r.returncode == 0, r.stderr
    root = read_bvh(tmp_path / "c.bvh").motion[:, :3] / 100
    assert np.abs(root[:, [0, 2]]).max() <= 3.0 + 1e-6 and np.abs(root[:, 1] - 0.99).max() <= 1.0 + 1e-6


def test_bounded_root():
    from app.pipeline import bounded_root

    np.testing.assert_array_equal(bounded_root([-74.0, 0.5, np.nan]), [-3.0, 0.5, 0.0])
    np.testing.assert_array_equal(bounded_root([np.inf, -5.0, 2.0]), [0.0, -1.0, 2.0])


def test_missing_camera_is_one_line_without_opencv_warnings(model):
    r = mocap("--set", f"model.path={model}", "run", "--input", "7", "--no-window")
    assert one_line_error(r).startswith("mocap: camera 7 cannot be opened; ")
    assert "WARN" not in r.stderr and "global" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 2  # the backend line, then ours


def test_input_size_that_a_fixed_model_cannot_use_is_said(model, short_clip, tmp_path):
    r = mocap("--set", f"model.path={model}", "--set", "model.input_size=256", "process", str(short_clip),
              "--out", str(tmp_path / "p.jsonl"))
    assert r.returncode == 0
    assert f"model.input_size = 256 is not used: {model.name} takes a fixed 192 px input" in r.stderr


def test_default_input_size_is_the_models_own(model, short_clip, tmp_path):
    # model.input_size defaults to 0: the model's own size, nothing to report
    r = mocap("--set", f"model.path={model}", "process", str(short_clip), "--out", str(tmp_path / "p.jsonl"))
    assert r.returncode == 0, r.stderr
    assert "model.input_size" not in r.stderr
    assert f"model {model.name} (192 px)" in r.stderr


@pytest.mark.parametrize("setting, expected", [(0, "own"), (256, 256)])
def test_input_size_applies_to_a_free_size_model(setting, expected, tmp_path):
    """model.input_size sets the network input of a model exported with a free image size: the shipped model
    with its image height and width made symbolic."""
    import onnx

    from engine.backends import create_backend

    m = onnx.load(str(REPO / "assets" / "skeletonnet.onnx"))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    free = tmp_path / "free.onnx"
    onnx.save(m, str(free))
    said = []
    backend = create_backend("onnxruntime", free, 1, log=said.append, input_size=setting)
    own = int(m.metadata_props[[p.key for p in m.metadata_props].index("skeletonnet.input_size")].value)
    assert backend.input_size == (own if expected == "own" else expected) and said == []


@pytest.mark.slow
@needs_display
def test_demo_window_loops_until_the_user_quits(model):
    # the walking clip has 150 frames; the window demo goes on past its end
    r = mocap("--set", f"model.path={model}", "--set", "renderer.width=320", "--set", "renderer.height=240",
              "demo", "--max-frames", "155", "--clip", str(WALK), timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "stopped after 155 frames"
