"""``python -m trainer motion {train,export,eval}``: the motion model (docs/motion.md).

    python -m trainer motion train --out runs/motion --noise benchmarks/results/network_2d_errors.json
    python -m trainer motion export runs/motion/best.pt --out assets/motion.onnx
    python -m trainer motion eval --onnx assets/motion.onnx --noise benchmarks/results/network_2d_errors.json
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from engine import motion as M
from engine.backend_base import ort_session
from engine.errors import UserError
from trainer.export import tensorrt_problems
from trainer.motion import evaluate as E
from trainer.motion.model import MotionNet, MotionNetConfig, build_net


def load_net(path: str | Path) -> MotionNet:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: checkpoint not found")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
        net = build_net(MotionNetConfig(**ck["config"]))
        net.load_state_dict(ck["model"])
    except Exception as e:  # noqa: BLE001 - torch raises several kinds on a bad file
        raise UserError(f"{path}: not a motion model checkpoint ({type(e).__name__})") from None
    return net.eval()


def export_onnx(net: MotionNet, path: str | Path, extra: dict | None = None) -> Path:
    """``net`` as ONNX (opset 17, input ``window`` (B, T, FEATURES), output ``rotations``
    (B, 16, 3, 3)) with ``motion.*`` metadata."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = torch.zeros(1, net.cfg.window, M.FEATURES)
    tmp = path.with_suffix(".tmp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (x,), str(tmp), input_names=["window"], output_names=["rotations"],
                          opset_version=17, dynamic_axes={"window": {0: "batch"}, "rotations": {0: "batch"}},
                          dynamo=False, do_constant_folding=True)
    model = onnx.load(str(tmp))
    meta = {"motion.contract": str(M.MOTION_CONTRACT), "motion.window": str(net.cfg.window),
            "motion.features": str(M.FEATURES), "motion.config": json.dumps(net.cfg.to_dict()),
            "motion.inputs": "window: (B,T,F) engine.motion.window_features, newest frame last",
            "motion.outputs": "rotations: (B,16,3,3) 15 bones + pelvis, absolute, the view's world axes",
            **(extra or {})}
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    tmp.unlink()
    return path


def parity(net: MotionNet, path: str | Path, n: int = 8, seed: int = 0) -> float:
    """Largest |ONNX Runtime - torch| over random windows."""
    x = np.random.default_rng(seed).normal(size=(n, net.cfg.window, M.FEATURES)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    got = ort_session(Path(path), 1).run(None, {"window": x})[0]
    return float(np.abs(ref - got).max())


def onnx_runner(path: str | Path):
    sess = ort_session(Path(path), 1)
    window = int(sess.get_modelmeta().custom_metadata_map["motion.window"])
    return (lambda x: sess.run(None, {"window": x.astype(np.float32)})[0]), window


def runner(path: str | Path):
    """``(run(features (N, T, FEATURES)) -> rotations (N, 16, 3, 3), window)`` of an exported
    model (.onnx) or a training checkpoint (.pt)."""
    if str(path).endswith(".onnx"):
        if not Path(path).is_file():
            raise UserError(f"{path}: motion model not found")
        return onnx_runner(path)
    net = load_net(path)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()
    return run, net.cfg.window


def main(argv=None) -> int:
    argv = list(argv or [])
    if not argv or argv[0] not in ("train", "export", "eval"):
        print("usage: python -m trainer motion {train,export,eval} [options]")
        return 2
    if argv[0] == "train":
        from trainer.motion.train import main as train
        return train(argv[1:])
    if argv[0] == "export":
        ap = argparse.ArgumentParser(prog="python -m trainer motion export")
        ap.add_argument("checkpoint")
        ap.add_argument("--out", default="assets/motion.onnx")
        a = ap.parse_args(argv[1:])
        net = load_net(a.checkpoint)
        path = export_onnx(net, a.out)
        bad = tensorrt_problems(path)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); ONNX Runtime vs torch max |diff| "
              f"{parity(net, path):.2e}; TensorRT 10 problems: {'; '.join(bad) or 'none'}")
        return 0
    ap = argparse.ArgumentParser(prog="python -m trainer motion eval")
    ap.add_argument("--onnx", default="assets/motion.onnx")
    ap.add_argument("--noise", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv[1:])
    from trainer.motion.train import load_noise

    run, window = onnx_runner(a.onnx)
    res = {}
    for name, noise in (("exact 2D", None), ("measured noise", load_noise(a.noise))):
        obs = E.test_sequences(noise)
        res[name] = {"motion model": E.scores(E.predict_sequences(run, obs, window), obs),
                     "constant mean pose": E.constant_baseline(obs)}
    for name, rows in res.items():
        print(f"\nCMU 01_03 (held out), {name}:")
        print(f"{'':22s} {'PA-MPJPE':>9s} {'MPJPE':>7s} {'accel':>7s} {'bone rot':>9s}")
        for k, v in rows.items():
            print(f"{k:22s} {v['pa_mpjpe_mm']:9.1f} {v['mpjpe_mm']:7.1f} {v['accel_mm_f2']:7.1f} "
                  f"{v.get('bone_rotation_deg', float('nan')):9.1f}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0
