"""The pipelines behind ``mocap run``, ``process``, ``demo`` and ``bench``."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from app.capture import LatestFrame, open_source
from app.config import REPO_ROOT
from app.errors import UserError
from engine import frames as F
from engine import rotations as R
from engine import skeleton as S
from engine.estimator import Estimator, EstimatorSettings
from engine.pose import Pose


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def resolve(path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def make_estimator(cfg, log=say) -> Estimator:
    from engine.backends import BackendError, create_backend

    model = resolve(cfg.model.path)
    if not model.exists() and cfg.model.backend != "torch":
        raise UserError(f"{model}: model not found (train one with python -m trainer train, "
                        "or point model.path at an exported .onnx)")
    t = cfg.model.tensorrt
    try:
        backend = create_backend(cfg.model.backend, model, cfg.model.threads,
                                 {"fp16": t.fp16, "cache_dir": t.cache_dir, "workspace_mb": t.workspace_mb}, log=log)
    except BackendError as e:
        raise UserError(str(e)) from None
    log(f"backend: {backend.name}, model {backend.model} ({backend.input_size} px)")
    f = cfg.filter
    return Estimator(backend, EstimatorSettings(
        min_confidence=cfg.tracking.min_confidence, crop_scale=cfg.tracking.crop_scale,
        rest_ease_s=cfg.tracking.rest_ease_s, filter_enabled=f.enabled,
        position=(f.position.min_cutoff, f.position.beta, f.position.d_cutoff),
        rotation=(f.rotation.min_cutoff, f.rotation.beta, f.rotation.d_cutoff)))


def pose_record(frame_index: int, pose: Pose) -> dict:
    """One line of poses.jsonl (DESIGN.md)."""
    return {"frame": frame_index, "time": round(float(pose.time), 6), "detected": bool(pose.detected),
            "joints_2d": np.round(pose.joints_2d, 3).tolist(), "joints_3d": np.round(pose.joints_3d, 5).tolist(),
            "rotations": np.round(R.matrix_to_quat(pose.rotations), 6).tolist(),
            "confidence": round(float(pose.confidence), 4)}


def _draw(frame: np.ndarray, pose: Pose) -> np.ndarray:
    img = frame.copy()
    col = (0, 220, 0) if pose.detected else (0, 140, 255)
    for b, (s, e) in enumerate(S.BONES):
        name = S.BONE_NAMES[b]
        c = (255, 140, 0) if name.startswith("l_") else (0, 0, 255) if name.startswith("r_") else col
        p, q = pose.joints_2d[s], pose.joints_2d[e]
        cv2.line(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), c, 3, cv2.LINE_AA)
    cv2.putText(img, f"conf {pose.confidence:.2f}{'' if pose.detected else '  (nobody)'}", (12, 30),
                cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return img


def world_joints(pose: Pose, floor: float) -> np.ndarray:
    """Joints in world axes with the pelvis at standing height, for drawing beside the avatar."""
    return F.camera_to_world(pose.joints_3d) + np.array([0.0, floor, 0.0]) + pose.root_position


# --------------------------------------------------------------------------- process

def process(cfg, args) -> int:
    """Every frame of a video / image folder: poses.jsonl, optional BVH, VMC and overlay video."""
    from app.bvh import BVHRecorder
    from app.vmc import VMCSender, parse_target

    est = make_estimator(cfg)
    src = open_source(args.input)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    bvh = BVHRecorder(args.bvh, fps=cfg.bvh.fps, units=cfg.bvh.units) if args.bvh else None
    vmc = None
    if args.vmc:
        host, port = parse_target(args.vmc)
        vmc = VMCSender(host, port, rate=1000.0, root_motion=cfg.vmc.root_motion)
    video = None
    n, detected, t0 = 0, 0, time.perf_counter()
    from tqdm import tqdm

    bar = tqdm(total=src.count or None, unit="frame", desc="processing", disable=not sys.stderr.isatty())
    try:
        with open(out, "w") as f:
            while True:
                ok, frame, t = src.read()
                if not ok:
                    break
                pose = est(frame, t)
                f.write(json.dumps(pose_record(n, pose)) + "\n")
                f.flush()
                if bvh:
                    bvh.add(t, pose.rotations, pose.root_position)
                if vmc:
                    vmc.send(pose.rotations, pose.root_position, now=t)
                if args.video:
                    if video is None:
                        video = cv2.VideoWriter(args.video, cv2.VideoWriter_fourcc(*"mp4v"), src.fps,
                                                (frame.shape[1], frame.shape[0]))
                    video.write(_draw(frame, pose))
                n += 1
                detected += pose.detected
                bar.update(1)
    finally:
        bar.close()
        src.release()
        if bvh:
            bvh.close()
        if video is not None:
            video.release()
        if vmc:
            vmc.close()
    if src.count and n < src.count:
        say(f"{args.input}: the video ended early (frame {n} of {src.count}, truncated or unreadable); "
            f"the {n} frames processed are kept")
    dt = time.perf_counter() - t0
    outputs = [str(out)] + [p for p in (args.bvh, args.video) if p]
    say(f"{n} frames ({detected} with a person) in {dt:.1f} s ({n / max(dt, 1e-9):.1f} frames/s): {', '.join(outputs)}")
    if n == 0:
        raise UserError(f"{args.input}: no frame could be read")
    return 0


# --------------------------------------------------------------------------- live

def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or not sys.platform.startswith("linux")


def run_live(cfg, args, source=None, max_frames: int = 0, screenshot: str | None = None) -> int:
    """Camera (or file) -> estimator -> window / VMC / BVH, newest frame first."""
    from app.avatar import load_avatar_or_default
    from app.bvh import BVHRecorder
    from app.vmc import VMCSender

    source = cfg.camera.source if source is None else source
    est = make_estimator(cfg)
    src = open_source(source, cfg.camera.width, cfg.camera.height, cfg.camera.fps)
    frames = LatestFrame(src, loop=getattr(args, "loop", False))
    window = None
    if not getattr(args, "no_window", False):
        if has_display():
            from app.window import Window

            avatar = load_avatar_or_default(cfg.renderer.avatar, warn=say)
            window = Window(cfg.renderer.width, cfg.renderer.height, avatar, vsync=False,
                            background=cfg.renderer.background)
        else:
            say("no display: running without a window (Ctrl+C stops)")
    vmc = VMCSender(cfg.vmc.host, cfg.vmc.port, cfg.vmc.rate, cfg.vmc.root_motion)
    vmc.enabled = cfg.vmc.enabled
    state = {"paused": False, "mirror": cfg.camera.mirror, "bvh": None}

    def toggle_record():
        if state["bvh"] is None:
            folder = resolve(cfg.bvh.folder)
            path = folder / time.strftime("mocap-%Y%m%d-%H%M%S.bvh")
            state["bvh"] = BVHRecorder(path, fps=cfg.bvh.fps, units=cfg.bvh.units)
            say(f"recording {path}")
        else:
            path = state["bvh"].close()
            say(f"saved {path} ({state['bvh'].frames} frames)")
            state["bvh"] = None

    if window is not None:
        import glfw

        window.keys.update({
            glfw.KEY_R: toggle_record,
            glfw.KEY_V: lambda: setattr(vmc, "enabled", not vmc.enabled),
            glfw.KEY_F: lambda: setattr(est, "filter_enabled", not est.filter_enabled),
            glfw.KEY_M: lambda: state.update(mirror=not state["mirror"]),
            glfw.KEY_SPACE: lambda: state.update(paused=not state["paused"]),
        })
    say(f"input: {src.name}; VMC {vmc.target} {'on' if vmc.enabled else 'off'} (V toggles); R records BVH")
    shown, fps, last_t, pose, frame = 0, 0.0, time.perf_counter(), None, None
    floor = S.Skeleton.default().floor_offset
    try:
        while window is None or window.open:
            item = frames.get(timeout=0.5)
            if item is None:
                if frames.ended:
                    break
                if window is not None:
                    window.show(pose.rotations if pose is not None else None, hud=[frames.status])
                continue
            frame, t, _ = item
            if state["mirror"]:
                frame = np.ascontiguousarray(frame[:, ::-1])
            t_start = time.perf_counter()
            if not state["paused"] or pose is None:
                pose = est(frame, t)
                if vmc.enabled:
                    vmc.send(pose.rotations, pose.root_position)
                if state["bvh"] is not None:
                    state["bvh"].add(t, pose.rotations, pose.root_position)
            latency = (time.perf_counter() - t_start) * 1000
            now = time.perf_counter()
            fps = 0.9 * fps + 0.1 / max(now - last_t, 1e-6) if fps else 1.0 / max(now - last_t, 1e-6)
            last_t = now
            if window is not None:
                rec = f"REC {state['bvh'].duration:5.1f} s" if state["bvh"] else "R: record BVH"
                hud = [f"{fps:5.1f} fps  {latency:5.1f} ms  {est.backend.name}",
                       f"VMC {vmc.target}: {vmc.state}   filter {'on' if est.filter_enabled else 'off'}"
                       f"{'  PAUSED' if state['paused'] else ''}",
                       f"{rec}   conf {pose.confidence:.2f}{'' if pose.detected else ' (nobody)'}",
                       f"{frames.status if frames.status != 'running' else 'F filter  M mirror  Space pause  Esc quit'}"]
                window.show(pose.rotations, pose.root_position if cfg.vmc.root_motion != "off" else None,
                            frame=frame, joints_2d=pose.joints_2d if pose.detected else None,
                            joints_3d_world=world_joints(pose, floor) if pose.detected else None, hud=hud)
            elif shown % 30 == 0:
                say(f"frame {shown}: {fps:.1f} fps, {latency:.1f} ms, conf {pose.confidence:.2f}, {frames.status}")
            shown += 1
            if max_frames and shown >= max_frames:
                break
    except KeyboardInterrupt:
        pass
    finally:
        if window is not None and screenshot:
            cv2.imwrite(screenshot, window.screenshot()[..., ::-1])
        frames.stop()
        if state["bvh"] is not None:
            say(f"saved {state['bvh'].close()}")
        vmc.close()
        if window is not None:
            window.destroy()
    return 0


# --------------------------------------------------------------------------- demo

DEMO_CLIP = REPO_ROOT / "assets" / "demo.mp4"


def demo(cfg, args) -> int:
    model = resolve(cfg.model.path)
    if not model.exists():
        say(f"mocap demo: no trained model is bundled yet ({model} is missing); the set-up is complete. "
            "Train one (python -m trainer train trainer/configs/default.yaml) or pass --set model.path=MODEL.onnx")
        return 0
    if has_display() and not args.no_window:
        return run_live(cfg, args, source=str(DEMO_CLIP), max_frames=args.max_frames, screenshot=args.screenshot)
    out = resolve("demo_output")
    out.mkdir(exist_ok=True)

    class A:
        input = str(DEMO_CLIP)
        out = str(resolve("demo_output") / "poses.jsonl")
        bvh = str(resolve("demo_output") / "demo.bvh")
        video = str(resolve("demo_output") / "overlay.mp4")
        vmc = None

    say("no display: processing the bundled clip headless")
    return process(cfg, A)


# --------------------------------------------------------------------------- bench

def bench(cfg, args) -> int:
    """End-to-end frames/s and per-stage latency on a video, headless."""
    from app.vmc import VMCSender

    est = make_estimator(cfg)
    src = open_source(args.input)
    vmc = VMCSender("127.0.0.1", 9, rate=10_000.0)  # loopback discard port: measures building and sending
    stages = {k: [] for k in ("decode", "preprocess", "inference", "filter", "sinks", "total")}
    n = 0
    t_all = time.perf_counter()
    while not args.frames or n < args.frames:
        t0 = time.perf_counter()
        ok, frame, t = src.read()
        if not ok:
            break
        t1 = time.perf_counter()
        pose = est(frame, t)
        t2 = time.perf_counter()
        json.dumps(pose_record(n, pose))
        vmc.send(pose.rotations, pose.root_position, now=t)
        t3 = time.perf_counter()
        if n >= 5:  # warm-up frames excluded
            stages["decode"].append(t1 - t0)
            for k in ("preprocess", "inference", "filter"):
                stages[k].append(est.timings[k])
            stages["sinks"].append(t3 - t2)
            stages["total"].append(t3 - t0)
        n += 1
    wall = time.perf_counter() - t_all
    vmc.close()
    src.release()
    if not stages["total"]:
        raise UserError(f"{args.input}: too few frames to measure")
    res = {"input": str(args.input), "frames": n, "backend": est.backend.name, "model": est.backend.model,
           "input_size": est.backend.input_size,
           "fps": round(len(stages["total"]) / sum(stages["total"]), 1),
           "fps_wall_clock": round(n / wall, 1),
           "latency_ms": {k: {"p50": round(float(np.percentile(v, 50)) * 1000, 2),
                              "p95": round(float(np.percentile(v, 95)) * 1000, 2)} for k, v in stages.items()}}
    print(f"backend {res['backend']}, model {res['model']} ({res['input_size']} px), {n} frames")
    print(f"{'stage':12s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for k, v in res["latency_ms"].items():
        print(f"{k:12s} {v['p50']:8.2f} {v['p95']:8.2f}")
    print(f"end to end: {res['fps']} frames/s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0
