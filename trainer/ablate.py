"""``python -m trainer ablate``: the paper's Tables 3 and 4 on the synthetic benchmark.

``python -m trainer ablate trainer/configs/ablation.yaml``

Trains every variant named in the config with the same base settings and the
same number of steps (the k-means classes are computed once and shared),
evaluates each final model on the synthetic test split, and writes
``results.json`` and ``table.md`` in the run folder. Variants that already
finished are not trained again; an interrupted variant resumes from its last
checkpoint, so the command can be re-run after a kill. ``--only NAME``
restricts it to some variants; ``--steps N`` overrides the step budget (for a
quick look; results of different budgets must not be compared). Each variant is
also scored on 500 of its training images (``--train-samples``): at a small
budget that shows how fast each representation can be fitted, even where none
generalises yet.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

from engine.errors import UserError, reports_user_errors
from engine.settings import build
from engine.yamlfile import read_yaml
from trainer.checkpoint import load_checkpoint
from trainer.clusters import kmeans_rotations, save_clusters
from trainer.config import TrainConfig
from trainer.data.sources import make_source
from trainer.evaluate import evaluate
from trainer.train import train

PAPER = {  # the paper's MPJPE (mm) on Human3.6M, Tables 3 and 4, for the reader's side-by-side
    "rot": 112.43, "hm": 128.55, "both": 87.05, "aa": 175.06, "fkaa": 197.44, "absolute": 114.70,
    "no_gs": 124.06, "global_regress": 119.18,
}


def load_ablation_config(path: str | Path) -> dict:
    """The ablation config in ``path``: ``out``, ``base`` (a training config's keys, ``trainer.config``) and
    ``variants`` (name -> ``model`` keys); every variant's training config is checked here, a mistake is one
    line naming the file and the key."""
    p = Path(path)
    data = read_yaml(p, "ablation config")
    for key in ("out", "base", "variants"):
        if key not in data:
            raise UserError(f"{p}: missing key '{key}'")
    if not isinstance(data["variants"], dict) or not data["variants"]:
        raise UserError(f"{p}: 'variants' must map names to model overrides")
    if not isinstance(data["base"], dict):
        raise UserError(f"{p}: 'base' must be a mapping of training config keys")
    for name in data["variants"]:
        variant_config(data, name, None, str(p))
    return data


def variant_model(abl: dict, name: str) -> dict:
    """The ``model`` keys of variant ``name``: the base's, then the variant's (what ``results.json`` records)."""
    base, variant = abl["base"].get("model") or {}, abl["variants"][name] or {}
    for where, keys in (("base.model", base), (f"variants.{name}", variant)):
        if not isinstance(keys, dict):
            raise UserError(f"{where} must map model keys to values, got {keys!r}")
    return {**base, **variant}


def variant_config(abl: dict, name: str, steps: int | None, src: str = "ablation config") -> TrainConfig:
    """The training config of variant ``name``: the base with the variant's model keys, its own run folder, the
    shared k-means classes, no validation and no export (``src`` names the file in errors)."""
    base = {**copy.deepcopy(abl["base"]), "model": variant_model(abl, name), "out": str(Path(abl["out"]) / name),
            "clusters": str(Path(abl["out"]) / "clusters.npz"), "val": {"root": ""}, "export": False}
    if steps:
        base["steps"] = steps
    return build(TrainConfig, base, "base", f"{src} (variant {name})", UserError)


def run(abl: dict, only: list[str], steps: int | None, test_samples: int, train_samples: int = 500,
        reeval: bool = False) -> dict:
    out = Path(abl["out"])
    out.mkdir(parents=True, exist_ok=True)
    names = only or list(abl["variants"])
    unknown = [n for n in names if n not in abl["variants"]]
    if unknown:
        raise UserError(f"unknown variant {unknown[0]!r}; the config has: {', '.join(abl['variants'])}")
    first = variant_config(abl, names[0], steps)
    mcfg = first.model
    if not (out / "clusters.npz").exists():
        src = make_source(first.data[0], "train", mcfg.input_size, None, False)
        print(f"k-means of {len(src)} global rotations into {mcfg.num_clusters} classes ...", file=sys.stderr)
        save_clusters(out / "clusters.npz", kmeans_rotations(src.global_rotations(), mcfg.num_clusters,
                                                             seed=first.seed))
    res_path = out / "results.json"
    results = json.loads(res_path.read_text()) if res_path.exists() else {}
    for name in names:
        cfg = variant_config(abl, name, steps)
        done = results.get(name)
        model = variant_model(abl, name)
        same = bool(done) and done.get("steps") == cfg.steps and done.get("model") == model
        if same and not (reeval and "train_fit" not in done):
            print(f"{name}: done already ({done['overall']['mpjpe_mm']:.1f} mm)", file=sys.stderr)
            continue
        wall = done.get("train_wall_s_this_call", 0.0) if same else 0.0
        if not same:
            print(f"== {name}: {model} for {cfg.steps} steps", file=sys.stderr)
            t0 = time.time()
            train(cfg)
            wall = time.time() - t0
        net = load_checkpoint(Path(cfg.out) / "last.pt")
        test = make_source({"kind": "synth", "root": cfg.data[0].root}, "test", net.cfg.input_size, None, False)
        ev = evaluate(net, test, net.reference_length, test_samples)
        # how well the same steps fit images the variant was trained on (learnability, Table 4's argument)
        tr = make_source({"kind": "synth", "root": cfg.data[0].root}, "train", net.cfg.input_size, None, False)
        fit = evaluate(net, tr, net.reference_length, train_samples)["overall"] if train_samples else None
        results[name] = {"model": model, "steps": cfg.steps, "batch_size": cfg.batch_size,
                         "train_wall_s_this_call": round(wall, 1), "paper_mpjpe_mm": PAPER.get(name),
                         "train_fit": fit, **ev}
        latest = json.loads(res_path.read_text()) if res_path.exists() else {}  # another process may have
        latest[name] = results[name]                                           # added variants meanwhile
        results = latest
        res_path.write_text(json.dumps(results, indent=2))
        print(f"{name}: MPJPE {ev['overall']['mpjpe_mm']:.1f} mm", file=sys.stderr)
    (out / "table.md").write_text(format_table(results, list(abl["variants"])))
    return results


def format_table(results: dict, order: list[str]) -> str:
    head = ["variant", "model settings", "MPJPE mm", "PA-MPJPE mm", "global rot deg", "bone rot deg",
            "train-images MPJPE mm", "paper MPJPE mm (H3.6M)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in order:
        if name not in results:
            continue
        r = results[name]
        o = r["overall"]
        diff = {k: v for k, v in r["model"].items() if k not in ("backbone", "input_size", "hg_channels",
                                                                 "num_clusters")}
        paper = r.get("paper_mpjpe_mm")
        lines.append("| " + " | ".join([
            name, ", ".join(f"{k}={v}" for k, v in diff.items()) or "(base)", f"{o['mpjpe_mm']:.1f}",
            f"{o['pa_mpjpe_mm']:.1f}", f"{o['global_rotation_error_deg']:.1f}", f"{o['bone_rotation_error_deg']:.1f}",
            f"{r['train_fit']['mpjpe_mm']:.1f}" if r.get("train_fit") else "-",
            f"{paper:.1f}" if paper else "-"]) + " |")
    return "\n".join(lines) + "\n"


@reports_user_errors("trainer")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer ablate", description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--only", action="append", default=[], metavar="NAME")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--test-samples", type=int, default=0, help="0 = the whole test split")
    ap.add_argument("--train-samples", type=int, default=500,
                    help="also evaluate on this many training images (0 = no)")
    ap.add_argument("--reeval", action="store_true", help="re-evaluate finished variants that lack train-image scores")
    args = ap.parse_args(argv)
    abl = load_ablation_config(args.config)
    results = run(abl, args.only, args.steps, args.test_samples, args.train_samples, args.reeval)
    print(format_table(results, list(abl["variants"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
