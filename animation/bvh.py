"""The BVH file format: our hierarchy, writing frames, reading clips, finding bad rows.

Written hierarchy (``bvh_joints``): ``ROOT pelvis`` with 6 channels
(``Xposition Yposition Zposition Zrotation Xrotation Yrotation``), then one
JOINT per bone of ours, named after the bone and placed at the bone's start
joint, with 3 channels ``Zrotation Xrotation Yrotation``; each leaf bone ends
in an ``End Site`` at its end joint. A bone leaving the pelvis (``r_hip``,
``l_hip``, ``spine``) sits at offset 0 from the root, so every bone keeps its
own rotation and the file reproduces our joints exactly. The root rotation is
the pelvis orientation; joint rotations are parent-local. Y-up, degrees,
metres or centimetres. ``{`` and ``}`` stand on their own lines (Blender's
importer needs that).

``BVHWriter`` writes into any byte sink; the ``Frames:`` count is written padded with spaces
and rewritten in place after every write, so the file is a valid BVH at every write (the
app's crash-safe recording is ``app.bvh.BVHRecorder``). ``read_bvh`` parses any BVH file,
skipping bad frame rows; ``repair_plan`` says which rows a repaired copy keeps
(``app.bvh.repair_bvh`` writes it). Clips onto our skeleton: ``animation.bvh_retarget``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import rotations as R
from engine import skeleton as S
from engine.errors import UserError

ROT_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")
ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition") + ROT_CHANNELS
_COUNT_WIDTH = 12


class BVHError(UserError):
    """A bad or unreadable BVH file; one-line message naming the file."""


# --------------------------------------------------------------------------- our hierarchy

@dataclass(frozen=True)
class BVHJoint:
    name: str
    parent: int            # index into the joint list, -1 for the root
    offset: np.ndarray     # (3,) metres, world axes
    end_site: np.ndarray | None = None  # (3,) metres, for leaf joints


def bvh_joints(skeleton: S.Skeleton | None = None) -> list[BVHJoint]:
    """Our BVH hierarchy: index 0 is the root (pelvis), then bone ``b`` is joint ``b + 1``."""
    sk = skeleton or S.Skeleton.default()
    vec = sk.bone_vectors
    joints = [BVHJoint("pelvis", -1, np.zeros(3))]
    has_child = set(int(p) for p in S.BONE_PARENTS if p >= 0)
    for b, name in enumerate(S.BONE_NAMES):
        p = int(S.BONE_PARENTS[b])
        offset = np.zeros(3) if p < 0 else vec[p]
        joints.append(BVHJoint(name, 0 if p < 0 else p + 1, offset, None if b in has_child else vec[b]))
    return joints


def _hierarchy_text(joints: list[BVHJoint], scale: float) -> str:
    children: dict[int, list[int]] = {}
    for i, j in enumerate(joints):
        children.setdefault(j.parent, []).append(i)
    lines: list[str] = ["HIERARCHY"]

    def fmt(v):
        return " ".join(f"{x * scale:.6f}" for x in v)

    def emit(i: int, depth: int):
        t = "\t" * depth
        j = joints[i]
        lines.append(f"{t}{'ROOT' if j.parent < 0 else 'JOINT'} {j.name}")
        lines.append(f"{t}{{")
        lines.append(f"{t}\tOFFSET {fmt(j.offset)}")
        chans = ROOT_CHANNELS if j.parent < 0 else ROT_CHANNELS
        lines.append(f"{t}\tCHANNELS {len(chans)} {' '.join(chans)}")
        for c in children.get(i, []):
            emit(c, depth + 1)
        if j.end_site is not None:
            lines.extend([f"{t}\tEnd Site", f"{t}\t{{", f"{t}\t\tOFFSET {fmt(j.end_site)}", f"{t}\t}}"])
        lines.append(f"{t}}}")

    emit(0, 0)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- writing

class BVHWriter:
    """Writes poses as BVH frames at a constant frame rate, resampled from timestamps.

    ``add(t, rotations, root_position)`` with times in seconds (any rate, any
    jitter): frames on the grid ``t0 + k / fps`` are interpolated between the
    two samples around them (slerp of local rotations, linear root). Euler
    angles are unwrapped over time (each angle is taken +-360 degrees nearest
    the previous frame's), so curves in Blender never jump by 360. Every
    frame is written at once; the header's frame count is updated in place;
    ``sync()`` runs about once a second.

    ``out`` is an open byte sink with ``append(data)``, ``overwrite(offset, data)``, ``sync()``,
    ``commit()`` and ``keep()`` (the app's crash-safe ``app.outputs.OutputFile``; see
    ``app.bvh.BVHRecorder``); what it raises on a failed write passes through, after which the
    file still ends on the last whole frame and its header counts exactly those frames.
    """

    def __init__(self, out, fps: float = 30.0, units: str = "cm",
                 skeleton: S.Skeleton | None = None, floor_offset: float | None = None):
        if units not in ("m", "cm"):
            raise ValueError(f"BVH units {units!r}; allowed: m, cm")
        self.fps = float(fps)
        self.scale = 100.0 if units == "cm" else 1.0
        sk = skeleton or S.Skeleton.default()
        self.rest_root = np.array([0.0, sk.floor_offset if floor_offset is None else floor_offset, 0.0])
        self.out = out
        head = (_hierarchy_text(bvh_joints(sk), self.scale) + "MOTION\n").encode()
        self._count_pos = len(head) + len("Frames: ")
        self.out.append(head + f"Frames: {'0'.ljust(_COUNT_WIDTH)}\nFrame Time: {1.0 / self.fps:.8f}\n".encode())
        self.frames = 0
        self._prev: tuple[float, np.ndarray, np.ndarray] | None = None
        self._next_t: float | None = None
        self._t0: float | None = None
        self._last_sync = 0.0
        self._last_euler: np.ndarray | None = None

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    def _sample(self, rotations, root_position, pelvis, local):
        root = S.pelvis_rotation(rotations) if pelvis is None else np.asarray(pelvis, float)
        local = S.absolute_to_local(rotations, root) if local is None else np.asarray(local, float)
        q = R.matrix_to_quat(np.concatenate([root[None], local], 0))
        pos = self.rest_root + (np.zeros(3) if root_position is None else np.asarray(root_position, float))
        return q, pos

    def add(self, t: float, rotations: np.ndarray, root_position: np.ndarray | None = None,
            pelvis: np.ndarray | None = None, local: np.ndarray | None = None) -> int:
        """Add a pose sampled at time ``t`` (s); returns the number of frames written for it.

        rotations: (15, 3, 3) absolute, world axes; root_position: (3,) metres; pelvis: (3, 3) the
        root rotation (``Pose.pelvis_rotation``; default: rebuilt from the hip bones); local: (15,
        3, 3) the parent-local rotations under it (``Pose.local_rotations``; default: computed).
        What the sink raises on a failed write passes through; the frames before stay valid."""
        q, pos = self._sample(np.asarray(rotations, float), root_position, pelvis, local)
        if self._prev is None:
            self._t0 = t
            self._next_t = t
            self._prev = (t, q, pos)
        t_prev, q_prev, p_prev = self._prev
        if t < t_prev:  # clocks never go back; ignore out-of-order samples
            return 0
        lines = []
        frames, next_t, last_euler = self.frames, self._next_t, self._last_euler
        while next_t <= t + 1e-9:
            a = 0.0 if t == t_prev else (next_t - t_prev) / (t - t_prev)
            qi = R.quat_slerp(q_prev, q, a)
            pi = (1 - a) * p_prev + a * pos
            mats = R.quat_to_matrix(qi)
            eul = R.matrix_to_euler(mats, "ZXY", degrees=True).reshape(-1)
            if last_euler is not None:  # keep curves continuous: same rotation, nearest angles
                eul = last_euler + (eul - last_euler + 180.0) % 360.0 - 180.0
            last_euler = eul
            vals = np.concatenate([pi * self.scale, eul])
            lines.append(" ".join(f"{v:.6f}" for v in vals))
            frames += 1
            next_t = self._t0 + frames / self.fps
        if lines:
            self.out.append(("\n".join(lines) + "\n").encode())  # a failed write raises; nothing counted then
            self.out.overwrite(self._count_pos, str(frames).ljust(_COUNT_WIDTH).encode())
        self.frames, self._next_t, self._last_euler = frames, next_t, last_euler
        self._prev = (t, q, pos)
        if self.duration - self._last_sync >= 1.0:
            self.out.sync()
            self._last_sync = self.duration
        return len(lines)

    def close(self) -> Path:
        """The clip is complete: the sink commits it. Returns its path."""
        return self.out.commit()

    def keep(self) -> Path:
        """Stop an interrupted or failed clip, keeping its frames; returns where they are."""
        return self.out.keep()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.close()
        else:
            self.keep()


# --------------------------------------------------------------------------- reading

@dataclass
class BVHClip:
    names: list[str]
    parents: list[int]
    offsets: np.ndarray               # (J, 3) file units
    channels: list[tuple[str, ...]]   # per joint
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)
    frame_time: float = 1 / 30
    motion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (F, C)
    declared_frames: int = 0          # the ``Frames:`` line
    bad_rows: list[str] = field(default_factory=list)  # "line L (frame K): why", rows skipped

    @property
    def num_frames(self) -> int:
        return len(self.motion)

    def global_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Per frame global rotations (F, J, 3, 3) and joint positions (F, J, 3), file units."""
        f, j = self.num_frames, len(self.names)
        rots = np.empty((f, j, 3, 3))
        pos = np.empty((f, j, 3))
        col = 0
        for i, chans in enumerate(self.channels):
            vals = self.motion[:, col:col + len(chans)]
            col += len(chans)
            local_pos = np.broadcast_to(self.offsets[i], (f, 3)).copy()
            local_rot = np.broadcast_to(np.eye(3), (f, 3, 3))
            for k, c in enumerate(chans):  # rotations compose in the listed order (intrinsic)
                axis = "XYZ".index(c[0].upper())
                if c.lower().endswith("position"):
                    local_pos[:, axis] += vals[:, k]
                elif c.lower().endswith("rotation"):
                    local_rot = local_rot @ R.axis_rotation(axis, np.deg2rad(vals[:, k]))
            p = self.parents[i]
            if p < 0:
                rots[:, i] = local_rot
                pos[:, i] = local_pos
            else:
                rots[:, i] = rots[:, p] @ local_rot
                pos[:, i] = pos[:, p] + (rots[:, p] @ local_pos[..., None])[..., 0]
        return rots, pos

    def problems(self) -> str:
        """One line about skipped rows and a short file ('' when the clip is whole)."""
        parts = []
        if self.bad_rows:
            more = f"; and {len(self.bad_rows) - 3} more" if len(self.bad_rows) > 3 else ""
            shown = "; ".join(self.bad_rows[:3]) + more
            parts.append(f"{len(self.bad_rows)} bad frame row{'s' if len(self.bad_rows) > 1 else ''} skipped ({shown})")
        if self.num_frames + len(self.bad_rows) < self.declared_frames:
            parts.append(f"the header says {self.declared_frames} frames, "
                         f"{self.num_frames + len(self.bad_rows)} rows are there")
        return "; ".join(parts)


_FRAMES_RE = re.compile(r"Frames:[ \t]*(\d+)[ \t]*\r?\n\s*Frame\s+Time:[ \t]*(\S*)[^\n]*\n")


def _row_problem(line: str, ncol: int) -> str | None:
    """Why a motion row cannot be used, or None."""
    vals = line.split()
    if len(vals) != ncol:
        return f"{len(vals)} values, expected {ncol}"
    try:
        for v in vals:
            float(v)
    except ValueError:
        return f"not a number: {v[:20]!r}"
    return None


def _read_text(path: Path) -> str:
    """The file as text, one character per byte (BVH is ASCII; other bytes cannot break parsing)."""
    try:
        return path.read_bytes().decode("latin-1")
    except FileNotFoundError:
        raise BVHError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise BVHError(f"{path}: is a folder, not a BVH file") from None
    except OSError as e:
        raise BVHError(f"{path}: cannot read ({e.strerror})") from None


def _parse_hierarchy(path: Path, text: str):
    tokens = text.split()
    names, parents, offsets, channels, end_sites = [], [], [], [], {}
    stack: list[int] = []
    if not tokens or tokens[0].upper() != "HIERARCHY":
        raise BVHError(f"{path}: not a BVH file (no HIERARCHY)")
    i = 1
    pending_end = False
    while i < len(tokens) and tokens[i].upper() != "MOTION":
        tok = tokens[i]
        up = tok.upper()
        if up in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(stack[-1] if stack else -1)
            offsets.append(np.zeros(3))
            channels.append(())
            i += 2
        elif up == "END":
            pending_end = True
            i += 2
        elif tok == "{":
            stack.append(-2 if pending_end else len(names) - 1)
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif up == "OFFSET":
            v = np.array([float(x) for x in tokens[i + 1:i + 4]])
            if pending_end:
                end_sites[len(names) - 1] = v
                pending_end = False
            else:
                offsets[-1] = v
            i += 4
        elif up == "CHANNELS":
            n = int(tokens[i + 1])
            channels[-1] = tuple(tokens[i + 2:i + 2 + n])
            i += 2 + n
        else:
            raise BVHError(f"{path}: unexpected token {tok[:40]!r} in HIERARCHY")
    if i >= len(tokens):
        raise BVHError(f"{path}: no MOTION section")
    if not names:
        raise BVHError(f"{path}: no joints in HIERARCHY")
    return names, parents, offsets, channels, end_sites


def _motion_header(path: Path, text: str) -> tuple[re.Match, float]:
    m = _FRAMES_RE.search(text)
    if not m:
        raise BVHError(f"{path}: missing 'Frames:' / 'Frame Time:' lines")
    try:
        frame_time = float(m.group(2))
    except ValueError:
        raise BVHError(f"{path}: 'Frame Time: {m.group(2)[:20]}' is not a number") from None
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise BVHError(f"{path}: 'Frame Time: {m.group(2)}' is not allowed; it must be a time above 0 s "
                       "(e.g. 0.0333333 for 30 frames/s)")
    return m, frame_time


def _motion_lines(text: str, start: int):
    """(line number, text, ends with a line break) of each non-blank line from ``start``."""
    first = text.count("\n", 0, start) + 1
    parts = text[start:].split("\n")
    for k, line in enumerate(parts):
        if line.strip():
            yield first + k, line, k < len(parts) - 1


def read_bvh(path: str | Path) -> BVHClip:
    """Parse a BVH file; raises BVHError with one line on bad input.

    A frame row that cannot be used (wrong number of values, not numbers) is
    skipped and listed in ``bad_rows`` (``problems()`` says it in one line)."""
    path = Path(path)
    text = _read_text(path)
    try:
        names, parents, offsets, channels, end_sites = _parse_hierarchy(path, text)
        m, frame_time = _motion_header(path, text)
    except BVHError:
        raise
    except (ValueError, IndexError) as e:
        raise BVHError(f"{path}: malformed BVH ({str(e)[:80]})") from None
    ncol = sum(len(c) for c in channels)
    rows, bad = [], []
    for lineno, line, _ in _motion_lines(text, m.end()):
        why = _row_problem(line, ncol)
        if why:
            bad.append(f"line {lineno} (frame {len(rows) + len(bad) + 1}): {why}")
        else:
            rows.append([float(v) for v in line.split()])
    motion = np.array(rows, dtype=np.float64).reshape(-1, ncol)
    return BVHClip(names, parents, np.array(offsets), channels, end_sites, frame_time, motion,
                   int(m.group(1)), bad)




@dataclass
class RepairPlan:
    """What a repaired copy of a BVH file holds (``repair_plan``)."""

    clip: BVHClip             # the file as read (hierarchy, header, usable rows)
    kept: int                 # frame rows the copy keeps
    dropped: list[str]        # "line L (frame K): why", one per row left out
    declared: int             # the original ``Frames:`` count
    data: bytes | None        # the repaired file's bytes; None when nothing needs repair


def repair_plan(path: str | Path) -> RepairPlan:
    """Which rows a repaired copy of a BVH cut short by a crash or with bad rows keeps.

    Every whole, numeric frame row is kept; a row with the wrong number of
    values, a value that is not a number, or a last line without a line end
    (cut while it was being written: ``-6`` where ``-66.57`` was coming) is
    dropped and listed. The copy's ``Frames:`` count is the rows kept. Raises
    BVHError when the hierarchy or the header cannot be read.
    """
    path = Path(path)
    clip = read_bvh(path)  # the hierarchy and the header must be readable
    text = _read_text(path)
    m = _FRAMES_RE.search(text)
    ncol = sum(len(c) for c in clip.channels)
    good, dropped = [], []
    for lineno, line, ended in _motion_lines(text, m.end()):
        why = _row_problem(line, ncol) if ended else "incomplete last line (no line end: cut while it was written)"
        if why:
            dropped.append(f"line {lineno} (frame {len(good) + len(dropped) + 1}): {why}")
        else:
            good.append(line.rstrip("\r\n"))
    declared = int(m.group(1))
    if not dropped and declared == len(good):
        return RepairPlan(clip, len(good), [], declared, None)
    head = text[:m.start()] + f"Frames: {len(good)}\n" + text[m.start():m.end()].split("\n", 1)[1]
    data = (head + "".join(g + "\n" for g in good)).encode("latin-1")
    return RepairPlan(clip, len(good), dropped, declared, data)
