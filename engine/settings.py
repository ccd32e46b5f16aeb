"""Typed settings: the engine's own (``EngineSettings``) and the one loader every config of the project uses.

**The loader.** A settings type is a dataclass whose fields are ``knob``s: a default, and a range or a
set of allowed values, and a line of documentation. ``build(cls, data, prefix, src, error)`` turns a
mapping read from YAML (``engine.yamlfile.read_yaml``) into an instance and checks every key, with one
line for each mistake (``error``, a ``UserError`` class):

* an unknown key  -> ``config.yaml: unknown key 'vmc.prot' (allowed: enabled, host, ...)``
* a wrong type    -> ``config.yaml: vmc.port = 'abc' is a string; expected an integer``
* out of range    -> ``config.yaml: vmc.port = 70000 is out of range; allowed: 1 to 65535``
* not allowed     -> ``config.yaml: model.backend = 'cuda' is not allowed; allowed: auto, ...``

A section (a field whose default is a dataclass) is built recursively; a list of sections
(``knob(..., item=Cls)``) too. Instances made in code check their own fields the same way
(``check_fields`` in ``__post_init__``), so a wrong value never reaches the engine by either road.
``replaced(obj, {"section.key": value})`` is a checked copy with dotted keys changed, as ``--set``.
The app's ``config.yaml`` (``app.config``) and the trainer's configs use this loader.

**The engine's settings.** ``EngineSettings`` is everything ``engine.estimator.Estimator.open`` needs:
``model`` (file, backend, threads, input size, the person detector's threads, the motion model),
``tracking`` (acquisition, the tracked crop, presence, the camera's field of view) and ``filter`` (One-Euro
filters). The app's ``config.yaml`` sections ``model``, ``tracking`` and ``filter`` *are* these types:
one set of defaults, one path for each value.
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


class SettingsError(UserError):
    """A settings value out of range or not allowed; the message is one line naming the type and the key
    (``TrackingSettings.pick = 'x' is not allowed; ...``). ``key`` and ``problem`` (the text after the key)
    let the loader name the file and the dotted key instead."""

    def __init__(self, owner: str, key: str, problem: str):
        super().__init__(f"{owner}.{key} {problem}")
        self.key, self.problem = key, problem


def knob(default, *, range=None, choices=None, doc="", item=None):  # noqa: A002 - 'range' reads well here
    """A dataclass field with validation metadata: ``range`` (lo, hi) for numbers, ``choices`` for values,
    ``item`` the dataclass of each entry of a list field."""
    meta = {"range": range, "choices": choices, "doc": doc, "item": item}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls, **defaults):
    """A field holding a nested settings section (a dataclass), made fresh per instance."""
    return field(default_factory=lambda: cls(**defaults) if defaults else cls())


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a mapping"}


def _allowed_types(tp) -> tuple:
    if isinstance(tp, str):
        tp = eval(tp, vars(typing), {"int": int, "str": str, "float": float, "bool": bool, "list": list,
                                     "dict": dict})
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return tuple(typing.get_args(tp))
    origin = typing.get_origin(tp)
    return (origin or tp,)


def value_problem(value: Any, f: dataclasses.Field, shown: Any = None) -> str | None:
    """What is wrong with ``value`` for field ``f`` against its range or allowed values, as the text after
    the key (``"= 7 is out of range; allowed: 0 to 1"``, naming ``shown``, the value as the user wrote it,
    when given; ``None``: nothing)."""
    shown = value if shown is None else shown
    meta = f.metadata
    rng, choices = meta.get("range"), meta.get("choices")
    if rng is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = rng
        if not lo <= value <= hi:
            return f"= {shown!r} is out of range; allowed: {lo} to {hi}"
    if choices is not None and value not in choices:
        return f"= {shown!r} is not allowed; allowed: {', '.join(map(str, choices))}"
    return None


def check_fields(obj) -> None:
    """Every field of a settings instance against its knob's range and allowed values (``SettingsError``);
    for ``__post_init__``."""
    for f in dataclasses.fields(obj):
        why = value_problem(getattr(obj, f.name), f)
        if why:
            raise SettingsError(type(obj).__name__, f.name, why)


def _coerce(where: str, value: Any, f: dataclasses.Field, src: str, error):
    allowed = _allowed_types(f.type)
    if value is None and type(None) in allowed:   # an optional field (``X | None``) left empty
        return None
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
        elif isinstance(tp, type) and isinstance(value, tp):
            ok = value
        if ok is not None:
            break
    if ok is None:
        want = " or ".join(_TYPE_WORDS.get(t, getattr(t, "__name__", str(t))) for t in allowed if t is not type(None))
        raise error(f"{src}: {where} = {value!r} is {yamlfile.type_word(value)}; expected {want}")
    why = value_problem(ok, f, value)
    if why:
        raise error(f"{src}: {where} {why}")
    return ok


def build(cls, data: Any, prefix: str = "", src: str = "config", error=UserError):
    """An instance of the settings dataclass ``cls`` from a mapping, every key checked (module doc).
    Keys left out keep their defaults; ``error`` is raised with one line naming ``src`` and the key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(f"{src}: {prefix or 'the file'} must be a mapping of keys, got {yamlfile.type_word(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            raise error(f"{src}: unknown key '{where}' (allowed: {', '.join(fields)})")
        f = fields[key]
        sub = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        item = f.metadata.get("item")
        if dataclasses.is_dataclass(sub):
            base = dataclasses.asdict(sub)
            if isinstance(value, dict):
                base.update(value)
                value = base
            kwargs[key] = build(type(sub), value, where, src, error)
        elif item is not None and isinstance(value, list):
            kwargs[key] = [build(item, v, f"{where}[{i}]", src, error) for i, v in enumerate(value)]
        else:
            kwargs[key] = _coerce(where, value, f, src, error)
    for name, f in fields.items():  # nested defaults that differ per field (e.g. filter.rotation)
        if name not in kwargs and f.default_factory is not dataclasses.MISSING:
            kwargs[name] = f.default_factory()
    try:
        return cls(**kwargs)
    except SettingsError as e:  # a rule of __post_init__
        raise error(f"{src}: {prefix + '.' if prefix else ''}{e.key} {e.problem}") from None


def replaced(obj, changes: dict[str, Any], src: str = "--set", error=UserError):
    """A copy of the settings ``obj`` with dotted keys changed (``{"tracking.min_confidence": 0.0}``),
    checked like a file."""
    data = dataclasses.asdict(obj)
    for key, value in changes.items():
        yamlfile.set_dotted(data, key, value, src, error)
    return build(type(obj), data, "", src, error)


def repo_path(path: str | Path) -> Path:
    """A settings path: ``~`` expanded; a relative path is relative to the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


# --------------------------------------------------------------------------- the engine's settings

PICKS = ("largest_central", "largest", "central")
BOX_SIZES = ("body", "tight")
BACKENDS = ("auto", "onnxruntime", "tensorrt", "torch")


@dataclass
class TensorRTSettings:
    fp16: bool = knob(True, doc="build the TensorRT engine in FP16")
    cache_dir: str = knob("~/.cache/mocap/trt", doc="where built engines are cached")
    workspace_mb: int = knob(1024, range=(64, 65536), doc="builder workspace, MiB")

    def __post_init__(self):
        check_fields(self)


@dataclass
class ModelSettings:
    path: str = knob("assets/skeletonnet.onnx", doc="ONNX model (or .pt checkpoint for backend torch)")
    backend: str = knob("auto", choices=BACKENDS)
    input_size: int = knob(0, range=(0, 512), doc="square network input, pixels (multiple of 32); "
                           "0 = the model's own size")
    threads: int = knob(0, range=(0, 64), doc="CPU inference threads, 0 = all cores")
    detector_threads: int = knob(0, range=(0, 64), doc="the person detector's CPU threads, 0 = all cores")
    motion: bool = knob(True, doc="3D joints and rotations from the motion model (docs/motion.md); "
                        "off: SkeletonNet's own 3D")
    motion_path: str = knob("assets/motion.onnx", doc="the motion model (ONNX)")
    tensorrt: TensorRTSettings = section(TensorRTSettings)

    def __post_init__(self):
        check_fields(self)
        if self.input_size and (self.input_size % 32 or self.input_size < 64):
            raise SettingsError("ModelSettings", "input_size", f"= {self.input_size} is not allowed; "
                                "allowed: 0 (the model's own size) or a multiple of 32 from 64 to 512")


@dataclass
class TrackingSettings:
    min_confidence: float = knob(0.5, range=(0.0, 1.0),
                                 doc="presence probability below which the person is re-acquired")
    crop_scale: float = knob(1.25, range=(1.0, 3.0), doc="crop box size relative to the tight box")
    rest_ease_s: float = knob(1.0, range=(0.0, 10.0), doc="seconds to ease back to rest when nobody is seen")
    pick: str = knob("largest_central", choices=PICKS, doc="whom to acquire among the detected people")
    box_size: str = knob("body", choices=BOX_SIZES, doc="the tracked crop: tight = crop_scale x the tight "
                         "box of the last 2D joints; body = the same, but at least crop_scale x 0.75 x the standing "
                         "height from the bone lengths")
    shrink_per_s: float = knob(0.0, range=(0.0, 100.0), doc="the tracked crop's side shrinks at most by "
                               "exp(-this x seconds) a frame; 0 = no limit")
    recheck_every: int = knob(15, range=(0, 100000), doc="tracked frames between person-detector re-checks of "
                              "the crop (re-seeded from the detection overlapping the track best); 0 = never")
    recheck_below: float = knob(0.0, range=(0.0, 1.0), doc="presence below which the next frame re-checks too")
    upright: bool = knob(True, doc="turn crops so the body is upright (shoulders above hips), the crops a network "
                         "trained on upright crops expects; off: axis-aligned crops")
    fov_deg: float = knob(65.0, range=(10.0, 170.0), doc="the camera's field of view across the frame's larger "
                          "side, degrees (the crops' intrinsics, the motion model's rays)")

    def __post_init__(self):
        check_fields(self)


@dataclass
class OneEuroSettings:
    min_cutoff: float = knob(1.0, range=(0.001, 100.0), doc="Hz; lower = smoother at rest")
    beta: float = knob(10.0, range=(0.0, 1000.0), doc="speed coefficient; higher = less lag when moving")
    d_cutoff: float = knob(1.0, range=(0.001, 100.0), doc="Hz, cutoff of the derivative")

    def __post_init__(self):
        check_fields(self)

    def args(self) -> tuple[float, float, float]:
        """(min_cutoff, beta, d_cutoff), the filters' arguments."""
        return self.min_cutoff, self.beta, self.d_cutoff


@dataclass
class FilterSettings:
    enabled: bool = knob(True)
    position: OneEuroSettings = section(OneEuroSettings)             # metres (2D joints in the same units)
    rotation: OneEuroSettings = section(OneEuroSettings, min_cutoff=1.5)  # radians


@dataclass
class EngineSettings:
    """Everything ``Estimator.open`` needs; config.yaml's ``model``, ``tracking`` and ``filter`` sections."""
    model: ModelSettings = section(ModelSettings)
    tracking: TrackingSettings = section(TrackingSettings)
    filter: FilterSettings = section(FilterSettings)

    def replaced(self, changes: dict[str, Any]) -> EngineSettings:
        """A checked copy with dotted keys changed: ``settings.replaced({"filter.enabled": False})``."""
        return replaced(self, changes)
