"""``python -m trainer train CONFIG.yaml``: train SkeletonNet.

* Batches mix several sources by weight (the paper's half-and-half mix is two
  sources of weight 1); samples per step come from a generator seeded by
  (seed, rank, step), so a resumed run sees exactly the batches it would have.
* Adam or SGD; learning rate constant, cosine, or the paper's exponential decay
  from ``lr`` (1e-3) to ``lr_final`` (1e-5).
* Flip augmentation with the left/right label swap.
* Validation every ``val_every`` steps (MPJPE, PA-MPJPE, rotation errors on a
  fixed subset of the validation split); ``best.pt`` keeps the best MPJPE.
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
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from trainer.clusters import kmeans_rotations, save_clusters
from trainer.losses import LossWeights, skeletonnet_loss
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


class UserError(SystemExit):
    pass


def load_train_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: training config not found")
    data = yaml.safe_load(p.read_text()) or {}
    for o in overrides:
        k, _, v = o.partition("=")
        node = data
        keys = k.split(".")
        for kk in keys[:-1]:
            node = node.setdefault(kk, {})
        node[keys[-1]] = yaml.safe_load(v)
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
    if cfg.optimizer not in ("adam", "sgd") or cfg.schedule not in ("exp", "cosine", "const"):
        raise UserError(f"{p}: optimizer must be adam|sgd and schedule exp|cosine|const")
    return cfg


def make_source(spec: dict, split: str, input_size: int, centres, flip: bool):
    kind = spec.get("kind", "synth")
    root = Path(spec["root"])
    if not root.exists():
        raise UserError(f"dataset path {root} does not exist (kind {kind})")
    if kind == "synth":
        from trainer.data.dataset import SynthSource

        return SynthSource(root, spec.get("split", split), input_size, centres, flip)
    if kind in ("h36m", "mpii", "wild"):
        from trainer.data import realsets

        return realsets.make(kind, root, spec.get("split", split), input_size, centres, flip, spec)
    raise UserError(f"unknown dataset kind {kind!r}; allowed: synth, h36m, mpii, wild")


def lr_at(cfg: TrainConfig, step: int) -> float:
    t = min(step / max(cfg.steps, 1), 1.0)
    if cfg.schedule == "exp":
        return cfg.lr * (cfg.lr_final / cfg.lr) ** t
    if cfg.schedule == "cosine":
        return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + np.cos(np.pi * t))
    return cfg.lr


def batch_for_step(sources, weights, batch: int, seed: int, rank: int, step: int):
    """The batch of one step, deterministic in (seed, rank, step)."""
    from trainer.data.dataset import collate

    rng = np.random.default_rng([seed, rank, step])
    w = np.asarray(weights, float) / np.sum(weights)
    counts = np.floor(w * batch).astype(int)
    counts[: batch - counts.sum()] += 1
    samples = []
    for src, n in zip(sources, counts):
        for i in rng.integers(0, len(src), n):
            samples.append(src.sample(int(i), rng))
    return collate(samples)


def saved_config(ckpt: dict) -> dict | None:
    """A checkpoint's model config as ``load_checkpoint`` builds it: fields added to
    ``SkeletonNetConfig`` since it was saved (e.g. ``presence``) take their defaults."""
    try:
        return dataclasses.asdict(SkeletonNetConfig(**ckpt["model_config"]))
    except (KeyError, TypeError, ValueError):
        return None


@torch.no_grad()
def predict(net, source, max_samples: int, batch: int = 32, device="cpu"):
    """Network outputs and ground truth on the first ``max_samples`` samples of a source."""
    from trainer.data.dataset import collate

    net.eval()
    n = min(len(source), max_samples) if max_samples else len(source)
    keys = ("joints", "rotations", "global_rotation")
    pred = {k: [] for k in keys}
    gt = {k: [] for k in keys + ("clip_id",)}
    for s in range(0, n, batch):
        samples = [x for x in (source.sample(i) for i in range(s, min(n, s + batch))) if x.get("person", 1.0) > 0.5]
        if not samples:  # background crops have no pose to score
            continue
        b = collate(samples)
        o = net(b["image"].to(device), b["camera"].to(device) if "camera" in b else None)
        for k in keys:
            if k in o:
                pred[k].append(o[k].float().cpu().numpy())
            else:  # heatmap-only variant: the pelvis orientation of its rotations
                from engine.skeleton import pelvis_rotation

                pred[k].append(pelvis_rotation(o["rotations"].float().cpu().numpy()))
            gt[k].append(b[k].numpy())
        gt["clip_id"].append(b["clip_id"].numpy() if "clip_id" in b else np.zeros(len(b["image"]), int))
    return {k: np.concatenate(v) for k, v in pred.items()}, {k: np.concatenate(v) for k, v in gt.items()}


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _plot(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = list(csv.DictReader(open(out / "train.csv"))) if (out / "train.csv").exists() else []
    va = list(csv.DictReader(open(out / "val.csv"))) if (out / "val.csv").exists() else []
    fig, ax = plt.subplots(1, 3, figsize=(15, 3.8))
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
    import torch.distributed as dist

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
        except Exception as e:  # noqa: BLE001
            raise UserError(f"{last}: checkpoint unreadable ({type(e).__name__}); delete it to start over") from None
        if saved_config(ckpt) != dataclasses.asdict(mcfg):
            raise UserError(f"{last}: checkpoint is for another architecture ({ckpt.get('model_config')}); "
                            f"use another 'out' folder or the same model settings")
    # k-means classes of the training set's global rotations (once per run, saved with it)
    first = make_source(cfg.data[0], "train", mcfg.input_size, None, cfg.flip)
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
        from trainer.clusters import load_clusters

        if not Path(cfg.clusters).exists():
            raise UserError(f"clusters file {cfg.clusters} not found")
        centres = np.asarray(load_clusters(cfg.clusters), dtype=np.float64)
        if len(centres) != mcfg.num_clusters:
            raise UserError(f"{cfg.clusters}: {len(centres)} centres, the model wants num_clusters = {mcfg.num_clusters}")
        if rank == 0:
            save_clusters(out / "clusters.npz", centres)
    else:
        centres = kmeans_rotations(first.global_rotations(), mcfg.num_clusters, seed=cfg.seed)
        if rank == 0:
            save_clusters(out / "clusters.npz", centres)
    sources = [make_source(s, "train", mcfg.input_size, centres, cfg.flip) for s in cfg.data]
    weights = [float(s.get("weight", 1.0)) for s in cfg.data]
    val_src = make_source(cfg.val, cfg.val.get("split", "val"), mcfg.input_size, centres, False) if cfg.val else None
    torch.manual_seed(cfg.seed)
    net = SkeletonNet(mcfg, centres, pretrained=ckpt is None and init is None).to(device)
    if not cuda:
        net = net.to(memory_format=torch.channels_last)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = (torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.optimizer == "adam" else
           torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay))
    step, best = 0, float("inf")
    if init is not None:
        net.load_state_dict(init["model"])
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, best = int(ckpt["step"]), float(ckpt["best"])
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    weights_l = LossWeights(**cfg.loss)
    (out / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
    tr_log = open(out / "train.csv", "a", newline="")
    va_log_path = out / "val.csv"
    writer = None
    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=step, desc="training", unit="step", disable=rank != 0, dynamic_ncols=True)
    pool = ThreadPoolExecutor(2)
    pending = {s: pool.submit(batch_for_step, sources, weights, cfg.batch_size, cfg.seed, rank, s)
               for s in range(step, min(step + 2, cfg.steps))}
    t_last, seen = time.perf_counter(), 0
    amp = (cuda and cfg.amp) or (not cuda and cfg.cpu_bf16)
    try:
        end = min(cfg.steps, cfg.stop_at) if cfg.stop_at else cfg.steps
        while step < end:
            batch = pending.pop(step).result()
            if step + 2 < cfg.steps:
                pending[step + 2] = pool.submit(batch_for_step, sources, weights, cfg.batch_size, cfg.seed, rank, step + 2)
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, step)
            model.train()
            x = batch["image"].to(device)
            if not cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            tgt = {k: v.to(device) for k, v in batch.items() if k != "image"}
            with torch.autocast("cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=amp):
                o = model(x, tgt["camera"])
            o = {k: v.float() for k, v in o.items()}
            loss, parts = skeletonnet_loss(o, tgt, mcfg, weights_l)
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
                from trainer.metrics import summary

                p, g = predict(net, val_src, cfg.val.get("max_samples", 400), device=device)
                m = summary(p, g, net.reference_length)
                new = not va_log_path.exists()
                with open(va_log_path, "a", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=["step", *m])
                    if new:
                        w.writeheader()
                    w.writerow({"step": step, **{k: f"{v:.3f}" for k, v in m.items()}})
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.1f}" for k, v in m.items()))
                if m["mpjpe_mm"] < best:
                    best = m["mpjpe_mm"]
                    save_atomic(_state(net, opt, step, best, mcfg, centres, cfg), out / "best.pt")
            if rank == 0 and (step % cfg.ckpt_every == 0 or step in (cfg.steps, end)):
                save_atomic(_state(net, opt, step, best, mcfg, centres, cfg), last)
                _plot(out)
    finally:
        pool.shutdown(cancel_futures=True)
        bar.close()
        tr_log.close()
    if rank == 0:
        _plot(out)
        if cfg.export and step >= cfg.steps:
            from trainer.export import export_onnx, export_torchscript

            src = out / "best.pt" if (out / "best.pt").exists() else last
            net.load_state_dict(torch.load(src, map_location="cpu", weights_only=False)["model"])
            export_onnx(net.cpu().eval(), out / "model.onnx")
            export_torchscript(net, out / "model.ts")
    if world > 1:
        dist.destroy_process_group()
    return out


def _state(net, opt, step, best, mcfg, centres, cfg):
    return {"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step, "best": best,
            "model_config": dataclasses.asdict(mcfg), "cluster_centres": np.asarray(centres),
            "train_config": dataclasses.asdict(cfg)}


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint's contents (CPU); a missing or unreadable file is one clear error."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: checkpoint not found")
    try:
        return torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{p}: checkpoint unreadable ({type(e).__name__})") from None


def load_checkpoint(source: str | Path | dict) -> SkeletonNet:
    """A SkeletonNet from a training checkpoint, its path or its contents (eval mode, CPU)."""
    ck = source if isinstance(source, dict) else read_checkpoint(source)
    net = SkeletonNet(SkeletonNetConfig(**ck["model_config"]), ck["cluster_centres"])
    try:
        net.load_state_dict(ck["model"])
    except RuntimeError:
        where = "checkpoint" if isinstance(source, dict) else source
        raise UserError(f"{where}: weights do not match the architecture recorded in the checkpoint") from None
    return net.eval()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer train", description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    try:
        cfg = load_train_config(args.config, args.overrides)
        out = train(cfg)
    except UserError as e:
        print(f"trainer: {e.code}", file=sys.stderr)
        return 2
    print(f"run folder: {out}", file=sys.stderr)
    return 0
