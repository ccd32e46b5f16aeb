"""``python -m trainer train CONFIG.yaml [--set KEY=VALUE ...]``: train SkeletonNet.

The config is a ``trainer.config.TrainConfig`` (every key typed and checked; docs/training.md).
``train`` is a short recipe of named steps: open the run (processes, device, run folder), read the
resume point and the ``init`` weights, build the sources and the k-means classes, build the network
and the optimiser, then the loop (one training step; logs; validation; the held-out video score;
checkpoints) and at the end the exported model.

* Batches mix several sources by weight (the paper's half-and-half mix is two
  sources of weight 1); samples per step come from a generator seeded by
  (seed, rank, step), so a resumed run sees exactly the batches it would have.
* Adam or SGD; learning rate constant, cosine, or the paper's exponential decay
  from ``lr`` (1e-3) to ``lr_final`` (1e-5).
* Flip augmentation with the left/right label swap.
* Validation every ``val_every`` steps (MPJPE, PA-MPJPE, rotation errors on a
  fixed subset of the validation split); ``best.pt`` keeps the best MPJPE.
* ``video_val`` (issue 24): every ``every`` steps the weights are exported to ONNX and run end to end
  through the engine's tracking on held-out real videos, in this process (``trainer.heldout.score``: the
  numbers of ``python -m benchmarks.heldout_video --videos select --quick``, against the BlazePose teacher's
  cached keypoints); PCK@0.2 goes to ``video.csv``, and with ``choose: true`` ``best.pt`` keeps the best
  end-to-end video score instead of the synthetic MPJPE (synthetic scores chose the wrong model before:
  docs/training.md).
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
import math
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
from trainer.checkpoint import read_checkpoint, save_atomic, saved_config, training_state
from trainer.clusters import kmeans_rotations, load_clusters, save_clusters
from trainer.config import TrainConfig, load_train_config
from trainer.data.dataset import collate
from trainer.data.sources import make_source
from trainer.evaluate import run_predictions
from trainer.export import export_onnx, export_torchscript
from trainer.losses import skeletonnet_loss
from trainer.metrics import summary
from trainer.model import SkeletonNet, SkeletonNetConfig


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


# --------------------------------------------------------------------------- the steps of a run


@dataclass
class Run:
    """What the steps of a training run share; ``open_run`` starts it and the later steps fill it in."""
    cfg: TrainConfig
    out: Path
    world: int                                  # processes (torchrun), 1 without
    rank: int
    device: torch.device
    cuda: bool
    centres: np.ndarray | None = None           # the k-means classes of the global rotation
    sources: list = field(default_factory=list)  # training sources, in the order of cfg.data
    val_src: object = None                      # the validation source, or None
    net: SkeletonNet | None = None
    model: torch.nn.Module | None = None        # net, or net wrapped for data-parallel training
    opt: torch.optim.Optimizer | None = None
    params: list = field(default_factory=list)   # the trained parameters, clipped together
    original: torch.nn.Module | None = None     # the original BlazePose network (loss.distill), or None
    step: int = 0
    best: float = math.inf                      # best validation MPJPE, or minus the best video score

    @property
    def mcfg(self) -> SkeletonNetConfig:
        return self.cfg.model

    @property
    def lead(self) -> bool:
        """The process that writes logs, validates and checkpoints (rank 0)."""
        return self.rank == 0

    def save(self, path: Path) -> None:
        """The run's checkpoint (``trainer.checkpoint.training_state``) at ``path``, atomically."""
        save_atomic(training_state(self.net, self.opt, self.step, self.best, self.mcfg, self.centres, self.cfg), path)


def open_run(cfg: TrainConfig) -> Run:
    """Step 1: the process group under torchrun (NCCL on GPUs, gloo on CPU), the device, torch's threads and the
    run folder."""
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
    return Run(cfg, out, world, rank, device, cuda)


def read_resume_point(run: Run) -> dict | None:
    """Step 2: the run folder's ``last.pt`` (None: a new run); one for another architecture is a ``UserError``."""
    last = run.out / "last.pt"
    if not last.exists():
        return None
    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - torch.load raises many kinds on a damaged file
        raise UserError(f"{last}: checkpoint unreadable ({type(e).__name__}); delete it to start over") from None
    if saved_config(ckpt) != dataclasses.asdict(run.mcfg):
        raise UserError(f"{last}: checkpoint is for another architecture ({ckpt.get('model_config')}); "
                        f"use another 'out' folder or the same model settings")
    return ckpt


