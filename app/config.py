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
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import yamlfile
from engine.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config.yaml"


class ConfigError(UserError):
    """A user mistake in the configuration; its message is one line for the user."""


def knob(default, *, range=None, choices=None, doc=""):  # noqa: A002 - 'range' reads well here
    """A dataclass field with validation metadata."""
    meta = {"range": range, "choices": choices, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class CameraConfig:
    source: int | str = knob(0, doc="webcam index, or a video file / image folder path")
    width: int = knob(1280, range=(160, 7680), doc="requested capture width, pixels")
    height: int = knob(720, range=(120, 4320), doc="requested capture height, pixels")
    fps: int = knob(30, range=(1, 240), doc="requested capture rate, frames/s")
    mirror: bool = knob(True, doc="flip the camera image left-right (selfie view)")


@dataclass
class TensorRTConfig:
    fp16: bool = knob(True, doc="build the TensorRT engine in FP16")
    cache_dir: str = knob("~/.cache/mocap/trt", doc="where built engines are cached")
    workspace_mb: int = knob(1024, range=(64, 65536), doc="builder workspace, MiB")


@dataclass
class ModelConfig:
    path: str = knob("assets/skeletonnet.onnx", doc="ONNX model (or .pt checkpoint for backend torch)")
    backend: str = knob("auto", choices=("auto", "onnxruntime", "tensorrt", "torch"))
    input_size: int = knob(0, range=(0, 512), doc="square network input, pixels (multiple of 32); "
                            "0 = the model's own size")
    threads: int = knob(0, range=(0, 64), doc="CPU inference threads, 0 = all cores")
    motion: bool = knob(True, doc="3D joints and rotations from the motion model (docs/motion.md); "
                        "off: SkeletonNet's own 3D")
    motion_path: str = knob("assets/motion.onnx", doc="the motion model (ONNX)")
    tensorrt: TensorRTConfig = field(default_factory=TensorRTConfig)


@dataclass
class TrackingConfig:
    min_confidence: float = knob(0.5, range=(0.0, 1.0),
                                 doc="presence probability below which the person is re-acquired")
    crop_scale: float = knob(1.25, range=(1.0, 3.0), doc="crop box size relative to the tight box")
    rest_ease_s: float = knob(1.0, range=(0.0, 10.0), doc="seconds to ease back to rest when nobody is seen")
    box_size: str = knob("body", choices=("body", "tight"), doc="the tracked crop: tight = crop_scale x the tight "
                         "box of the last 2D joints; body = the same, but at least crop_scale x 0.75 x the standing "
                         "height from the bone lengths")
    shrink_per_s: float = knob(0.0, range=(0.0, 100.0), doc="the tracked crop's side shrinks at most by "
                               "exp(-this x seconds) a frame; 0 = no limit")
    recheck_every: int = knob(15, range=(0, 100000), doc="tracked frames between person-detector re-checks of "
                              "the crop (re-seeded from the detection overlapping the track best); 0 = never")
    recheck_below: float = knob(0.0, range=(0.0, 1.0), doc="presence below which the next frame re-checks too")
    upright: bool = knob(True, doc="turn crops so the body is upright (shoulders above hips), the crops a network "
                         "trained on upright crops expects; off: axis-aligned crops")


@dataclass
class OneEuroConfig:
    min_cutoff: float = knob(1.0, range=(0.001, 100.0), doc="Hz; lower = smoother at rest")
    beta: float = knob(10.0, range=(0.0, 1000.0), doc="speed coefficient; higher = less lag when moving")
    d_cutoff: float = knob(1.0, range=(0.001, 100.0), doc="Hz, cutoff of the derivative")


@dataclass
class FilterConfig:
    enabled: bool = knob(True)
    position: OneEuroConfig = field(default_factory=OneEuroConfig)
    rotation: OneEuroConfig = field(default_factory=lambda: OneEuroConfig(min_cutoff=1.5, beta=10.0))


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
    model: ModelConfig = field(default_factory=ModelConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    renderer: RendererConfig = field(default_factory=RendererConfig)
    vmc: VMCConfig = field(default_factory=VMCConfig)
    bvh: BVHConfig = field(default_factory=BVHConfig)


# --------------------------------------------------------------------------- loading

_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
               list: "a list"}


def _allowed_types(tp) -> tuple:
    if isinstance(tp, str):
        tp = eval(tp, vars(typing), {"int": int, "str": str, "float": float, "bool": bool, "list": list})
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return tuple(typing.get_args(tp))
    return (tp,)


def _coerce(where: str, value: Any, f: dataclasses.Field, src: str):
    allowed = _allowed_types(f.type)
    ok = None
    for tp in allowed:
        if tp is bool:
            if isinstance(value, bool):
                ok = value
        elif tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                ok = value
        elif tp is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                ok = float(value)
        elif isinstance(value, tp):
            ok = value
        if ok is not None:
            break
    if ok is None:
        want = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in allowed)
        raise ConfigError(f"{src}: {where} = {value!r} is {yamlfile.type_word(value)}; expected {want}")
    meta = f.metadata
    if meta.get("range") is not None and isinstance(ok, (int, float)):
        lo, hi = meta["range"]
        if not lo <= ok <= hi:
            raise ConfigError(f"{src}: {where} = {value!r} is out of range; allowed: {lo} to {hi}")
    if meta.get("choices") is not None and ok not in meta["choices"]:
        raise ConfigError(f"{src}: {where} = {value!r} is not allowed; allowed: {', '.join(map(str, meta['choices']))}")
    return ok


