"""``Estimator``: a camera frame in, a ``Pose`` out.

1. Acquisition (nobody tracked: at start and after a loss): the person detector
   (``engine.detector.PersonDetector``, docs/acquisition.md) runs once on the whole frame; the
   person the user would expect is picked (``pick``: largest x most central by default) and
   the pose network runs on that detection's crop (``upright_crop`` with ``upright``). The person
   is accepted only when the network's presence confidence is at least ``min_confidence``.
2. Tracking: the crop is a square around the previous frame's 2D joints, ``crop_scale`` times
   their tight box or (``box_size`` body, the default) at least ``BODY_FRACTION`` of the standing
   height their long bones give, so a skeleton predicted folded does not pull the crop onto part of
   the body; its side shrinks at most by exp(-``shrink_per_s`` x seconds) a frame (0: no limit).
   Every ``recheck_every`` tracked frames (and after a frame whose presence is below
   ``recheck_below``) the detector re-checks: the network runs on the crop of the detection that
   overlaps the track best (the same person; the pick when none does: the track had drifted off);
   the tracked box when the detector finds nobody. Presence below ``min_confidence`` on a
   tracked crop means the person is lost: the next frame acquires again.
   Upright crops (``upright``, the default; issue 29): every crop is turned so the body stands
   upright in it, as a network trained on upright crops (MediaPipe's way) expects: on acquisition by the
   detection's rotation
   (``Detection.upright_crop``), while tracking by ``upright_angle`` of the last 2D joints (hip
   centre = mean of r_hip and l_hip, shoulder centre = mean of r_shoulder and l_shoulder), the
   tight box measured in the turned axes. ``upright`` False: every crop axis aligned (angle 0), as
   before.
3. Backend inference (``backend.infer(frame, box, camera)``): the crop box and its pinhole
   intrinsics (``Box.camera``, the frame's field of view ``fov_deg`` across its larger side)
   in (for a turned crop the intrinsics of the camera rolled by its angle); 2D joints, 3D joints, 15
   absolute rotations and the pelvis rotation, presence out. ``infer_crop`` is the one place they are
   turned back (``engine.backend_base.turn_back``): 2D to frame pixels, 3D and rotations from the
   rolled crop camera's world axes to the frame's (as ``Pose`` keeps them). Everything after it
   (tracking, the motion model's rays, filters, root motion, outputs) is in frame pixels and the
   frame's world axes.
4. Nobody: the filters reset and the pose held eases back to rest over ``rest_ease_s``.
   ``Pose.state`` says "tracking" (a person this frame), "lost" (nobody this frame; a person
   was tracked less than ``rest_ease_s`` ago and the held pose is easing to rest) or
   "searching" (nobody, and nobody tracked recently).
5. The motion model (``engine.motion.MotionModel``, when given): the 3D joints, bone rotations
   and pelvis rotation of this frame from a causal window of the network's 2D (frame pixels, the
   frame's intrinsics from ``fov_deg``) and the twist of its rotations; reset when the person
   is lost. Without it, the network's own 3D.
6. Temporal filtering: One-Euro on 2D and 3D joints (2D in metre-like units:
   pixels divided by the crop's pixels per metre, so one setting fits both),
   the rotation filter on bone rotations and the pelvis rotation (``enabled`` switches all).
   With the motion model, the 3D joints are the filtered rotations' forward kinematics instead.
7. Root motion: the pelvis displacement (world axes, metres) from where
   tracking started, from the 2D pelvis position and the image scale of the
   skeleton (weak perspective).

``timings`` (seconds, the last frame): detector, preprocess, inference, motion, filter.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from engine import rotations as R
from engine import skeleton as S
from engine.backend_base import Backend, turn_back
from engine.detector import PersonDetector
from engine.errors import UserError
from engine.filters import OneEuroFilter, RotationFilter
from engine.pose import Pose
from engine.preprocess import Box, frame_intrinsics, upright_angle
from engine.settings import PICKS, EngineSettings, repo_path

_REST = S.Skeleton.default()
_REST_HEIGHT = float(np.ptp(_REST.rest_joints[:, 1]))      # metres, ankles to head top standing
#: the share of the estimated standing height the crop keeps at least: the estimate (``body_extent``) is 1.24x
#: the tight box of the teacher's joints on the held-out Pose2Sim frames (median; the rest skeleton's
#: proportions are not the teacher's joints'), and 0.75 scored best there (docs/acquisition.md)
BODY_FRACTION = 0.75
_LONG_BONES = np.flatnonzero(_REST.bone_lengths >= 0.2)     # spine, head, thighs, shins, arms
_HIPS = [S.JOINT_INDEX["r_hip"], S.JOINT_INDEX["l_hip"]]
_SHOULDERS = [S.JOINT_INDEX["r_shoulder"], S.JOINT_INDEX["l_shoulder"]]


class Person(NamedTuple):
    """Which detection is tracked: detection ``index`` (None: nobody) of the ``count`` the person
    detector found when the person was acquired."""
    index: int | None
    count: int


def body_extent(joints_2d: np.ndarray) -> float:
    """The standing height in pixels of the person whose 2D joints (16, 2) are given: pixels per metre
    from the long bones' 2D lengths over the rest skeleton's (foreshortening only shortens a bone, so the
    second largest ratio, robust to one wrong joint) times the rest height. A crouched, folded or
    foreshortened skeleton keeps its standing size; one predicted too small as a whole does not."""
    l2 = np.linalg.norm(joints_2d[S.BONES[_LONG_BONES, 1]] - joints_2d[S.BONES[_LONG_BONES, 0]], axis=1)
    ratio = np.sort(l2 / _REST.bone_lengths[_LONG_BONES])
    return float(ratio[-2]) * _REST_HEIGHT


def body_angle(joints_2d: np.ndarray) -> float:
    """The crop angle (``Box.angle``, radians) that stands the person of 2D joints (16, 2) upright:
    ``upright_angle`` from the hip centre (mean of r_hip, l_hip) to the shoulder centre (mean of
    r_shoulder, l_shoulder)."""
    return upright_angle(joints_2d[_HIPS].mean(0), joints_2d[_SHOULDERS].mean(0))


def overlap(a: Box, b: Box) -> tuple[float, float]:
    """(intersection over union, intersection over the area of ``a``) of two square boxes, each taken
    as the axis-aligned square of its centre and side (a turned box's angle is not used: a coarse
    same-person test)."""
    w = max(0.0, min(a.left + a.side, b.left + b.side) - max(a.left, b.left))
    h = max(0.0, min(a.top + a.side, b.top + b.side) - max(a.top, b.top))
    inter = w * h
    return inter / max(a.side ** 2 + b.side ** 2 - inter, 1e-9), inter / max(a.side ** 2, 1e-9)


def pick_person(detections, width: int, height: int, how: str = "largest_central") -> int:
    """Index of the detection the user would expect, for a frame of ``width`` x ``height``.

    Each detection needs ``box`` (x0, y0, x1, y1, frame pixels). ``largest``: the largest body box
    area inside the frame; ``central``: the box centre nearest the frame centre;
    ``largest_central``: the largest area x centrality, with centrality = 1 - (distance of the
    box centre from the frame centre) / (half the frame diagonal), so of two people of the same
    size the central one wins, and a person twice as large wins unless far off centre.
    """
    if how not in PICKS:
        raise ValueError(f"pick = {how!r}; allowed: {', '.join(PICKS)}")
    boxes = np.array([d.box for d in detections], np.float64).reshape(-1, 4)
    if not len(boxes):
        raise ValueError("no detections to pick from")
    x0, x1 = np.clip(boxes[:, 0], 0, width), np.clip(boxes[:, 2], 0, width)
    y0, y1 = np.clip(boxes[:, 1], 0, height), np.clip(boxes[:, 3], 0, height)
    area = (x1 - x0) * (y1 - y0)
    centre = np.stack([boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]], 1) / 2
    dist = np.linalg.norm(centre - np.array([(width - 1) / 2, (height - 1) / 2]), axis=1)
    central = np.clip(1.0 - dist / (0.5 * np.hypot(width, height)), 0.0, 1.0)
    score = {"largest": area, "central": -dist, "largest_central": area * central}[how]
    return int(np.argmax(score))


class Estimator:
    """``Estimator.open(settings)``: the engine's front door. It builds everything from ``EngineSettings``
    (``engine/settings.py``: config.yaml's ``model``, ``tracking`` and ``filter`` sections): the backend, the
    person detector and the motion model, each checked at once, so a missing or broken file is one
    ``UserError`` line before any output is opened. Use it as a context manager, or call ``close()``::

        with Estimator.open(EngineSettings()) as est:
            pose = est(frame)

    ``Estimator(backend, settings, detector=None, motion=None)`` wires parts made elsewhere (tests, fakes):
    ``backend`` is anything with ``infer(frame, box, camera)`` and ``input_size``; ``detector`` anything with
    ``detect(frame) -> [Detection]`` (each with ``box`` and ``crop``, and ``upright_crop``, the turned crop
    ``upright`` uses, when it has one), by default an ``engine.detector.PersonDetector`` created on the
    first acquisition; ``motion`` an ``engine.motion.MotionModel`` that gives the 3D (None: the network's
    own)."""

    def __init__(self, backend, settings: EngineSettings | None = None, detector=None, motion=None):
        self.backend = backend
        self.settings = settings or EngineSettings()
        self.size = backend.input_size
        self._detector = detector
        self.motion = motion
        self._split_timings = isinstance(backend, Backend)  # backends that time their own crop
        self.box: Box | None = None
        self.person: Person | None = None  # the detection being tracked
        f = self.settings.filter
        self.filter_2d = OneEuroFilter(*f.position.args())
        self.filter_3d = OneEuroFilter(*f.position.args())
        self.filter_rotations = RotationFilter(*f.rotation.args())
        self.last: Pose | None = None
        self.lost_at: float | None = None
        self._origin = None
        self._box_t: float | None = None   # when self.box was made
        self._since_check = 0              # tracked frames since the person detector last ran
        self._check_next = False           # presence fell below recheck_below: re-check on the next frame
        self.timings = {"detector": 0.0, "preprocess": 0.0, "inference": 0.0, "motion": 0.0, "filter": 0.0}

    @classmethod
    def open(cls, settings: EngineSettings | None = None, log=print) -> Estimator:
        """The estimator for ``settings`` (default: ``EngineSettings()``, config.yaml's defaults), checked by
        one network pass on a blank image; ``log`` gets one line saying which backend, model and motion
        model run. Any failure to load or run a file (missing, a folder, not an ONNX model, not a
        SkeletonNet or motion model) is a ``UserError`` with one line naming the file; whatever was
        opened before it is closed."""
        from engine.backends import BackendError, create_backend
        from engine.motion import MotionModel

        settings = settings or EngineSettings()
        m = settings.model
        model = repo_path(m.path)
        if not model.exists() and m.backend != "torch":
            raise UserError(f"{model}: model not found (train one with python -m trainer train, "
                            "or point model.path at an exported .onnx)")
        if model.is_dir():
            raise UserError(f"{model}: is a folder; model.path must name a model file (.onnx)")
        t = m.tensorrt
        try:
            backend = create_backend(m.backend, model, m.threads, {"fp16": t.fp16, "cache_dir": t.cache_dir,
                                     "workspace_mb": t.workspace_mb}, log=log, input_size=m.input_size)
        except BackendError as e:
            raise UserError(str(e)) from None
        except Exception as e:  # noqa: BLE001 - a runtime's own error on a file it cannot use
            raise UserError(f"{model}: the model cannot be loaded ({type(e).__name__}: {str(e)[:120]})") from None
        est = cls(backend, settings)
        try:
            est._check_model(model)
            try:  # made at start, not on the first frame that needs it: a missing or broken file is one line
                _ = est.detector  # the property makes it from the settings
            except (OSError, ValueError, BackendError) as e:
                raise UserError(f"person detector: {' '.join(str(e).split())[:160]}") from None
            if m.motion:
                path = repo_path(m.motion_path)
                try:
                    est.motion = MotionModel(path)
                except BackendError as e:
                    raise UserError(f"{e} (or set model.motion: off)") from None
                except Exception as e:  # noqa: BLE001 - ONNX Runtime's own error on a file it cannot run
                    raise UserError(f"{path}: the motion model cannot be loaded ({type(e).__name__}: "
                                    f"{str(e)[:120]})") from None
        except BaseException:
            est.close()
            raise
        mo = est.motion
        motion_line = f"; motion model {mo.path.name} ({mo.window} frames)" if mo else "; motion model off"
        log(f"backend: {backend.name}, model {backend.model} ({backend.input_size} px){motion_line}")
        return est

    def _check_model(self, model: Path) -> None:
        """One network pass on a blank frame (``probe``: the tracked path would stop at the detector): a model
        with other outputs fails here, before any output is opened."""
        try:
            probe = self.probe(np.zeros((self.size, self.size, 3), np.uint8))
            shapes = (probe.rotations.shape, probe.joints_3d.shape, probe.joints_2d.shape)
            if shapes != ((S.NUM_BONES, 3, 3), (S.NUM_JOINTS, 3), (S.NUM_JOINTS, 2)):
                raise ValueError(f"output shapes {shapes}")
        except Exception as e:  # noqa: BLE001 - whatever the runtime raises on a model of another kind
            raise UserError(f"{model}: not a SkeletonNet model this app can run ({type(e).__name__}: "
                            f"{' '.join(str(e).split())[:120]})") from None

    def close(self) -> None:
        """Release the backend, the person detector and the motion model (their runtime sessions and, for
        TensorRT, the GPU buffers). Safe to call twice; the estimator cannot run after it."""
        for part in (self.backend, self._detector, self.motion):
            close = getattr(part, "close", None)
            if close is not None:
                close()
        self._detector, self.motion = None, None

    def __enter__(self) -> Estimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def detector(self):
        if self._detector is None:
            self._detector = PersonDetector(threads=self.settings.model.detector_threads,
                                            crop_scale=self.settings.tracking.crop_scale)
        return self._detector

    @property
    def filter_enabled(self) -> bool:
        return self.settings.filter.enabled

    @filter_enabled.setter
    def filter_enabled(self, on: bool) -> None:
        self.settings.filter.enabled = bool(on)
        self.reset_filters()

    def reset_filters(self) -> None:
        self.filter_2d.reset()
        self.filter_3d.reset()
        self.filter_rotations.reset()

    def infer_crop(self, frame: np.ndarray, box: Box):
        """The network on the crop ``box`` of ``frame``: (Outputs with 3D joints and rotations in the
        frame's world axes, 2D joints in frame pixels). The one place a turned crop's outputs are
        turned back (``turn_back``)."""
        h, w = frame.shape[:2]
        camera = box.camera(self.size, w, h, self.settings.tracking.fov_deg)
        t0 = time.perf_counter()
        out = self.backend.infer(frame, box, camera)
        dt = time.perf_counter() - t0
        pre = min(self.backend.preprocess_s, dt) if self._split_timings else 0.0
        self.timings["preprocess"] += pre
        self.timings["inference"] += dt - pre
        return turn_back(out, box, self.size)

    def _crop_of(self, detection) -> Box:
        """The crop the network runs on for a detection: its ``upright_crop`` with ``upright`` (when it
        has one), else its axis-aligned ``crop``."""
        turned = getattr(detection, "upright_crop", None) if self.settings.tracking.upright else None
        return detection.crop if turned is None else turned

    def _acquire(self, frame: np.ndarray):
        """Detector, pick, network on the picked crop: (Outputs, 2D joints, Person) or
        (None, None, Person(None, 0)) when the detector finds nobody."""
        h, w = frame.shape[:2]
        t0 = time.perf_counter()
        dets = list(self.detector.detect(frame))
        self.timings["detector"] += time.perf_counter() - t0
        if not dets:
            return None, None, Person(None, 0), None
        i = pick_person(dets, w, h, self.settings.tracking.pick)
        box = self._crop_of(dets[i])
        out, j2 = self.infer_crop(frame, box)
        return out, j2, Person(i, len(dets)), box

    def _recheck(self, frame: np.ndarray):
        """The person detector re-checks the tracked box: the network runs on the crop of the detection
        that overlaps the track best (its IoU, among those covering at least half of the tracked box),
        which keeps the same person; on the pick's crop when detections exist but none overlaps (the
        track drifted off its person); on the tracked box when the detector finds nobody.
        Returns (Outputs, 2D joints, Person, box)."""
        h, w = frame.shape[:2]
        t0 = time.perf_counter()
        dets = list(self.detector.detect(frame))
        self.timings["detector"] += time.perf_counter() - t0
        self._since_check, self._check_next = 0, False
        if not dets:
            out, j2 = self.infer_crop(frame, self.box)
            return out, j2, self.person, self.box
        ov = np.array([overlap(self.box, d.crop) for d in dets])
        ok = ov[:, 1] >= 0.5
        pick = self.settings.tracking.pick
        i = int(np.argmax(np.where(ok, ov[:, 0], -1.0))) if ok.any() else pick_person(dets, w, h, pick)
        box = self._crop_of(dets[i])
        out, j2 = self.infer_crop(frame, box)
        return out, j2, Person(i, len(dets)), box

    def _next_box(self, j2: np.ndarray, used: Box, t: float) -> Box:
        """The crop for the next frame from this frame's 2D joints (16, 2) and the box ``used`` for them:
        ``crop_scale`` times the tight box of the joints, or for ``box_size`` body at least
        ``BODY_FRACTION`` of the standing height from the bone lengths, its side shrinking at most by
        exp(-``shrink_per_s`` x seconds) from ``used``. With ``upright`` the box is turned by
        ``body_angle(j2)`` and its tight box measured in the turned axes."""
        st = self.settings.tracking
        angle = body_angle(j2) if st.upright else 0.0
        tight = Box.around(j2, st.crop_scale, angle=angle)
        side = tight.side
        if st.box_size == "body":
            side = max(side, st.crop_scale * BODY_FRACTION * body_extent(j2))
        cx, cy = tight.left + tight.side / 2, tight.top + tight.side / 2
        dt = 0.0 if self._box_t is None else max(0.0, t - self._box_t)
        if st.shrink_per_s > 0:
            side = max(side, used.side * float(np.exp(-st.shrink_per_s * dt)))
        self._box_t = t
        return Box(cx - side / 2, cy - side / 2, side, angle)

    def probe(self, frame: np.ndarray) -> Pose:
        """One network pass on the whole frame letterboxed, no detector, no state: for checking
        that a model runs and gives the expected shapes."""
        h, w = frame.shape[:2]
        out, j2 = self.infer_crop(frame, Box.full_frame(w, h))
        return Pose(rotations=np.asarray(out.rotations, np.float64), joints_3d=np.asarray(out.joints_3d, np.float64),
                    joints_2d=j2, confidence=float(out.confidence), detected=False, state="searching",
                    pelvis_rotation=np.asarray(out.pelvis_rotation, np.float64))

    def __call__(self, frame: np.ndarray, t: float | None = None) -> Pose:
        t = time.monotonic() if t is None else t
        for k in self.timings:
            self.timings[k] = 0.0
        st = self.settings.tracking
        if self.box is None:
            out, j2, person, used = self._acquire(frame)
            if out is None:
                return self._lost(t, 0.0, person.count)
            count = person.count
            self._since_check, self._box_t = 0, None
        elif self._check_next or (st.recheck_every and self._since_check >= st.recheck_every):
            out, j2, person, used = self._recheck(frame)
            count = person.count
        else:
            used = self.box
            out, j2 = self.infer_crop(frame, used)
            person, count = self.person, 0
        conf = float(out.confidence)
        if conf < st.min_confidence or not np.isfinite(j2).all():
            return self._lost(t, conf, count)
        self.box = self._next_box(j2, used, t)
        self.person = person
        self._since_check += 1
        self._check_next = conf < st.recheck_below
        j3 = np.asarray(out.joints_3d, np.float64)  # world axes (model contract 2), as Pose keeps them
        rot = np.asarray(out.rotations, np.float64)
        pelvis = np.asarray(out.pelvis_rotation, np.float64)
        if self.motion is not None:
            t0 = time.perf_counter()
            h, w = frame.shape[:2]
            m = self.motion(j2, frame_intrinsics(w, h, self.settings.tracking.fov_deg), w, h, rot)
            j3, rot, pelvis = m.joints_3d, m.rotations, m.pelvis_rotation
            self.timings["motion"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if self.settings.filter.enabled:
            ppm = self.box.side / 2.2  # pixels per metre: the crop spans about 2.2 m of a standing person
            j2 = self.filter_2d(j2 / ppm, t) * ppm
            both = self.filter_rotations(np.concatenate([rot, pelvis[None]]), t)  # per rotation: the 15 as alone
            rot, pelvis = both[:-1], both[-1]
            # the motion model's joints are its rotations' forward kinematics, and stay so
            j3 = self.filter_3d(j3, t) if self.motion is None else self.motion.skeleton.forward_kinematics(rot)
        self.timings["filter"] = time.perf_counter() - t0
        pose = Pose(rotations=rot, joints_3d=j3, joints_2d=j2, confidence=conf, detected=True, time=t,
                    root_position=self._root_motion(j2, j3), state="tracking", person=person.index,
                    people=person.count, pelvis_rotation=pelvis)
        self.last, self.lost_at = pose, None
        return pose

    def _root_motion(self, j2: np.ndarray, j3: np.ndarray) -> np.ndarray:
        b2 = np.linalg.norm(j2[S.BONES[:, 1]] - j2[S.BONES[:, 0]], axis=1).sum()
        b3 = np.linalg.norm(j3[S.BONES[:, 1], :2] - j3[S.BONES[:, 0], :2], axis=1).sum()
        m_per_px = b3 / max(b2, 1e-6)
        pelvis = j2[S.ROOT]
        if self._origin is None:
            self._origin = (pelvis.copy(), m_per_px)
        p0, m0 = self._origin
        dx, dy = (pelvis - p0) * m_per_px
        dz = 2.5 * (m_per_px / max(m0, 1e-9) - 1.0)  # distance grows with metres per pixel; 2.5 m at start
        return np.array([dx, -dy, -dz])  # camera axes -> world axes (Y-up, +Z towards the camera)

    def _lost(self, t: float, confidence: float, people: int = 0) -> Pose:
        self.box, self._check_next = None, False
        if self.motion is not None:
            self.motion.reset()
        self.person = None
        self.reset_filters()
        if self.lost_at is None and self.last is not None:
            self.lost_at = t
        rest = np.broadcast_to(np.eye(3), (S.NUM_BONES, 3, 3))
        if self.last is None:
            return Pose(rotations=rest.copy(), confidence=confidence, detected=False, time=t, state="searching",
                        people=people)
        since = t - self.lost_at
        a = 1.0 if self.settings.tracking.rest_ease_s <= 0 else min(1.0, since / self.settings.tracking.rest_ease_s)
        state = "lost" if since <= 0 or since < self.settings.tracking.rest_ease_s else "searching"
        held = np.concatenate([self.last.rotations, self.last.pelvis_rotation[None]])
        eased = R.quat_to_matrix(R.quat_slerp(R.matrix_to_quat(held), np.array([0.0, 0.0, 0.0, 1.0]), a))
        return Pose(rotations=eased[:-1], joints_3d=self.last.joints_3d, joints_2d=self.last.joints_2d,
                    confidence=confidence, detected=False, time=t, root_position=self.last.root_position,
                    state=state, people=people, pelvis_rotation=eased[-1])
