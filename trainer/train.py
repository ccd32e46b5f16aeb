"""``python -m trainer train CONFIG.yaml``: train SkeletonNet.

* Batches mix several sources by weight (the paper's half-and-half mix is two
  sources of weight 1); samples per step come from a generator seeded by
  (seed, rank, step), so a resumed run sees exactly the batches it would have.
* Adam or SGD; learning rate constant, cosine, or the paper's exponential decay
  from ``lr`` (1e-3) to ``lr_final`` (1e-5).
* Flip augmentation with the left/right label swap.
* Validation every ``val_every`` steps (MPJPE, PA-MPJPE, rotation errors on a
  fixed subset of the validation split); ``best.pt`` keeps the best MPJPE.
* ``video_val`` (issue 24): every ``every`` steps the weights are exported to ONNX and run end to end
  through the app's tracking on held-out real videos (``python -m benchmarks.heldout_video --videos select
  --quick``, against the BlazePose teacher's cached keypoints); PCK@0.2 goes to ``video.csv``, and with
  ``choose: true`` ``best.pt`` keeps the best end-to-end video score instead of the synthetic MPJPE
  (synthetic scores chose the wrong model before: docs/training.md).
* ``stop_at`` ends a chunk early without changing the schedule (train over
  several days in chunks); checkpoints every ``ckpt_every`` steps (``last.pt``, written atomically:
  model, optimizer, schedule, step, best score), exact resume, CSV logs
  (``train.csv``, ``val.csv``) and PNG plots of the curves.
* Distributed data-parallel under ``torchrun`` (gloo on CPU, NCCL on GPUs);
  mixed precision (bf16 autocast) on GPU.
* At the end: ``model.onnx`` (the engine's format) in the run folder.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from tqdm import tqdm

from engine.errors import UserError, reports_user_errors
from engine.yamlfile import parse_override, read_yaml, set_dotted
from trainer.checkpoint import read_checkpoint, save_atomic, saved_config, training_state
from trainer.clusters import kmeans_rotations, load_clusters, save_clusters
from trainer.data.dataset import collate
from trainer.data.sources import make_source
from trainer.evaluate import run_predictions
from trainer.export import export_onnx, export_torchscript
from trainer.losses import LossWeights, skeletonnet_loss
from trainer.metrics import summary
from trainer.model import SkeletonNet, SkeletonNetConfig


@dataclass
class TrainConfig:
    out: str = "runs/default"
    model: dict = field(default_factory=dict)          # SkeletonNetConfig fields
    data: list = field(default_factory=lambda: [{"kind": "synth", "root": "data/synth", "weight": 1.0}])
    val: dict = field(default_factory=lambda: {"kind": "synth", "root": "data/synth", "split": "val",
                                               "max_samples": 400})
    batch_size: int = 16
    steps: int = 20000
    stop_at: int = 0                                   # stop (checkpointed) at this step; 0 = run to the end
    time_limit_s: float = 0.0                          # stop (checkpointed) after this many seconds; 0 = no limit
    optimizer: str = "adam"                            # adam | sgd
    lr: float = 1e-3
    lr_final: float = 1e-5
    schedule: str = "exp"                              # exp (paper: lr -> lr_final) | cosine | const
    weight_decay: float = 1e-5
    momentum: float = 0.9
    flip: bool = True
    val_every: int = 1000
    ckpt_every: int = 250
    log_every: int = 20
    seed: int = 0
    threads: int = 0
    clusters: str = ""                                 # k-means centres (clusters.npz) to reuse instead of computing
    init: str = ""                                     # start from this checkpoint's weights (fine-tuning)
    amp: bool = True                                   # bf16 autocast on GPU
    cpu_bf16: bool = False                             # bf16 autocast on CPU too (docs/training.md: measured)
    loss: dict = field(default_factory=dict)           # LossWeights fields
    export: bool = True
    video_val: dict = field(default_factory=dict)      # {every: steps, videos: select, choose: true}: see module doc
    upright: bool = False                              # crops turned so the body stands upright (the engine's rule)
    freeze_backbone_steps: int = 0                     # the backbone's weights stay fixed for this many steps
    backbone_lr: float = 1.0                           # the backbone's learning rate, times the heads'
    distill_on: str = "all"                            # crops the original labels (loss.distill): all | real (no 3D)


def load_train_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    p = Path(path)
    data = read_yaml(p, "training config")
    for o in overrides:
        set_dotted(data, *parse_override(o))
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    bad = sorted(set(data) - names)
    if bad:
        raise UserError(f"{p}: unknown key '{bad[0]}' (allowed: {', '.join(sorted(names))})")
    cfg = TrainConfig(**data)
    try:
        SkeletonNetConfig(**cfg.model)
        LossWeights(**cfg.loss)
    except (TypeError, ValueError) as e:
        raise UserError(f"{p}: {e}") from None
    bad = sorted(set(cfg.video_val) - {"every", "videos", "choose"})
    if bad or (cfg.video_val and int(cfg.video_val.get("every", 0)) < 1):
        raise UserError(f"{p}: video_val takes every (steps, >= 1), videos (select | report | all) and choose "
                        f"(true | false); got {cfg.video_val}")
    if cfg.distill_on not in ("all", "real"):
        raise UserError(f"{p}: distill_on must be all | real; got {cfg.distill_on!r}")
    if cfg.optimizer not in ("adam", "sgd") or cfg.schedule not in ("exp", "cosine", "const"):
        raise UserError(f"{p}: optimizer must be adam|sgd and schedule exp|cosine|const")
    return cfg


def lr_at(cfg: TrainConfig, step: int) -> float:
    t = min(step / max(cfg.steps, 1), 1.0)
    if cfg.schedule == "exp":
        return cfg.lr * (cfg.lr_final / cfg.lr) ** t
    if cfg.schedule == "cosine":
        return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + np.cos(np.pi * t))
    return cfg.lr


def batch_for_step(sources, source_weights, batch: int, seed: int, rank: int, step: int):
    """The batch of one step, deterministic in (seed, rank, step); ``source_weights``: the share of
    each source in the batch."""
    rng = np.random.default_rng([seed, rank, step])
    w = np.asarray(source_weights, float) / np.sum(source_weights)
    counts = np.floor(w * batch).astype(int)
    counts[: batch - counts.sum()] += 1
    samples = []
    for src, n in zip(sources, counts):
        for i in rng.integers(0, len(src), n):
            samples.append(src.sample(int(i), rng))
    return collate(samples)


def validate(net, source, max_samples: int, device) -> dict:
    """The pose metrics (``trainer.metrics.summary``) on the first ``max_samples`` samples of a
    source; background crops have no pose to score."""
    net.eval()
    p, g = run_predictions(net, source, max_samples, device=device)
    person = g["person"] > 0.5
    keys = ("joints", "rotations", "global_rotation")
    return summary({k: p[k][person] for k in keys}, {k: g[k][person] for k in keys}, net.reference_length)


def video_score(net, out: Path, step: int, videos: str = "select") -> dict:
    """The end-to-end held-out-video score of ``net``'s current weights: exported to ``OUT/video/model.onnx``
    and scored by ``trainer.heldout.score`` (the code ``benchmarks.heldout_video`` runs; the engine's tracking
    as ``mocap process`` runs it); returns {"step", "app_pck@0.2", "app_pck@0.1", "found", "oracle_pck@0.2",
    "baseline_pck@0.2"} (the whole score also in ``OUT/video/step_N.json``)."""
    import copy

    from trainer.heldout import score

    folder = out / "video"
    onnx_path = export_onnx(copy.deepcopy(net).float().cpu().eval().to(memory_format=torch.contiguous_format),
                            folder / "model.onnx")
    try:
        res = score(onnx_path, videos)
    except UserError as e:
        raise UserError(f"held-out video score failed at step {step}: {e}") from None
    (folder / f"step_{step:07d}.json").write_text(json.dumps(res, indent=1) + "\n")
    o = res["overall"]
    return {"step": step, "app_pck@0.2": o["app"]["pck@0.2"], "app_pck@0.1": o["app"]["pck@0.1"],
            "found": o["app"]["found"], "oracle_pck@0.2": o["oracle"]["pck@0.2"],
            "baseline_pck@0.2": o["baseline"]["pck@0.2"]}


def _plot(out: Path) -> None:
    import matplotlib  # heavy (about 0.5 s to import), needed only when a run draws its curves

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = list(csv.DictReader(open(out / "train.csv"))) if (out / "train.csv").exists() else []
    va = list(csv.DictReader(open(out / "val.csv"))) if (out / "val.csv").exists() else []
    vv = list(csv.DictReader(open(out / "video.csv"))) if (out / "video.csv").exists() else []
    fig, ax = plt.subplots(1, 4 if vv else 3, figsize=(20 if vv else 15, 3.8))
    if vv:
        st = [float(r["step"]) for r in vv]
        for k in ("app_pck@0.2", "oracle_pck@0.2", "app_pck@0.1", "found", "baseline_pck@0.2"):
            ax[3].plot(st, [float(r[k]) for r in vv], marker="o", label=k, ls="--" if "baseline" in k else "-")
        ax[3].set_title("held-out real video (end to end)")
        ax[3].legend(fontsize=7)
    if tr:
        st = np.array([float(r["step"]) for r in tr])
        for k in ("total", "rot_g", "rot_b", "rot", "pos", "hm"):
            if k in tr[0] and tr[0][k] != "":
                ax[0].plot(st, [float(r[k]) for r in tr], label=k, lw=0.8)
        ax[0].set_yscale("log")
        ax[0].set_title("training losses")
        ax[0].legend(fontsize=7)
    if va:
        st = [float(r["step"]) for r in va]
        for k in ("mpjpe_mm", "pa_mpjpe_mm"):
            ax[1].plot(st, [float(r[k]) for r in va], marker="o", label=k)
        for k in ("rotation_error_deg", "global_rotation_error_deg", "bone_rotation_error_deg"):
            if k in va[0]:
                ax[2].plot(st, [float(r[k]) for r in va], marker="o", label=k)
        ax[1].set_title("validation (mm)")
        ax[2].set_title("validation (degrees)")
        ax[1].legend(fontsize=7)
        ax[2].legend(fontsize=7)
    for a in ax:
        a.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=90)
    plt.close(fig)


def train(cfg: TrainConfig) -> Path:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    cuda = torch.cuda.is_available()
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    mcfg = SkeletonNetConfig(**cfg.model)
    last = out / "last.pt"
    ckpt = None
    if last.exists():
        try:
            ckpt = torch.load(last, map_location="cpu", weights_only=False)
        except Exception as e:  # noqa: BLE001 - torch.load raises many kinds on a damaged file
            raise UserError(f"{last}: checkpoint unreadable ({type(e).__name__}); delete it to start over") from None
        if saved_config(ckpt) != dataclasses.asdict(mcfg):
            raise UserError(f"{last}: checkpoint is for another architecture ({ckpt.get('model_config')}); "
                            f"use another 'out' folder or the same model settings")
    # k-means classes of the training set's global rotations (once per run, saved with it); the
    # first source is built once, without classes, and given them when they are known
    first = make_source(cfg.data[0], "train", mcfg.input_size, None, cfg.flip, cfg.upright)
    init = None
    if ckpt is None and cfg.init:
        if not Path(cfg.init).exists():
            raise UserError(f"init checkpoint {cfg.init} not found")
        init = read_checkpoint(cfg.init)
        if saved_config(init) != dataclasses.asdict(mcfg):
            raise UserError(f"{cfg.init}: init checkpoint is for another architecture ({init.get('model_config')})")
    if ckpt is not None:
        centres = np.asarray(ckpt["cluster_centres"], dtype=np.float64)
    elif init is not None:  # the classes belong to the weights
        centres = np.asarray(init["cluster_centres"], dtype=np.float64)
        if rank == 0:
            save_clusters(out / "clusters.npz", centres)
    elif cfg.clusters:
        if not Path(cfg.clusters).exists():
            raise UserError(f"clusters file {cfg.clusters} not found")
        centres = np.asarray(load_clusters(cfg.clusters), dtype=np.float64)
        if len(centres) != mcfg.num_clusters:
            raise UserError(f"{cfg.clusters}: {len(centres)} centres, the model wants "
                            f"num_clusters = {mcfg.num_clusters}")
        if rank == 0:
            save_clusters(out / "clusters.npz", centres)
    else:
        centres = kmeans_rotations(first.global_rotations(), mcfg.num_clusters, seed=cfg.seed)
        if rank == 0:
            save_clusters(out / "clusters.npz", centres)
    first.set_centres(centres)
    sources = [first] + [make_source(s, "train", mcfg.input_size, centres, cfg.flip, cfg.upright) for s in cfg.data[1:]]
    source_weights = [float(s.get("weight", 1.0)) for s in cfg.data]
    val_src = (make_source(cfg.val, cfg.val.get("split", "val"), mcfg.input_size, centres, False, cfg.upright)
               if cfg.val else None)
    torch.manual_seed(cfg.seed)
    net = SkeletonNet(mcfg, centres, pretrained=ckpt is None and init is None).to(device)
    if not cuda:
        net = net.to(memory_format=torch.channels_last)
    params = [p for p in net.parameters() if p.requires_grad]
    backbone_ids = {id(p) for p in net.backbone.parameters()}
    groups = [{"params": [p for p in params if id(p) not in backbone_ids], "lr_mult": 1.0},
              {"params": [p for p in params if id(p) in backbone_ids], "lr_mult": cfg.backbone_lr}]
    opt = (torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.optimizer == "adam" else
           torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay))
    step, best = 0, float("inf")
    if init is not None:
        net.load_state_dict(init["model"])
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, best = int(ckpt["step"]), float(ckpt["best"])
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    loss_weights = LossWeights(**cfg.loss)
    original = None
    if loss_weights.distill:  # the original BlazePose network labels every crop's 2D (trainer/blazepose.py)
        if not mcfg.blazepose:
            raise UserError("loss.distill needs a blazepose_* backbone (the original network it distils from)")
        from trainer.blazepose import Original

        original = Original(mcfg.blazepose).to(device)
    (out / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
    tr_log = open(out / "train.csv", "a", newline="")
    va_log_path = out / "val.csv"
    writer = None
    bar = tqdm(total=cfg.steps, initial=step, desc="training", unit="step", disable=rank != 0, dynamic_ncols=True)
    pool = ThreadPoolExecutor(2)
    pending = {s: pool.submit(batch_for_step, sources, source_weights, cfg.batch_size, cfg.seed, rank, s)
               for s in range(step, min(step + 2, cfg.steps))}
    t_last, seen = time.perf_counter(), 0
    amp = (cuda and cfg.amp) or (not cuda and cfg.cpu_bf16)
    t_begin = time.perf_counter()
    choose_video = bool(cfg.video_val.get("choose", True)) if cfg.video_val else False
    try:
        end = min(cfg.steps, cfg.stop_at) if cfg.stop_at else cfg.steps
        while step < end:
            batch = pending.pop(step).result()
            if step + 2 < cfg.steps:
                pending[step + 2] = pool.submit(batch_for_step, sources, source_weights, cfg.batch_size, cfg.seed,
                                                rank, step + 2)
            frozen = step < cfg.freeze_backbone_steps
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, step) * g.get("lr_mult", 1.0)
            for p in net.backbone.parameters():
                p.requires_grad_(not frozen)
            model.train()
            x = batch["image"].to(device)
            if not cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            tgt = {k: v.to(device) for k, v in batch.items() if k != "image"}
            if original is not None:
                # the original network's 2D (input px -> map px, stride 4) on every crop, or only on the real ones
                # (mask_3d = 0: no exact 2D label; it costs about a third of a step on a CPU)
                pick = (torch.ones_like(tgt["person"], dtype=torch.bool) if cfg.distill_on == "all"
                        else (tgt["mask_3d"] < 0.5) & (tgt["person"] > 0.5))
                j2 = torch.zeros(len(x), 16, 2, device=device)
                vis = torch.zeros(len(x), 16, device=device)
                if pick.any():
                    j2[pick], vis[pick] = original(x[pick].contiguous())
                tgt["original_map"], tgt["original_vis"] = (j2 + 0.5) / 4.0 - 0.5, vis
            with torch.autocast("cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=amp):
                o = model(x, tgt["camera"])
            o = {k: v.float() for k, v in o.items()}
            loss, parts = skeletonnet_loss(o, tgt, mcfg, loss_weights)
            if not torch.isfinite(loss):
                raise RuntimeError(f"loss became {loss.item()} at step {step}; lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()
            step += 1
            seen += len(x) * world
            if rank == 0 and (step % cfg.log_every == 0 or step == cfg.steps):
                now = time.perf_counter()
                ips = seen / max(now - t_last, 1e-9)
                t_last, seen = now, 0
                row = {"step": step, "lr": f"{lr_at(cfg, step):.3e}", "img_per_s": f"{ips:.1f}",
                       **{k: f"{float(v):.5f}" for k, v in parts.items()}}
                if writer is None:
                    writer = csv.DictWriter(tr_log, fieldnames=list(row))
                    if tr_log.tell() == 0:
                        writer.writeheader()
                writer.writerow(row)
                tr_log.flush()
                bar.set_postfix(loss=f"{float(parts['total']):.3f}", img_s=f"{ips:.1f}")
            bar.update(1)
            if rank == 0 and val_src is not None and (step % cfg.val_every == 0 or step == cfg.steps):
                m = validate(net, val_src, cfg.val.get("max_samples", 400), device)
                new = not va_log_path.exists()
                with open(va_log_path, "a", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=["step", *m])
                    if new:
                        w.writeheader()
                    w.writerow({"step": step, **{k: f"{v:.3f}" for k, v in m.items()}})
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.1f}" for k, v in m.items()))
                if m["mpjpe_mm"] < best and not choose_video:
                    best = m["mpjpe_mm"]
                    save_atomic(training_state(net, opt, step, best, mcfg, centres, cfg), out / "best.pt")
            if rank == 0 and cfg.video_val and (step % int(cfg.video_val["every"]) == 0 or step == cfg.steps):
                v = video_score(net, out, step, str(cfg.video_val.get("videos", "select")))
                new = not (out / "video.csv").exists()
                with open(out / "video.csv", "a", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(v))
                    if new:
                        w.writeheader()
                    w.writerow({k: (f"{x:.4f}" if isinstance(x, float) else x) for k, x in v.items()})
                bar.write(f"step {step}: held-out video PCK@0.2 end to end {v['app_pck@0.2']:.3f} "
                          f"(oracle crop {v['oracle_pck@0.2']:.3f}, found {v['found']:.2f}, "
                          f"constant pose {v['baseline_pck@0.2']:.3f})")
                if choose_video and -v["app_pck@0.2"] < best:  # best holds minus the score: lower is better
                    best = -v["app_pck@0.2"]
                    save_atomic(training_state(net, opt, step, best, mcfg, centres, cfg), out / "best.pt")
            out_of_time = bool(cfg.time_limit_s) and time.perf_counter() - t_begin > cfg.time_limit_s
            if world > 1 and cfg.time_limit_s:  # every rank stops at the same step
                flag = torch.tensor([float(out_of_time)], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                out_of_time = bool(flag.item())
            if out_of_time:
                end = step
                bar.write(f"time limit {cfg.time_limit_s:.0f} s reached at step {step}: checkpointed, stopping")
            if rank == 0 and (step % cfg.ckpt_every == 0 or step in (cfg.steps, end)):
                save_atomic(training_state(net, opt, step, best, mcfg, centres, cfg), last)
                _plot(out)
    finally:
        pool.shutdown(cancel_futures=True)
        bar.close()
        tr_log.close()
    if rank == 0:
        _plot(out)
        if cfg.export and step >= cfg.steps:
            src = out / "best.pt" if (out / "best.pt").exists() else last
            net.load_state_dict(read_checkpoint(src)["model"])
            export_onnx(net.cpu().eval(), out / "model.onnx")
            export_torchscript(net, out / "model.ts")
    if world > 1:
        dist.destroy_process_group()
    return out


@reports_user_errors("trainer")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer train", description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    out = train(load_train_config(args.config, args.overrides))
    print(f"run folder: {out}", file=sys.stderr)
    return 0
