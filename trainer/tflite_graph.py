"""One reader of TFLite flatbuffers, shared by the person detector's ONNX converter
(``trainer/detector_convert.py``) and the BlazePose landmark backbone (``trainer/blazepose.py``).

``TFLiteGraph(buf)`` gives the tensors, shapes and constant values of the one subgraph of a
``.tflite`` file, with the constant subgraphs MediaPipe's files use folded on the fly:

* ``DENSIFY`` of sparse float16 weights (``densify``: the SparsityParameters tree of the schema);
* ``DEQUANTIZE`` float16 -> float32 (and per-axis int8/uint8 with scale and zero point).

``ops()`` yields ``Op(kind, inputs, outputs, index)`` for every operator that is not such a
constant fold, in execution order; ``options(op, "Conv2DOptions")`` reads an operator's options.

Needs ``tflite`` (the flatbuffer schema, pure Python, in the ``train`` extra).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

# TFLite enums (schema.fbs) used by the readers.
F32, F16, I32, U8, I64, I8 = 0, 1, 2, 3, 4, 9
NP_TYPES = {F32: np.float32, F16: np.float16, I32: np.int32, U8: np.uint8, I64: np.int64, I8: np.int8}
ACT_NONE, ACT_RELU, ACT_RELU6 = 0, 1, 3
PAD_SAME, PAD_VALID = 0, 1
DIM_DENSE, DIM_SPARSE_CSR = 0, 1
CONSTANT_OPS = ("DENSIFY", "DEQUANTIZE")


class Op(NamedTuple):
    kind: str            # TFLite builtin operator name, e.g. "CONV_2D"
    inputs: list[int]    # tensor indices (-1: optional input absent)
    outputs: list[int]
    raw: object          # the flatbuffer Operator (for options)


def _index_vector(tfl, dm, which: str) -> np.ndarray:
    """An array_segments / array_indices union of a DimensionMetadata as an int array."""
    kind = getattr(dm, f"Array{which}Type")()
    table = getattr(dm, f"Array{which}")()
    cls = {1: tfl.Int32Vector, 2: tfl.Uint16Vector, 3: tfl.Uint8Vector}.get(kind)
    if cls is None:
        raise ValueError(f"unsupported sparse index vector type {kind}")
    vec = cls()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64)


def densify(tfl, tensor, values: np.ndarray) -> np.ndarray:
    """A sparse TFLite tensor (its SparsityParameters + stored values) as a dense array.

    The stored values are the leaves of a tree walked in ``traversal_order``:
    a DENSE level has ``dense_size`` children per node; a SPARSE_CSR level lists
    node p's children as ``array_indices[array_segments[p]:array_segments[p+1]]``.
    Block dimensions (``block_map``) come after the ``n`` tensor dimensions in
    the traversal order and index inside a block of the dimension they map to.
    """
    shape = [int(s) for s in tensor.ShapeAsNumpy()]
    sp = tensor.Sparsity()
    order = [int(v) for v in sp.TraversalOrderAsNumpy()]
    block_map = [int(v) for v in sp.BlockMapAsNumpy()] if sp.BlockMapLength() else []
    n = len(shape)
    levels = []
    for k in range(sp.DimMetadataLength()):
        dm = sp.DimMetadata(k)
        if dm.Format() == DIM_DENSE:
            levels.append(("dense", int(dm.DenseSize()), None, None))
        elif dm.Format() == DIM_SPARSE_CSR:
            levels.append(("csr", 0, _index_vector(tfl, dm, "Segments"), _index_vector(tfl, dm, "Indices")))
        else:
            raise ValueError(f"unknown dimension format {dm.Format()}")
    block_size = {block_map[j]: levels[order.index(n + j)][1] for j in range(len(block_map))}
    dense = np.zeros(shape, values.dtype)
    coords = [0] * len(order)

    def walk(level: int, pos: int):
        if level == len(order):
            idx = []
            for d in range(n):
                i = coords[order.index(d)]
                if d in block_size:
                    i = i * block_size[d] + coords[order.index(n + block_map.index(d))]
                idx.append(i)
            dense[tuple(idx)] = values[pos]
            return
        kind, size, seg, ind = levels[level]
        if kind == "dense":
            for i in range(size):
                coords[level] = i
                walk(level + 1, pos * size + i)
        else:
            for k in range(seg[pos], seg[pos + 1]):
                coords[level] = int(ind[k])
                walk(level + 1, k)

    walk(0, 0)
    return dense


def same_pads(in_hw, k_hw, stride, dil) -> list[int]:
    """TensorFlow "SAME" padding: [top, left, bottom, right] for input size ``in_hw`` (h, w)."""
    pads_b, pads_e = [], []
    for n, k, s, d in zip(in_hw, k_hw, stride, dil):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        pads_b.append(total // 2)
        pads_e.append(total - total // 2)
    return pads_b + pads_e


class TFLiteGraph:
    """The single subgraph of a TFLite model (``buf``: the file's bytes)."""

    def __init__(self, buf: bytes):
        import tflite  # the TFLite flatbuffer schema (train extra; the detector converter's own venv)

        self.tfl = tflite
        self.buf = buf
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        if self.model.SubgraphsLength() != 1:
            raise ValueError("expected one subgraph")
        self.g = self.model.Subgraphs(0)
        self.opname = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.const: dict[int, np.ndarray] = {}   # tensor index -> numpy value (constant-folded)
        self._ops: list[Op] | None = None         # the computing operators, once folded

    # --- tensors -------------------------------------------------------------------------
    def tensor(self, i: int):
        return self.g.Tensors(int(i))

    def tensor_name(self, i: int) -> str:
        return self.tensor(i).Name().decode()

    def shape(self, i: int) -> list[int]:
        t = self.tensor(i)
        return [int(s) for s in t.ShapeAsNumpy()] if t.ShapeLength() else []

    @property
    def inputs(self) -> list[int]:
        return [int(i) for i in self.g.InputsAsNumpy()]

    @property
    def outputs(self) -> list[int]:
        return [int(i) for i in self.g.OutputsAsNumpy()]

    def buffer_value(self, i: int) -> np.ndarray | None:
        t = self.tensor(i)
        b = self.model.Buffers(t.Buffer())
        if b is None or b.DataLength() == 0:
            return None
        raw = b.DataAsNumpy().tobytes()
        vals = np.frombuffer(raw, NP_TYPES[t.Type()])
        if t.Sparsity() is not None:
            return vals.copy()  # densified by the DENSIFY operator that reads it
        return vals.reshape(self.shape(i)).copy()

    def value(self, i: int) -> np.ndarray | None:
        """The constant value of tensor ``i`` (folded through DENSIFY / DEQUANTIZE), None for activations."""
        i = int(i)
        if i not in self.const:
            v = self.buffer_value(i)
            if v is None:
                return None
            self.const[i] = v
        return self.const[i]

    # --- operators -----------------------------------------------------------------------
    def options(self, op: Op, cls_name: str):
        o = getattr(self.tfl, cls_name)()
        t = op.raw.BuiltinOptions()
        o.Init(t.Bytes, t.Pos)
        return o

    def fold(self, op: Op) -> None:
        """Evaluate a constant operator (DENSIFY, DEQUANTIZE) into ``const``."""
        (src,), (out,) = op.inputs[:1], op.outputs[:1]
        if op.kind == "DENSIFY":
            self.const[out] = densify(self.tfl, self.tensor(src), self.value(src))
            return
        v, t = self.value(src), self.tensor(src)
        q = t.Quantization()
        if t.Type() == F16:
            self.const[out] = v.astype(np.float32)
        elif q is not None and q.ScaleLength():
            scale = q.ScaleAsNumpy().astype(np.float32)
            zero = q.ZeroPointAsNumpy().astype(np.float32)
            sh = [1] * v.ndim
            sh[q.QuantizedDimension()] = -1
            self.const[out] = (v.astype(np.float32) - zero.reshape(sh)) * scale.reshape(sh)
        else:
            raise ValueError("DEQUANTIZE of an unsupported tensor")

    def all_ops(self):
        """Every operator, in execution order, as ``Op`` (constant ones included, not folded)."""
        for k in range(self.g.OperatorsLength()):
            op = self.g.Operators(k)
            oc = self.model.OperatorCodes(op.OpcodeIndex())
            kind = self.opname[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())]
            yield Op(kind, [int(i) for i in op.InputsAsNumpy()], [int(i) for i in op.OutputsAsNumpy()], op)

    def ops(self) -> list[Op]:
        """The computing operators in execution order; the constant ones are folded the first time (densifying
        the sparse weights is the slow part of reading a file)."""
        if self._ops is None:
            self._ops = []
            for op in self.all_ops():
                if op.kind in CONSTANT_OPS:
                    self.fold(op)
                else:
                    self._ops.append(op)
        return self._ops
