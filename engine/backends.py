"""Inference backends behind one small interface, ``backend.infer(frame, box, camera) -> Outputs``
(``engine/backend_base.py``: the base class crops on the CPU; the TensorRT backend overrides
``infer`` to crop on the GPU). Kinds:

* ``onnxruntime``: CPU; ONNX Runtime's CUDA / TensorRT execution providers
  when that ONNX Runtime build has them.
* ``tensorrt``: native TensorRT 10 (``engine/tensorrt_backend.py``): engine
  built from the ONNX on first run and cached, device buffers through
  NVIDIA's cuda-python, crop + normalisation done on the GPU.
* ``torch``: a TorchScript file written by the trainer (``model.ts``), for
  development.
* ``auto``: the fastest available: tensorrt, then onnxruntime with a GPU
  provider, then onnxruntime on CPU.

The interface names (``Backend``, ``Outputs``, ``BackendError``, the model contract,
``ort_session``, ``turn_back``) are re-exported here for the app and the trainer. torch and tensorrt are imported
only inside their backends.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engine.backend_base import (
    INPUTS,
    MODEL_CONTRACT,
    OUTPUT_NAMES,
    Backend,
    BackendError,
    Outputs,
    check_contract,
    model_metadata,
    ort_session,
    outputs_from,
    turn_back,
)
from engine.tensorrt_backend import TensorRTBackend

__all__ = ["INPUTS", "MODEL_CONTRACT", "OUTPUT_NAMES", "Backend", "BackendError", "Outputs", "check_contract",
           "model_metadata", "ort_session", "turn_back", "OnnxRuntimeBackend", "TorchBackend", "TensorRTBackend",
           "create_backend"]


class OnnxRuntimeBackend(Backend):
    """An exported model on ONNX Runtime. ``input_size`` (0: the model's own) is the network input for a model
    exported with a free image size; a model with a fixed size keeps its own (``input_size_unused`` says so)."""

    def __init__(self, path: str | Path, threads: int = 0, gpu: bool = True, input_size: int = 0):
        path = Path(path)
        available = ort.get_available_providers()
        wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if gpu and p in available]
        self.sess = ort_session(path, threads, tuple(wanted))
        used = self.sess.get_providers()[0]
        short = used.replace("ExecutionProvider", "")
        self.name = "onnxruntime" + ("" if used == "CPUExecutionProvider" else f" ({short})")
        meta = self.sess.get_modelmeta().custom_metadata_map
        check_contract(path, meta, [i.name for i in self.sess.get_inputs()], [o.name for o in self.sess.get_outputs()])
        self.input_size = int(meta.get("skeletonnet.input_size", self.sess.get_inputs()[0].shape[-1]))
        free = not all(isinstance(d, int) for d in self.sess.get_inputs()[0].shape[-2:])
        if input_size and free:
            self.input_size = int(input_size)
        self.model = path.name
        self._names = [o.name for o in self.sess.get_outputs()]

    def close(self) -> None:
        self.sess = None

    def __call__(self, x: np.ndarray, camera: np.ndarray) -> Outputs:
        cam = np.asarray(camera, np.float32).reshape(1, 3)
        return outputs_from(dict(zip(self._names, self.sess.run(None, {"image": x, "camera": cam}))))


class TorchBackend(Backend):
    """A TorchScript model (``model.ts`` from the trainer)."""

    def __init__(self, path: str | Path, threads: int = 0):
        try:
            import torch  # optional (the train extra): the runtime never needs it
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
        return outputs_from({k: v.numpy() for k, v in zip(OUTPUT_NAMES, out)})


def create_backend(kind: str, model_path: str | Path, threads: int = 0, trt_settings: dict | None = None,
                   log=print, input_size: int = 0):
    """The backend of ``kind`` (``auto`` picks the fastest available); says which one runs. ``input_size``
    (``model.input_size``; 0: the model's own) is the network input of an ONNX model exported with a free
    image size; for any other model ``log`` says the setting is not used."""
    backend = _create(kind, Path(model_path), threads, trt_settings, log, input_size)
    if input_size and input_size != backend.input_size:
        log(f"model.input_size = {input_size} is not used: {backend.model} takes a fixed {backend.input_size} px "
            "input, set when it was exported")
    return backend


def _create(kind: str, model_path: Path, threads: int, trt_settings: dict | None, log, input_size: int):
    if kind in ("auto", "tensorrt"):
        try:
            return TensorRTBackend(model_path, log=log, **(trt_settings or {}))
        except BackendError as e:
            if kind == "tensorrt":
                raise
            if importlib.util.find_spec("tensorrt") is not None:  # installed but unusable: say why
                log(f"TensorRT not used: {e}")
    if kind == "torch":
        return TorchBackend(model_path, threads)
    if kind in ("auto", "onnxruntime"):
        return OnnxRuntimeBackend(model_path, threads, input_size=input_size)
    raise BackendError(f"unknown backend {kind!r}; allowed: auto, onnxruntime, tensorrt, torch")
