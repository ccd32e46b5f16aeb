"""Export SkeletonNet to ONNX, check it for TensorRT 10, and compare with torch.

The exported graph (``ExportWrapper``, model contract ``engine.backend_base.MODEL_CONTRACT``) takes
``image`` (B, 3, S, S) float32 RGB in [0, 1] and ``camera`` (B, 3), the crop's intrinsics, and
returns ``joints_3d`` (world axes), ``rotations``, ``pelvis_rotation``, ``joints_2d`` and
``confidence``. Model metadata (``skeletonnet.*`` keys) records the contract version, the config,
the input size and the rest skeleton so the engine needs nothing else.
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from engine.backend_base import MODEL_CONTRACT, ort_session
from engine.errors import reports_user_errors
from trainer.checkpoint import load_checkpoint, read_checkpoint, write_slim_checkpoint
from trainer.model import ExportWrapper, SkeletonNet, config_dict

#: Operators TensorRT 10's ONNX parser cannot handle or restricts in ways that
#: break this model (docs/network.md, Export): linear algebra it lacks, control flow,
#: data-dependent shapes, sequences.
TRT_UNSUPPORTED = {
    "Det", "Einsum", "Loop", "If", "Scan", "NonZero", "Unique", "SequenceConstruct", "SequenceAt",
    "SequenceInsert", "SequenceEmpty", "ConcatFromSequence", "SplitToSequence", "StringNormalizer",
    "Optional", "OptionalGetElement", "OptionalHasElement", "TfIdfVectorizer", "Multinomial",
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
}
#: Operators this model is expected to use, all supported by TensorRT 10.
TRT_SUPPORTED = {
    "Conv", "ConvTranspose", "BatchNormalization", "Relu", "Add", "Sub", "Mul", "Div", "MatMul",
    "Gemm", "GlobalAveragePool", "AveragePool", "MaxPool", "Flatten", "Reshape", "Softmax",
    "Transpose", "Concat", "Gather", "Slice", "Squeeze", "Unsqueeze", "Sqrt", "Exp", "Log", "Sin", "Cos",
    "ReduceSum", "ReduceMax", "ReduceMin", "ReduceMean", "Where", "Greater", "Less", "Abs", "Neg",
    "Clip", "Max", "Min", "Resize", "Expand", "Shape", "Constant", "ConstantOfShape", "Identity",
    "Cast", "Pow", "Range", "Equal", "Not", "And", "Or", "Tile", "Split", "Pad", "Sigmoid",
    "Tanh", "Reciprocal", "Sum", "Mean", "ScatterND", "GatherND", "GatherElements", "ArgMax",
    "Floor", "Ceil", "Sign", "Erf", "LeakyRelu", "HardSigmoid", "HardSwish", "PRelu",
}


def export_onnx(net: SkeletonNet, path: str | Path, opset: int = 17, batch: int = 1,
                dynamic_batch: bool = True) -> Path:
    """Write ``net`` as ONNX (opset >= 17) with metadata; returns the path."""
    import onnx  # about a second to import; only exporting needs it (training imports this module)

    if opset < 17:
        raise ValueError(f"opset {opset} < 17; the model needs opset 17 or newer")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = net.cfg.input_size
    wrapper = ExportWrapper(net).eval()
    dummy = wrapper.example_inputs(batch)
    dyn = ({n: {0: "batch"} for n in ExportWrapper.INPUTS + ExportWrapper.OUTPUTS} if dynamic_batch else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, dummy, str(path), input_names=list(ExportWrapper.INPUTS),
                          output_names=list(ExportWrapper.OUTPUTS), opset_version=opset,
                          dynamic_axes=dyn, dynamo=False, do_constant_folding=True)
    model = onnx.load(str(path))
    meta = {
        "skeletonnet.contract": str(MODEL_CONTRACT),
        "skeletonnet.config": json.dumps(config_dict(net.cfg)),
        "skeletonnet.input_size": str(size),
        "skeletonnet.bone_vectors": json.dumps(net.bone_vectors.cpu().numpy().round(6).tolist()),
        "skeletonnet.inputs": "image: (B,3,S,S) RGB 0..1; camera: (B,3) crop focal, cx, cy in input px",
        "skeletonnet.outputs": "joints_3d: (B,16,3) m world axes (Y-up) root-relative; rotations: (B,15,3,3) "
                               "absolute, world axes; pelvis_rotation: (B,3,3) world axes; joints_2d: (B,16,2) "
                               "input px; confidence: (B,) presence probability",
    }
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def half_weights(path: str | Path, min_size: int = 1024) -> Path:
    """Store the float32 initializers of an ONNX file that have at least ``min_size`` elements as float16,
    each read through a Cast back to float32 (ONNX Runtime folds the casts when it loads the model, so the
    graph computes in float32 as before); about halves the file. Rewrites ``path`` in place."""
    import onnx
    from onnx import helper, numpy_helper

    path = Path(path)
    model = onnx.load(str(path))
    g = model.graph
    inputs = {i.name for i in g.input}
    casts, keep = [], []
    for init in g.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or init.name in inputs:
            keep.append(init)
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < min_size:
            keep.append(init)
            continue
        half = numpy_helper.from_array(arr.astype(np.float16), init.name + "__fp16")
        keep.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                      name=init.name + "__cast"))
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def export_torchscript(net: SkeletonNet, path: str | Path) -> Path:
    """TorchScript of the exported graph (the engine's ``torch`` backend loads it without the trainer)."""
    path = Path(path)
    size = net.cfg.input_size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper = ExportWrapper(net).eval()
        ts = torch.jit.trace(wrapper, wrapper.example_inputs(1), check_trace=False)
    torch.jit.save(ts, str(path), _extra_files={"input_size": str(size)})  # read by engine's torch backend
    return path


def tensorrt_problems(path: str | Path) -> list[str]:
    """Operators in the ONNX graph that TensorRT 10 would reject, or that are not on the
    list of operators checked for this model. Empty list = TensorRT-friendly."""
    import onnx  # as in export_onnx

    model = onnx.load(str(path))
    problems = []
    for node in model.graph.node:
        if node.op_type in TRT_UNSUPPORTED:
            problems.append(f"{node.op_type} ({node.name}): not supported by TensorRT 10")
        elif node.op_type not in TRT_SUPPORTED:
            problems.append(f"{node.op_type} ({node.name}): not on the checked operator list")
        if any(a.type == onnx.AttributeProto.GRAPH for a in node.attribute):
            problems.append(f"{node.op_type} ({node.name}): has a sub-graph (control flow)")
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 17:
        problems.append(f"opset {opset} < 17")
    return problems


def onnx_parity(net: SkeletonNet, path: str | Path, batch: int = 2, seed: int = 0) -> dict[str, float]:
    """Max absolute difference per output between torch and ONNX Runtime on random input."""
    wrapper = ExportWrapper(net).eval()
    x, cam = wrapper.example_inputs(batch, seed)
    with torch.no_grad():
        ref = [t.numpy() for t in wrapper(x, cam)]
    sess = ort_session(Path(path))
    got = sess.run(None, {"image": x.numpy(), "camera": cam.numpy()})
    return {name: float(np.abs(a - b).max()) for name, a, b in zip(ExportWrapper.OUTPUTS, ref, got)}


@reports_user_errors("trainer")
def main(argv=None) -> int:
    """``python -m trainer export CHECKPOINT [--out model.onnx] [--torchscript]``: ONNX with metadata,
    checked against torch (ONNX Runtime) and for TensorRT 10 operators."""
    ap = argparse.ArgumentParser(prog="python -m trainer export", description=main.__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--out", default=None, help="default: model.onnx beside the checkpoint")
    ap.add_argument("--torchscript", action="store_true", help="also write a TorchScript .ts beside it")
    ap.add_argument("--weights", default=None, metavar="PT",
                    help="also write a slim checkpoint (weights in float16, no optimizer state) that "
                         "training configs can start from (init:) and eval/export can read")
    ap.add_argument("--fp16-weights", action="store_true",
                    help="store the weights in float16 (read through casts to float32): about half the file")
    args = ap.parse_args(argv)
    ck = read_checkpoint(args.checkpoint)
    net = load_checkpoint(ck)
    out = Path(args.out) if args.out else Path(args.checkpoint).with_name("model.onnx")
    export_onnx(net, out)
    if args.fp16_weights:
        half_weights(out)
    par = onnx_parity(net, out)
    probs = tensorrt_problems(out)
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB; max |torch - ONNX Runtime| per output: "
          + ", ".join(f"{k} {v:.1e}" for k, v in par.items()))
    print("TensorRT 10 operator check: " + ("ok" if not probs else "; ".join(probs)))
    if args.torchscript:
        print(export_torchscript(net, out.with_suffix(".ts")))
    if args.weights:
        w = write_slim_checkpoint(ck, args.weights)
        print(f"{w}: {w.stat().st_size / 1e6:.1f} MB (float16 weights; use as init: in a training config)")
    if args.fp16_weights:  # against the float32 torch model on random images: float16 rounding of every weight
        print("float16 weights: the differences above are the weights' rounding on random images; measure the file "
              "on held-out video (python -m benchmarks.heldout_video --model FILE)")
        ok = par["joints_2d"] / net.cfg.input_size < 0.05 and max(v for k, v in par.items() if k != "joints_2d") < 0.5
        return 0 if ok else 1
    return 0 if max(par.values()) < 1e-2 else 1  # float32 differences, amplified near degenerate GS inputs
