"""The motion model's training settings (``trainer.motion.train.MotionTrainConfig``): a YAML file, the flags and
``--set`` on top of it, one-line mistakes naming the file and the key, and a tiny training run from a file that
resumes."""
import dataclasses

import pytest
import torch
import yaml

from engine.errors import UserError
from trainer.__main__ import main as trainer_main
from trainer.motion.train import MotionTrainConfig, load_motion_config, parse_args

TINY = {"use_cmu": False, "deepmimic": False, "steps": 2, "batch": 8, "hidden": 16, "blocks": 1, "window": 9,
        "sampler_frames": 300, "every": 2, "threads": 1, "seed": 1}


def write(tmp_path, **keys):
    p = tmp_path / "motion.yaml"
    p.write_text(yaml.safe_dump(keys))
    return p


def test_defaults_are_the_documented_flags_defaults():
    cfg = parse_args([])
    assert cfg == MotionTrainConfig()
    assert (cfg.out, cfg.steps, cfg.batch, cfg.window, cfg.arch, cfg.use_cmu, cfg.noise_scale, cfg.mocap_share) == (
        "runs/motion", 20000, 256, 27, "mlp", True, [0.5, 1.5], -1.0)


def test_file_then_flags_then_set(tmp_path):
    p = write(tmp_path, window=9, arch="tcn", exact_share=0, noise_scale=[1, 2], use_cmu=False)
    cfg = parse_args(["--config", str(p)])
    assert (cfg.window, cfg.arch, cfg.exact_share, cfg.noise_scale, cfg.use_cmu) == (9, "tcn", 0.0, [1.0, 2.0], False)
    assert isinstance(cfg.exact_share, float)
    cfg = parse_args(["--config", str(p), "--window", "27", "--noise-scale", "0.7", "1.1", "--no-deepmimic",
                      "--set", "window=81", "--set", "lr=0.0005"])
    assert (cfg.window, cfg.arch, cfg.noise_scale, cfg.deepmimic, cfg.lr) == (81, "tcn", [0.7, 1.1], False, 5e-4)
    assert load_motion_config(None, {"steps": 5}, ["every=5"]) == MotionTrainConfig(steps=5, every=5)


@pytest.mark.parametrize("keys, said", [
    ({"windw": 9}, "unknown key 'windw' (allowed: out, steps, batch, "),
    ({"window": "nine"}, "window = 'nine' is a string; expected an integer"),
    ({"exact_share": 1.5}, "exact_share = 1.5 is out of range; allowed: 0.0 to 1.0"),
    ({"arch": "rnn"}, "arch = 'rnn' is not allowed; allowed: mlp, tcn, transformer"),
    ({"noise_scale": [2.0, 1.0]}, "noise_scale = [2.0, 1.0] is not allowed"),
    ({"mocap_share": -0.5}, "mocap_share = -0.5 is not allowed"),
])
def test_file_mistakes_are_one_line_naming_the_file_and_the_key(tmp_path, capsys, keys, said):
    p = write(tmp_path, **keys)
    assert trainer_main(["motion", "train", "--config", str(p), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"trainer: {p}: {said}") and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_flag_and_set_mistakes_name_where_they_came_from(tmp_path):
    with pytest.raises(UserError, match=r"^command line: window = 0 is out of range"):
        parse_args(["--window", "0"])
    with pytest.raises(UserError, match=r"^command line: arch = 'rnn' is not allowed"):
        parse_args(["--arch", "rnn"])
    with pytest.raises(UserError, match=r"^--set: unknown key 'windw'"):
        parse_args(["--set", "windw=9"])
    with pytest.raises(UserError, match="motion training config not found"):
        parse_args(["--config", str(tmp_path / "none.yaml")])


@pytest.mark.slow
def test_a_tiny_training_from_a_file_writes_and_resumes(tmp_path):
    p = write(tmp_path, out=str(tmp_path / "run"), **TINY)
    assert trainer_main(["motion", "train", "--config", str(p)]) == 0
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert last["step"] == 2 and last["config"]["window"] == 9 and last["config"]["hidden"] == 16
    assert last["args"] == dataclasses.asdict(load_motion_config(p))  # the settings it ran with
    assert (tmp_path / "run" / "best.pt").exists()
    assert trainer_main(["motion", "train", "--config", str(p), "--set", "steps=4"]) == 0  # resumes 2 -> 4
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["step"] == 4
    rows = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert len(rows) == 2
    assert trainer_main(["motion", "train", "--config", str(p), "--hidden", "32"]) == 2  # another architecture
