"""``mocap play CLIP.bvh``: drive the avatar and the VMC stream from a BVH clip.

Ours and CMU clips. With a display: a window showing the avatar (config
``renderer.avatar``, falling back to the default one), HUD with clip time,
VMC target and state; Space pauses, V toggles VMC, Esc quits. ``--no-window``
(or no display): VMC only.
"""
from __future__ import annotations

import os
import sys
import time

import cv2

from animation.bvh import BVHError, read_bvh
from animation.bvh_retarget import clip_to_poses
from animation.gltf import load_avatar_or_default
from app.outputs import open_outputs
from app.vmc import VMCSender, parse_target
from engine.errors import UserError


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def play(cfg, args) -> int:
    clip = read_bvh(args.clip)
    poses = clip_to_poses(clip, path=args.clip)
    n = len(poses.rotations)
    if n == 0:
        raise BVHError(f"{args.clip}: the clip has no frames")
    if clip.problems():
        _say(f"{args.clip}: {clip.problems()}; playing the {n} good frames "
             f"(mocap repair-bvh {args.clip} writes a clean copy)")
    sender = None
    if args.vmc or cfg.vmc.enabled:
        host, port = parse_target(args.vmc) if args.vmc else (cfg.vmc.host, cfg.vmc.port)
        sender = VMCSender(host, port, rate=cfg.vmc.rate, root_motion=cfg.vmc.root_motion)
    shot = None
    try:
        (shot,) = open_outputs((args.screenshot, "screenshot"))
        return _play(cfg, args, clip, poses, sender, shot)
    finally:
        if sender:
            sender.close()
        if shot is not None and shot.final is None:
            shot.discard()


def _play(cfg, args, clip, poses, sender, shot) -> int:
    n = len(poses.rotations)
    window = None
    if not args.no_window:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux"):
            _say("no display: playing without a window (VMC only); use --no-window to silence this")
        else:
            from animation.window import Window

            avatar = load_avatar_or_default(cfg.renderer.avatar, warn=_say)
            window = Window(cfg.renderer.width, cfg.renderer.height, avatar, vsync=cfg.renderer.vsync,
                            background=cfg.renderer.background, title=f"mocap play {os.path.basename(args.clip)}")
    if window is None and sender is None:
        raise UserError("nothing to play to: no window and no VMC target "
                        "(give --vmc HOST:PORT or enable vmc in config)")
    dt = poses.frame_time / args.speed
    target = sender.target if sender else "off"
    _say(f"playing {args.clip} ({poses.source} skeleton, {n} frames, {n * poses.frame_time:.1f} s); VMC: {target}")
    paused = False
    if window is not None:
        import glfw

        def toggle_pause():
            nonlocal paused
            paused = not paused

        def toggle_vmc():
            if sender:
                sender.enabled = not sender.enabled

        window.keys[glfw.KEY_SPACE] = toggle_pause
        window.keys[glfw.KEY_V] = toggle_vmc
    start, k, shown = time.monotonic(), 0, 0
    try:
        while True:
            if k >= n and not args.loop:
                break
            if args.max_frames and shown >= args.max_frames:
                break
            i = k % n
            if sender:
                sender.submit(poses.rotations[i], poses.root_displacement[i])
            if window is not None:
                if not window.open:
                    break
                hud = [f"{os.path.basename(args.clip)}  {i * poses.frame_time:6.2f} s / {n * poses.frame_time:.2f} s"
                       + ("  PAUSED" if paused else ""),
                       f"VMC {target}: {sender.state if sender else 'off'}",
                       "Space pause  V vmc  drag orbit  wheel zoom  Esc quit"]
                window.show(poses.rotations[i], poses.root_displacement[i], hud=hud)
            shown += 1
            if paused:
                start += dt
                time.sleep(dt)
                continue
            k += 1
            wait = start + k * dt - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif window is not None:  # drawing is slower than the clip: skip frames, keep real time
                k = max(k, int((time.monotonic() - start) / dt))
    except KeyboardInterrupt:
        pass
    finally:
        if window is not None and shot is not None:
            ok, png = cv2.imencode(".png", window.screenshot()[..., ::-1])
            shot.append(png.tobytes())
            _say(f"screenshot: {shot.commit()}")
        elif shot is not None:
            _say(f"no screenshot: there is no window ({shot.target} not written)")
        if window is not None:
            window.close()
    if sender:
        sender.close()
        _say(f"sent {sender.sent} frames ({sender.datagrams_sent} bundles) to {sender.target} ({sender.state})")
    return 0
