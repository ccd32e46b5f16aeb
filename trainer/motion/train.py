"""Training the motion model on generated mocap observations (minutes on this CPU).

    python -m trainer motion train [--config FILE.yaml] [--set KEY=VALUE ...] [--out runs/motion] [--steps 20000]
        [--window 27] [--arch mlp|tcn|transformer] [--cmu DIR | --no-cmu] [--minutes M]
        [--noise benchmarks/results/network_2d_errors.json] [--threads 1] ...

Settings: a ``MotionTrainConfig``, every key typed and checked by the project's settings loader
(``engine.settings.build``): its defaults, then the optional YAML file ``--config``, then the flags (each
flag is the key of the same name, dashes for underscores; ``--no-cmu`` sets ``use_cmu: false`` and
``--no-deepmimic`` ``deepmimic: false``), then ``--set KEY=VALUE``. A mistake is one line naming the file,
``command line`` or ``--set``, and the key.

Motion: the CMU database's training subjects (``trainer.motion.cmu``; ``cmu: DIR``, else
``$MOTION_CMU_DIR``, else ``../shared/mocap``), the DeepMimic clips and the sampler's sequences;
``use_cmu: false``: the old bank (CMU 01_01, DeepMimic, sampler). Resumes from ``OUT/last.pt`` when it
exists (same model config), checkpoints every ``every`` steps and when ``minutes`` of wall time are
spent, keeps ``OUT/best.pt`` by validation PA-MPJPE from exact 2D plus that with the measured noise
(the CMU validation subjects; without CMU, CMU Boxing_Toes; never the test subjects) and
writes ``OUT/log.jsonl``. Loss: L1 of the joints rebuilt by forward kinematics
(metres) plus ``rot_weight`` x the Frobenius distance of the 16 rotations (which alone teaches
twist).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine import skeleton as S
from engine.errors import UserError
from engine.settings import SettingsError, build, check_fields, knob, replaced
from engine.yamlfile import parse_override, read_yaml
from trainer.checkpoint import save_atomic
from trainer.layers import forward_kinematics
from trainer.motion import data as D
from trainer.motion import evaluate as E
from trainer.motion.data import load_noise  # noqa: F401 - re-exported: cli and benchmarks.motion import it here
from trainer.motion.model import ARCHS, MotionNetConfig, build_net

BONES = torch.tensor(S.Skeleton.default().bone_vectors, dtype=torch.float32)


def losses(pred: torch.Tensor, target: torch.Tensor) -> dict:
    """{joints (m, L1), rotations (Frobenius)} of rotations (B, 16, 3, 3) in the view's axes."""
    jp = forward_kinematics(pred[:, :S.NUM_BONES], BONES)
    jt = forward_kinematics(target[:, :S.NUM_BONES], BONES)
    return {"joints": (jp - jt).abs().mean(),
            "rotations": torch.sqrt(((pred - target) ** 2).sum((-1, -2)) + 1e-8).mean()}


def predictor(net: torch.nn.Module):
    net.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()
    return run


class Batches(torch.utils.data.IterableDataset):
    """Endless training batches (features, target rotations) as tensors, made by ``D.Sampler``."""

    def __init__(self, bank, window: int, noise: D.NoiseModel, batch: int, seed: int, options: dict):
        self.args = (bank, window, noise, seed)
        self.batch, self.options = batch, options

    def __iter__(self):
        bank, window, noise, seed = self.args
        sampler = D.Sampler(bank, window, noise, seed=seed, **self.options)
        while True:
            x, y, _ = sampler.batch(self.batch)
            yield torch.from_numpy(x), torch.from_numpy(y)


def validate(net: torch.nn.Module, val_obs: dict) -> dict:
    """Scores per validation condition, and ``score``: the sum of their PA-MPJPE (what ``best.pt`` minimises)."""
    out = {k: E.scores(E.predict_sequences(predictor(net), obs, net.cfg.window), obs) for k, obs in val_obs.items()}
    out["score"] = sum(v["pa_mpjpe_mm"] for v in out.values())
    net.train()
    return out


