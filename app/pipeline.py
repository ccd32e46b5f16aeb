"""The pipelines behind ``mocap run``, ``process``, ``demo`` and ``bench``."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from animation.overlay import CENTRE, draw_skeleton
from app.capture import LatestFrame, open_source
from app.config import REPO_ROOT
from engine import frames
from engine import rotations as R
from engine import skeleton as S
from engine.errors import UserError
from engine.estimator import Estimator
from engine.pose import Pose
from engine.settings import repo_path


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def open_estimator(cfg) -> Estimator:
    """The engine for ``cfg`` (``Estimator.open`` with config.yaml's ``model``, ``tracking`` and ``filter``), which
    says on stderr which backend and models run. Use it in a ``with`` block; callers open it before any output,
    so a broken model changes no file."""
    return Estimator.open(cfg.engine, log=say)


ROOT_LIMIT = np.array([3.0, 1.0, 3.0])  # metres: how far root motion may take the body (x, y, z)


def bounded_root(root_position) -> np.ndarray:
    """Root motion for the sinks: (3,) metres, world axes, kept inside +-ROOT_LIMIT (a noisy
    model's drift stops at the edge of a room-sized area); non-finite values become 0."""
    r = np.nan_to_num(np.asarray(root_position, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(r, -ROOT_LIMIT, ROOT_LIMIT)


def pose_record(frame_index: int, pose: Pose) -> dict:
    """One line of poses.jsonl (README, "Using it"): ``joints_3d`` in camera axes, as documented
    (``Pose`` keeps world axes), the rotations as quaternions (x, y, z, w)."""
    return {"frame": frame_index, "time": round(float(pose.time), 6), "detected": bool(pose.detected),
            "joints_2d": np.round(pose.joints_2d, 3).tolist(),
            "joints_3d": np.round(frames.world_to_camera(pose.joints_3d), 5).tolist(),  # documented: camera axes
            "rotations": np.round(R.matrix_to_quat(pose.rotations), 6).tolist(),
            "confidence": round(float(pose.confidence), 4), "state": pose.state,
            "person": None if pose.person is None else {"index": int(pose.person), "count": int(pose.people)}}


def draw_overlay(frame: np.ndarray, pose: Pose) -> np.ndarray:
    """The overlay video's frame: the 2D skeleton (centre line orange when nobody is detected)."""
    img = draw_skeleton(frame.copy(), pose.joints_2d, 3, centre=CENTRE if pose.detected else (0, 140, 255))
    cv2.putText(img, f"conf {pose.confidence:.2f}{'' if pose.detected else '  (nobody)'}", (12, 30),
                cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return img


def world_joints(pose: Pose, floor: float, root: np.ndarray) -> np.ndarray:
    """Joints in world axes with the pelvis at standing height plus ``root`` (3,), for drawing
    beside the avatar."""
    return pose.joints_3d + np.array([0.0, floor, 0.0]) + root


# --------------------------------------------------------------------------- process

def _where(outputs) -> str:
    """'a.jsonl, b.bvh' naming where each kept output's frames are, old files left alone."""
    parts = []
    for o in outputs:
        if o.final is None:
            continue
        if o.final == o.target:
            parts.append(str(o.target))
        else:
            parts.append(f"{o.final} ({o.target} is unchanged)")
    return ", ".join(parts)


def _open_video(o, fps: float, frame: np.ndarray):
    from app.outputs import OutputError

    h, w = frame.shape[:2]
    video = cv2.VideoWriter(str(o.hand_over()), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not video.isOpened():
        raise OutputError(f"{o.target}: OpenCV cannot write this video (no mp4v encoder for "
                          f"{o.target.suffix or 'a file without extension'}; use .mp4 or .avi)")
    return video


def _check_video(o, frames: int) -> None:
    """The finished overlay video opens and holds the frames written (OpenCV reports nothing itself)."""
    from app.outputs import OutputError

    cap = cv2.VideoCapture(str(o.partial))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
    cap.release()
    if n < frames:
        st = os.statvfs(o.partial.parent)
        why = "the disk is full" if st.f_bavail * st.f_frsize < 1 << 20 else "the encoder failed"
        raise OutputError(f"{o.partial}: the overlay video could not be finished ({why}; {n} of {frames} frames)")


def process(cfg, args) -> int:
    """Every frame of a video / image folder: poses.jsonl, optional BVH, VMC and overlay video.

    Order: model, input (its first frame), VMC target, then every output at
    once (app/outputs.py), so a mistake in any of them changes no file."""
    with open_estimator(cfg) as est:
        return _process(cfg, args, est)


def _process(cfg, args, est: Estimator) -> int:
    from app.bvh import BVHRecorder
    from app.outputs import OutputError, open_outputs
    from app.vmc import VMCSender, parse_target

    src = open_source(args.input)
    vmc = video = None
    try:
        ok, frame, t = src.read()
        if not ok:
            raise UserError(f"{args.input}: no frame could be read")
        if args.vmc:
            host, port = parse_target(args.vmc)
            vmc = VMCSender(host, port, rate=cfg.vmc.rate, root_motion=cfg.vmc.root_motion)
        out, bvh_out, video_out = open_outputs((args.out, "poses"), (args.bvh, "BVH clip"),
                                               (args.video, "overlay video"))
    except BaseException:
        src.close()
        if vmc:
            vmc.close()
        raise
    outputs = [o for o in (out, bvh_out, video_out) if o is not None]
    say(f"writing {', '.join(str(o.target) for o in outputs)} "
        f"(as {', '.join(o.partial.name for o in outputs)} until complete)")
    bvh = None
    n, detected, t0, status, error = 0, 0, time.perf_counter(), "complete", None
    from tqdm import tqdm

    bar = tqdm(total=src.count or None, unit="frame", desc="processing", disable=not sys.stderr.isatty())
    try:
        bvh = BVHRecorder(bvh_out, fps=cfg.bvh.fps, units=cfg.bvh.units) if bvh_out else None
        video = _open_video(video_out, src.fps, frame) if video_out else None
        while ok:
            pose = est(frame, t)
            root = bounded_root(pose.root_position)
            out.append((json.dumps(pose_record(n, pose)) + "\n").encode())
            n += 1  # counted as soon as its record is written: an interrupt after this keeps it
            if bvh:
                bvh.add(t, pose.rotations, root, pose.pelvis_rotation, pose.local_rotations)
            if vmc:
                vmc.submit(pose.rotations, root, pose.pelvis_rotation)
            if video is not None:
                video.write(draw_overlay(frame, pose))
            detected += pose.detected
            bar.update(1)
            ok, frame, t = src.read()
    except KeyboardInterrupt:
        status = "interrupted"
    except OutputError as e:
        status, error = "failed", e
    except BaseException:
        status = "crashed"
        raise
    finally:
        bar.close()
        src.close()
        if video is not None:
            video.release()
        if vmc:
            vmc.close()
        if status != "complete":  # keep the frames done; never replace an old file with them
            for o in outputs:
                if o is video_out and video is None:
                    o.discard()
                else:
                    o.keep()
    dt = time.perf_counter() - t0
    if status == "interrupted":
        say(f"interrupted at frame {n}{f' of {src.count}' if src.count else ''}: the {n} frames processed "
            f"are kept in {_where(outputs)}")
        return 130
    if status == "failed":
        raise UserError(f"{error}; stopped at frame {n}: the frames before are kept in {_where(outputs)}")
    if src.count and n < src.count:
        say(f"{args.input}: the video ended early (frame {n} of {src.count}, truncated or unreadable); "
            f"the {n} frames processed are kept")
    try:
        if video_out:
            _check_video(video_out, n)
        for o in outputs:
            o.commit()
    except OutputError as e:
        for o in outputs:
            o.keep()
        raise UserError(f"{e}; the outputs are kept in {_where(outputs)}") from None
    say(f"{n} frames ({detected} with a person) in {dt:.1f} s ({n / max(dt, 1e-9):.1f} frames/s): "
        f"{', '.join(str(o.target) for o in outputs)}")
    return 0


# --------------------------------------------------------------------------- live

def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or not sys.platform.startswith("linux")


def run_live(cfg, args, source=None, max_frames: int = 0, screenshot: str | None = None,
             loop: bool | None = None) -> int:
    """Camera (or file) -> estimator -> window / VMC / BVH, newest frame first.

    ``camera.mirror`` flips live camera images only (a selfie view); files are
    used as recorded, as ``process`` does (M toggles the flip in the window).
    A recording (R, ``--record``, ``--bvh``) that fails stops alone: the HUD
    and the terminal say so and the frames written are kept; the session goes
    on, and the exit code is 1 at the end."""
    with open_estimator(cfg) as est:
        return _run_live(cfg, args, est, source, max_frames, screenshot, loop)


def _run_live(cfg, args, est: Estimator, source, max_frames: int, screenshot: str | None, loop: bool | None) -> int:
    from app.outputs import open_outputs
    from app.recording import Recording
    from app.vmc import VMCSender

    source = cfg.camera.source if source is None else source
    src = open_source(source, cfg.camera.width, cfg.camera.height, cfg.camera.fps)
    rec = Recording(repo_path(cfg.bvh.folder), cfg.bvh.fps, cfg.bvh.units, log=say)
    window = shot = None
    try:
        vmc = VMCSender(cfg.vmc.host, cfg.vmc.port, cfg.vmc.rate, cfg.vmc.root_motion)
        bvh_path = getattr(args, "bvh", None)
        (shot,) = open_outputs((screenshot, "screenshot"))
        if bvh_path or getattr(args, "record", False):
            rec.start(Path(bvh_path) if bvh_path else None, strict=True)  # asked for on the command line
    except BaseException:
        src.close()
        if shot is not None:
            shot.discard()
        raise
    loop = getattr(args, "loop", False) if loop is None else loop
    frames = LatestFrame(src, loop=loop)
    try:
        if not getattr(args, "no_window", False):
            if has_display():
                from animation.gltf import load_avatar_or_default
                from animation.window import Window

                avatar = load_avatar_or_default(cfg.renderer.avatar, warn=say)
                window = Window(cfg.renderer.width, cfg.renderer.height, avatar, vsync=False,
                                background=cfg.renderer.background)
            else:
                say("no display: running without a window (Ctrl+C stops)")
        vmc.enabled = cfg.vmc.enabled
        state = {"paused": False, "mirror": cfg.camera.mirror and src.live}
        if window is not None:
            import glfw

            window.keys.update({
                glfw.KEY_R: rec.toggle,
                glfw.KEY_V: lambda: setattr(vmc, "enabled", not vmc.enabled),
                glfw.KEY_F: lambda: setattr(est, "filter_enabled", not est.filter_enabled),
                glfw.KEY_M: lambda: state.update(mirror=not state["mirror"]),
                glfw.KEY_SPACE: lambda: state.update(paused=not state["paused"]),
            })
        say(f"input: {src.name}{' (mirrored)' if state['mirror'] else ''}; VMC {vmc.target} "
            f"{'on' if vmc.enabled else 'off'}{' (V toggles); R records BVH' if window else ''}")
        shown, fps, last_t, pose, frame = 0, 0.0, time.perf_counter(), None, None
        root = np.zeros(3)
        floor = S.Skeleton.default().floor_offset
        try:
            while window is None or window.open:
                item = frames.get(timeout=0.5)
                if item is None:
                    if frames.ended:
                        break
                    if window is not None:
                        window.show(pose.rotations if pose is not None else None, hud=[frames.status, rec.hud()],
                                    pelvis=pose.pelvis_rotation if pose is not None else None)
                    continue
                frame, t, _ = item
                if state["mirror"]:
                    frame = np.ascontiguousarray(frame[:, ::-1])
                t_start = time.perf_counter()
                if not state["paused"] or pose is None:
                    pose = est(frame, t)
                    root = bounded_root(pose.root_position)
                    if vmc.enabled:
                        vmc.submit(pose.rotations, root, pose.pelvis_rotation)
                    rec.add(t, pose.rotations, root, pose.pelvis_rotation, pose.local_rotations)
                latency = (time.perf_counter() - t_start) * 1000
                now = time.perf_counter()
                fps = 0.9 * fps + 0.1 / max(now - last_t, 1e-6) if fps else 1.0 / max(now - last_t, 1e-6)
                last_t = now
                if window is not None:
                    hud = [f"{fps:5.1f} fps  {latency:5.1f} ms  {est.backend.name}",
                           f"VMC {vmc.target}: {vmc.state}   filter {'on' if est.filter_enabled else 'off'}"
                           f"{'  PAUSED' if state['paused'] else ''}",
                           f"{rec.hud()}   conf {pose.confidence:.2f}{'' if pose.detected else ' (nobody)'}",
                           frames.status if frames.status != "running" else "F filter  M mirror  Space pause  Esc quit"]
                    window.show(pose.rotations, root if cfg.vmc.root_motion != "off" else None,
                                frame=frame, joints_2d=pose.joints_2d if pose.detected else None,
                                joints_3d_world=world_joints(pose, floor, root) if pose.detected else None, hud=hud,
                                pelvis=pose.pelvis_rotation)
                elif shown % 30 == 0:
                    say(f"frame {shown}: {fps:.1f} fps, {latency:.1f} ms, conf {pose.confidence:.2f}, {frames.status}")
                shown += 1
                if max_frames and shown >= max_frames:
                    break
        except KeyboardInterrupt:
            pass
        say(f"stopped after {shown} frames")
        if shot is not None:
            if window is not None:
                ok, png = cv2.imencode(".png", window.screenshot()[..., ::-1])
                shot.append(png.tobytes())
                say(f"screenshot: {shot.commit()}")
            else:
                shot.discard()
                say(f"no screenshot: there is no window ({screenshot} not written)")
    finally:
        frames.close()
        rec.close()
        vmc.close()
        if window is not None:
            window.close()
        if shot is not None and shot.final is None:
            shot.discard()
    return 1 if rec.failures else 0


# --------------------------------------------------------------------------- demo

DEMO_CLIP = REPO_ROOT / "assets" / "demo.mp4"


def demo(cfg, args) -> int:
    """The bundled clip: in a window, looped until the user quits; headless, processed to demo_output/."""
    model = repo_path(cfg.model.path)
    if not model.exists():
        raise UserError(f"{model}: model not found, so the demo cannot run; train one "
                        "(python -m trainer train trainer/configs/default.yaml) or pass --set model.path=MODEL.onnx")
    if has_display() and not args.no_window:
        return run_live(cfg, args, source=str(getattr(args, 'clip', None) or DEMO_CLIP), max_frames=args.max_frames,
                        screenshot=args.screenshot, loop=True)
    folder = repo_path(getattr(args, "out_dir", None) or "demo_output")

    class A:
        input = str(getattr(args, 'clip', None) or DEMO_CLIP)
        out = str(folder / "poses.jsonl")
        bvh = str(folder / "demo.bvh")
        video = str(folder / "overlay.mp4")
        vmc = None

    say(f"no display: processing the bundled clip headless into {folder}")
    return process(cfg, A)


# --------------------------------------------------------------------------- bench

def bench(cfg, args) -> int:
    """End-to-end frames/s and per-stage latency on a video, headless."""
    with open_estimator(cfg) as est:
        return _bench(cfg, args, est)


def _bench(cfg, args, est: Estimator) -> int:
    from app.outputs import open_outputs
    from app.vmc import VMCSender

    src = open_source(args.input)
    try:
        (json_out,) = open_outputs((args.json, "bench results"))
    except BaseException:
        src.close()
        raise
    vmc = VMCSender("127.0.0.1", 9, rate=10_000.0)  # loopback discard port: measures building and sending
    stages = {k: [] for k in ("decode", "preprocess", "inference", "motion", "filter", "sinks", "total")}
    n = 0
    t_all = time.perf_counter()
    try:
        while not args.frames or n < args.frames:
            t0 = time.perf_counter()
            ok, frame, t = src.read()
            if not ok:
                break
            t1 = time.perf_counter()
            pose = est(frame, t)
            t2 = time.perf_counter()
            json.dumps(pose_record(n, pose))
            vmc.send(pose.rotations, bounded_root(pose.root_position), now=t, pelvis=pose.pelvis_rotation)
            t3 = time.perf_counter()
            if n >= 5:  # warm-up frames excluded
                stages["decode"].append(t1 - t0)
                for k in ("preprocess", "inference", "motion", "filter"):
                    stages[k].append(est.timings[k])
                stages["sinks"].append(t3 - t2)
                stages["total"].append(t3 - t0)
            n += 1
    except BaseException:
        if json_out is not None:
            json_out.discard()
        raise
    finally:
        vmc.close()
        src.close()
    wall = time.perf_counter() - t_all
    if not stages["total"]:
        if json_out is not None:
            json_out.discard()
        raise UserError(f"{args.input}: too few frames to measure (at least 6 are needed)")
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
    if json_out is not None:
        try:
            json_out.append(json.dumps(res, indent=2).encode())
        except BaseException:
            json_out.discard()
            raise
        say(f"results: {json_out.commit()}")
    return 0
