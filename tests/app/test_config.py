"""config.yaml loading: defaults, overrides and each kind of one-line error."""
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Config, ConfigError, load_config, parse_override

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, text):
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return p


def test_shipped_config_loads_and_matches_defaults():
    cfg = load_config(REPO / "config.yaml")
    assert isinstance(cfg, Config)
    assert cfg == Config()  # the file documents the defaults, nothing differs
    assert cfg.vmc.port == 39539 and cfg.model.backend == "auto" and cfg.bvh.units == "cm"
    assert cfg.filter.rotation.min_cutoff == 1.5


def test_the_engine_sections_are_the_engines_settings():
    """config.yaml's model, tracking and filter sections are the engine's own settings (one set of defaults):
    ``cfg.engine`` holds those very objects, and the shipped file gives the engine's defaults."""
    from engine.settings import EngineSettings

    cfg = load_config(REPO / "config.yaml", {"tracking.fov_deg": 80, "model.detector_threads": 1})
    eng = cfg.engine
    assert eng.model is cfg.model and eng.tracking is cfg.tracking and eng.filter is cfg.filter
    assert eng.tracking.fov_deg == 80.0 and eng.model.detector_threads == 1
    assert load_config(REPO / "config.yaml").engine == EngineSettings()


def test_partial_file_keeps_other_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "vmc:\n  port: 40000\nfilter:\n  rotation:\n    beta: 0.9\n"))
    assert cfg.vmc.port == 40000 and cfg.vmc.host == "127.0.0.1"
    assert cfg.filter.rotation.beta == 0.9 and cfg.filter.rotation.min_cutoff == 1.5
    assert cfg.camera.source == 0


def test_int_promoted_to_float_and_path_source(tmp_path):
    cfg = load_config(write(tmp_path, "vmc: {rate: 30}\ncamera: {source: clip.mp4}\n"))
    assert cfg.vmc.rate == 30.0 and isinstance(cfg.vmc.rate, float)
    assert cfg.camera.source == "clip.mp4"


@pytest.mark.parametrize("text, message", [
    ("vmc:\n  prot: 1\n",
     "config.yaml: unknown key 'vmc.prot' (allowed: enabled, host, port, rate, root_motion)"),
    ("vmcc: {}\n",
     "config.yaml: unknown key 'vmcc' (allowed: camera, model, tracking, filter, renderer, vmc, bvh)"),
    ("vmc:\n  port: abc\n", "config.yaml: vmc.port = 'abc' is a string; expected an integer"),
    ("vmc:\n  port: 70000\n", "config.yaml: vmc.port = 70000 is out of range; allowed: 1 to 65535"),
    ("vmc:\n  port: 1.5\n", "config.yaml: vmc.port = 1.5 is a number; expected an integer"),
    ("vmc:\n  enabled: 1\n", "config.yaml: vmc.enabled = 1 is an integer; expected true or false"),
    ("model:\n  backend: cuda\n",
     "config.yaml: model.backend = 'cuda' is not allowed; allowed: auto, onnxruntime, tensorrt, torch"),
    ("bvh:\n  units: mm\n", "config.yaml: bvh.units = 'mm' is not allowed; allowed: m, cm"),
    ("model:\n  input_size: 200\n",
     "config.yaml: model.input_size = 200 is not allowed; "
     "allowed: 0 (the model's own size) or a multiple of 32 from 64 to 512"),
    ("model:\n  input_size: 32\n",
     "config.yaml: model.input_size = 32 is not allowed; "
     "allowed: 0 (the model's own size) or a multiple of 32 from 64 to 512"),
    ("filter:\n  position:\n    beta: -1\n",
     "config.yaml: filter.position.beta = -1 is out of range; allowed: 0.0 to 1000.0"),
    ("camera:\n  source: -1\n",
     "config.yaml: camera.source = -1 is out of range; allowed: a camera index 0 or more, or a file/folder path"),
    ("vmc: 5\n", "config.yaml: vmc must be a mapping of keys, got an integer"),
    ("renderer:\n  background: [1, 2]\n",
     "config.yaml: renderer.background = [1, 2] is not allowed; allowed: three numbers 0 to 1"),
    ("vmc: [\n", "config.yaml: not valid YAML at line 2"),
])
def test_bad_values_name_key_value_and_allowed(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert str(e.value) == message
    assert "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_overrides():
    cfg = load_config(REPO / "config.yaml", dict([parse_override("vmc.port=40001"),
                                                  parse_override("model.backend=onnxruntime"),
                                                  parse_override("camera.source=video.mp4")]))
    assert cfg.vmc.port == 40001 and cfg.model.backend == "onnxruntime" and cfg.camera.source == "video.mp4"
    with pytest.raises(ConfigError, match=r"^--set: vmc.port = 0 is out of range; allowed: 1 to 65535$"):
        load_config(REPO / "config.yaml", dict([parse_override("vmc.port=0")]))
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("vmc.port")


def test_cli_reports_one_line_and_exits_nonzero():
    r = subprocess.run([sys.executable, "-m", "app", "--set", "vmc.port=99999", "config", "--check"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2
    assert r.stderr.strip() == "mocap: --set: vmc.port = 99999 is out of range; allowed: 1 to 65535"
    assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "app", "config", "--check"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""


def test_tracking_upright_is_passed_to_the_estimator():
    """tracking.upright (default true, config.yaml) reaches the estimator's settings through Estimator.open."""
    from engine.estimator import Estimator

    assert load_config(REPO / "config.yaml").tracking.upright is True
    for text, want in (("true", True), ("false", False)):
        cfg = load_config(REPO / "config.yaml", dict([parse_override(f"tracking.upright={text}"),
                                                      parse_override("model.backend=onnxruntime"),
                                                      parse_override("model.threads=1"),
                                                      parse_override("model.motion=false")]))
        with Estimator.open(cfg.engine, log=lambda _msg: None) as est:
            assert est.settings.tracking.upright is want
    with pytest.raises(ConfigError, match="tracking.upright"):
        load_config(REPO / "config.yaml", dict([parse_override("tracking.upright=3")]))


def test_an_optional_setting_takes_empty_and_a_value():
    """engine.settings.build: a field typed ``X | None`` takes an empty YAML value and a value of X; anything else
    is one line naming the key."""
    from dataclasses import dataclass

    from engine.settings import build, knob

    @dataclass
    class Opt:
        limit: float | None = knob(None, range=(0.0, 10.0))

    assert build(Opt, {"limit": None}).limit is None and build(Opt, {"limit": 2}).limit == 2.0
    with pytest.raises(ConfigError, match=r"f.yaml: limit = 'x' is a string; expected a number$"):
        build(Opt, {"limit": "x"}, src="f.yaml", error=ConfigError)
    with pytest.raises(ConfigError, match="limit = 11 is out of range"):
        build(Opt, {"limit": 11}, src="f.yaml", error=ConfigError)