SHARE = (0.0, 1.0)
#: the command line's flags of MotionTrainConfig keys, with their types (the booleans are --no-cmu, --no-deepmimic)
FLAGS = {"out": str, "steps": int, "batch": int, "lr": float, "window": int, "hidden": int, "blocks": int,
         "arch": str, "heads": int, "cmu": str, "mirror_share": float, "minutes": float, "cpu_minutes": float,
         "pool": str, "rot_weight": float, "noise": str, "sampler_frames": int, "exact_share": float,
         "mocap_share": float, "dropout": float, "every": int, "threads": int, "seed": int}


@dataclass
class MotionTrainConfig:
    """The motion model's training settings (module doc: defaults, file, flags and ``--set``)."""
    out: str = knob("runs/motion", doc="the run folder (resumes from its last.pt)")
    steps: int = knob(20000, range=(1, 10**9), doc="the cosine schedule's length, unless a time budget ends it")
    batch: int = knob(256, range=(1, 65536), doc="windows per step")
    lr: float = knob(1e-3, range=(1e-12, 10.0), doc="AdamW's learning rate at the start (cosine to 0)")
    window: int = knob(27, range=(1, 1000), doc="frames the model sees, newest last")
    hidden: int = knob(768, range=(1, 65536), doc="hidden width")
    blocks: int = knob(2, range=(0, 64), doc="residual blocks (or layers)")
    arch: str = knob("mlp", choices=tuple(ARCHS), doc="mlp | tcn | transformer (trainer/motion/model.py)")
    heads: int = knob(4, range=(1, 64), doc="attention heads (transformer)")
    dropout: float = knob(0.1, range=SHARE)
    cmu: str = knob("", doc="CMU motion-capture folder; '' = $MOTION_CMU_DIR, else ../shared/mocap")
    use_cmu: bool = knob(True, doc="false (--no-cmu): the old bank, CMU 01_01, DeepMimic, sampler")
    mirror_share: float = knob(0.5, range=SHARE, doc="share of CMU windows mirrored on the fly")
    minutes: float = knob(0.0, range=(0.0, 1e9), doc="stop (validated and saved; resumable) after this much "
                          "wall time in this call; 0 = no limit")
    cpu_minutes: float = knob(0.0, range=(0.0, 1e9), doc="training budget in CPU time of the training steps "
                              "(validation excluded), summed over resumed calls; the cosine schedule runs over it "
                              "(equal training time on a shared CPU); 0 = none")
    pool: str = knob("", doc="train on a stored window pool (trainer.motion.pool) instead of windows made on the "
                     "fly; '' = on the fly")
    rot_weight: float = knob(0.05, range=(0.0, 1e6), doc="weight of the rotations' Frobenius distance")
    noise: str = knob("", doc="measured 2D error statistics (JSON); '' = a prior guess")
    sampler_frames: int = knob(30000, range=(0, 10**9), doc="frames of the pose sampler's sequences")
    deepmimic: bool = knob(True, doc="false (--no-deepmimic): without the DeepMimic clips")
    exact_share: float = knob(0.1, range=SHARE, doc="share of batches with exact 2D")
    noise_scale: list = knob([0.5, 1.5], doc="the measured noise times a factor drawn in this range, [lo, hi]")
    mocap_share: float = knob(-1.0, range=(-1.0, 1.0), doc="share of windows from mocap clips, else the "
                              "sampler; -1 = 0.8 with CMU, 0.6 without")
    every: int = knob(1000, range=(1, 10**9), doc="validate and checkpoint every this many steps")
    threads: int = knob(1, range=(1, 1024), doc="torch CPU threads")
    seed: int = knob(0, range=(0, 2**31 - 1), doc="the network's start and the batches")

    def __post_init__(self):
        check_fields(self)
        ns = self.noise_scale
        if (len(ns) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in ns)
                or not 0 < ns[0] <= ns[1]):
            raise SettingsError("MotionTrainConfig", "noise_scale", f"= {ns!r} is not allowed; allowed: [lo, hi] "
                                "with 0 < lo <= hi")
        self.noise_scale = [float(v) for v in ns]
        if self.mocap_share < 0 and self.mocap_share != -1:
            raise SettingsError("MotionTrainConfig", "mocap_share", f"= {self.mocap_share} is not allowed; "
                                "allowed: 0 to 1, or -1 (by the bank)")


