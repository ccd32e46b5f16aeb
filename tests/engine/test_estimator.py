"""The estimator with scripted stand-ins for the network and the person detector: acquisition
(detector, pick, presence), tracking without the detector, loss, the crop's camera, the model's
world-axis joints given to sinks in camera axes, timings."""
import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest

from engine import frames
from engine import rotations as R
from engine import skeleton as S
from engine.backends import Backend, Outputs
from engine.errors import UserError
from engine.estimator import Estimator, pick_person
from engine.preprocess import Box
from engine.settings import EngineSettings, SettingsError, TrackingSettings

SK = S.Skeleton.default()
W, H = 1280, 720


def person_at(centre, height_px):
    """Frame joints (16, 2) of the rest skeleton standing ``height_px`` tall around ``centre``."""
    scale = height_px / np.ptp(SK.rest_joints[:, 1])
    return SK.rest_joints[:, :2] * np.array([scale, -scale]) + np.asarray(centre, float)


@dataclass
class FakeDetection:
    box: tuple
    crop: Box
    score: float = 0.9


def detection_of(joints_2d, crop_scale=1.25):
    lo, hi = joints_2d.min(0), joints_2d.max(0)
    return FakeDetection(box=(lo[0], lo[1], hi[0], hi[1]), crop=Box.around(joints_2d, crop_scale))


class FakeDetector:
    """Finds the people it is told about; counts its calls."""

    def __init__(self, people=()):
        self.people = list(people)
        self.calls = 0

    def detect(self, frame):
        self.calls += 1
        return [detection_of(j) for j in self.people]


class ScriptedNetwork(Backend):
    """A perfect network: it 'sees' the subject (of ``subjects``, frame joints each) whose pelvis is
    nearest the crop's centre, reports its joints in crop pixels, ``joints_3d`` in world axes (the
    model contract) and presence ``confidence`` (``presence_of`` per subject when given)."""

    input_size = 192
    name, model = "scripted", "scripted"

    def __init__(self, subjects=None):
        self.subjects = subjects or []
        self.confidence = 1.0
        self.presence_of = None
        self.rotations = np.broadcast_to(np.eye(3), (15, 3, 3)).copy()
        self.world = SK.rest_joints.copy()
        self.pelvis = np.eye(3)
        self.boxes, self.cameras = [], []

    def infer(self, frame, box: Box, camera) -> Outputs:
        self.boxes.append(box)
        self.cameras.append(np.asarray(camera))
        c = np.array([box.left + box.side / 2, box.top + box.side / 2])
        k = int(np.argmin([np.linalg.norm(j[S.ROOT] - c) for j in self.subjects]))
        a = box.affine(self.input_size)
        crop_j = self.subjects[k] @ a[:, :2].T + a[:, 2]
        conf = self.confidence if self.presence_of is None else self.presence_of[k]
        return Outputs(self.world, self.rotations, self.pelvis, crop_j, conf)


FRAME = np.zeros((H, W, 3), np.uint8)


def settings_of(filter_enabled: bool = False, **tracking) -> EngineSettings:
    """The engine's settings with the filters on or off and ``tracking.*`` keys changed."""
    changes = {"filter.enabled": filter_enabled, **{f"tracking.{k}": v for k, v in tracking.items()}}
    return EngineSettings().replaced(changes)


def make(subjects, detector_people=None, **settings):
    net = ScriptedNetwork(subjects)
    det = FakeDetector(subjects if detector_people is None else detector_people)
    return net, det, Estimator(net, settings_of(**settings), detector=det)


