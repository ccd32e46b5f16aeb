"""VMC sender: a real python-osc server receives our bundles; addresses and OSC
types as the specification says; the pose rebuilt from the received local
rotations on the VRM0-normalised rig gives our joints back; a hand-worked case."""
import os
import socket
import threading
import time

import numpy as np
import pytest
from pythonosc import osc_bundle, osc_message
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer
from pythonosc.parsing import osc_types

from app.vmc import HIPS_DROP, MAX_DATAGRAM, VMCError, VMCSender, parse_target, vmc_rig
from engine import frames as F
from engine import rotations as R
from engine import skeleton as S

SK = S.Skeleton.default()
BONES = ["Hips", "Spine", "Chest", "Neck", "Head"] + [f"{s}{b}" for s in ("Left", "Right") for b in
                                                      ("Shoulder", "UpperArm", "LowerArm", "Hand",
                                                       "UpperLeg", "LowerLeg", "Foot")]


def rigid_torso_pose(seed):
    """Random pose with a rigid pelvis (both hip bones turn together) and a rigid chest
    (clavicles turn with the spine), as a real body does; other bones random."""
    rng = np.random.default_rng(seed)
    r = R.quat_to_matrix(rng.normal(size=(15, 4)))
    pelvis = R.quat_to_matrix(rng.normal(size=4))
    r[S.BONE_INDEX["r_hip"]] = r[S.BONE_INDEX["l_hip"]] = pelvis
    r[S.BONE_INDEX["r_clavicle"]] = r[S.BONE_INDEX["l_clavicle"]] = r[S.BONE_INDEX["spine"]]
    return r


def typetags(msg: osc_message.OscMessage) -> str:
    _, index = osc_types.get_string(msg.dgram, 0)
    tags, _ = osc_types.get_string(msg.dgram, index)
    return tags


def receive(sock, n=1, timeout=5.0):
    sock.settimeout(timeout)
    return [sock.recvfrom(65536)[0] for _ in range(n)]


def receive_frame(sock, timeout=5.0) -> list:
    """The messages of one frame: its datagrams (each a bundle within MAX_DATAGRAM bytes)
    read until every bone has come."""
    sock.settimeout(timeout)
    msgs, names = [], set()
    while not set(BONES) <= names:
        dgram = sock.recvfrom(65536)[0]
        assert osc_bundle.OscBundle.dgram_is_bundle(dgram) and len(dgram) <= MAX_DATAGRAM, len(dgram)
        for m in osc_bundle.OscBundle(dgram):
            msgs.append(m)
            if m.address == "/VMC/Ext/Bone/Pos":
                names.add(m.params[0])
    return msgs


@pytest.fixture
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    yield s
    s.close()


def test_bundle_addresses_and_types(udp):
    sender = VMCSender("127.0.0.1", udp.getsockname()[1])
    assert sender.send(rigid_torso_pose(0), np.array([0.1, 0.0, 0.2]))
    msgs = receive_frame(udp)
    assert sender.datagrams_sent == 2  # the frame is split: one bundle would be over 1472 bytes
    assert all(isinstance(m, osc_message.OscMessage) for m in msgs)
    addrs = [m.address for m in msgs]
    assert addrs[:3] == ["/VMC/Ext/OK", "/VMC/Ext/T", "/VMC/Ext/Root/Pos"]
    assert typetags(msgs[0]) == ",i" and msgs[0].params == [1]
    assert typetags(msgs[1]) == ",f"
    assert typetags(msgs[2]) == ",sfffffff" and msgs[2].params[0] == "root"
    bones = [m for m in msgs if m.address == "/VMC/Ext/Bone/Pos"]
    assert [m.params[0] for m in bones] == BONES
    for m in bones:
        assert typetags(m) == ",sfffffff"
        assert np.linalg.norm(m.params[1:4]) > 0.01  # real rest offsets, never zeros
        assert abs(np.linalg.norm(m.params[4:8]) - 1) < 1e-5
    sender.close()


