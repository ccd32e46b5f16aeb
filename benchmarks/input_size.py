"""Input size of the BlazePose-backbone model (issue 29 point 4): time per frame against held-out 2D.

For each input size (160, 192, 224, 256 px):

* **time**: SkeletonNet on ``blazepose_full`` at that size (the shipped architecture: the paper's heads on
  BlazePose's encoder and decoder), exported to ONNX and run by ONNX Runtime on one and on two threads
  (median of ``--runs`` runs after warm-up; random head weights: speed does not depend on training);
* **held-out 2D of the backbone itself**: BlazePose's own heatmaps read out by soft-argmax (logits x 2, the
  start of the model's xy maps, ``trainer.model.BP_LOGIT_SCALE``) on upright oracle crops of the held-out
  videos' teacher frames (``data/heldout/frames``, labels ``data/heldout/keypoints_heavy.json``; run
  ``python -m benchmarks.heldout_video`` once to make them), PCK@0.2 against BlazePose heavy over the 12 joints
  that are one landmark. The trained heads start from these maps and the distillation holds them there, so
  this is what an input size allows the 2D to be;
* with ``--model M.onnx`` (one fixed size), the trained model's oracle-crop PCK@0.2 on the same frames too.

``python -m benchmarks.input_size [--runs 30] [--model assets/skeletonnet.onnx]``: a table, and
``benchmarks/results/input_size.json``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from engine import skeleton as S
from engine.errors import UserError, reports_user_errors
from engine.preprocess import Box, crop, to_input

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "data" / "heldout"
SIZES = (160, 192, 224, 256)
HIPS_SHOULDERS = [S.JOINT_INDEX[n] for n in ("r_hip", "l_hip", "r_shoulder", "l_shoulder")]


def held_out_frames(max_per_video: int = 0):
    """(image BGR, teacher joints (16, 2), confidences (16,)) of every cached teacher frame of the test videos."""
    from trainer.data.videos import load_splits

    path = HELDOUT / "keypoints_heavy.json"
    if not path.exists():
        raise UserError(f"{path}: no teacher keypoints (run  python -m benchmarks.heldout_video  once)")
    labels = json.loads(path.read_text())["videos"]
    tests = [v.name for v in load_splits().of_split("test") if v.name in labels]
    out = []
    for name in tests:
        items = sorted(((int(k), v) for k, v in labels[name].items() if v is not None))
        if max_per_video:
            items = items[:: max(1, len(items) // max_per_video)][:max_per_video]
        for k, v in items:
            img = cv2.imread(str(HELDOUT / "frames" / name / f"{k:06d}.jpg"))
            if img is None:
                continue
            a = np.asarray(v, np.float64)
            out.append((img, a[:, :2], a[:, 2]))
    if not out:
        raise UserError(f"{HELDOUT / 'frames'}: no cached frames of the test videos")
    return out


def upright_box(j2: np.ndarray, conf: np.ndarray) -> Box:
    """The oracle crop as the app turns it (``trainer.heldout.oracle_box`` with ``upright``)."""
    from trainer.heldout import oracle_box

    return oracle_box(j2, conf, upright=True)


def pck02(pred: np.ndarray, gt: np.ndarray, vis: np.ndarray) -> float:
    from trainer.metrics import pck

    return float(pck(pred, gt, vis, 0.2).mean())


def backbone_2d(frames, size: int) -> float:
    """PCK@0.2 of BlazePose's own heatmap read-out at ``size`` (12 landmark joints)."""
    import torch

    from trainer import layers as L
    from trainer.blazepose import BlazePoseNet, joint_sources
    from trainer.model import BP_LOGIT_SCALE

    net = BlazePoseNet("full", taps=("heatmaps",)).eval()
    src = joint_sources()
    joints, lms = list(src), list(src.values())
    preds, gts, vis = [], [], []
    with torch.no_grad():
        for img, j2, conf in frames:
            box = upright_box(j2, conf)
            hm = net(torch.tensor(to_input(crop(img, box, size))))["heatmaps"]
            c = L.soft_argmax(L.heatmap_probabilities(hm * BP_LOGIT_SCALE))[0].numpy()
            p = np.array(j2, np.float64)          # only the 12 landmark joints are scored
            p[joints] = box.to_frame((c[lms] + 0.5) * 4 - 0.5, size)
            preds.append(p)
            gts.append(j2)
            v = np.zeros(S.NUM_JOINTS)
            v[joints] = conf[joints] > 0.5
            vis.append(v)
    return pck02(np.stack(preds), np.stack(gts), np.stack(vis))