def test_acquires_from_the_detection_then_tracks_without_the_detector():
    base = person_at((0, 0), 360)
    net, det, est = make([base + (200, 380)], recheck_every=0)
    for k in range(40):
        centre = np.array([200.0 + 22 * k, 380.0 + 3 * k])
        net.subjects[0] = base + centre
        if k == 0:
            det.people = [net.subjects[0]]
        pose = est(FRAME, k / 30)
        assert pose.detected and pose.state == "tracking"
        np.testing.assert_allclose(pose.joints_2d, net.subjects[0], atol=1e-6)
        box = net.boxes[-1]
        if k > 0:  # tracked from the previous pose: lags one frame of motion at most
            assert np.linalg.norm(np.array([box.left + box.side / 2, box.top + box.side / 2]) - centre) < 30
            assert box.side < 0.6 * W
        assert det.calls == 1  # only the first frame paid for the detector
        assert est.timings["detector"] == 0.0 or k == 0
    assert net.boxes[0] == detection_of(base + (200, 380)).crop  # acquired on the detection's crop
    assert len(net.boxes) == 40  # one network pass per frame
    assert set(est.timings) == {"detector", "preprocess", "inference", "motion", "filter"}


def test_the_network_gets_each_crop_camera_and_the_pose_is_in_world_axes():
    """Pose keeps the model's world axes and its pelvis rotation; poses.jsonl converts its
    joints_3d to the documented camera axes at that output."""
    from app.pipeline import pose_record

    net, det, est = make([person_at((640, 360), 400)], fov_deg=70.0)
    rng = np.random.default_rng(0)
    net.world = rng.normal(size=(16, 3))
    net.world -= net.world[S.ROOT]
    net.pelvis = R.axis_angle_to_matrix(np.array([0.1, 0.7, -0.2]))
    pose = est(FRAME, 0.0)
    pose = est(FRAME, 1 / 30)
    for box, cam in zip(net.boxes, net.cameras):
        np.testing.assert_allclose(cam, box.camera(192, W, H, 70.0))
    np.testing.assert_allclose(pose.joints_3d, net.world, atol=1e-12)
    np.testing.assert_allclose(pose.pelvis_rotation, net.pelvis, atol=1e-12)
    np.testing.assert_allclose(pose.local_rotations, S.absolute_to_local(net.rotations, net.pelvis), atol=1e-12)
    np.testing.assert_allclose(pose_record(0, pose)["joints_3d"], frames.world_to_camera(net.world), atol=1e-5)
    net.world = SK.rest_joints.copy()  # upright in world axes: the head is up, i.e. -y in camera axes
    pose = est(FRAME, 2 / 30)
    assert pose.joints_3d[S.JOINT_INDEX["head_top"], 1] > 0.5
    assert pose_record(2, pose)["joints_3d"][S.JOINT_INDEX["head_top"]][1] < -0.5


def test_background_only_frame_is_nobody_and_does_not_run_the_network():
    net, det, est = make([person_at((640, 360), 400)], detector_people=[])
    for k in range(3):
        pose = est(FRAME, k / 30)
        assert not pose.detected and pose.state == "searching" and pose.person is None and pose.people == 0
    assert det.calls == 3 and net.boxes == []
    # a detection the network does not accept (presence below min_confidence) is nobody too
    det.people = net.subjects
    net.confidence = 0.3
    pose = est(FRAME, 0.2)
    assert not pose.detected and pose.state == "searching" and pose.people == 1 and len(net.boxes) == 1
    assert est.box is None and det.calls == 4
    net.confidence = 0.6  # the default threshold is 0.5
    pose = est(FRAME, 0.3)
    assert pose.detected and (pose.person, pose.people) == (0, 1)


def test_picks_the_largest_central_of_two_detections_and_keeps_it():
    small_central = person_at((660, 380), 250)
    large_aside = person_at((300, 380), 560)
    net, det, est = make([small_central, large_aside])
    pose = est(FRAME, 0.0)
    assert (pose.person, pose.people) == (1, 2)
    np.testing.assert_allclose(pose.joints_2d, large_aside, atol=1e-6)
    # the track stays on that person while the other one moves, and the record says which
    for k in range(1, 10):
        net.subjects[0] = small_central + (25 * k, 0)
        pose = est(FRAME, k / 30)
        np.testing.assert_allclose(pose.joints_2d, large_aside, atol=1e-6)
        assert (pose.person, pose.people) == (1, 2)
    assert det.calls == 1
    # pick = "central" takes the other one
    net, det, est = make([small_central, large_aside], pick="central")
    np.testing.assert_allclose(est(FRAME, 0.0).joints_2d, small_central, atol=1e-6)