def test_real_osc_server_receives_every_message():
    got = []
    lock = threading.Lock()

    def handler(address, *args):
        with lock:
            got.append((address, args))

    d = Dispatcher()
    d.map("/VMC/Ext/*", handler)
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), d)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    try:
        sender = VMCSender("127.0.0.1", server.server_address[1], rate=1000)
        for k in range(5):
            sender.send(rigid_torso_pose(k), now=k * 0.01)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(got) < 5 * (3 + len(BONES)):
            time.sleep(0.01)
        assert len(got) == 5 * (3 + len(BONES))
        assert sum(a == "/VMC/Ext/Bone/Pos" for a, _ in got) == 5 * len(BONES)
    finally:
        server.shutdown()
        server.server_close()


def rebuild_joints(bones: dict) -> np.ndarray:
    """Our 16 joints (world axes) from received Unity local poses on the rig."""
    rig = {b.name: b for b in vmc_rig(SK)}
    glob, pos = {}, {}
    for name in BONES:
        p_unity, q_unity = np.array(bones[name][:3]), np.array(bones[name][3:])
        local = R.quat_to_matrix(q_unity)
        parent = rig[name].parent
        if parent is None:
            glob[name], pos[name] = local, p_unity
        else:
            glob[name] = glob[parent] @ local
            pos[name] = pos[parent] + glob[parent] @ p_unity
    w = {k: F.unity_to_world(v) for k, v in pos.items()}
    head_rot = F.unity_to_world_rotation(glob["Head"])
    j = np.zeros((16, 3))
    idx = S.JOINT_INDEX
    j[idx["pelvis"]] = w["Spine"]
    j[idx["thorax"]] = w["Neck"]
    j[idx["upper_neck"]] = w["Head"]
    j[idx["head_top"]] = w["Head"] + head_rot @ SK.bone_vectors[S.BONE_INDEX["head"]]
    for side, s in (("Left", "l"), ("Right", "r")):
        j[idx[f"{s}_hip"]], j[idx[f"{s}_knee"]], j[idx[f"{s}_ankle"]] = (
            w[f"{side}UpperLeg"], w[f"{side}LowerLeg"], w[f"{side}Foot"])
        j[idx[f"{s}_shoulder"]], j[idx[f"{s}_elbow"]], j[idx[f"{s}_wrist"]] = (
            w[f"{side}UpperArm"], w[f"{side}LowerArm"], w[f"{side}Hand"])
    return j


@pytest.mark.parametrize("root_motion", ["off", "hips", "full"])
def test_rebuilt_pose_gives_our_joints_back(udp, root_motion):
    sender = VMCSender("127.0.0.1", udp.getsockname()[1], root_motion=root_motion, rate=1000)
    for seed in range(10):
        rots = rigid_torso_pose(seed)
        disp = np.random.default_rng(100 + seed).normal(scale=0.5, size=3)
        sender.send(rots, disp, now=seed)
        msgs = receive_frame(udp)
        bones = {m.params[0]: m.params[1:] for m in msgs if m.address == "/VMC/Ext/Bone/Pos"}
        root = next(m for m in msgs if m.address == "/VMC/Ext/Root/Pos").params
        assert root[4:] == [0.0, 0.0, 0.0, 1.0]
        joints = rebuild_joints(bones) + F.unity_to_world(np.array(root[1:4]))
        moved = disp if root_motion != "off" else np.zeros(3)
        expected = SK.forward_kinematics(rots, np.array([0.0, SK.floor_offset, 0.0]) + moved)
        assert np.abs(joints - expected).max() < 1e-3  # within 1 mm
    sender.close()


