"""Inference backends behind one small interface.

``backend(frame_crop_input) -> Outputs`` where the input is (1, 3, S, S) float32
RGB 0..1 and ``Outputs`` holds the exported model's four outputs. Kinds:

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class BackendError(RuntimeError):
    """A backend cannot run; the message is one line for the user."""


@dataclass
class Outputs:
    joints_3d: np.ndarray    # (16, 3) metres, camera axes, pelvis at the origin
    rotations: np.ndarray    # (15, 3, 3) absolute, world axes
    joints_2d: np.ndarray    # (16, 2) input (crop) pixels
    confidence: float


def model_metadata(path: str | Path) -> dict:
    """The ``skeletonnet.*`` metadata of an exported ONNX model."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    return {"input_size": int(meta.get("skeletonnet.input_size", 192)),
            "config": json.loads(meta.get("skeletonnet.config", "{}"))}


class OnnxRuntimeBackend:
    def __init__(self, path: str | Path, threads: int = 0, gpu: bool = True):
        import onnxruntime as ort

        path = Path(path)
        if not path.exists():
            raise BackendError(f"{path}: model not found")
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or (os.cpu_count() or 1)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        available = ort.get_available_providers()
        wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if gpu and p in available]
        try:
            self.sess = ort.InferenceSession(str(path), so, providers=wanted + ["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - ORT raises several kinds on a bad file
            raise BackendError(f"{path}: ONNX Runtime cannot load the model ({type(e).__name__}: {str(e)[:120]})") from None
        used = self.sess.get_providers()[0]
        self.name = "onnxruntime" + ("" if used == "CPUExecutionProvider" else f" ({used.replace('ExecutionProvider', '')})")
        meta = self.sess.get_modelmeta().custom_metadata_map
        self.input_size = int(meta.get("skeletonnet.input_size", self.sess.get_inputs()[0].shape[-1]))
        self.model = path.name

    def __call__(self, x: np.ndarray) -> Outputs:
        j3, rot, j2, conf = self.sess.run(None, {"image": x})
        return Outputs(j3[0], rot[0], j2[0], float(conf[0]))


class TorchBackend:
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

    def __call__(self, x: np.ndarray) -> Outputs:
        with self.torch.no_grad():
            j3, rot, j2, conf = self.net(self.torch.from_numpy(x))
        return Outputs(j3[0].numpy(), rot[0].numpy(), j2[0].numpy(), float(conf[0]))


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