def test_pick_person_rules():
    d = [FakeDetection((100, 100, 300, 600), None),   # large, left
         FakeDetection((560, 200, 720, 600), None),   # smaller, central
         FakeDetection((1100, 0, 1280, 720), None)]   # largest, at the edge
    assert pick_person(d, W, H, "largest") == 2
    assert pick_person(d, W, H, "central") == 1
    assert pick_person(d, W, H, "largest_central") == 1
    # a much larger person a little off centre beats a small central one
    d2 = [FakeDetection((600, 300, 680, 420), None), FakeDetection((420, 100, 700, 700), None)]
    assert pick_person(d2, W, H, "largest_central") == 1
    with pytest.raises(ValueError):
        pick_person(d, W, H, "nearest")
    with pytest.raises(SettingsError, match="TrackingSettings.pick = 'nearest' is not allowed"):
        TrackingSettings(pick="nearest")


def test_lost_on_low_presence_holds_then_eases_to_rest_and_reacquires():
    net, det, est = make([person_at((320, 240), 300)], filter_enabled=True, rest_ease_s=1.0)
    net.rotations = np.broadcast_to(R.axis_rotation(0, 1.0), (15, 3, 3)).copy()
    assert est(FRAME, 0.0).detected
    assert est(FRAME, 0.05).detected and det.calls == 1
    net.confidence = 0.05
    p1 = est(FRAME, 0.1)   # the tracked crop's presence drops: lost
    assert det.calls == 1 and est.box is None
    p2 = est(FRAME, 0.6)   # acquisition: the detector runs, the network still says nobody
    p3 = est(FRAME, 1.2)
    assert det.calls == 3
    assert not p1.detected and not p2.detected and not p3.detected
    assert (p1.state, p2.state, p3.state) == ("lost", "lost", "searching")
    d = [np.rad2deg(R.geodesic_angle(p.rotations, np.eye(3))).mean() for p in (p1, p2, p3)]
    assert d[0] > d[1] > d[2] and d[2] < 1e-6  # eases back to rest within rest_ease_s
    net.confidence = 1.0
    p4 = est(FRAME, 1.3)
    assert p4.detected and p4.state == "tracking" and det.calls == 4


def test_the_default_detector_is_created_on_the_first_acquisition():
    from engine.detector import PersonDetector

    net = ScriptedNetwork([person_at((640, 360), 400)])
    est = Estimator(net, settings_of(crop_scale=1.4))
    assert est._detector is None
    pose = est(FRAME, 0.0)  # a black frame: the real detector finds nobody
    assert not pose.detected and pose.state == "searching" and net.boxes == []
    assert isinstance(est._detector, PersonDetector) and est._detector.crop_scale == 1.4
    assert est.timings["detector"] > 0


def test_probe_runs_the_network_once_on_the_whole_frame():
    net = ScriptedNetwork([person_at((640, 360), 400)])
    est = Estimator(net, EngineSettings(), detector=FakeDetector())
    p = est.probe(FRAME)
    assert net.boxes == [Box.full_frame(W, H)] and est.detector.calls == 0
    assert p.joints_3d.shape == (16, 3) and p.rotations.shape == (15, 3, 3) and p.joints_2d.shape == (16, 2)


class ShrinkingNetwork(ScriptedNetwork):
    """The crop loop's failure: a network that sees only its crop (joints clipped to it) and predicts the
    skeleton 30 % too small about its centre."""

    def infer(self, frame, box, camera):
        out = super().infer(frame, box, camera)
        j = np.clip(out.joints_2d, 0, self.input_size)
        c = (j.min(0) + j.max(0)) / 2
        return dataclasses.replace(out, joints_2d=c + 0.7 * (j - c))


