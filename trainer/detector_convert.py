"""Convert MediaPipe's BlazePose person detector (``pose_detection.tflite``) to ONNX.

The app's acquisition (``engine/detector.py``) runs the detector with ONNX
Runtime. The TFLite file ships in the ``mediapipe==0.10.21`` wheel
(``mediapipe/modules/pose_detection/pose_detection.tflite``, Apache-2.0; the
teacher environment ``.venv-teacher`` has it). OpenCV's TFLite importer refuses
it (its 1x1 convolution weights are stored sparse, behind ``DENSIFY``), so this
script reads the TFLite flatbuffer itself and writes an equivalent ONNX graph:

* constant subgraphs (``DENSIFY`` of the sparse float16 weights, ``DEQUANTIZE``
  float16 -> float32) are evaluated here; the ONNX stores the dense weights as
  float16 (exactly the TFLite values) with a Cast to float32 that ONNX Runtime
  folds when it loads the model;
* the ten remaining TFLite operators (CONV_2D, DEPTHWISE_CONV_2D, ADD, PAD,
  RESHAPE, CONCATENATION, DEPTH_TO_SPACE, RESIZE_BILINEAR with fused ReLU6) map
  one to one onto ONNX operators; activations are NCHW inside the graph, with
  one transpose at the input and one before each reshape to the SSD outputs.

The ONNX keeps the TFLite interface: ``input`` (1, 224, 224, 3) float32 RGB in
[-1, 1] (letterboxed frame); outputs ``regressors`` (1, 2254, 12) and
``scores`` (1, 2254, 1) logits. Decoding (anchors, sigmoid, NMS) is in
``engine/detector.py``.

Needs ``tflite`` (the flatbuffer schema, pure Python), ``onnx`` and numpy;
``--verify`` also needs a TFLite interpreter (``ai-edge-litert``) and
onnxruntime. Keep them out of the app's environment::

    python3 -m venv /tmp/conv && /tmp/conv/bin/pip install tflite==2.18.0 onnx onnxruntime ai-edge-litert==2.3.0
    /tmp/conv/bin/python trainer/detector_convert.py --verify

(see docs/acquisition.md for the measured agreement).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from trainer.tflite_graph import ACT_NONE, ACT_RELU, ACT_RELU6, PAD_SAME, Op, TFLiteGraph, same_pads

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC = ROOT / ".venv-teacher/lib/python3.11/site-packages/mediapipe/modules/pose_detection/pose_detection.tflite"
DEFAULT_OUT = ROOT / "assets" / "person_detector.onnx"
OUTPUT_NAMES = {"Identity": "regressors", "Identity_1": "scores"}

class Converter(TFLiteGraph):
    """The TFLite graph (``trainer.tflite_graph``, the one reader) written as an ONNX graph."""

    def __init__(self, buf: bytes, output_names: dict[str, str] | None = None):
        super().__init__(buf)
        self.nodes, self.inits = [], []
        self.layout: dict[int, str] = {}         # activation tensor index -> "nchw" | "plain"
        self.used_names: set[str] = set()
        self.output_names = OUTPUT_NAMES if output_names is None else output_names

    def output_name(self, i: int) -> str:
        n = self.tensor(i).Name().decode()
        return self.output_names.get(n, n)

    def name(self, i: int) -> str:
        if int(i) in self.g.InputsAsNumpy():
            return "input"
        return f"t{int(i)}"

    def fresh(self, base: str) -> str:
        k = 0
        while f"{base}_{k}" in self.used_names:
            k += 1
        self.used_names.add(f"{base}_{k}")
        return f"{base}_{k}"

    def init(self, arr: np.ndarray, base: str) -> str:
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def weight(self, arr: np.ndarray, base: str) -> str:
        """A float32 weight; stored as float16 + Cast when that is exact (the TFLite weights are float16)."""
        arr = np.asarray(arr, np.float32)
        half = arr.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), arr):
            return self.init(arr, base)
        out = self.fresh(base + "32")
        self.node("Cast", [self.init(half, base + "16")], [out], to=1)
        return out

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs):
        self.nodes.append(helper.make_node(op, inputs, outputs, name=self.fresh(op), **attrs))

    def activation(self, x: str, act: int, out: str) -> None:
        if act == ACT_NONE:
            self.node("Identity", [x], [out])
        elif act == ACT_RELU:
            self.node("Relu", [x], [out])
        elif act == ACT_RELU6:
            self.node("Clip", [x, self.init(np.float32(0), "zero"), self.init(np.float32(6), "six")], [out])
        else:
            raise ValueError(f"unsupported fused activation {act}")

    def nchw(self, i: int) -> str:
        """Tensor i as an NCHW ONNX value (4D activations are kept NCHW)."""
        if self.layout.get(int(i)) != "nchw":
            raise ValueError(f"tensor {i} is not a 4D activation")
        return self.name(i)

    # --- operators -----------------------------------------------------------------------
    def conv(self, op, depthwise: bool):
        ins, out = op.inputs, op.outputs[0]
        o = self.options(op, "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions")
        w = self.value(ins[1])
        if w is None:
            raise ValueError("convolution weights must be constant")
        x = self.nchw(ins[0])
        in_c = self.shape(ins[0])[3]
        if depthwise:  # (1, kh, kw, C*mult) -> (C*mult, 1, kh, kw), group = C
            w_onnx = w.transpose(3, 0, 1, 2)
            group = in_c
        else:          # (O, kh, kw, I) -> (O, I, kh, kw)
            w_onnx = w.transpose(0, 3, 1, 2)
            group = 1
        kh, kw = w_onnx.shape[2:]
        stride = [o.StrideH(), o.StrideW()]
        dil = [o.DilationHFactor(), o.DilationWFactor()]
        if o.Padding() == PAD_SAME:
            pads = same_pads(self.shape(ins[0])[1:3], [kh, kw], stride, dil)
        else:
            pads = [0, 0, 0, 0]
        inputs = [x, self.weight(w_onnx, "w")]
        if len(ins) > 2 and ins[2] >= 0:
            b = self.value(ins[2])
            inputs.append(self.weight(b, "b"))
        y = self.fresh("conv")
        self.node("Conv", inputs, [y], kernel_shape=[kh, kw], strides=stride, dilations=dil, pads=pads, group=group)
        self.activation(y, o.FusedActivationFunction(), self.name(out))
        self.layout[out] = "nchw"

    def convert_op(self, op: Op):
        kind, ins, out = op.kind, op.inputs, op.outputs[0]
        if kind == "CONV_2D":
            self.conv(op, depthwise=False)
        elif kind == "DEPTHWISE_CONV_2D":
            self.conv(op, depthwise=True)
        elif kind == "ADD":
            o = self.options(op, "AddOptions")
            a, b = ins
            if self.layout.get(a) != "nchw" or self.layout.get(b) != "nchw":
                raise ValueError("ADD expects two 4D activations")
            y = self.fresh("add")
            self.node("Add", [self.name(a), self.name(b)], [y])
            self.activation(y, o.FusedActivationFunction(), self.name(out))
            self.layout[out] = "nchw"
        elif kind == "PAD":
            p = self.value(ins[1]).astype(np.int64)   # (4, 2), NHWC order
            nchw = p[[0, 3, 1, 2]]
            pads = np.concatenate([nchw[:, 0], nchw[:, 1]])
            self.node("Pad", [self.nchw(ins[0]), self.init(pads, "pads")], [self.name(out)], mode="constant")
            self.layout[out] = "nchw"
        elif kind == "DEPTH_TO_SPACE":
            o = self.options(op, "DepthToSpaceOptions")
            self.node("DepthToSpace", [self.nchw(ins[0])], [self.name(out)], blocksize=o.BlockSize(), mode="DCR")
            self.layout[out] = "nchw"
        elif kind == "RESIZE_BILINEAR":
            o = self.options(op, "ResizeBilinearOptions")
            if o.AlignCorners():
                mode = "align_corners"
            elif o.HalfPixelCenters():
                mode = "half_pixel"
            else:
                mode = "asymmetric"
            n, h, w, c = self.shape(out)
            sizes = self.init(np.array([n, c, h, w], np.int64), "sizes")
            self.node("Resize", [self.nchw(ins[0]), "", "", sizes], [self.name(out)], mode="linear",
                      coordinate_transformation_mode=mode)
            self.layout[out] = "nchw"
        elif kind == "MAX_POOL_2D":
            o = self.options(op, "Pool2DOptions")
            k_hw, stride = [o.FilterHeight(), o.FilterWidth()], [o.StrideH(), o.StrideW()]
            pads = same_pads(self.shape(ins[0])[1:3], k_hw, stride, [1, 1]) if o.Padding() == PAD_SAME else [0] * 4
            y = self.fresh("pool")
            self.node("MaxPool", [self.nchw(ins[0])], [y], kernel_shape=k_hw, strides=stride, pads=pads)
            self.activation(y, o.FusedActivationFunction(), self.name(out))
            self.layout[out] = "nchw"
        elif kind == "LOGISTIC":
            self.node("Sigmoid", [self.name(ins[0])], [self.name(out)])
            self.layout[out] = self.layout.get(ins[0], "plain")
        elif kind == "RESHAPE":
            src = self.name(ins[0])
            if self.layout.get(ins[0]) == "nchw":   # reshape in TFLite's (NHWC) element order
                src_t = self.fresh("nhwc")
                self.node("Transpose", [src], [src_t], perm=[0, 2, 3, 1])
                src = src_t
            shape = self.init(np.array(self.shape(out), np.int64), "shape")
            self.node("Reshape", [src, shape], [self.name(out)])
            self.layout[out] = "plain"
        elif kind == "CONCATENATION":
            o = self.options(op, "ConcatenationOptions")
            lay = {self.layout.get(i) for i in ins}
            if len(lay) != 1:
                raise ValueError("CONCATENATION of mixed layouts")
            lay = lay.pop()
            rank = len(self.shape(out))
            axis = o.Axis() % rank
            if lay == "nchw":
                axis = [0, 2, 3, 1][axis]
            y = self.fresh("concat")
            self.node("Concat", [self.name(i) for i in ins], [y], axis=axis)
            self.activation(y, o.FusedActivationFunction(), self.name(out))
            self.layout[out] = lay
        else:
            raise ValueError(f"unsupported TFLite operator {kind}")

    def convert(self):
        (inp,) = [int(i) for i in self.g.InputsAsNumpy()]
        in_shape = self.shape(inp)
        # ONNX input keeps TFLite's NHWC; activations are NCHW from here on.
        self.node("Transpose", ["input"], ["input_nchw"], perm=[0, 3, 1, 2])
        self.layout[inp] = "nchw"
        name_of_input = "input_nchw"
        orig_name = self.name
        self.name = lambda i: name_of_input if int(i) == inp else orig_name(i)
        for op in self.ops():
            self.convert_op(op)
        outputs = [int(i) for i in self.g.OutputsAsNumpy()]
        for i in outputs:  # graph outputs keep TFLite's layout (NHWC for 4D ones)
            if self.layout.get(i) == "nchw":
                self.node("Transpose", [orig_name(i)], [self.output_name(i)], perm=[0, 2, 3, 1])
            else:
                self.node("Identity", [orig_name(i)], [self.output_name(i)])
        graph = helper.make_graph(
            self.nodes, "converted_tflite",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info(self.output_name(i), TensorProto.FLOAT, self.shape(i)) for i in outputs],
            self.inits)
        return graph


def convert(src: Path, dst: Path) -> Path:
    buf = Path(src).read_bytes()
    graph = Converter(buf).convert()
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="skeletonnet-mocap trainer/detector_convert.py")
    model.ir_version = 8
    meta = {
        "source": "mediapipe==0.10.21 mediapipe/modules/pose_detection/pose_detection.tflite",
        "source_sha256": hashlib.sha256(buf).hexdigest(),
        "licence": "Apache-2.0 (Google LLC, MediaPipe); see assets/NOTICE.md",
        "input": "input (1,224,224,3) float32 RGB in [-1,1], letterboxed (aspect kept, zero border)",
        "outputs": "regressors (1,2254,12): box cx,cy,w,h then 4 keypoints x,y, pixels of the 224 input "
                   "relative to the anchor; scores (1,2254,1) logits",
    }
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key, e.value = f"detector.{k}", v
    onnx.checker.check_model(model, full_check=True)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return dst


def verify(src: Path, dst: Path, images: list[Path]) -> dict:
    """Largest differences between the TFLite interpreter and ONNX Runtime on real and random inputs."""
    from ai_edge_litert.interpreter import Interpreter  # the converter's own venv only (module doc)


    interp = Interpreter(model_path=str(src))
    interp.allocate_tensors()
    i_in = interp.get_input_details()[0]["index"]
    outs = {d["name"]: d["index"] for d in interp.get_output_details()}
    sess = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    inputs = []
    for p in images:
        img = cv2.imread(str(p))
        if img is None:
            continue
        h, w = img.shape[:2]
        s = 224 / max(h, w)
        small = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((224, 224, 3), np.uint8)
        y0, x0 = (224 - small.shape[0]) // 2, (224 - small.shape[1]) // 2
        canvas[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
        inputs.append((canvas[..., ::-1].astype(np.float32) / 127.5 - 1.0)[None])
    rng = np.random.default_rng(0)
    inputs += [rng.uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32) for _ in range(3)]
    worst = {"regressors": 0.0, "scores": 0.0, "score_prob": 0.0}
    scale = {"regressors": 0.0, "scores": 0.0}
    for x in inputs:
        interp.set_tensor(i_in, x)
        interp.invoke()
        ref = {OUTPUT_NAMES[k]: interp.get_tensor(v) for k, v in outs.items()}
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": x})))
        for k in ("regressors", "scores"):
            worst[k] = max(worst[k], float(np.abs(ref[k] - got[k]).max()))
            scale[k] = max(scale[k], float(np.abs(ref[k]).max()))
        sig = lambda z: 1 / (1 + np.exp(-np.clip(z.astype(np.float64), -100, 100)))
        worst["score_prob"] = max(worst["score_prob"], float(np.abs(sig(ref["scores"]) - sig(got["scores"])).max()))
    return {"inputs": len(inputs), "max_abs_diff": worst, "max_abs_value": scale}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=str(DEFAULT_SRC), help="pose_detection.tflite from the mediapipe 0.10.21 wheel")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--verify", action="store_true", help="compare with the TFLite interpreter (ai-edge-litert)")
    ap.add_argument("--images", nargs="*", default=[], help="real images for --verify (besides random inputs)")
    args = ap.parse_args(argv)
    src = Path(args.src)
    if not src.exists():
        print(f"detector_convert: {src} not found (python -m trainer teacher-setup installs mediapipe 0.10.21)",
              file=sys.stderr)
        return 2
    dst = convert(src, Path(args.out))
    print(f"wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
    if args.verify:
        r = verify(src, dst, [Path(p) for p in args.images])
        print(f"verified on {r['inputs']} inputs: max |TFLite - ONNX| regressors {r['max_abs_diff']['regressors']:.2e} "
              f"(values up to {r['max_abs_value']['regressors']:.1f}), score logits {r['max_abs_diff']['scores']:.2e} "
              f"(up to {r['max_abs_value']['scores']:.1f}), score probabilities {r['max_abs_diff']['score_prob']:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
