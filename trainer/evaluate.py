"""``python -m trainer eval``: the paper's metrics on any dataset with 3D labels.

``python -m trainer eval --checkpoint runs/default/best.pt --data data/synth --split test``
(or ``--onnx assets/skeletonnet.onnx``). Prints MPJPE (root aligned, Eq. 1
scaled), PA-MPJPE, global / per-bone / absolute rotation errors overall and
per action (per clip for synthetic data: 0 sampled poses, 1-3 CMU clips;
per action for Human3.6M), and writes them as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from engine import skeleton as S
from trainer import metrics as M

SYNTH_GROUPS = {0: "sampled poses", 1: "CMU 01_01", 2: "Boxing_Toes", 3: "CMU 01_03"}


class OnnxNet:
    """ONNX Runtime model with the torch model's output names (world axes joints)."""

    def __init__(self, path: str | Path):
        import onnxruntime as ort

        self.sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = self.sess.get_modelmeta().custom_metadata_map
        self.input_size = int(meta["skeletonnet.input_size"])
        self.reference_length = float(np.linalg.norm(np.array(json.loads(meta["skeletonnet.bone_vectors"])), axis=1).sum())

    def __call__(self, images: np.ndarray) -> dict:
        j, rot, j2, conf = self.sess.run(None, {"image": np.asarray(images, np.float32)})
        return {"joints": j @ np.diag([1.0, -1.0, -1.0]), "rotations": rot, "joints_2d": j2, "confidence": conf,
                "global_rotation": S.pelvis_rotation(rot)}


def _batches(net, source, max_samples: int = 0, batch: int = 32):
    """(network outputs as float64 numpy, the batch's labels as numpy) over the first samples of a source."""
    from trainer.data.dataset import collate

    n = min(len(source), max_samples) if max_samples else len(source)
    for s in range(0, n, batch):
        b = {k: v.numpy() for k, v in collate([source.sample(i) for i in range(s, min(n, s + batch))]).items()}
        if isinstance(net, OnnxNet):
            o = net(b["image"])
        else:
            import torch

            with torch.no_grad():
                o = {k: v.numpy() for k, v in net(torch.from_numpy(b["image"])).items()}
            if "global_rotation" not in o:
                o["global_rotation"] = S.pelvis_rotation(o["rotations"])
        yield {k: np.asarray(v, np.float64) for k, v in o.items()}, b


def run_predictions(net, source, max_samples: int = 0, batch: int = 32):
    keys = ("joints", "rotations", "global_rotation")
    preds, gts = {k: [] for k in keys}, {k: [] for k in (*keys, "clip_id")}
    for o, b in _batches(net, source, max_samples, batch):
        for k in keys:
            preds[k].append(o[k])
            gts[k].append(b[k].astype(np.float64))
        gts["clip_id"].append(b["clip_id"])
    return {k: np.concatenate(v) for k, v in preds.items()}, {k: np.concatenate(v) for k, v in gts.items()}


def evaluate(net, source, reference_length: float, max_samples: int = 0, groups=SYNTH_GROUPS) -> dict:
    p, g = run_predictions(net, source, max_samples)
    res = {"overall": {"samples": int(len(g["joints"])), **M.summary(p, g, reference_length)}, "per_group": {}}
    for cid in np.unique(g["clip_id"]):
        sel = g["clip_id"] == cid
        res["per_group"][groups.get(int(cid), str(int(cid)))] = {
            "samples": int(sel.sum()),
            **M.summary({k: v[sel] for k, v in p.items()}, {k: v[sel] for k, v in g.items()}, reference_length)}
    return res


def evaluate_2d(net, source, max_samples: int = 0, batch: int = 32) -> dict:
    """PCK@0.2 and mean 2D error (pixels of the network input) against a source's 2D labels (e.g. the
    teacher's keypoints on real images), over joints labelled visible."""
    pred, gt, vis = [], [], []
    for o, b in _batches(net, source, max_samples, batch):
        pred.append(o["joints_2d"])
        gt.append(b["joints_2d"].astype(np.float64))
        vis.append(b["visible"].astype(np.float64))
    p, g, v = np.concatenate(pred), np.concatenate(gt), np.concatenate(vis)
    err = np.linalg.norm(p - g, axis=-1)
    return {"samples": int(len(g)), "pck@0.2": float(M.pck(p, g, v).mean()),
            "pck@0.1": float(M.pck(p, g, v, 0.1).mean()),
            "error_2d_px": float((err * v).sum() / max(v.sum(), 1e-9))}


def format_table(res: dict) -> str:
    cols = ["samples", "mpjpe_mm", "pa_mpjpe_mm", "global_rotation_error_deg", "bone_rotation_error_deg",
            "rotation_error_deg"]
    head = ["group", "N", "MPJPE mm", "PA-MPJPE mm", "global rot deg", "bone rot deg", "abs rot deg"]
    rows = [("overall", res["overall"])] + list(res["per_group"].items())
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows:
        lines.append("| " + " | ".join([name] + [f"{r[c]:.1f}" if c != "samples" else str(r[c]) for c in cols]) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer eval", description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--checkpoint")
    g.add_argument("--onnx")
    ap.add_argument("--data", default="data/synth")
    ap.add_argument("--kind", default="synth", choices=["synth", "h36m", "wild"])
    ap.add_argument("--holdout", default=None, help="wild: a file listing the held-out image keys")
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-samples", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from trainer.train import UserError, load_checkpoint, make_source

    try:
        if args.onnx:
            if not Path(args.onnx).exists():
                raise UserError(f"{args.onnx}: model not found")
            net = OnnxNet(args.onnx)
            size, ref = net.input_size, net.reference_length
        else:
            net = load_checkpoint(args.checkpoint)
            size, ref = net.cfg.input_size, net.reference_length
        if args.kind == "wild":  # 2D only: every held-out image where the teacher found a person
            source = make_source({"kind": "wild", "root": args.data, "accept": "all", "holdout": args.holdout},
                                 args.split, size, None, False)
            res = evaluate_2d(net, source, args.max_samples)
            print(" | ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items()
                             if v is not None))
            if args.json:
                Path(args.json).write_text(json.dumps(res, indent=2))
            return 0
        source = make_source({"kind": args.kind, "root": args.data}, args.split, size, None, False)
        groups = SYNTH_GROUPS
        if args.kind == "h36m":
            from trainer.data.realsets import H36M_ACTIONS

            groups = dict(enumerate(H36M_ACTIONS))
        res = evaluate(net, source, ref, args.max_samples, groups)
    except UserError as e:
        print(f"trainer: {e.code}", file=sys.stderr)
        return 2
    print(format_table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0