def read_init_weights(run: Run) -> dict | None:
    """Step 3 of a new run: the ``init`` checkpoint it starts from (fine-tuning), or None."""
    cfg = run.cfg
    if not cfg.init:
        return None
    if not Path(cfg.init).exists():
        raise UserError(f"init checkpoint {cfg.init} not found")
    init = read_checkpoint(cfg.init)
    if saved_config(init) != dataclasses.asdict(run.mcfg):
        raise UserError(f"{cfg.init}: init checkpoint is for another architecture ({init.get('model_config')})")
    return init


def rotation_classes(run: Run, first, resume: dict | None, init: dict | None) -> np.ndarray:
    """Step 4: the k-means classes of the global rotation, once per run and saved with it (``clusters.npz``):
    the resume point's, the ``init`` weights' (the classes belong to the weights), the ``clusters`` file's, or
    computed from the first training source's labels."""
    cfg, mcfg = run.cfg, run.mcfg
    if resume is not None:
        return np.asarray(resume["cluster_centres"], dtype=np.float64)
    if init is not None:
        centres = np.asarray(init["cluster_centres"], dtype=np.float64)
    elif cfg.clusters:
        if not Path(cfg.clusters).exists():
            raise UserError(f"clusters file {cfg.clusters} not found")
        centres = np.asarray(load_clusters(cfg.clusters), dtype=np.float64)
        if len(centres) != mcfg.num_clusters:
            raise UserError(f"{cfg.clusters}: {len(centres)} centres, the model wants "
                            f"num_clusters = {mcfg.num_clusters}")
    else:
        centres = kmeans_rotations(first.global_rotations(), mcfg.num_clusters, seed=cfg.seed)
    if run.lead:
        save_clusters(run.out / "clusters.npz", centres)
    return centres


def build_sources(run: Run, resume: dict | None, init: dict | None) -> None:
    """Step 5: the training sources (``cfg.data``), the k-means classes (``rotation_classes``) and the validation
    source (``cfg.val``, if it names a root). The first source is built once, without classes, and given them
    when they are known."""
    cfg, size = run.cfg, run.mcfg.input_size
    first = make_source(cfg.data[0], "train", size, None, cfg.flip, cfg.upright)
    run.centres = rotation_classes(run, first, resume, init)
    first.set_centres(run.centres)
    run.sources = [first] + [make_source(s, "train", size, run.centres, cfg.flip, cfg.upright) for s in cfg.data[1:]]
    run.val_src = make_source(cfg.val, "val", size, run.centres, False, cfg.upright) if cfg.val.root else None


def build_network(run: Run, resume: dict | None, init: dict | None) -> None:
    """Step 6: the network (seeded by ``seed``; ImageNet or BlazePose weights for a new run), the optimiser (the
    backbone's group at ``backbone_lr`` times the heads' rate), their state from the resume point or the ``init``
    weights, the data-parallel wrapper, and the original BlazePose network when ``loss.distill`` is on."""
    cfg, mcfg, device = run.cfg, run.mcfg, run.device
    torch.manual_seed(cfg.seed)
    net = SkeletonNet(mcfg, run.centres, pretrained=resume is None and init is None).to(device)
    if not run.cuda:
        net = net.to(memory_format=torch.channels_last)
    params = [p for p in net.parameters() if p.requires_grad]
    backbone_ids = {id(p) for p in net.backbone.parameters()}
    groups = [{"params": [p for p in params if id(p) not in backbone_ids], "lr_mult": 1.0},
              {"params": [p for p in params if id(p) in backbone_ids], "lr_mult": cfg.backbone_lr}]
    opt = (torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.optimizer == "adam" else
           torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay))
    if init is not None:
        net.load_state_dict(init["model"])
    if resume is not None:
        net.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        run.step, run.best = int(resume["step"]), float(resume["best"])
    run.net, run.opt, run.params = net, opt, params
    run.model = torch.nn.parallel.DistributedDataParallel(net) if run.world > 1 else net
    if cfg.loss.distill:  # the original BlazePose network labels every crop's 2D (trainer/blazepose.py)
        from trainer.blazepose import Original

        run.original = Original(mcfg.blazepose).to(device)


