"""Size of each loss term and the gradient it sends to each branch of SkeletonNet.

``python -m benchmarks.loss_balance [--data data/synth] [--init CKPT] [--set loss.lam=0.001 ...]``

A term far weaker than its neighbours on the branch it should train trains nothing (issue 15:
at the paper's lambda = 0.001 the heatmap branch got ~1000x less gradient from L_hm than from
L_pos). Prints a table (rows: loss terms; columns: the term's weighted value and the gradient
norm it sends to the backbone, the rotation heads and the heatmap branch) and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

BRANCHES = {
    "backbone": ("backbone.",),
    "rotation": ("rot_head.", "global_out.", "bone_out."),
    "heatmap": ("up1.", "up2.", "up3.", "gauss_conv.", "hourglass.", "hm_out."),
    "presence": ("presence_out.",),
}


def term_gradients(net, batch: dict, weights) -> dict:
    """{term: {"value": weighted value, branch: gradient norm of the weighted term}} for one batch."""
    from trainer.losses import PART_WEIGHTS, skeletonnet_loss

    tgt = {k: v for k, v in batch.items() if k != "image"}
    out = net(batch["image"], tgt["camera"])
    _, parts = skeletonnet_loss(out, tgt, net.cfg, weights, detach=False)
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    result = {}
    for term, wname in PART_WEIGHTS.items():
        scale = 1.0 if wname is None else getattr(weights, wname)
        if term not in parts or not scale:
            continue
        term_loss = parts[term] * scale
        grads = torch.autograd.grad(term_loss, [p for _, p in named], retain_graph=True, allow_unused=True)
        row = {"value": float(term_loss.detach())}
        for br, prefixes in BRANCHES.items():
            sq = [g.pow(2).sum() for (n, _), g in zip(named, grads) if g is not None and n.startswith(prefixes)]
            row[br] = float(torch.sqrt(sum(sq))) if sq else 0.0
        result[term] = row
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.loss_balance", description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="trainer/configs/default.yaml")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--init", default="", help="a checkpoint (default: the network at initialisation)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--json", default="benchmarks/results/loss_balance.json")
    args = ap.parse_args(argv)
    from trainer.checkpoint import load_checkpoint
    from trainer.clusters import kmeans_rotations
    from trainer.data.sources import make_source
    from trainer.model import SkeletonNet
    from trainer.train import batch_for_step, load_train_config

    cfg = load_train_config(args.config, args.overrides)
    mcfg = cfg.model
    torch.manual_seed(0)
    if args.init:
        net = load_checkpoint(args.init)
        centres = net.cluster_centres.numpy().reshape(-1, 3, 3)
    else:
        first = make_source(cfg.data[0], "train", mcfg.input_size, None, False)
        centres = kmeans_rotations(first.global_rotations(), mcfg.num_clusters, seed=0)
        net = SkeletonNet(mcfg, centres, pretrained=True)
    net.train()
    sources = [make_source(s, "train", mcfg.input_size, centres, cfg.flip) for s in cfg.data]
    batch = batch_for_step(sources, [s.weight for s in cfg.data], args.batch, 0, 0, 0)
    res = term_gradients(net, batch, cfg.loss)
    print(f"{'term':10s} {'weighted':>10s} " + " ".join(f"{b:>10s}" for b in BRANCHES))
    for t, r in res.items():
        print(f"{t:10s} {r['value']:10.4g} " + " ".join(f"{r[b]:10.3g}" for b in BRANCHES))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"config": args.config, "overrides": args.overrides, "init": args.init,
                                           "terms": res}, indent=2))
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