def test_rest_pose_sends_identity_rotations_and_rig_offsets(udp):
    sender = VMCSender("127.0.0.1", udp.getsockname()[1])
    sender.send(np.broadcast_to(np.eye(3), (15, 3, 3)))
    msgs = receive_frame(udp)
    bones = {m.params[0]: m.params[1:] for m in msgs if m.address == "/VMC/Ext/Bone/Pos"}
    for name, v in bones.items():
        np.testing.assert_allclose(v[3:], [0, 0, 0, 1], atol=1e-6, err_msg=name)
    # Unity is left-handed: the left arm and leg hang off at -X
    assert bones["LeftUpperArm"][0] < 0 < bones["RightUpperArm"][0]
    assert bones["LeftUpperLeg"][0] < 0 < bones["RightUpperLeg"][0]
    np.testing.assert_allclose(bones["Hips"][:3], [0, SK.floor_offset - HIPS_DROP, 0], atol=1e-6)


def test_left_arm_raised_forward_by_hand(udp):
    # left upper arm and forearm turned -90 deg about world +Y: the arm points forward (+Z)
    rots = np.broadcast_to(np.eye(3), (15, 3, 3)).copy()
    fwd = np.array([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]])
    rots[S.BONE_INDEX["l_upper_arm"]] = rots[S.BONE_INDEX["l_forearm"]] = fwd
    sender = VMCSender("127.0.0.1", udp.getsockname()[1])
    sender.send(rots)
    msgs = receive_frame(udp)
    bones = {m.params[0]: m.params[1:] for m in msgs if m.address == "/VMC/Ext/Bone/Pos"}
    # Unity: the left arm rests along -X; turning it to +Z is +90 deg about +Y,
    # q = (0, sin 45, 0, cos 45); the forearm follows with no local rotation.
    s = np.sqrt(0.5)
    np.testing.assert_allclose(bones["LeftUpperArm"][3:], [0, s, 0, s], atol=1e-6)
    np.testing.assert_allclose(bones["LeftLowerArm"][3:], [0, 0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(bones["RightUpperArm"][3:], [0, 0, 0, 1], atol=1e-6)


@pytest.mark.slow
def test_rate_limit_keeps_a_schedule():
    sender = VMCSender("127.0.0.1", 9, rate=10)  # port 9 (discard) on loopback
    rots = np.broadcast_to(np.eye(3), (15, 3, 3))
    sent = [sender.send(rots, now=t) for t in (0.0, 0.05, 0.1, 0.15, 0.2)]
    assert sent == [True, False, True, False, True]
    # frames at the rate with +-20 % jitter all go (a minimum-gap limiter dropped about a third)
    sender = VMCSender("127.0.0.1", 9, rate=120)
    jitter = np.random.default_rng(0).uniform(-0.2, 0.2, 600) / 120
    times = np.arange(600) / 120 + jitter
    assert sum(sender.send(rots, now=t) for t in times) == 600
    # twice as many frames as the rate: half go, never two within half a period
    sender = VMCSender("127.0.0.1", 9, rate=60)
    times = np.arange(600) / 120 + np.random.default_rng(1).uniform(-0.2, 0.2, 600) / 120
    went = [t for t in times if sender.send(rots, now=t)]
    assert len(went) == 300 and np.diff(went).min() >= 0.5 / 60
    sender.close()


def test_sending_never_raises(monkeypatch):
    sender = VMCSender("127.0.0.1", 9)
    rots = np.broadcast_to(np.eye(3), (15, 3, 3))
    # nobody listening: the datagram just goes
    assert sender.send(rots, now=0.0)

    def full(*a):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(sender, "_sock", type("S", (), {"sendto": staticmethod(full), "close": lambda self: None})())
    assert sender.send(rots, now=1.0) is False
    assert sender.errors == 1 and "Resource temporarily unavailable" in sender.state
    sender.enabled = False
    assert sender.send(rots, now=2.0) is False and sender.state == "off"


def test_bad_targets_are_clear_errors(monkeypatch):
    with pytest.raises(VMCError, match="expected HOST:PORT"):
        parse_target("localhost")
    with pytest.raises(VMCError, match="expected HOST:PORT"):
        parse_target("localhost:99999")
    assert parse_target("127.0.0.1:39540") == ("127.0.0.1", 39540)
    assert parse_target("[::1]:39539") == ("::1", 39539)
    with pytest.raises(VMCError, match="out of range"):
        VMCSender("127.0.0.1", 0)

    def no_dns(*a, **k):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(VMCError, match="VMC host 'studio-pc' cannot be resolved"):
        VMCSender("studio-pc", 39539)


@pytest.mark.slow
def test_play_streams_a_cmu_clip_and_our_recording(udp, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from app.bvh import BVHRecorder

    repo = Path(__file__).resolve().parents[2]
    ours = tmp_path / "ours.bvh"
    with BVHRecorder(ours, fps=30) as rec:
        for k in range(30):
            rec.add(k / 30, rigid_torso_pose(k))
    clips = [ours]
    cmu = Path("/usr/share/assimp/models/BVH/01_01.bvh")
    if cmu.exists():
        clips.append(cmu)
    port = udp.getsockname()[1]
    for clip in clips:
        r = subprocess.run([sys.executable, "-m", "app", "play", str(clip), "--no-window", "--speed", "40",
                            "--vmc", f"127.0.0.1:{port}"], capture_output=True, text=True, cwd=repo, timeout=60)
        assert r.returncode == 0, r.stderr
        dgrams = []
        udp.settimeout(0.5)
        try:
            while True:
                dgrams.append(udp.recvfrom(65536)[0])
        except socket.timeout:
            pass
        assert len(dgrams) >= 2 and len(dgrams) % 2 == 0, r.stderr  # whole frames, two bundles each
        msgs = [m for d in dgrams[-2:] for m in osc_bundle.OscBundle(d)]
        assert [m.params[0] for m in msgs if m.address == "/VMC/Ext/Bone/Pos"] == BONES
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-m", "app", "play", str(ours)], capture_output=True, text=True,
                       cwd=repo, env=env)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("mocap: nothing to play to")
    assert "Traceback" not in r.stderr


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display (make test runs under xvfb-run)")
def test_play_drives_the_avatar_in_a_window(udp, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import cv2

    repo = Path(__file__).resolve().parents[2]
    cmu = Path("/usr/share/assimp/models/BVH/01_01.bvh")
    shot = tmp_path / "play.png"
    r = subprocess.run([sys.executable, "-m", "app", "--set", "renderer.width=480", "--set", "renderer.height=360",
                        "play", str(cmu), "--max-frames", "20", "--screenshot", str(shot),
                        "--vmc", f"127.0.0.1:{udp.getsockname()[1]}"],
                       capture_output=True, text=True, cwd=repo, timeout=120)
    assert r.returncode == 0, r.stderr
    img = cv2.imread(str(shot))
    assert img.shape[:2] == (360, 480)
    # the avatar stands in the middle of the window: skin/cloth pixels differ from the background
    centre = img[120:300, 200:280].reshape(-1, 3).astype(int)
    background = img[-5:, -5:].reshape(-1, 3).mean(0)
    assert (np.abs(centre - background).sum(1) > 40).mean() > 0.3
    udp.settimeout(2)
    assert osc_bundle.OscBundle.dgram_is_bundle(udp.recvfrom(65536)[0])


class TimerProbe:
    """While the code under test runs, a thread sleeps one period at a time and notes how late it
    wakes: a machine whose timers wake late (host contention that the load average does not show)
    cannot pace frames either."""

    def __init__(self, period: float):
        self.period, self.late, self._stop = period, [], threading.Event()

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            time.sleep(self.period)
            self.late.append(time.monotonic() - t - self.period)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def late_ms(self) -> float:
        """The 90th percentile of wake-up lateness, ms."""
        return float(np.percentile(self.late, 90) * 1000) if self.late else 0.0


@pytest.mark.slow
@pytest.mark.parametrize("rate", [120, 60])
def test_play_streams_at_the_configured_rate_with_steady_spacing(tmp_path, rate):
    """A 120 frames/s clip played to a real OSC server: vmc.rate is the rate received (every
    frame at 120, every other at 60), spacing is steady, every datagram fits 1472 bytes."""
    import subprocess
    import sys
    from pathlib import Path

    from app.bvh import BVHRecorder

    clip = tmp_path / "fast.bvh"
    with BVHRecorder(clip, fps=120) as rec:
        for k in range(360):
            rec.add(k / 120, rigid_torso_pose(k % 7))
    from benchmarks.vmc_stream import TimedOSCServer

    srv = TimedOSCServer()
    probe = TimerProbe(1.0 / rate)
    try:
        with probe:
            r = subprocess.run([sys.executable, "-m", "app", "--set", f"vmc.rate={rate}", "play", str(clip),
                                "--no-window", "--vmc", f"127.0.0.1:{srv.port}"], capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parents[2], timeout=60)
        srv.drain()
    finally:
        srv.close()
    assert r.returncode == 0, r.stderr
    assert srv.datagrams and max(n for _, n in srv.datagrams) <= MAX_DATAGRAM
    arrivals = np.array([a for a, _ in srv.frames])
    n = len(arrivals)
    assert len(srv.datagrams) == 2 * n  # each frame is two bundles
    incomplete = [t for _, t in srv.frames if srv.bones.get(t) != len(BONES)]
    assert incomplete == []  # every bone of every frame arrived
    expected = 360 * rate / 120
    gaps = np.diff(arrivals)  # kernel receive times
    measured = float((n - 1) / (arrivals[-1] - arrivals[0]))
    # never over the configured rate, never two frames closer than 3/4 of its period (holds under any load)
    assert n <= expected + 2 and measured <= 1.05 * rate, (n, measured)
    assert gaps.min() >= 0.7 / rate, gaps.min()
    late = probe.late_ms()
    if os.getloadavg()[0] > os.cpu_count() or late > 1.0:  # the stream gets what CPU and timers are left
        pytest.skip(f"rate and spacing not judged on a starved machine (load {os.getloadavg()[0]:.1f}, a "
                    f"{1000 / rate:.1f} ms sleep woke {late:.1f} ms late at p90 while it played); got {n} of "
                    f"{expected:.0f} frames; python -m benchmarks.vmc_stream measures them")
    assert 0.9 * expected <= n, n
    assert abs(measured - rate) <= 0.15 * rate, measured  # was 73.5/s at 120 with a minimum-gap limiter
    median = float(np.median(gaps))
    assert abs(median - 1 / rate) <= 0.2 / rate, median


def test_the_hips_take_the_given_pelvis_rotation():
    """A pose's own pelvis rotation (the network's) drives Hips; without one it is rebuilt from
    the hip bones."""
    from app.vmc import frame_messages

    rig = vmc_rig()
    rots = rigid_torso_pose(3)
    pelvis = R.axis_angle_to_matrix(np.array([0.2, -0.9, 0.1]))

    def hips(msgs):
        (args,) = [a for address, a in msgs if address == "/VMC/Ext/Bone/Pos" and a[0][0] == "Hips"]
        return np.array([v for v, _ in args[4:8]])  # name, px py pz, qx qy qz qw

    given = hips(frame_messages(rots, rig, pelvis=pelvis))
    want = F.world_to_unity_quat(R.matrix_to_quat(pelvis))
    assert min(np.abs(given - want).max(), np.abs(given + want).max()) < 1e-6
    rebuilt = hips(frame_messages(rots, rig))
    want = F.world_to_unity_quat(R.matrix_to_quat(S.pelvis_rotation(rots)))
    assert min(np.abs(rebuilt - want).max(), np.abs(rebuilt + want).max()) < 1e-6
