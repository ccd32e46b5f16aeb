"""VMC protocol sender (the "Performer" role): OSC bundles over UDP, python-osc.

Each frame is one set of messages, sent as OSC bundles of at most 1472 bytes
each (what one Ethernet frame carries; the bones are split over several
bundles, as receivers accept):

* ``/VMC/Ext/OK``       (int) loaded = 1
* ``/VMC/Ext/T``        (float) seconds since the sender started
* ``/VMC/Ext/Root/Pos`` (string) "root", (float) px py pz qx qy qz qw
* ``/VMC/Ext/Bone/Pos`` (string) Unity HumanBodyBones name, (float) px py pz qx qy qz qw, per bone

Rotations are *local* rotations of a VRM0-normalised T-pose rig (every bone's
rest rotation is the identity) in Unity's left-handed Y-up frame; positions are
the rig's local rest offsets in metres (never zeros). The rig is built from our
rest skeleton (``vmc_rig``) so that rebuilding the pose from the local
rotations reproduces our joints:

* ``Hips`` sits at hip-joint height, 6 cm below our pelvis joint (the midpoint
  of the hips), with the pelvis orientation (``pelvis_rotation``);
  ``UpperLeg`` hangs off it at the hip joints. Its position is shifted each
  frame so the body turns about our pelvis joint (where our joints are
  rooted), not about the Hips pivot.
* ``Spine`` pivots at our pelvis joint with our spine bone's rotation;
  ``Chest`` is halfway up the spine with no rotation of its own; ``Neck`` and
  the two ``Shoulder`` bones pivot at our thorax joint.
* ``Shoulder`` bones are sent at rest (local identity), as most receivers
  expect; our clavicle rotation is therefore not streamed, and ``UpperArm``
  carries the arm's absolute orientation. ``Hand`` and ``Foot`` are at rest
  relative to their parents (the network does not predict them).

Frames go out at most ``rate`` per second on a fixed schedule, with steady
spacing (``VMCSender``). Sending never blocks or raises: the socket is non-blocking and send errors are
counted and reported through ``state``. A bad host or port raises ``VMCError``
(one line) when the sender is created.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder

from engine import frames
from engine import rotations as R
from engine import skeleton as S
from engine.errors import UserError

HIPS_DROP = 0.06  # metres from our pelvis joint down to the Hips bone (hip-joint height)
HIPS_TO_PELVIS = np.array([0.0, HIPS_DROP, 0.0])  # the Spine bone's rest offset: up to our pelvis joint


class VMCError(UserError):
    """A user mistake in the VMC settings (bad host or port); one-line message."""


@dataclass(frozen=True)
class RigBone:
    name: str             # Unity HumanBodyBones name
    parent: str | None
    offset: np.ndarray    # (3,) rest offset from the parent, metres, world axes
    source: str | None    # bone of ours whose absolute rotation this bone takes; None = rest (follows parent)


def vmc_rig(skeleton: S.Skeleton | None = None) -> list[RigBone]:
    """The VRM0-normalised rig the stream describes, parents before children."""
    sk = skeleton or S.Skeleton.default()
    v = {name: sk.bone_vectors[i] for i, name in enumerate(S.BONE_NAMES)}
    up = HIPS_TO_PELVIS
    half_spine = 0.5 * v["spine"]
    bones = [
        RigBone("Hips", None, np.array([0.0, sk.floor_offset - HIPS_DROP, 0.0]), "<pelvis>"),
        RigBone("Spine", "Hips", up, "spine"),
        RigBone("Chest", "Spine", half_spine, None),
        RigBone("Neck", "Chest", half_spine, "neck"),
        RigBone("Head", "Neck", v["neck"], "head"),
    ]
    for side, s in (("Left", "l"), ("Right", "r")):
        bones += [
            RigBone(f"{side}Shoulder", "Chest", half_spine, None),
            RigBone(f"{side}UpperArm", f"{side}Shoulder", v[f"{s}_clavicle"], f"{s}_upper_arm"),
            RigBone(f"{side}LowerArm", f"{side}UpperArm", v[f"{s}_upper_arm"], f"{s}_forearm"),
            RigBone(f"{side}Hand", f"{side}LowerArm", v[f"{s}_forearm"], None),
            RigBone(f"{side}UpperLeg", "Hips", v[f"{s}_hip"] + up, f"{s}_thigh"),
            RigBone(f"{side}LowerLeg", f"{side}UpperLeg", v[f"{s}_thigh"], f"{s}_shin"),
            RigBone(f"{side}Foot", f"{side}LowerLeg", v[f"{s}_shin"], None),
        ]
    return bones


def local_rotations(rotations: np.ndarray, rig: list[RigBone],
                    pelvis: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """World-axis local rotations of each rig bone from our 15 absolute rotations (15, 3, 3)."""
    glob: dict[str, np.ndarray] = {}
    local: dict[str, np.ndarray] = {}
    for b in rig:
        parent = glob[b.parent] if b.parent else np.eye(3)
        if b.source == "<pelvis>":
            g = S.pelvis_rotation(rotations) if pelvis is None else pelvis
        elif b.source is None:
            g = parent
        else:
            g = np.asarray(rotations[S.BONE_INDEX[b.source]], dtype=np.float64)
        glob[b.name] = g
        local[b.name] = parent.T @ g
    return local


def frame_messages(rotations: np.ndarray, rig: list[RigBone], root_position=None,
                   root_motion: str = "hips",
                   pelvis: np.ndarray | None = None) -> list[tuple[str, list[tuple[object, str]]]]:
    """The (address, [(value, osc type)]) list of one frame, Unity frame conversions applied.

    root_motion: ``off`` (the avatar stays in place), ``hips`` (the Hips bone
    carries the displacement) or ``full`` (the root transform carries it).
    pelvis: (3, 3) the pelvis rotation, world axes (``Pose.pelvis_rotation``; default: rebuilt
    from the hip bones).
    """
    disp = np.zeros(3) if root_position is None or root_motion == "off" else np.asarray(root_position, float)
    pelvis = S.pelvis_rotation(rotations) if pelvis is None else np.asarray(pelvis, float)
    local = local_rotations(rotations, rig, pelvis)
    root_pos = frames.world_to_unity(disp) if root_motion == "full" else np.zeros(3)
    msgs = [("/VMC/Ext/Root/Pos", [("root", "s")] + [(float(x), "f") for x in (*root_pos, 0.0, 0.0, 0.0, 1.0)])]
    for b in rig:
        off = b.offset
        if b.parent is None:  # turn about our pelvis joint, not the Hips pivot below it
            off = off + HIPS_TO_PELVIS - pelvis @ HIPS_TO_PELVIS + (disp if root_motion == "hips" else 0.0)
        pos = frames.world_to_unity(off)
        q = frames.world_to_unity_quat(R.matrix_to_quat(local[b.name]))
        msgs.append(("/VMC/Ext/Bone/Pos", [(b.name, "s")] + [(float(x), "f") for x in (*pos, *q)]))
    return msgs


def parse_target(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` -> (host, port); raises VMCError with one line."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise VMCError(f"VMC target {text!r}: expected HOST:PORT with a port 1-65535, e.g. 127.0.0.1:39539")
    return host.strip("[]"), int(port)


MAX_DATAGRAM = 1472  # bytes: the UDP payload one 1500-byte Ethernet frame carries over IPv4
_BUNDLE_HEAD = b"#bundle\0" + (1).to_bytes(8, "big")  # OSC time tag 1 = immediately


def pack_bundles(messages: list[bytes], limit: int = MAX_DATAGRAM) -> list[bytes]:
    """OSC messages (in order) packed into as few bundles as fit ``limit`` bytes each."""
    out, cur, size = [], [], len(_BUNDLE_HEAD)
    for m in messages:
        need = 4 + len(m)
        if cur and size + need > limit:
            out.append(b"".join([_BUNDLE_HEAD, *cur]))
            cur, size = [], len(_BUNDLE_HEAD)
        if len(_BUNDLE_HEAD) + need > limit:
            raise ValueError(f"an OSC message of {len(m)} bytes does not fit a {limit}-byte datagram")
        cur.append(len(m).to_bytes(4, "big") + m)
        size += need
    if cur:
        out.append(b"".join([_BUNDLE_HEAD, *cur]))
    return out


class VMCSender:
    """Sends one frame at a time, at most ``rate`` frames per second, never blocking.

    A frame is the messages of ``frame_messages`` plus ``/VMC/Ext/OK`` and
    ``/VMC/Ext/T``, split over as few OSC bundles as keep every datagram
    within ``MAX_DATAGRAM`` bytes (receivers apply each message on its own).

    ``send()`` sends at once, limited to the rate on a fixed schedule: the
    next frame is due one period after the previous one was due (not after it
    was sent; at most a quarter period of lateness is made up), and a frame
    up to a fifth of a period early still goes, so jitter of up to a fifth of
    a period in the caller's timing drops no frame. ``submit()`` hands the
    newest pose to a sending thread that builds it at once and sends it when
    it is due (the schedule counts from when a frame leaves, not from after it
    was built): steady
    spacing when poses come faster than ``rate``, each pose as it comes when
    slower. The live app and ``play`` submit; ``bench`` and tests send.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 39539, rate: float = 60.0,
                 root_motion: str = "hips", skeleton: S.Skeleton | None = None):
        if not 1 <= int(port) <= 65535:
            raise VMCError(f"VMC port {port} is out of range; allowed: 1 to 65535")
        try:
            infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError) as e:
            raise VMCError(f"VMC host {host!r} cannot be resolved ({e})") from None
        family, _, _, _, addr = infos[0]
        self.target = f"{host}:{port}"
        self._addr = addr
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self.rig = vmc_rig(skeleton)
        self.rate = float(rate)
        self.root_motion = root_motion
        self.enabled = True
        self.sent = 0          # frames sent
        self.datagrams_sent = 0
        self.errors = 0
        self.last_error = ""
        self._t0 = time.monotonic()
        self._due = -np.inf  # when the next frame is due (the fixed schedule)
        self._pending = None
        self._building = False  # the thread holds a pose it has not sent yet
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def state(self) -> str:
        if not self.enabled:
            return "off"
        return f"sending ({self.sent} sent)" if not self.errors else f"{self.errors} send errors: {self.last_error}"

    def datagrams(self, rotations: np.ndarray, root_position=None, t: float | None = None,
                  pelvis: np.ndarray | None = None) -> list[bytes]:
        """One frame as OSC bundles, each at most MAX_DATAGRAM bytes."""
        t = time.monotonic() - self._t0 if t is None else t
        head = [("/VMC/Ext/OK", [(1, "i")]), ("/VMC/Ext/T", [(float(t), "f")])]
        msgs = []
        for address, args in head + frame_messages(rotations, self.rig, root_position, self.root_motion, pelvis):
            mb = OscMessageBuilder(address=address)
            for value, typ in args:
                mb.add_arg(value, typ)
            msgs.append(mb.build().dgram)
        return pack_bundles(msgs)

    def _transmit(self, grams: list[bytes], now: float | None) -> bool:
        """Put one built frame on the wire and advance the schedule from when it left (its first
        datagram; building it is not counted, or it would add to every period)."""
        period = 1.0 / self.rate
        left = time.monotonic() if now is None else now
        self._due = max(self._due + period, left + 0.75 * period)
        try:
            for d in grams:
                self._sock.sendto(d, self._addr)
                self.datagrams_sent += 1
        except OSError as e:  # full buffer, unreachable network, refused: never stop the app
            self.errors += 1
            self.last_error = e.strerror or type(e).__name__
            return False
        self.sent += 1
        return True

    def send(self, rotations: np.ndarray, root_position=None, now: float | None = None,
             pelvis: np.ndarray | None = None) -> bool:
        """Send a frame now unless disabled or not yet due; True when it left."""
        if not self.enabled:
            return False
        if (time.monotonic() if now is None else now) < self._due - 0.2 / self.rate:
            return False
        return self._transmit(self.datagrams(rotations, root_position, pelvis=pelvis), now)

    def submit(self, rotations: np.ndarray, root_position=None, pelvis: np.ndarray | None = None) -> None:
        """Hand the newest pose to the sending thread (never blocks; an unsent older pose is replaced)."""
        if not self.enabled or self._closed:
            return
        item = (np.array(rotations, dtype=np.float64),
                None if root_position is None else np.array(root_position, float),
                None if pelvis is None else np.array(pelvis, float))
        with self._cond:
            self._pending = item
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vmc-sender", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        """The sending thread: builds the newest pose as it comes, then sends it when it is due
        (a newer pose arriving meanwhile is built and sent instead)."""
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                item, self._pending = self._pending, None
                self._building = True
            rotations, root_position, pelvis = item
            grams = self.datagrams(rotations, root_position, pelvis=pelvis)
            with self._cond:
                while self._pending is None and not self._closed:
                    wait = self._due - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._closed:
                    return
                if self._pending is not None:  # a newer pose came while this one waited: send that
                    continue
            if self.enabled:
                self._transmit(grams, None)
            with self._cond:
                self._building = False
                self._cond.notify_all()

    def close(self) -> None:
        """Send a pose still waiting (within two periods), stop the thread, close the socket."""
        if self._closed:
            return
        deadline = time.monotonic() + 2.0 / self.rate + 0.05
        with self._cond:
            while ((self._pending is not None or self._building) and self._thread is not None
                   and time.monotonic() < deadline):
                self._cond.wait(0.005)
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._sock.close()