class Batches:
    """The batches of the coming steps, made two steps ahead in worker threads (``batch_for_step``: seeded by
    seed, rank and step, so a resumed run sees the batches it would have seen)."""

    def __init__(self, run: Run):
        cfg = run.cfg
        weights = [s.weight for s in cfg.data]
        self._make = lambda s: batch_for_step(run.sources, weights, cfg.batch_size, cfg.seed, run.rank, s)
        self._steps = cfg.steps
        self._pool = ThreadPoolExecutor(2)
        self._pending = {s: self._pool.submit(self._make, s) for s in range(run.step, min(run.step + 2, cfg.steps))}

    def take(self, step: int) -> dict:
        """The batch of ``step``; starts making the one of ``step + 2``."""
        batch = self._pending.pop(step).result()
        if step + 2 < self._steps:
            self._pending[step + 2] = self._pool.submit(self._make, step + 2)
        return batch

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def distill_targets(run: Run, x: torch.Tensor, tgt: dict) -> None:
    """The original network's 2D (input px -> map px, stride 4) as ``tgt["original_map"]`` and ``original_vis``,
    on every crop or only on the real ones (``distill_on: real``: mask_3d = 0, no exact 2D label; it costs about
    a third of a step on a CPU)."""
    pick = (torch.ones_like(tgt["person"], dtype=torch.bool) if run.cfg.distill_on == "all"
            else (tgt["mask_3d"] < 0.5) & (tgt["person"] > 0.5))
    j2 = torch.zeros(len(x), 16, 2, device=run.device)
    vis = torch.zeros(len(x), 16, device=run.device)
    if pick.any():
        j2[pick], vis[pick] = run.original(x[pick].contiguous())
    tgt["original_map"], tgt["original_vis"] = (j2 + 0.5) / 4.0 - 0.5, vis


def train_step(run: Run, batch: dict) -> dict:
    """The loop's step: the learning rate of ``run.step`` (the backbone frozen for ``freeze_backbone_steps``),
    forward (bf16 autocast where ``amp`` / ``cpu_bf16`` say), the loss, backward, gradients clipped to norm 10,
    the optimiser's step; ``run.step`` moves on. Returns the loss parts."""
    cfg, net, device = run.cfg, run.net, run.device
    frozen = run.step < cfg.freeze_backbone_steps
    for g in run.opt.param_groups:
        g["lr"] = lr_at(cfg, run.step) * g.get("lr_mult", 1.0)
    for p in net.backbone.parameters():
        p.requires_grad_(not frozen)
    run.model.train()
    x = batch["image"].to(device)
    if not run.cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    tgt = {k: v.to(device) for k, v in batch.items() if k != "image"}
    if run.original is not None:
        distill_targets(run, x, tgt)
    amp = (run.cuda and cfg.amp) or (not run.cuda and cfg.cpu_bf16)
    with torch.autocast("cuda" if run.cuda else "cpu", dtype=torch.bfloat16, enabled=amp):
        o = run.model(x, tgt["camera"])
    o = {k: v.float() for k, v in o.items()}
    loss, parts = skeletonnet_loss(o, tgt, run.mcfg, cfg.loss)
    if not torch.isfinite(loss):
        raise RuntimeError(f"loss became {loss.item()} at step {run.step}; lower the learning rate")
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.params, 10.0)
    run.opt.step()
    run.step += 1
    return parts


class TrainLog:
    """``train.csv`` (a row every ``log_every`` steps: learning rate, images per second, the loss parts) and the
    progress bar, on the lead process."""

    def __init__(self, run: Run):
        self.run = run
        self.file = open(run.out / "train.csv", "a", newline="")
        self.writer = None
        self.bar = tqdm(total=run.cfg.steps, initial=run.step, desc="training", unit="step", disable=not run.lead,
                        dynamic_ncols=True)
        self.t_last, self.seen = time.perf_counter(), 0

    def step(self, parts: dict, images: int) -> None:
        """After a training step of ``images`` images per process."""
        run, cfg = self.run, self.run.cfg
        self.seen += images * run.world
        if run.lead and (run.step % cfg.log_every == 0 or run.step == cfg.steps):
            now = time.perf_counter()
            ips = self.seen / max(now - self.t_last, 1e-9)
            self.t_last, self.seen = now, 0
            row = {"step": run.step, "lr": f"{lr_at(cfg, run.step):.3e}", "img_per_s": f"{ips:.1f}",
                   **{k: f"{float(v):.5f}" for k, v in parts.items()}}
            if self.writer is None:
                self.writer = csv.DictWriter(self.file, fieldnames=list(row))
                if self.file.tell() == 0:
                    self.writer.writeheader()
            self.writer.writerow(row)
            self.file.flush()
            self.bar.set_postfix(loss=f"{float(parts['total']):.3f}", img_s=f"{ips:.1f}")
        self.bar.update(1)

    def write(self, line: str) -> None:
        self.bar.write(line)

    def close(self) -> None:
        self.bar.close()
        self.file.close()


