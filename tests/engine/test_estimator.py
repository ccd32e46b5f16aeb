"""The estimator with scripted stand-ins for the network and the person detector: acquisition
(detector, pick, presence), tracking without the detector, loss, the crop's camera, the model's
world-axis joints given to sinks in camera axes, timings."""
from dataclasses import dataclass

import numpy as np
import pytest

from engine import frames
from engine import rotations as R
from engine import skeleton as S
from engine.backends import Backend, Outputs
from engine.estimator import Estimator, EstimatorSettings, pick_person
from engine.preprocess import Box

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


def make(subjects, detector_people=None, **settings):
    net = ScriptedNetwork(subjects)
    det = FakeDetector(subjects if detector_people is None else detector_people)
    return net, det, Estimator(net, EstimatorSettings(**{"filter_enabled": False, **settings}), detector=det)


def test_acquires_from_the_detection_then_tracks_without_the_detector():
    base = person_at((0, 0), 360)
    net, det, est = make([base + (200, 380)])
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
    with pytest.raises(ValueError):
        EstimatorSettings(pick="nearest")


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
    est = Estimator(net, EstimatorSettings(crop_scale=1.4))
    assert est._detector is None
    pose = est(FRAME, 0.0)  # a black frame: the real detector finds nobody
    assert not pose.detected and pose.state == "searching" and net.boxes == []
    assert isinstance(est._detector, PersonDetector) and est._detector.crop_scale == 1.4
    assert est.timings["detector"] > 0


def test_probe_runs_the_network_once_on_the_whole_frame():
    net = ScriptedNetwork([person_at((640, 360), 400)])
    est = Estimator(net, EstimatorSettings(), detector=FakeDetector())
    p = est.probe(FRAME)
    assert net.boxes == [Box.full_frame(W, H)] and est.detector.calls == 0
    assert p.joints_3d.shape == (16, 3) and p.rotations.shape == (15, 3, 3) and p.joints_2d.shape == (16, 2)