class DriftingNetwork(ScriptedNetwork):
    """A network that sees the person wherever its crop is, ``drift`` crop pixels right of the crop's
    centre: the tracked crop walks off the person."""
    drift = 8.0

    def infer(self, frame, box, camera):
        out = super().infer(frame, box, camera)
        j = out.joints_2d
        at = np.array([self.input_size / 2 + self.drift, self.input_size / 2])
        return dataclasses.replace(out, joints_2d=j - (j.min(0) + j.max(0)) / 2 + at)


def make_with(network_cls, subjects, **settings):
    net = network_cls(subjects)
    det = FakeDetector(subjects)
    return net, det, Estimator(net, settings_of(**settings), detector=det)


def test_a_skeleton_predicted_too_small_does_not_shrink_the_crop_for_good():
    person = person_at((640, 360), 500)
    seeded = detection_of(person).crop

    def sides_of(**settings):
        net, det, est = make_with(ShrinkingNetwork, [person], **settings)
        for k in range(90):
            assert est(FRAME, k / 30).detected
        return np.array([b.side for b in net.boxes]) / seeded.side, net, det

    # the defaults: the detector re-check puts the whole body back in the crop every 15 frames
    sides, net, det = sides_of()
    assert det.calls == 6 and all(net.boxes[k] == seeded for k in range(0, 90, 15))
    assert np.median(sides) > 0.3 and sides[-15:].max() == 1.0
    # with a limit on how fast the side may shrink, it stays near the whole body in between
    sides, net, det = sides_of(shrink_per_s=1.0)
    assert sides.min() > 0.6, sides.min()
    # the old tracking (tight box, no limit, no re-check, axis-aligned crops): the crop collapses onto part of
    # the body for good (upright crops collapse too, a little more slowly: the clipped joints turn the crop)
    sides, net, det = sides_of(box_size="tight", recheck_every=0, upright=False)
    assert det.calls == 1 and sides[-30:].max() < 0.1


def test_the_body_size_keeps_a_crouched_person_in_a_whole_body_crop():
    """box_size body: a crouch (thighs and shins foreshortened) keeps at least 0.75 of the standing
    person's crop, from the spine, head and arms; tight follows the tight box."""
    ppm = 500 / np.ptp(SK.rest_joints[:, 1])
    person = person_at((640, 360), 500)
    J = S.JOINT_INDEX
    for side in ("r", "l"):  # arms hanging down, full length
        person[J[f"{side}_elbow"]] = person[J[f"{side}_shoulder"]] + (0, 0.28 * ppm)
        person[J[f"{side}_wrist"]] = person[J[f"{side}_elbow"]] + (0, 0.26 * ppm)
    crouched = person.copy()
    for name in ("r_knee", "r_ankle", "l_knee", "l_ankle"):
        crouched[J[name], 1] = person[J["pelvis"], 1] + 0.3 * (person[J[name], 1] - person[J["pelvis"], 1])
    tight = Box.around(crouched, 1.25).side
    assert tight < 0.8 * 1.25 * 500
    for size, expect in (("body", 1.25 * 0.75 * 500), ("tight", tight)):
        net, det, est = make([person], box_size=size, recheck_every=0)
        est(FRAME, 0.0)
        net.subjects[0] = crouched
        est(FRAME, 1 / 30)
        est(FRAME, 2 / 30)
        assert net.boxes[-1].side == pytest.approx(expect, rel=0.02), size


def test_a_detector_recheck_recentres_a_box_that_drifted():
    person = person_at((640, 360), 400)
    centre = lambda b: np.array([b.left + b.side / 2, b.top + b.side / 2])
    truth = detection_of(person).crop
    # without re-checks the crop walks off the person and never comes back (presence is not checked)
    net, det, est = make_with(DriftingNetwork, [person], min_confidence=0.0, recheck_every=0)
    for k in range(60):
        est(FRAME, k / 30)
    assert np.linalg.norm(centre(net.boxes[-1]) - centre(truth)) > 0.9 * truth.side
    # a re-check every 10 frames puts it back on the detection each time
    net, det, est = make_with(DriftingNetwork, [person], min_confidence=0.0, recheck_every=10)
    for k in range(60):
        est(FRAME, k / 30)
    off = np.array([np.linalg.norm(centre(b) - centre(truth)) for b in net.boxes])
    assert det.calls == 6 and all(net.boxes[k] == truth for k in range(0, 60, 10))
    assert off.max() < 0.5 * truth.side


