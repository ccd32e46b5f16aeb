"""Inference backends behind one small interface.

``backend.infer(frame, box, camera) -> Outputs``: the crop ``box`` of a BGR frame and the crop's
intrinsics ``camera`` (focal, cx, cy in input pixels, ``Box.camera``) in, the exported model's
outputs (model contract ``MODEL_CONTRACT``, docs/conventions.md) out. The base class crops on the
CPU and calls ``backend(x, camera)`` with the (1, 3, S, S) float32 RGB 0..1 input; the TensorRT
backend overrides ``infer`` to crop on the GPU. Kinds:

* ``onnxruntime``: CPU; ONNX Runtime's CUDA / TensorRT execution providers
  when that ONNX Runtime build has them.
* ``tensorrt``: native TensorRT 10 (``engine/tensorrt_backend.py``): engine
  built from the ONNX on first run and cached, device buffers through
  NVIDIA's cuda-python, crop + normalisation done on the GPU.
* ``torch``: a TorchScript file written by the trainer (``model.ts``), for
  development.
* ``auto``: the fastest available: tensorrt, then onnxruntime with a GPU
  provider, then onnxruntime on CPU.

torch and tensorrt are imported only inside their backends.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.preprocess import Box, crop, to_input

#: version of the exported model's inputs and outputs (``skeletonnet.contract`` metadata). 2: inputs
#: image + camera; joints_3d in world axes; pelvis_rotation; confidence = presence probability.
MODEL_CONTRACT = 2
INPUTS = ("image", "camera")
OUTPUT_NAMES = ("joints_3d", "rotations", "pelvis_rotation", "joints_2d", "confidence")


class BackendError(RuntimeError):
    """A backend cannot run; the message is one line for the user."""


@dataclass
class Outputs:
    joints_3d: np.ndarray        # (16, 3) metres, world axes (Y-up), pelvis at the origin
    rotations: np.ndarray        # (15, 3, 3) absolute, world axes
    pelvis_rotation: np.ndarray  # (3, 3) world axes
    joints_2d: np.ndarray        # (16, 2) input (crop) pixels
    confidence: float            # presence probability 0..1


def check_contract(path: Path, meta: dict, inputs: list[str], outputs: list[str]) -> None:
    """One clear error unless the model is a SkeletonNet export of ``MODEL_CONTRACT``."""
    found = meta.get("skeletonnet.contract")
    if "skeletonnet.config" not in meta and found is None:
        raise BackendError(f"{path}: not a SkeletonNet model (no skeletonnet metadata; inputs "
                           f"{', '.join(inputs)}, outputs {', '.join(outputs)})")
    if found != str(MODEL_CONTRACT):
        raise BackendError(f"{path}: SkeletonNet export of contract {found or 1}, this app needs contract "
                           f"{MODEL_CONTRACT} (inputs image + camera, world-axis joints); use a model exported "
                           f"by this version (python -m trainer export CHECKPOINT)")
    if sorted(inputs) != sorted(INPUTS) or sorted(outputs) != sorted(OUTPUT_NAMES):
        raise BackendError(f"{path}: inputs {', '.join(inputs)} / outputs {', '.join(outputs)} do not match "
                           f"contract {MODEL_CONTRACT} ({', '.join(INPUTS)} / {', '.join(OUTPUT_NAMES)})")


class Backend:
    """What every backend offers: ``input_size``, ``name``, ``model``, and ``infer``."""

    input_size: int = 192
    name: str = ""
    model: str = ""
    preprocess_s: float = 0.0  # seconds the last ``infer`` spent cropping (part of its time)

    def infer(self, frame: np.ndarray, box: Box, camera: np.ndarray) -> Outputs:
        """The crop ``box`` of a BGR frame (H, W, 3) uint8 with intrinsics ``camera`` (3,)."""
        t0 = time.perf_counter()
        x = to_input(crop(frame, box, self.input_size))
        self.preprocess_s = time.perf_counter() - t0
        return self(x, camera)

    def __call__(self, x: np.ndarray, camera: np.ndarray) -> Outputs:
        raise NotImplementedError


def _outputs(values: dict) -> Outputs:
    return Outputs(*(np.asarray(values[k][0], np.float64) for k in OUTPUT_NAMES[:4]), float(values["confidence"][0]))


def model_metadata(path: str | Path) -> dict:
    """The ``skeletonnet.*`` metadata of an exported ONNX model."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    return {"input_size": int(meta.get("skeletonnet.input_size", 192)),
            "config": json.loads(meta.get("skeletonnet.config", "{}")),
            "contract": meta.get("skeletonnet.contract")}


