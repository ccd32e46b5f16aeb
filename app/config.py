"""``config.yaml`` loaded into typed dataclasses, with one-line errors.

Every user-facing knob lives in ``config.yaml`` at the repository root (or a
file named with ``--config``). Each field declares its type and either a range
or a set of allowed values; loading checks every key:

* an unknown key  -> ``config.yaml: unknown key 'vmc.prot' (allowed: enabled, host, ...)``
* a wrong type    -> ``config.yaml: vmc.port = 'abc' is a string; expected an integer``
* out of range    -> ``config.yaml: vmc.port = 70000 is out of range; allowed: 1 to 65535``
* not allowed     -> ``config.yaml: model.backend = 'cuda' is not allowed; allowed: auto, ...``

CLI flags override single keys with ``--set section.key=value`` (the value is
read as YAML, so ``--set vmc.port=9000`` is an integer).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import settings as engine_settings
from engine import yamlfile
from engine.errors import UserError
from engine.settings import (
    EngineSettings,
    FilterSettings,
    ModelSettings,
    TrackingSettings,
    knob,
)

REPO_ROOT = engine_settings.REPO_ROOT
DEFAULT_CONFIG = REPO_ROOT / "config.yaml"


class ConfigError(UserError):
    """A user mistake in the configuration; its message is one line for the user."""


@dataclass
class CameraConfig:
    source: int | str = knob(0, doc="webcam index, or a video file / image folder path")
    width: int = knob(1280, range=(160, 7680), doc="requested capture width, pixels")
    height: int = knob(720, range=(120, 4320), doc="requested capture height, pixels")
    fps: int = knob(30, range=(1, 240), doc="requested capture rate, frames/s")
    mirror: bool = knob(True, doc="flip the camera image left-right (selfie view)")


@dataclass
class RendererConfig:
    width: int = knob(1280, range=(160, 7680), doc="window width, pixels")
    height: int = knob(720, range=(120, 4320), doc="window height, pixels")
    avatar: str = knob("assets/avatar.glb", doc="glTF/GLB/VRM avatar")
    vsync: bool = knob(True)
    background: list = knob([0.12, 0.12, 0.14], doc="RGB 0..1")


@dataclass
class VMCConfig:
    enabled: bool = knob(False, doc="stream over VMC at start")
    host: str = knob("127.0.0.1")
    port: int = knob(39539, range=(1, 65535))
    rate: float = knob(60.0, range=(1.0, 240.0), doc="maximum bundles per second")
    root_motion: str = knob("hips", choices=("off", "hips", "full"))


@dataclass
class BVHConfig:
    units: str = knob("cm", choices=("m", "cm"))
    folder: str = knob("recordings")
    fps: float = knob(30.0, range=(1.0, 240.0), doc="constant frame rate of recorded clips")


@dataclass
class Config:
    camera: CameraConfig = field(default_factory=CameraConfig)
    # the engine's sections are the engine's own settings types (engine/settings.py): one set of defaults,
    # one path for each value into Estimator.open
    model: ModelSettings = field(default_factory=ModelSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    filter: FilterSettings = field(default_factory=FilterSettings)
    renderer: RendererConfig = field(default_factory=RendererConfig)
    vmc: VMCConfig = field(default_factory=VMCConfig)
    bvh: BVHConfig = field(default_factory=BVHConfig)

    @property
    def engine(self) -> EngineSettings:
        """The engine's settings: these sections themselves (not copies)."""
        return EngineSettings(model=self.model, tracking=self.tracking, filter=self.filter)


# --------------------------------------------------------------------------- loading

def _validate_renderer(self: RendererConfig, prefix: str, src: str):
    bg = self.background
    if len(bg) != 3 or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and 0 <= c <= 1 for c in bg):
        raise ConfigError(f"{src}: {prefix}.background = {bg!r} is not allowed; allowed: three numbers 0 to 1")


def _validate_camera(self: CameraConfig, prefix: str, src: str):
    if isinstance(self.source, int) and self.source < 0:
        raise ConfigError(f"{src}: {prefix}.source = {self.source} is out of range; allowed: a camera "
                          "index 0 or more, or a file/folder path")


def _build(data: dict, src: str) -> Config:
    cfg = engine_settings.build(Config, data, "", src, ConfigError)
    _validate_camera(cfg.camera, "camera", src)
    _validate_renderer(cfg.renderer, "renderer", src)
    return cfg


def parse_override(text: str) -> tuple[str, Any]:
    """``"vmc.port=9000"`` -> ``("vmc.port", 9000)`` (value parsed as YAML)."""
    return yamlfile.parse_override(text, ConfigError)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Load and check a config file, then apply ``{"section.key": value}`` overrides.

    ``path=None`` reads the repository's ``config.yaml`` (built-in defaults when
    it is absent). Raises :class:`ConfigError` with a one-line message.
    """
    p = Path(path) if path is not None else DEFAULT_CONFIG
    src = p.name
    data = yamlfile.read_yaml(p, "config file", ConfigError) if path is not None or p.exists() else {}
    cfg = _build(data, src)
    if overrides:
        for key, value in overrides.items():
            yamlfile.set_dotted(data, key, value, "--set", ConfigError)
        cfg = _build(data, "--set")
    return cfg


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)