def test_a_recheck_keeps_the_tracked_person_not_the_pick():
    """Two people: the re-check re-seeds from the detection that overlaps the track, not from the pick,
    and the record names that detection's index among the new ones."""
    small = person_at((640, 380), 250)
    large = person_at((300, 380), 560)
    net, det, est = make([small, large], pick="central", recheck_every=5)
    assert est(FRAME, 0.0).person == 0
    det.people = [large, small]  # the detector lists them in another order now
    for k in range(1, 12):
        pose = est(FRAME, k / 30)
        np.testing.assert_allclose(pose.joints_2d, small, atol=1e-6)
    assert det.calls == 3 and (pose.person, pose.people) == (1, 2)


def test_low_presence_asks_for_a_recheck_on_the_next_frame():
    net, det, est = make([person_at((640, 360), 400)], min_confidence=0.2, recheck_below=0.6, recheck_every=0)
    est(FRAME, 0.0)
    est(FRAME, 1 / 30)
    assert det.calls == 1
    net.confidence = 0.4  # still a person, but doubtful
    assert est(FRAME, 2 / 30).detected and det.calls == 1
    net.confidence = 1.0
    est(FRAME, 3 / 30)
    assert det.calls == 2
    est(FRAME, 4 / 30)
    est(FRAME, 5 / 30)
    assert det.calls == 2


def test_bad_tracking_settings_are_refused():
    with pytest.raises(SettingsError, match="box_size = 'huge' is not allowed; allowed: body, tight"):
        TrackingSettings(box_size="huge")
    with pytest.raises(UserError, match="tracking.min_confidence = 1.5 is out of range"):
        EngineSettings().replaced({"tracking.min_confidence": 1.5})
    with pytest.raises(UserError, match="model.input_size = 100 is not allowed"):
        EngineSettings().replaced({"model.input_size": 100})


def test_open_builds_the_engine_and_close_releases_it():
    """Estimator.open makes backend, person detector and motion model from the settings alone; as a context
    manager it closes them all (their ONNX Runtime sessions are gone after the block)."""
    settings = EngineSettings().replaced({"model.backend": "onnxruntime", "model.threads": 1,
                                          "model.detector_threads": 1, "tracking.crop_scale": 1.4})
    lines = []
    with Estimator.open(settings, log=lines.append) as est:
        assert est.backend.sess is not None and est.detector.sess is not None and est.motion is not None
        assert est.detector.crop_scale == 1.4 and est.settings is settings
        pose = est(FRAME, 0.0)
        assert pose.state == "searching"
        backend, detector, motion = est.backend, est.detector, est.motion
    assert backend.sess is None and detector.sess is None and motion.session is None
    assert len(lines) == 1 and lines[0].startswith("backend: onnxruntime, model skeletonnet.onnx")
    est.close()  # twice is harmless


@pytest.mark.parametrize("key, value, message", [
    ("model.path", "no/such/model.onnx", "no/such/model.onnx: model not found"),
    ("model.path", "assets", "assets: is a folder"),
    ("model.path", "assets/person_detector.onnx", "not a SkeletonNet model"),
    ("model.motion_path", "no/such/motion.onnx", "motion.onnx: motion model not found (or set model.motion: off)"),
])
def test_open_reports_a_bad_file_in_one_line(key, value, message):
    settings = EngineSettings().replaced({"model.backend": "onnxruntime", "model.threads": 1, key: value})
    with pytest.raises(UserError) as e:
        Estimator.open(settings, log=lambda _m: None)
    assert message in str(e.value) and "\n" not in str(e.value)
