"""benchmarks/tracking.py's pure functions on small synthetic inputs (the benchmark itself needs the
held-out videos and the teacher: python -m benchmarks.tracking)."""
import numpy as np

from benchmarks import tracking as T
from engine import skeleton as S


def body(cx, cy, h=100.0):
    """(16, 2) joints of a standing body centred at (cx, cy), h pixels tall."""
    j = np.zeros((S.NUM_JOINTS, 2))
    j[:, 0] = cx
    j[:, 1] = np.linspace(cy - h / 2, cy + h / 2, S.NUM_JOINTS)
    for n in ("r_shoulder", "l_shoulder", "r_hip", "l_hip"):
        j[S.JOINT_INDEX[n]] = (cx + (10 if n.startswith("r") else -10), cy)
    return j


def test_false_report_counter_on_a_blank_video_gives_zero():
    from engine.detector import PersonDetector

    det = PersonDetector(threads=1)
    blank = [np.full((480, 640, 3), v, np.uint8) for v in (0, 128, 255)]
    assert T.count_reports(lambda f, t: bool(det.detect(f)), blank) == (3, 0)
    assert T.count_reports(lambda f, t: True, blank) == (3, 3)          # "always report"
    seen = []
    T.count_reports(lambda f, t: seen.append(t), blank, fps=10.0)
    assert seen == [0.0, 0.1, 0.2]


def test_person_box_uses_the_seen_joints_and_grows_by_the_margin():
    j = body(100, 100)
    conf = np.ones(S.NUM_JOINTS)
    box = T.person_box(j, conf, margin=0.1)
    np.testing.assert_allclose(box, [90 - 2, 50 - 10, 110 + 2, 150 + 10])
    j2 = j.copy()
    j2[0] = (900, 900)  # a wild joint the teacher does not see
    conf[0] = 0.1
    np.testing.assert_allclose(T.person_box(j2, conf, 0.0)[2:], [110, 150])
    assert T.person_box(j2, np.zeros(S.NUM_JOINTS), 0.0)[2] == 900  # nothing seen: all joints


def test_same_person_on_known_boxes():
    teacher = T.person_box(body(100, 100), np.ones(S.NUM_JOINTS))
    assert T.same_person(body(100, 100), teacher)
    assert T.same_person(body(105, 90, h=60), teacher)          # a smaller skeleton on the same torso
    assert not T.same_person(body(400, 100), teacher)           # a bystander beside them
    assert not T.same_person(np.full((S.NUM_JOINTS, 2), np.nan), teacher)
    np.testing.assert_allclose(T.torso_centre(body(3, 4)), [3, 4])


def test_free_window_avoids_the_person_and_keeps_the_webcam_aspect():
    boxes = np.array([[300, 400, 800, 1300], [350, 450, 850, 1400]])  # a person in a 1080x1920 portrait frame
    x0, y0, x1, y1 = T.free_window(boxes, 1080, 1920)
    assert 0 <= x0 < x1 <= 1080 and 0 <= y0 < y1 <= 1920
    assert y0 >= 1400 or y1 <= 400 or x1 <= 300 or x0 >= 850    # outside the union of the boxes
    assert abs((x1 - x0) / (y1 - y0) - 4 / 3) < 0.01
    assert y0 >= 1400 and (x1 - x0, y1 - y0) == (693, 520)       # the largest strip: the 1080x520 below
    assert T.free_window(np.array([[0, 0, 640, 480]]), 640, 480) is None  # the person fills the frame


def test_perspective_view_looks_where_it_is_told():
    pano = np.zeros((180, 360, 3), np.uint8)
    pano[..., 0] = np.arange(360)[None, :] * 255 // 359           # blue encodes the longitude
    pano[..., 1] = np.arange(180)[:, None] * 255 // 179           # green the latitude (0 at the top)
    v0 = T.perspective_view(pano, 0, 0, (64, 48), 65)
    v90 = T.perspective_view(pano, 90, 0, (64, 48), 65)
    up = T.perspective_view(pano, 0, 30, (64, 48), 65)
    assert v0.shape == (48, 64, 3) and v0.dtype == np.uint8
    assert abs(int(v0[24, 32, 0]) - 128) <= 3                     # heading 0: the panorama's centre column
    assert abs(int(v90[24, 32, 0]) - 191) <= 3                    # 90 degrees on: three quarters across
    assert abs(int(up[24, 32, 1]) - 85) <= 4                      # 30 degrees up: a third of the way down
    assert v0[24, 60, 0] > v0[24, 4, 0]                           # x right is increasing longitude
    frames = list(T.pan(pano, 0, n=4))
    assert len(frames) == 4 and frames[0].shape == (480, 640, 3)


def test_tone_map_gives_bgr_bytes():
    hdr = np.zeros((4, 4, 3), np.float32)
    hdr[..., 0] = 1.0   # red
    hdr[0, 0] = np.inf
    out = T.tone_map(hdr)
    assert out.dtype == np.uint8 and out.shape == (4, 4, 3)
    assert out[1, 1, 2] == 255 and out[1, 1, 0] == 0              # red lands in the last (R) channel of BGR
