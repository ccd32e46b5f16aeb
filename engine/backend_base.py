"""The interface every inference backend implements, and the model contract it checks.

``backend.infer(frame, box, camera) -> Outputs``: the crop ``box`` of a BGR frame and the crop's
intrinsics ``camera`` (focal, cx, cy in input pixels, ``Box.camera``) in, the exported model's
outputs (model contract ``MODEL_CONTRACT``, docs/conventions.md) out. ``Backend.infer`` crops on the
CPU and calls ``backend(x, camera)`` with the (1, 3, S, S) float32 RGB 0..1 input; a backend that
crops elsewhere (TensorRT, on the GPU) overrides ``infer``. The backends themselves are in
``engine/backends.py`` (ONNX Runtime, TorchScript, and ``create_backend``) and
``engine/tensorrt_backend.py``; both build on this module, which imports neither.

Upright crops (issue 29): for a turned box (``Box.angle != 0``) the network sees the crop as taken
by a camera rolled about its optical axis (``Box.intrinsics``), so ``backend.infer`` gives its
outputs in that rolled camera: ``joints_2d`` in crop pixels, ``joints_3d`` / ``rotations`` /
``pelvis_rotation`` in the rolled world axes. ``turn_back`` brings them to frame pixels and the
frame's world axes; the estimator's ``infer_crop`` is the one place the app calls it (every backend,
whichever way it crops, returns the network's own outputs).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from engine import frames
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
    """One crop's network outputs. From ``backend.infer`` the world axes are those of the crop's
    camera (rolled by ``Box.angle`` for a turned crop); after ``turn_back``, the frame's."""
    joints_3d: np.ndarray        # (16, 3) metres, world axes (Y-up), pelvis at the origin
    rotations: np.ndarray        # (15, 3, 3) absolute, world axes
    pelvis_rotation: np.ndarray  # (3, 3) world axes
    joints_2d: np.ndarray        # (16, 2) input (crop) pixels
    confidence: float            # presence probability 0..1


def turn_back(out: Outputs, box: Box, size: int) -> tuple[Outputs, np.ndarray]:
    """The network's outputs for the crop ``box`` (``size`` input pixels) in the frame's axes:
    (``Outputs`` with ``joints_3d`` (16, 3), ``rotations`` (15, 3, 3) and ``pelvis_rotation`` (3, 3)
    unrolled from the crop camera's world axes into the frame's (``engine.frames.unroll_points_world``,
    ``unroll_rotations_world`` by ``box.angle``; ``joints_2d`` still crop pixels, ``confidence`` as
    given), the 2D joints (16, 2) in frame pixels (``box.to_frame``)). An unturned box returns ``out``
    itself: the outputs are already in the frame's world axes."""
    j2 = box.to_frame(np.asarray(out.joints_2d, np.float64), size)
    if box.angle == 0.0:
        return out, j2
    a = box.angle
    return Outputs(frames.unroll_points_world(out.joints_3d, a), frames.unroll_rotations_world(out.rotations, a),
                   frames.unroll_rotations_world(out.pelvis_rotation, a), out.joints_2d, out.confidence), j2


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
    """What every backend offers: ``input_size``, ``name``, ``model``, ``infer`` and ``close``."""

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

    def close(self) -> None:
        """Release the runtime's resources (its session, device buffers); the backend cannot run after it."""


def outputs_from(values: dict) -> Outputs:
    """``Outputs`` of the first item of a batch of named model outputs."""
    return Outputs(*(np.asarray(values[k][0], np.float64) for k in OUTPUT_NAMES[:4]), float(values["confidence"][0]))


def model_metadata(path: str | Path) -> dict:
    """The ``skeletonnet.*`` metadata of an exported ONNX model."""
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