def load_motion_config(path: str | Path | None = None, flags: dict | None = None,
                       overrides: list[str] = ()) -> MotionTrainConfig:
    """The settings: the defaults, then the YAML file ``path`` (optional), then ``flags`` (key -> value, from
    the command line), then the ``--set KEY=VALUE`` ``overrides``; each step checked by ``engine.settings``."""
    cfg = (build(MotionTrainConfig, read_yaml(path, "motion training config"), "", str(path), UserError)
           if path else MotionTrainConfig())
    if flags:
        cfg = replaced(cfg, flags, "command line", UserError)
    if overrides:
        cfg = replaced(cfg, dict(parse_override(o) for o in overrides), "--set", UserError)
    return cfg


def parse_args(argv=None) -> MotionTrainConfig:
    """The settings from the command line (module doc); a flag left out leaves the file's value or the default."""
    fields = MotionTrainConfig.__dataclass_fields__
    ap = argparse.ArgumentParser(prog="python -m trainer motion train", description=__doc__.split("\n\n")[0],
                                 argument_default=argparse.SUPPRESS)
    ap.add_argument("--config", default=None, help="a YAML file of MotionTrainConfig keys")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a key's value, after the file and the flags")
    doc = {name: f.metadata["doc"] for name, f in fields.items()}
    for name, kind in FLAGS.items():
        ap.add_argument("--" + name.replace("_", "-"), type=kind,
                        help=f"{doc[name] or name} (default {fields[name].default!r})")
    ap.add_argument("--no-cmu", dest="use_cmu", action="store_false", help=doc["use_cmu"])
    ap.add_argument("--no-deepmimic", dest="deepmimic", action="store_false", help=doc["deepmimic"])
    ap.add_argument("--noise-scale", type=float, nargs=2, metavar=("LO", "HI"), help=doc["noise_scale"])
    a = vars(ap.parse_args(argv))
    path, overrides = a.pop("config"), a.pop("overrides")
    if "noise_scale" in a:
        a["noise_scale"] = list(a["noise_scale"])
    return load_motion_config(path, a, overrides)


def main(argv=None) -> int:
    train_motion(parse_args(argv))
    return 0


