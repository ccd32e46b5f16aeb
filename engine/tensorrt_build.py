"""Build (and cache) a TensorRT engine from the exported ONNX model.

Optional: ``tensorrt`` (TensorRT 10 Python API) and NVIDIA's ``cuda-python``
(for the GPU name) are imported only when a build is asked for; install them
with ``pip install -e ".[gpu]"``. The cache key is the SHA-256 of the ONNX
bytes, the TensorRT version, the GPU name, the precision and the optimisation
profile, so a new model, a TensorRT upgrade or another GPU never reuses a
stale engine.

Why cuda-python: it is NVIDIA's maintained binding, ships as wheels (pycuda
must compile against a local CUDA toolkit and driver), and it is what the
native TensorRT backend uses for device buffers.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


class TensorRTUnavailable(RuntimeError):
    """TensorRT (or a CUDA GPU) is not available; the message says what to install."""


@dataclass(frozen=True)
class BuildSettings:
    fp16: bool = True
    workspace_mb: int = 1024
    input_name: str = "image"
    input_size: int = 192
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 4
    camera_name: str = "camera"  # model contract 2: the crop intrinsics (B, 3), batched like the image

    def profile(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        s = self.input_size
        return ((self.min_batch, 3, s, s), (self.opt_batch, 3, s, s), (self.max_batch, 3, s, s))

    def camera_profile(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return ((self.min_batch, 3), (self.opt_batch, 3), (self.max_batch, 3))


def cache_key(onnx_bytes: bytes, trt_version: str, gpu_name: str, settings: BuildSettings) -> str:
    """A hex digest naming one engine: model bytes, TensorRT version, GPU, settings."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(onnx_bytes).digest())
    h.update(json.dumps({"trt": trt_version, "gpu": gpu_name, **asdict(settings)}, sort_keys=True).encode())
    return h.hexdigest()[:32]


def cache_path(cache_dir: str | Path, onnx_path: str | Path, key: str) -> Path:
    return Path(cache_dir).expanduser() / f"{Path(onnx_path).stem}-{key}.engine"


def import_tensorrt():
    try:
        import tensorrt as trt  # noqa: PLC0415 - optional, lazily imported
    except ImportError as e:
        raise TensorRTUnavailable(f"TensorRT is not installed ({e}); install the GPU extra: "
                                  "pip install -e '.[gpu]'") from None
    major = int(str(trt.__version__).split(".")[0])
    if major < 10:
        raise TensorRTUnavailable(f"TensorRT {trt.__version__} found; this app needs TensorRT 10")
    return trt


def gpu_name(device: int = 0) -> str:
    """Name of CUDA device ``device`` through cuda-python's runtime API."""
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError:
            raise TensorRTUnavailable("cuda-python is not installed; install the GPU extra: "
                                      "pip install -e '.[gpu]'") from None
    err, props = cudart.cudaGetDeviceProperties(device)
    if int(err) != 0:
        raise TensorRTUnavailable(f"no CUDA GPU {device} is available (cudaGetDeviceProperties: {err})")
    name = props.name
    return (name.decode(errors="replace") if isinstance(name, bytes) else str(name)).rstrip("\x00")


def build_engine(onnx_path: str | Path, settings: BuildSettings, cache_dir: str | Path,
                 trt=None, device_name: str | None = None, log=print) -> Path:
    """The serialized engine for ``onnx_path``: from the cache, or built and cached.

    Writes atomically (temporary file, then rename), so an interrupted build
    never leaves a half-written engine in the cache. Returns the engine path.
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.exists():
        raise FileNotFoundError(f"{onnx_path}: ONNX model not found")
    trt = trt or import_tensorrt()
    device_name = device_name or gpu_name()
    data = onnx_path.read_bytes()
    key = cache_key(data, str(trt.__version__), device_name, settings)
    out = cache_path(cache_dir, onnx_path, key)
    if out.exists() and out.stat().st_size > 0:
        return out
    log(f"building TensorRT engine for {onnx_path.name} on {device_name} "
        f"({'FP16' if settings.fp16 else 'FP32'}); this takes a minute or two the first time")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(data):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"{onnx_path}: TensorRT could not parse the model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_mb << 20)
    if settings.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    lo, opt, hi = settings.profile()
    profile.set_shape(settings.input_name, lo, opt, hi)
    profile.set_shape(settings.camera_name, *settings.camera_profile())  # every dynamic input needs its range
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError(f"{onnx_path}: TensorRT failed to build an engine (see the messages above)")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".partial")
    with os.fdopen(fd, "wb") as f:
        f.write(bytes(plan))
    os.replace(tmp, out)
    return out
