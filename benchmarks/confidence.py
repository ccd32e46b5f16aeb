"""Does a model's ``confidence`` tell a person from background? (What the estimator relies on to find one.)

``python -m benchmarks.confidence [--model assets/skeletonnet.onnx] [--data data/wild]``

For every image of a ``python -m trainer wild`` folder where the teacher found a person, the
model's confidence (for contract-2 models: the presence probability) on three crops, through
the app's own estimator cropping (each crop with its camera, ``Box.camera``): the square
around the teacher's keypoints (``crop_scale``), a square of the same size mirrored to the
other side of the frame (mostly background), and the whole frame letterboxed (what the
estimator ran to re-acquire before the person detector). Prints the 5th / 50th / 95th
percentiles per kind, the ROC AUC of person vs background crops and the app's threshold;
writes benchmarks/results/confidence.json.
"""
import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from app.config import load_config
from engine.estimator import Box, Estimator
from engine.settings import EngineSettings
from trainer.data.realsets import read_labels
from trainer.evaluate import roc_auc

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "assets" / "skeletonnet.onnx"))
    ap.add_argument("--data", default=str(ROOT / "data" / "wild"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "confidence.json"))
    args = ap.parse_args(argv)
    root = Path(args.data)
    labels = read_labels(root)
    if not labels:
        raise SystemExit(f"{root}: no labels (python -m trainer wild {root})")
    threshold = load_config(None).tracking.min_confidence
    settings = EngineSettings().replaced({"model.path": str(Path(args.model).resolve()), "model.backend": "onnxruntime",
                                          "model.motion": False, "filter.enabled": False,
                                          "tracking.min_confidence": 0.0})
    est = Estimator.open(settings, log=lambda *_: None)
    kinds: dict[str, list[float]] = {"person crop": [], "background crop": [], "whole frame": []}
    for key, lab in sorted(labels.items()):
        if "joints_2d" not in lab:
            continue
        img = cv2.imread(str(root / key))
        if img is None:
            raise SystemExit(f"{root / key}: missing or unreadable image")
        h, w = img.shape[:2]
        j2 = np.asarray(lab["joints_2d"], np.float64)
        person = Box.around(j2, est.settings.tracking.crop_scale)
        mirrored = Box.around(np.stack([w - 1 - j2[:, 0], j2[:, 1]], 1), est.settings.tracking.crop_scale)
        for kind, box in (("person crop", person), ("background crop", mirrored),
                          ("whole frame", Box.full_frame(w, h))):
            out, _ = est.infer_crop(img, box)
            kinds[kind].append(float(out.confidence))
    rows = {k: dict(zip(("p5", "p50", "p95"), np.percentile(v, [5, 50, 95]).round(3).tolist()), n=len(v))
            for k, v in kinds.items()}
    print(f"model {args.model}; app threshold tracking.min_confidence = {threshold}")
    print("| crop | N | p5 | median | p95 |\n|---|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['n']} | {r['p5']:.3f} | {r['p50']:.3f} | {r['p95']:.3f} |")
    pos, neg = kinds["person crop"], kinds["background crop"]
    auc = roc_auc(np.array(pos + neg), np.array([1] * len(pos) + [0] * len(neg)))
    print(f"ROC AUC person vs background crop: {auc:.3f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"model": args.model, "threshold": threshold, "crops": rows,
                                           "auc_person_vs_background": round(auc, 4)}, indent=1))


if __name__ == "__main__":
    main()