def due(run: Run, every: int) -> bool:
    """Whether the step just done is one of every ``every`` steps, or the last."""
    return run.step % every == 0 or run.step == run.cfg.steps


def append_csv(path: Path, row: dict) -> None:
    """``row`` appended to the CSV file ``path`` (its header first when the file is new)."""
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def validation_step(run: Run, log: TrainLog) -> None:
    """Validation (``val_every``): the pose metrics on the validation source to ``val.csv``; ``best.pt`` when the
    MPJPE is the best yet (unless the held-out video score chooses)."""
    m = validate(run.net, run.val_src, run.cfg.val.max_samples, run.device)
    append_csv(run.out / "val.csv", {"step": run.step, **{k: f"{v:.3f}" for k, v in m.items()}})
    log.write(f"step {run.step}: " + ", ".join(f"{k} {v:.1f}" for k, v in m.items()))
    if m["mpjpe_mm"] < run.best and not run.cfg.video_val.chooses:
        run.best = m["mpjpe_mm"]
        run.save(run.out / "best.pt")


def video_step(run: Run, log: TrainLog) -> None:
    """The held-out video score (``video_val.every``, ``video_score``) to ``video.csv``; with ``choose``,
    ``best.pt`` when it is the best yet."""
    v = video_score(run.net, run.out, run.step, run.cfg.video_val.videos)
    append_csv(run.out / "video.csv", {k: (f"{x:.4f}" if isinstance(x, float) else x) for k, x in v.items()})
    log.write(f"step {run.step}: held-out video PCK@0.2 end to end {v['app_pck@0.2']:.3f} "
              f"(oracle crop {v['oracle_pck@0.2']:.3f}, found {v['found']:.2f}, "
              f"constant pose {v['baseline_pck@0.2']:.3f})")
    if run.cfg.video_val.chooses and -v["app_pck@0.2"] < run.best:  # best holds minus the score: lower is better
        run.best = -v["app_pck@0.2"]
        run.save(run.out / "best.pt")


def out_of_time(run: Run, t_begin: float) -> bool:
    """Whether ``time_limit_s`` is spent; every process stops at the same step."""
    cfg = run.cfg
    over = bool(cfg.time_limit_s) and time.perf_counter() - t_begin > cfg.time_limit_s
    if run.world > 1 and cfg.time_limit_s:
        flag = torch.tensor([float(over)], device=run.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        over = bool(flag.item())
    return over


def finish(run: Run) -> None:
    """The end of a call: the curves; at the schedule's end (``export``) the best weights (``best.pt``, else
    ``last.pt``) as ``model.onnx`` and ``model.ts``; the process group closed."""
    if run.lead:
        _plot(run.out)
        if run.cfg.export and run.step >= run.cfg.steps:
            src = run.out / "best.pt" if (run.out / "best.pt").exists() else run.out / "last.pt"
            run.net.load_state_dict(read_checkpoint(src)["model"])
            export_onnx(run.net.cpu().eval(), run.out / "model.onnx")
            export_torchscript(run.net, run.out / "model.ts")
    if run.world > 1:
        dist.destroy_process_group()


def train(cfg: TrainConfig) -> Path:
    """A training run (module doc) as its steps; returns the run folder."""
    run = open_run(cfg)
    resume = read_resume_point(run)
    init = read_init_weights(run) if resume is None else None
    build_sources(run, resume, init)
    build_network(run, resume, init)
    (run.out / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
    batches, log = Batches(run), TrainLog(run)
    end = min(cfg.steps, cfg.stop_at) if cfg.stop_at else cfg.steps
    t_begin = time.perf_counter()
    try:
        while run.step < end:
            batch = batches.take(run.step)
            log.step(train_step(run, batch), len(batch["image"]))
            if run.lead and run.val_src is not None and due(run, cfg.val_every):
                validation_step(run, log)
            if run.lead and cfg.video_val.every and due(run, cfg.video_val.every):
                video_step(run, log)
            if out_of_time(run, t_begin):
                end = run.step
                log.write(f"time limit {cfg.time_limit_s:.0f} s reached at step {run.step}: checkpointed, stopping")
            if run.lead and (due(run, cfg.ckpt_every) or run.step == end):
                run.save(run.out / "last.pt")
                _plot(run.out)
    finally:
        batches.close()
        log.close()
    finish(run)
    return run.out


@reports_user_errors("trainer")
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer train", description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    out = train(load_train_config(args.config, args.overrides))
    print(f"run folder: {out}", file=sys.stderr)
    return 0