def _build(cls, data: Any, prefix: str, src: str):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: {prefix or 'the file'} must be a mapping of keys, got {yamlfile.type_word(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            raise ConfigError(f"{src}: unknown key '{where}' (allowed: {', '.join(fields)})")
        f = fields[key]
        sub = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(sub):
            base = dataclasses.asdict(sub)
            if isinstance(value, dict):
                base.update(value)
                value = base
            kwargs[key] = _build(type(sub), value, where, src)
        else:
            kwargs[key] = _coerce(where, value, f, src)
    for name, f in fields.items():  # nested defaults that differ per field (e.g. filter.rotation)
        if name not in kwargs and f.default_factory is not dataclasses.MISSING:
            kwargs[name] = f.default_factory()
    obj = cls(**kwargs)
    extra = getattr(obj, "_validate", None)
    if extra:
        extra(prefix, src)
    return obj


def _validate_model(self: ModelConfig, prefix: str, src: str):
    if self.input_size and (self.input_size % 32 or self.input_size < 64):
        raise ConfigError(f"{src}: {prefix}.input_size = {self.input_size} is not allowed; "
                          "allowed: 0 (the model's own size) or a multiple of 32 from 64 to 512")


def _validate_renderer(self: RendererConfig, prefix: str, src: str):
    bg = self.background
    if len(bg) != 3 or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and 0 <= c <= 1 for c in bg):
        raise ConfigError(f"{src}: {prefix}.background = {bg!r} is not allowed; allowed: three numbers 0 to 1")


def _validate_camera(self: CameraConfig, prefix: str, src: str):
    if isinstance(self.source, int) and self.source < 0:
        raise ConfigError(f"{src}: {prefix}.source = {self.source} is out of range; allowed: a camera "
                          "index 0 or more, or a file/folder path")


ModelConfig._validate = _validate_model  # type: ignore[attr-defined]
RendererConfig._validate = _validate_renderer  # type: ignore[attr-defined]
CameraConfig._validate = _validate_camera  # type: ignore[attr-defined]


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
    cfg = _build(Config, data, "", src)
    if overrides:
        for key, value in overrides.items():
            yamlfile.set_dotted(data, key, value, "--set", ConfigError)
        cfg = _build(Config, data, "", "--set")
    return cfg


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)
