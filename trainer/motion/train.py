"""Training the motion model on generated mocap observations (minutes on this CPU).

    python -m trainer motion train --out runs/motion [--steps 20000] [--window 27] [--arch mlp|tcn|transformer]
        [--cmu DIR | --no-cmu] [--minutes M] [--noise benchmarks/results/network_2d_errors.json] [--threads 1]

Motion: the CMU database's training subjects (``trainer.motion.cmu``; ``--cmu DIR``, else
``$MOTION_CMU_DIR``, else ``../shared/mocap``), the DeepMimic clips and the sampler's sequences;
``--no-cmu``: the old bank (CMU 01_01, DeepMimic, sampler). Resumes from ``OUT/last.pt`` when it
exists (same config), checkpoints every ``--every`` steps and when ``--minutes`` of wall time are
spent, keeps ``OUT/best.pt`` by validation PA-MPJPE from exact 2D plus that with the measured noise
(the CMU validation subjects; with ``--no-cmu`` CMU Boxing_Toes; never the test subjects) and
writes ``OUT/log.jsonl``. Loss: L1 of the joints rebuilt by forward kinematics
(metres) plus ``--rot-weight`` x the Frobenius distance of the 16 rotations (which alone teaches
twist).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine import skeleton as S
from engine.errors import UserError
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer motion train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/motion")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--window", type=int, default=27)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--arch", choices=tuple(ARCHS), default="mlp")
    ap.add_argument("--heads", type=int, default=4, help="attention heads (transformer)")
    ap.add_argument("--cmu", default=None,
                    help="CMU motion-capture folder (default $MOTION_CMU_DIR or ../shared/mocap)")
    ap.add_argument("--no-cmu", action="store_true", help="the old bank: CMU 01_01, DeepMimic, sampler")
    ap.add_argument("--mirror-share", type=float, default=0.5, help="share of CMU windows mirrored on the fly")
    ap.add_argument("--minutes", type=float, default=None,
                    help="stop (validated and saved; resumable) after this much wall time in this call")
    ap.add_argument("--cpu-minutes", type=float, default=None,
                    help="training budget in CPU time of the training steps (validation excluded), summed over "
                         "resumed calls; the cosine schedule runs over it (equal training time on a shared CPU)")
    ap.add_argument("--pool", default=None, help="train on a stored window pool (trainer.motion.pool) instead of "
                                                 "windows made on the fly")
    ap.add_argument("--rot-weight", type=float, default=0.05)
    ap.add_argument("--noise", default=None, help="measured 2D error statistics (JSON); default: a prior guess")
    ap.add_argument("--sampler-frames", type=int, default=30000)
    ap.add_argument("--no-deepmimic", action="store_true")
    ap.add_argument("--exact-share", type=float, default=0.1, help="share of batches with exact 2D")
    ap.add_argument("--noise-scale", type=float, nargs=2, default=(0.5, 1.5),
                    help="the measured noise times this range")
    ap.add_argument("--mocap-share", type=float, default=None,
                    help="share of windows from mocap clips, else the sampler (default 0.8 with CMU, 0.6 without)")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    t_start = time.time()  # --minutes counts from here: the whole call stays within it
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    out = Path(a.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{out}: cannot create the run folder ({e.strerror})") from None
    noise = load_noise(a.noise)
    cmu = None
    if not a.no_cmu:
        from trainer.motion.cmu import resolve_root
        cmu = str(resolve_root(a.cmu))  # a missing folder: one line, before anything is built
    mocap_share = a.mocap_share if a.mocap_share is not None else (0.6 if cmu is None else 0.8)
    cfg = MotionNetConfig(window=a.window, hidden=a.hidden, blocks=a.blocks, dropout=a.dropout, arch=a.arch,
                          heads=a.heads)
    try:
        net = build_net(cfg)
    except ValueError as e:
        raise UserError(str(e)) from None
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    step, best, cpu_done = 0, math.inf, 0.0
    last = out / "last.pt"
    if last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        if ck["config"] != cfg.to_dict():
            raise UserError(f"{last}: saved with another model config {ck['config']}; use another --out")
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, best, cpu_done = ck["step"], ck["best"], ck.get("cpu_s", 0.0)
        print(f"resuming {last} at step {step} ({cpu_done:.0f} CPU s of training done)")
    if a.pool:
        from trainer.motion.pool import Pool
        pool = Pool(a.pool, a.window)
        rng = np.random.default_rng(a.seed + step)
        batches = (tuple(map(torch.from_numpy, pool.batch(rng, a.batch, a.window))) for _ in iter(int, 1))
        about = f"pool {a.pool}: {len(pool):,} windows of {pool.window} frames"
    else:
        bank = D.motion_bank("train", seed=a.seed, sampler_frames=a.sampler_frames, deepmimic=not a.no_deepmimic,
                             cmu=cmu)
        # batches are made in a worker process beside the training thread (a resumed run draws fresh ones)
        batches = iter(torch.utils.data.DataLoader(
            Batches(bank, a.window, noise, a.batch, a.seed + step,
                    dict(noise_scale=tuple(a.noise_scale), exact_share=a.exact_share, mocap_share=mocap_share,
                         mirror_share=0.0 if cmu is None else a.mirror_share)),
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
    print(f"motion model: {a.arch}, {sum(p.numel() for p in net.parameters()):,} parameters, window {a.window}; "
          f"{about}; noise: {noise.source}")
    t0 = time.time()

    def progress(s: int) -> float:  # of the cosine schedule: by steps, by training CPU time, or by wall time
        done = s / a.steps
        if a.cpu_minutes:
            done = max(done, cpu_done / (a.cpu_minutes * 60))
        elif a.minutes:
            done = max(done, (time.time() - t_start) / (a.minutes * 60))
        return min(done, 1.0)

    sched = lambda s: a.lr * 0.5 * (1 + math.cos(math.pi * progress(s)))
    log = open(out / "log.jsonl", "a")
    bar = tqdm(total=a.steps, initial=step, desc="motion", unit="step", mininterval=10)
    stop = a.cpu_minutes is not None and cpu_done >= a.cpu_minutes * 60
    while step < a.steps and not stop:
        c0 = time.process_time()
        x, y = next(batches)
        for g in opt.param_groups:
            g["lr"] = sched(step)
        parts = losses(net(x), y)
        loss = parts["joints"] + a.rot_weight * parts["rotations"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        cpu_done += time.process_time() - c0
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(joints_mm=f"{parts['joints'].item() * 1000:.1f}", rot=f"{parts['rotations'].item():.3f}")
        budget_spent = a.cpu_minutes is not None and cpu_done >= a.cpu_minutes * 60
        out_of_time = a.minutes is not None and time.time() - t_start > a.minutes * 60
        stop = budget_spent or out_of_time
        state = lambda b: {"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                           "config": cfg.to_dict(), "best": b, "noise": noise.source, "args": vars(a),
                           "cpu_s": cpu_done}
        if step % a.every == 0 or step == a.steps or budget_spent:
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
    return 0
