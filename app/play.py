"""``mocap play CLIP.bvh``: drive the VMC stream from a BVH clip in real time."""
from __future__ import annotations

import sys
import time

from app.bvh import clip_to_poses, read_bvh
from app.errors import UserError
from app.vmc import VMCSender, parse_target


def play(cfg, args) -> int:
    clip = read_bvh(args.clip)
    poses = clip_to_poses(clip, path=args.clip)
    if not args.no_window:
        raise UserError("mocap play: the avatar window needs the renderer, which is not built yet; "
                        "use --no-window to stream over VMC only")
    host, port = parse_target(args.vmc) if args.vmc else (cfg.vmc.host, cfg.vmc.port)
    sender = VMCSender(host, port, rate=max(cfg.vmc.rate, 1.0 / clip.frame_time), root_motion=cfg.vmc.root_motion)
    n = len(poses.rotations)
    dt = poses.frame_time / max(args.speed, 1e-3)
    print(f"playing {args.clip} ({poses.source} skeleton, {n} frames, {n * poses.frame_time:.1f} s) "
          f"to VMC {sender.target}; Ctrl+C stops", file=sys.stderr)
    start = time.monotonic()
    k = 0
    try:
        while True:
            i = k % n
            if k >= n and not args.loop:
                break
            wait = start + k * dt - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            sender.send(poses.rotations[i], poses.root_displacement[i])
            k += 1
    except KeyboardInterrupt:
        pass
    finally:
        sender.close()
    print(f"sent {sender.sent} bundles to {sender.target} ({sender.state})", file=sys.stderr)
    return 0
