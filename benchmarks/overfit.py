"""Can the network fit a fixed set of images? A learning sanity check.

``python -m benchmarks.overfit [--mode both] [--images 32] [--steps 300] [--input-size 96] [--backbone lite0]``

Trains a fresh SkeletonNet (EfficientNet-Lite0 with its ImageNet weights by default, or
``--backbone mobilenet`` from scratch; one thread) on a fixed set of synthetic training
images (every 50th; each with its crop camera) with Adam 1e-3 and reports the losses
every 50 steps and the paper's metrics on those same images in eval mode at
the end (person samples only), beside the constant mean pose of those images. If this does not get
low, something in the labels, losses or layers is broken; if it does and a long run still generalises
badly, the limit is training compute. Writes benchmarks/results/overfit_<mode>.json.
"""
import argparse
import json
import time
from pathlib import Path

import torch

from trainer.clusters import kmeans_rotations
from trainer.data.dataset import SynthSource, collate
from trainer.evaluate import mean_pose_baseline
from trainer.losses import LossWeights, skeletonnet_loss
from trainer.metrics import summary
from trainer.model import SkeletonNet, SkeletonNetConfig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default="both", choices=["both", "rot", "hm"])
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--input-size", type=int, default=96)
    ap.add_argument("--data", default="data/synth")
    ap.add_argument("--backbone", default="lite0", choices=["lite0", "mobilenet", "resnet18", "resnet50"])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    plain = SynthSource(args.data, "train", args.input_size, None, False)
    centres = kmeans_rotations(plain.global_rotations()[::20], 200, n_init=1)
    src = SynthSource(args.data, "train", args.input_size, centres, False)
    b = collate([src.sample(i) for i in range(0, args.images * 50, 50)])
    cfg = SkeletonNetConfig(backbone=args.backbone, input_size=args.input_size, hg_channels=32, mode=args.mode,
                            presence=bool((b["person"] < 0.5).any()) if "person" in b else False)
    net = SkeletonNet(cfg, centres, pretrained=True)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    tgt = {k: v for k, v in b.items() if k != "image"}
    rows, t0 = [], time.time()
    for it in range(args.steps + 1):
        net.train()
        loss, parts = skeletonnet_loss(net(b["image"], b["camera"]), tgt, cfg, LossWeights())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 50 == 0:
            rows.append({"step": it, **{k: round(float(v), 3) for k, v in parts.items()}})
            print(rows[-1], f"{time.time() - t0:.0f} s", flush=True)
    net.eval()
    with torch.no_grad():
        o = net(b["image"], b["camera"])
    keys = ("joints", "rotations", "global_rotation")
    sel = (b["person"] > 0.5).numpy() if "person" in b else slice(None)
    gt = {k: b[k].double().numpy()[sel] for k in keys}
    m = summary({k: o[k].double().numpy()[sel] for k in keys}, gt, net.reference_length)
    base = summary(mean_pose_baseline(gt), gt, net.reference_length)
    print(f"\n{args.images} training images, {args.steps} steps, {args.input_size} px, mode {args.mode}:")
    print("| | MPJPE mm | PA-MPJPE mm | global rot deg | bone rot deg |\n|---|---|---|---|---|")
    for name, r in (("model", m), ("constant mean pose", base)):
        print(f"| {name} | {r['mpjpe_mm']:.1f} | {r['pa_mpjpe_mm']:.1f} | {r['global_rotation_error_deg']:.1f} | "
              f"{r['bone_rotation_error_deg']:.1f} |")
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"overfit_{args.mode}.json").write_text(json.dumps(
        {"args": vars(args), "losses": rows, "eval_on_the_same_images": m, "constant_mean_pose": base,
         "wall_s": round(time.time() - t0, 1)}, indent=2, default=float))



if __name__ == "__main__":
    main()
