"""``python -m trainer eval``: the paper's metrics on any dataset with 3D labels.

``python -m trainer eval --checkpoint runs/default/best.pt --data data/synth --split test``
(or ``--onnx assets/skeletonnet.onnx``). Prints MPJPE (root aligned, Eq. 1
scaled), PA-MPJPE, global / per-bone / absolute rotation errors overall and
per action (per clip for synthetic data: 0 sampled poses, 1-3 CMU clips;
per action for Human3.6M), and writes them as JSON.

Beside the model, the constant-mean-pose baseline of the same samples (``baseline``): the mean
body pose of the evaluated samples (joints and per-bone rotations in the pelvis's frame) turned by
each sample's true global rotation; a model that does not beat it has learned no body shape.
Background crops (``person = 0``, the webcam synthetic style) are left out of the pose metrics;
where the data has both kinds, the presence output is scored on them (``presence``: accuracy at
0.5 and ROC AUC of ``confidence``, person vs background).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from engine import frames
from engine import skeleton as S
from engine.backend_base import BackendError, ort_session
from engine.errors import UserError, reports_user_errors
from trainer import metrics as M
from trainer.checkpoint import load_checkpoint
from trainer.data.dataset import collate
from trainer.data.realsets import H36M_ACTIONS
from trainer.data.sources import make_source
from trainer.model import DEFAULT_FOCAL

SYNTH_GROUPS = {0: "sampled poses", 1: "CMU 01_01", 2: "Boxing_Toes", 3: "CMU 01_03"}


class OnnxNet:
    """ONNX Runtime model with the torch model's output names (world axes joints).

    Model contract 2 (``engine.backend_base.MODEL_CONTRACT``): inputs ``image`` and ``camera``, outputs
    by name, joints in world axes. A contract-1 export (input ``image`` only, camera-axis joints)
    still runs, for comparing with old models."""

    def __init__(self, path: str | Path):
        try:
            self.sess = ort_session(Path(path))
        except BackendError as e:
            raise UserError(str(e)) from None
        meta = self.sess.get_modelmeta().custom_metadata_map
        self.input_size = int(meta["skeletonnet.input_size"])
        bones = np.array(json.loads(meta["skeletonnet.bone_vectors"]))
        self.reference_length = float(np.linalg.norm(bones, axis=1).sum())
        self.inputs = [i.name for i in self.sess.get_inputs()]
        self.outputs = [o.name for o in self.sess.get_outputs()]

    def default_camera(self, b: int) -> np.ndarray:
        s = self.input_size
        return np.tile(np.array([DEFAULT_FOCAL * s, (s - 1) / 2, (s - 1) / 2], np.float32), (b, 1))

    def __call__(self, images: np.ndarray, camera: np.ndarray | None = None) -> dict:
        images = np.asarray(images, np.float32)
        feed = {"image": images}
        if "camera" in self.inputs:
            feed["camera"] = (self.default_camera(len(images)) if camera is None
                              else np.asarray(camera, np.float32).reshape(-1, 3))
        o = dict(zip(self.outputs, self.sess.run(None, feed)))
        # a contract-1 model (no camera input) gave camera-axis joints
        j = o["joints_3d"] if "camera" in self.inputs else frames.camera_to_world(o["joints_3d"])
        return {"joints": j, "rotations": o["rotations"], "joints_2d": o["joints_2d"], "confidence": o["confidence"],
                "global_rotation": S.pelvis_rotation(o["rotations"])}


def _batches(net, source, max_samples: int = 0, batch: int = 32, device="cpu"):
    """(network outputs as float64 numpy, the batch's labels as numpy) over the first samples of a source.
    The network gets each sample's crop camera (``camera``; its default camera where the data has none);
    a torch network (in eval mode) runs on ``device``."""
    n = min(len(source), max_samples) if max_samples else len(source)
    for s in range(0, n, batch):
        b = {k: v.numpy() for k, v in collate([source.sample(i) for i in range(s, min(n, s + batch))]).items()}
        if isinstance(net, OnnxNet):
            o = net(b["image"], b.get("camera"))
        else:
            cam = torch.from_numpy(b["camera"]).to(device) if "camera" in b else None
            with torch.no_grad():
                o = {k: v.float().cpu().numpy() for k, v in net(torch.from_numpy(b["image"]).to(device), cam).items()}
            if "global_rotation" not in o:
                o["global_rotation"] = S.pelvis_rotation(o["rotations"])
        yield {k: np.asarray(v, np.float64) for k, v in o.items()}, b


def run_predictions(net, source, max_samples: int = 0, batch: int = 32, device="cpu"):
    """(predictions, labels) as numpy over the first ``max_samples`` samples (0: all) of a source;
    labels carry ``person`` (1 where the data has none), and both carry the 2D joints and the
    presence ``confidence``. The one prediction loop of evaluation and of validation during training."""
    keys = ("joints", "rotations", "global_rotation", "joints_2d")
    preds, gts = {k: [] for k in (*keys, "confidence")}, {k: [] for k in (*keys, "clip_id", "person", "visible")}
    for o, b in _batches(net, source, max_samples, batch, device):
        m = len(b["joints"])
        for k in keys:
            preds[k].append(o[k])
            gts[k].append(b[k].astype(np.float64))
        preds["confidence"].append(o["confidence"].reshape(m))
        gts["clip_id"].append(b["clip_id"] if "clip_id" in b else np.zeros(m, int))
        gts["person"].append(b["person"].astype(np.float64) if "person" in b else np.ones(m))
        gts["visible"].append(b["visible"].astype(np.float64) if "visible" in b else np.ones((m, S.NUM_JOINTS)))
    return {k: np.concatenate(v) for k, v in preds.items()}, {k: np.concatenate(v) for k, v in gts.items()}


def mean_pose_baseline(gt: dict) -> dict:
    """The constant-mean-pose prediction for labels ``gt`` (joints, rotations, global_rotation):
    the mean body in the pelvis's frame (joints, and per bone the rotation R^b = R^g^T R averaged
    and projected back onto a rotation), turned by each sample's true global rotation."""
    g = np.asarray(gt["global_rotation"], np.float64)
    gT = np.swapaxes(g, -1, -2)
    joints = np.asarray(gt["joints"], np.float64)
    local = (gT[:, None] @ (joints - joints[:, S.ROOT:S.ROOT + 1])[..., None])[..., 0].mean(0)
    rb = (gT[:, None] @ np.asarray(gt["rotations"], np.float64)).mean(0)
    u, _, vt = np.linalg.svd(rb)
    d = np.sign(np.linalg.det(u @ vt))
    rb = u @ (np.concatenate([np.ones((len(d), 2)), d[:, None]], 1)[:, :, None] * vt)
    return {"joints": (g[:, None] @ local[None, :, :, None])[..., 0], "rotations": g[:, None] @ rb[None],
            "global_rotation": g}


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (Mann-Whitney; ties count half)."""
    from scipy.stats import rankdata  # scipy.stats takes about a second to import; only presence scoring needs it

    s, y = np.asarray(scores, np.float64), np.asarray(labels) > 0.5
    npos, nneg = int(y.sum()), int((~y).sum())
    if not npos or not nneg:
        return float("nan")
    return float((rankdata(s)[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def presence_scores(confidence: np.ndarray, person: np.ndarray, threshold: float = 0.5) -> dict | None:
    """Accuracy at ``threshold`` and ROC AUC of the presence confidence, person vs background crops;
    None unless the samples have both kinds."""
    y = np.asarray(person) > 0.5
    if y.all() or not y.any():
        return None
    c = np.asarray(confidence, np.float64)
    return {"person": int(y.sum()), "background": int((~y).sum()), "accuracy": float(((c >= threshold) == y).mean()),
            "auc": roc_auc(c, y), "threshold": threshold}


def _pose_summary(p: dict, g: dict, sel: np.ndarray, reference_length: float) -> dict:
    keys = ("joints", "rotations", "global_rotation")
    if not sel.any():
        return {"samples": 0}
    out = {"samples": int(sel.sum()),
           **M.summary({k: p[k][sel] for k in keys}, {k: g[k][sel] for k in keys}, reference_length)}
    v = g["visible"][sel]
    if v.sum():
        out["pck@0.2"] = float(M.pck(p["joints_2d"][sel], g["joints_2d"][sel], v).mean())
    return out


def evaluate(net, source, reference_length: float, max_samples: int = 0, groups=SYNTH_GROUPS) -> dict:
    """Pose metrics over the samples with a person (overall, per group, and the constant-mean-pose
    baseline of the same samples), and presence scores where the data has background crops."""
    p, g = run_predictions(net, source, max_samples)
    person = g["person"] > 0.5
    res = {"overall": _pose_summary(p, g, person, reference_length), "per_group": {}}
    if person.any():
        keys = ("joints", "rotations", "global_rotation")
        gp = {k: g[k][person] for k in keys}
        res["baseline"] = {"samples": int(person.sum()), **M.summary(mean_pose_baseline(gp), gp, reference_length)}
    pres = presence_scores(p["confidence"], g["person"])
    if pres is not None:
        res["presence"] = pres
    for cid in np.unique(g["clip_id"][person]):
        sel = person & (g["clip_id"] == cid)
        res["per_group"][groups.get(int(cid), str(int(cid)))] = _pose_summary(p, g, sel, reference_length)
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
    res = {"samples": int(len(g)), **_scores_2d(p, g, v)}
    res["baseline"] = _scores_2d(np.broadcast_to(mean_pose_2d(g, v), g.shape), g, v)
    return res


def mean_pose_2d(joints_2d: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """The constant 2D prediction for a set of labelled crops: each joint's mean position over the
    crops where it is labelled visible (the mean of all labels where it never is). The crops are placed
    around the labelled person, so this baseline knows where the person is and nothing else: a model
    that does not beat it has learned nothing from the pixels."""
    w = visible[..., None]
    n = w.sum(0)
    return np.where(n > 0, (joints_2d * w).sum(0) / np.maximum(n, 1e-9), joints_2d.mean((0, 1)))


def _scores_2d(p: np.ndarray, g: np.ndarray, v: np.ndarray) -> dict:
    err = np.linalg.norm(p - g, axis=-1)
    return {"pck@0.2": float(M.pck(p, g, v).mean()), "pck@0.1": float(M.pck(p, g, v, 0.1).mean()),
            "error_2d_px": float((err * v).sum() / max(v.sum(), 1e-9))}


def _row_2d(scores: dict) -> str:
    return " | ".join(f"{k} {v:.3f}" for k, v in scores.items() if isinstance(v, float))


def format_table(res: dict) -> str:
    cols = ["samples", "mpjpe_mm", "pa_mpjpe_mm", "global_rotation_error_deg", "bone_rotation_error_deg",
            "rotation_error_deg"]
    head = ["group", "N", "MPJPE mm", "PA-MPJPE mm", "global rot deg", "bone rot deg", "abs rot deg"]
    rows = [("overall", res["overall"])]
    if "baseline" in res:
        rows.append(("constant mean pose (true global rotation)", res["baseline"]))
    rows += list(res["per_group"].items())
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows:
        lines.append("| " + " | ".join([name] + [("nan" if c not in r else f"{r[c]:.1f}") if c != "samples"
                                                 else str(r[c]) for c in cols]) + " |")
    if "pck@0.2" in res["overall"]:
        lines.append(f"\n2D PCK@0.2 (visible joints of the person samples): {res['overall']['pck@0.2']:.3f}")
    if "presence" in res:
        pr = res["presence"]
        lines.append(f"presence: {pr['person']} person / {pr['background']} background crops, accuracy "
                     f"{pr['accuracy']:.3f} at {pr['threshold']}, ROC AUC {pr['auc']:.3f}")
    return "\n".join(lines)


@reports_user_errors("trainer")
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
        print(f"samples {res['samples']} | {_row_2d(res)}")
        print(f"constant mean 2D pose (same crops): {_row_2d(res['baseline'])}")
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2))
        return 0
    source = make_source({"kind": args.kind, "root": args.data}, args.split, size, None, False)
    groups = dict(enumerate(H36M_ACTIONS)) if args.kind == "h36m" else SYNTH_GROUPS
    res = evaluate(net, source, ref, args.max_samples, groups)
    print(format_table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0