def train_motion(cfg: MotionTrainConfig) -> Path:
    """A motion training run (module doc); returns the run folder."""
    t_start = time.time()  # --minutes counts from here: the whole call stays within it
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{out}: cannot create the run folder ({e.strerror})") from None
    noise = load_noise(cfg.noise or None)
    cmu = None
    if cfg.use_cmu:
        from trainer.motion.cmu import resolve_root
        cmu = str(resolve_root(cfg.cmu or None))  # a missing folder: one line, before anything is built
    mocap_share = cfg.mocap_share if cfg.mocap_share >= 0 else (0.6 if cmu is None else 0.8)
    mcfg = MotionNetConfig(window=cfg.window, hidden=cfg.hidden, blocks=cfg.blocks, dropout=cfg.dropout, arch=cfg.arch,
                           heads=cfg.heads)
    try:
        net = build_net(mcfg)
    except ValueError as e:
        raise UserError(str(e)) from None
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    step, best, cpu_done = 0, math.inf, 0.0
    last = out / "last.pt"
    if last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        if ck["config"] != mcfg.to_dict():
            raise UserError(f"{last}: saved with another model config {ck['config']}; use another --out")
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, best, cpu_done = ck["step"], ck["best"], ck.get("cpu_s", 0.0)
        print(f"resuming {last} at step {step} ({cpu_done:.0f} CPU s of training done)")
    if cfg.pool:
        from trainer.motion.pool import Pool
        pool = Pool(cfg.pool, cfg.window)
        rng = np.random.default_rng(cfg.seed + step)
        batches = (tuple(map(torch.from_numpy, pool.batch(rng, cfg.batch, cfg.window))) for _ in iter(int, 1))
        about = f"pool {cfg.pool}: {len(pool):,} windows of {pool.window} frames"
    else:
        bank = D.motion_bank("train", seed=cfg.seed, sampler_frames=cfg.sampler_frames, deepmimic=cfg.deepmimic,
                             cmu=cmu)
        # batches are made in a worker process beside the training thread (a resumed run draws fresh ones)
        batches = iter(torch.utils.data.DataLoader(
            Batches(bank, cfg.window, noise, cfg.batch, cfg.seed + step,
                    dict(noise_scale=tuple(cfg.noise_scale), exact_share=cfg.exact_share, mocap_share=mocap_share,
                         mirror_share=0.0 if cmu is None else cfg.mirror_share)),
            batch_size=None, num_workers=1, prefetch_factor=4, persistent_workers=True))
        about = (f"{len(bank)} training sequences ({sum(len(v) for v in bank.values()):,} frames, "
                 f"{'CMU ' + cmu if cmu else 'no CMU'})")
        del bank  # the worker holds its own copy
    val_cache = {}

    def val_obs() -> dict:  # made at the first validation (a call that only trains on does not need them)
        if not val_cache:
            if cmu is None:
                val_cache.update(exact=E.test_sequences(None, n_draws=2, split="val"),
                                 noise=E.test_sequences(noise, n_draws=2, split="val"))
            else:  # one 5-second segment of every validation clip, a body and camera each
                val_cache.update(exact=E.test_sequences(None, n_draws=1, split="val", cmu=cmu, per_clip=1),
                                 noise=E.test_sequences(noise, n_draws=1, split="val", cmu=cmu, per_clip=1))
        return val_cache
    print(f"motion model: {cfg.arch}, {sum(p.numel() for p in net.parameters()):,} parameters, window {cfg.window}; "
          f"{about}; noise: {noise.source}")
    t0 = time.time()

    def progress(s: int) -> float:  # of the cosine schedule: by steps, by training CPU time, or by wall time
        done = s / cfg.steps
        if cfg.cpu_minutes:
            done = max(done, cpu_done / (cfg.cpu_minutes * 60))
        elif cfg.minutes:
            done = max(done, (time.time() - t_start) / (cfg.minutes * 60))
        return min(done, 1.0)

    sched = lambda s: cfg.lr * 0.5 * (1 + math.cos(math.pi * progress(s)))
    log = open(out / "log.jsonl", "a")
    bar = tqdm(total=cfg.steps, initial=step, desc="motion", unit="step", mininterval=10)
    stop = bool(cfg.cpu_minutes) and cpu_done >= cfg.cpu_minutes * 60
    while step < cfg.steps and not stop:
        c0 = time.process_time()
        x, y = next(batches)
        for g in opt.param_groups:
            g["lr"] = sched(step)
        parts = losses(net(x), y)
        loss = parts["joints"] + cfg.rot_weight * parts["rotations"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        cpu_done += time.process_time() - c0
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(joints_mm=f"{parts['joints'].item() * 1000:.1f}", rot=f"{parts['rotations'].item():.3f}")
        budget_spent = bool(cfg.cpu_minutes) and cpu_done >= cfg.cpu_minutes * 60
        out_of_time = bool(cfg.minutes) and time.time() - t_start > cfg.minutes * 60
        stop = budget_spent or out_of_time
        state = lambda b: {"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                           "config": mcfg.to_dict(), "best": b, "noise": noise.source,
                           "args": dataclasses.asdict(cfg),
                           "cpu_s": cpu_done}
        if step % cfg.every == 0 or step == cfg.steps or budget_spent:
            v = validate(net, val_obs())
            rec = {"step": step, "joints_l1_mm": parts["joints"].item() * 1000, "rot_frob": parts["rotations"].item(),
                   "val": v, "lr": sched(step), "elapsed_s": round(time.time() - t0, 1),
                   "cpu_s": round(cpu_done, 1)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if v["score"] < best:
                best = v["score"]
                save_atomic(state(best), out / "best.pt")
            save_atomic(state(best), last)
            tqdm.write(f"step {step}: val " + "; ".join(
                f"{k}: PA-MPJPE {r['pa_mpjpe_mm']:.1f} mm, MPJPE {r['mpjpe_mm']:.1f}, accel {r['accel_mm_f2']:.1f}, "
                f"bone rot {r['bone_rotation_deg']:.1f} deg" for k, r in v.items() if k != "score")
                + f" (best score {best:.1f})")
        elif out_of_time:  # this call's wall time is up: saved for the next call, validated later
            save_atomic(state(best), last)
            tqdm.write(f"step {step}: out of wall time ({cpu_done:.0f} CPU s of training done); saved {last}")
    bar.close()
    return out
