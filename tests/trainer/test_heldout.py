"""trainer.heldout: the held-out-video score training chooses its checkpoints by (and benchmarks.heldout_video
runs), without the teacher or the test videos: the estimator it opens and the scoring."""
import numpy as np
import pytest

from engine import skeleton as S
from trainer import heldout as H
from trainer.data.videos import ROOT, video_frames

MODEL = ROOT / "assets" / "skeletonnet.onnx"


@pytest.fixture(scope="module")
def app_estimator():
    """The estimator benchmarks.heldout_video scores: what mocap process builds from config.yaml, on ONNX
    Runtime with one thread, no motion model, its person detector on one thread."""
    from app.config import load_config
    from engine.estimator import Estimator

    cfg = load_config(ROOT / "config.yaml", {"model.path": str(MODEL), "model.threads": 1,
                                            "model.detector_threads": 1, "model.backend": "onnxruntime",
                                            "model.motion": False})
    return lambda: Estimator.open(cfg.engine, log=lambda *_: None)


def test_the_trainer_opens_the_estimator_the_app_builds(app_estimator):
    """The trainer opens its estimator from the engine alone (it imports no app): the same settings as
    config.yaml gives, the same backend, input size and detector crop, no motion model; and the same poses,
    bit for bit, on frames 40-55 of the bundled walking clip (the walker is reported from frame 43 on)."""
    app, ours = app_estimator(), H.open_estimator(MODEL)
    assert ours.settings == app.settings
    assert type(ours.backend) is type(app.backend) and ours.size == app.size
    assert ours.detector.crop_scale == app.detector.crop_scale and ours.motion is None and app.motion is None
    found = 0
    for k, frame in video_frames(ROOT / "tests" / "data" / "sports2d_walk.mp4"):
        if k < 40:
            continue
        if k > 55:
            break
        a, b = app(frame, k / 30.0), ours(frame, k / 30.0)
        assert a.detected == b.detected
        np.testing.assert_array_equal(a.joints_2d, b.joints_2d)
        np.testing.assert_array_equal(a.rotations, b.rotations)
        found += b.detected
    assert found >= 8


def _record(rng, k, shift=0.0, found=True):
    teacher = np.array([200.0, 100.0]) + rng.uniform(0, 200, (S.NUM_JOINTS, 2))
    conf = np.where(rng.random(S.NUM_JOINTS) < 0.9, 0.9, 0.1)
    box = H.oracle_box(teacher, conf)
    pred = teacher + shift
    return {"frame": k, "teacher": teacher, "conf": conf, "box": (box.left, box.top, box.side), "oracle": pred,
            "found": found, "app": pred if found else np.full((S.NUM_JOINTS, 2), np.nan), "app_confidence": 0.9}


def test_scores_of_made_up_records():
    """Exact predictions score PCK 1 everywhere; frames where the app reports nobody count as misses; a
    shift of half the torso diagonal misses every joint at PCK@0.2."""
    rng = np.random.default_rng(0)
    recs = [_record(rng, k) for k in range(6)] + [_record(rng, 6, found=False)]
    row = H.score_group(recs, H.mean_pose(recs), True)
    assert row["teacher_frames"] == 7 and row["oracle"]["pck@0.2"] == 1.0 and row["oracle"]["error_crop"] == 0.0
    assert row["app"]["found"] == pytest.approx(6 / 7) and row["app"]["pck@0.2"] == pytest.approx(6 / 7)
    assert row["app"]["pck@0.2_when_found"] == 1.0 and row["app"]["on_teacher_person"] == 1.0
    far = [_record(rng, k, shift=1000.0) for k in range(3)]
    assert H.score_group(far, None, False)["oracle"]["pck@0.2"] == 0.0
    assert H.iou(np.array([0, 0, 2, 2.0]), np.array([1, 0, 3, 2.0])) == pytest.approx(1 / 3)


def test_the_groups_split_the_test_videos():
    from trainer.data.videos import load_splits

    splits = load_splits()
    select, report = H.held_out_videos(splits, "select"), H.held_out_videos(splits, "report")
    assert len(select) == len(report) == 4 and not set(select) & set(report)
    assert sorted(H.held_out_videos(splits, "all")) == sorted(select + report)  # the demo clip is left out