def ort_session(path: Path, threads: int = 0, providers: tuple[str, ...] = ()):
    """An ONNX Runtime session for ``path`` (all graph optimisations, quiet logs, ``threads`` intra-op
    threads or one per core), on the given execution providers then the CPU. One line on failure."""
    import onnxruntime as ort

    if not path.exists():
        raise BackendError(f"{path}: model not found")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or (os.cpu_count() or 1)
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), so, providers=[*providers, "CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - ORT raises several kinds on a bad file
        raise BackendError(f"{path}: ONNX Runtime cannot load the model ({type(e).__name__}: {str(e)[:120]})") from None


class OnnxRuntimeBackend(Backend):
    def __init__(self, path: str | Path, threads: int = 0, gpu: bool = True):
        import onnxruntime as ort

        path = Path(path)
        available = ort.get_available_providers()
        wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if gpu and p in available]
        self.sess = ort_session(path, threads, tuple(wanted))
        used = self.sess.get_providers()[0]
        self.name = "onnxruntime" + ("" if used == "CPUExecutionProvider" else f" ({used.replace('ExecutionProvider', '')})")
        meta = self.sess.get_modelmeta().custom_metadata_map
        check_contract(path, meta, [i.name for i in self.sess.get_inputs()], [o.name for o in self.sess.get_outputs()])
        self.input_size = int(meta.get("skeletonnet.input_size", self.sess.get_inputs()[0].shape[-1]))
        self.model = path.name
        self._names = [o.name for o in self.sess.get_outputs()]

    def __call__(self, x: np.ndarray, camera: np.ndarray) -> Outputs:
        cam = np.asarray(camera, np.float32).reshape(1, 3)
        return _outputs(dict(zip(self._names, self.sess.run(None, {"image": x, "camera": cam}))))


class TorchBackend(Backend):
    """A TorchScript model (``model.ts`` from the trainer)."""

    def __init__(self, path: str | Path, threads: int = 0):
        try:
            import torch
        except ImportError:
            raise BackendError("backend torch needs PyTorch: pip install torch==2.13.0") from None
        path = Path(path)
        if path.suffix == ".onnx":
            path = path.with_suffix(".ts")
        if not path.exists():
            raise BackendError(f"{path}: TorchScript model not found (the trainer writes model.ts beside model.onnx)")
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        extra = {"input_size": ""}
        try:
            self.net = torch.jit.load(str(path), map_location="cpu", _extra_files=extra).eval()
        except Exception as e:  # noqa: BLE001 - torch raises RuntimeError and others on bad files
            raise BackendError(f"{path}: not a TorchScript model ({type(e).__name__})") from None
        self.input_size = int(extra["input_size"] or 192)
        self.name = "torch"
        self.model = path.name

    def __call__(self, x: np.ndarray, camera: np.ndarray) -> Outputs:
        torch = self.torch
        with torch.no_grad():
            out = self.net(torch.from_numpy(x), torch.as_tensor(np.asarray(camera, np.float32).reshape(1, 3)))
        return _outputs({k: v.numpy() for k, v in zip(OUTPUT_NAMES, out)})


def create_backend(kind: str, model_path: str | Path, threads: int = 0, trt_settings: dict | None = None,
                   log=print):
    """The backend of ``kind`` (``auto`` picks the fastest available); says which one runs."""
    model_path = Path(model_path)
    if kind in ("auto", "tensorrt"):
        try:
            from engine.tensorrt_backend import TensorRTBackend

            return TensorRTBackend(model_path, log=log, **(trt_settings or {}))
        except BackendError as e:
            if kind == "tensorrt":
                raise
            import importlib.util

            if importlib.util.find_spec("tensorrt") is not None:  # installed but unusable: say why
                log(f"TensorRT not used: {e}")
    if kind == "torch":
        return TorchBackend(model_path, threads)
    if kind in ("auto", "onnxruntime"):
        return OnnxRuntimeBackend(model_path, threads)
    raise BackendError(f"unknown backend {kind!r}; allowed: auto, onnxruntime, tensorrt, torch")