def model_2d(frames, model: Path) -> dict:
    """An exported model on the upright oracle crops of the frames, beside the original BlazePose full network
    (``trainer.blazepose.Original``, its regressed landmarks through the teacher's joint rule) on the same
    crops at its own 256 px: PCK@0.2 of each against BlazePose heavy, and of the model against the original
    (the original's joints it sees as reference: the fine-tuning must not lose what the backbone knew)."""
    import torch

    from engine.backend_base import turn_back
    from engine.backends import create_backend
    from trainer.blazepose import NATIVE_SIZE, Original

    be = create_backend("onnxruntime", model, 1, log=lambda *_: None)
    size = be.input_size
    orig = Original("full")
    preds, origs, ovis, gts, vis = [], [], [], [], []
    for img, j2, conf in frames:
        box = upright_box(j2, conf)
        h, w = img.shape[:2]
        out = be.infer(img, box, box.camera(size, w, h, 65.0))
        preds.append(turn_back(out, box, size)[1])
        with torch.no_grad():
            oj, ov = orig(torch.tensor(to_input(crop(img, box, NATIVE_SIZE))))
        origs.append(box.to_frame(oj[0].numpy().astype(np.float64), NATIVE_SIZE))
        ovis.append(ov[0].numpy() > 0.5)
        gts.append(j2)
        vis.append(conf > 0.5)
    p, o, g = np.stack(preds), np.stack(origs), np.stack(gts)
    v, ov = np.stack(vis).astype(float), np.stack(ovis).astype(float)
    return {"path": str(model), "size": size, "oracle_pck@0.2": pck02(p, g, v),
            "original_full_pck@0.2": pck02(o, g, v), "agreement_with_original_pck@0.2": pck02(p, o, ov)}


def time_size(size: int, runs: int) -> dict:
    import torch

    from benchmarks.ab_speed import time_rounds
    from engine.backends import OnnxRuntimeBackend
    from trainer.export import export_onnx
    from trainer.model import SkeletonNet, SkeletonNetConfig

    torch.manual_seed(0)
    net = SkeletonNet(SkeletonNetConfig(backbone="blazepose_full", input_size=size, presence=True)).eval()
    with tempfile.TemporaryDirectory() as d:
        path = export_onnx(net, Path(d) / "m.onnx")
        res = {}
        for threads in (1, 2):  # benchmarks.ab_speed's timing: median of ``runs`` after warm-up
            ms = time_rounds({"m": OnnxRuntimeBackend(path, threads, gpu=False)}, 1, runs)["m"][0]
            res[f"ms_{threads}_thread"] = ms
    return res


@reports_user_errors("benchmarks.input_size")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.input_size", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--frames-per-video", type=int, default=0, help="0: every cached teacher frame")
    ap.add_argument("--model", type=Path, help="an exported model to score on the same crops")
    ap.add_argument("--model-only", action="store_true", help="only the --model comparison (no sizes)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "input_size.json")
    args = ap.parse_args(argv)
    frames = held_out_frames(args.frames_per_video)
    rows = []
    for size in (SIZES if not args.model_only else ()):
        r = {"size": size, **time_size(size, args.runs), "backbone_pck@0.2": backbone_2d(frames, size)}
        rows.append(r)
        print(f"{size:4d} px: ORT {r['ms_1_thread']:6.1f} ms (1 thread) {r['ms_2_thread']:6.1f} ms (2 threads); "
              f"BlazePose heatmap read-out PCK@0.2 {r['backbone_pck@0.2']:.3f}", flush=True)
    res = {"frames": len(frames), "rows": rows}
    if args.model:
        m = res["model"] = model_2d(frames, args.model)
        print(f"{args.model} ({m['size']} px), upright oracle crops, 16 joints: PCK@0.2 against BlazePose heavy "
              f"{m['oracle_pck@0.2']:.3f}; the original BlazePose full on the same crops "
              f"{m['original_full_pck@0.2']:.3f}; "
              f"the model against the original {m['agreement_with_original_pck@0.2']:.3f}")
    print(f"\n| input px | ORT ms, 1 thread | ORT ms, 2 threads | BlazePose's own heatmap 2D, PCK@0.2 "
          f"({len(frames)} held-out frames) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['ms_1_thread']:.1f} | {r['ms_2_thread']:.1f} | {r['backbone_pck@0.2']:.3f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
