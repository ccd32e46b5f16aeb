"""The ``mocap`` command line (also ``python -m app``).

User mistakes (bad config, missing file) end with one line on stderr and a
non-zero exit code, never a traceback.
"""
from __future__ import annotations

import argparse
import sys

from app.config import ConfigError, config_to_dict, load_config, parse_override
from app.errors import UserError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mocap", description="Real-time single-camera motion capture (SkeletonNet).")
    p.add_argument("--config", default=None, help="config file (default: the repository's config.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set vmc.port=39540 (repeatable)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="the bundled model and avatar on the bundled clip")
    d.add_argument("--no-window", action="store_true", help="headless: write poses, BVH and an overlay video")
    d.add_argument("--max-frames", type=int, default=0, help=argparse.SUPPRESS)
    d.add_argument("--screenshot", help=argparse.SUPPRESS)
    d.add_argument("--loop", action="store_true", help="play the clip in a loop")
    rn = sub.add_parser("run", help="live capture from the configured camera (or --input)")
    rn.add_argument("--input", help="camera index, video file or image folder (default: camera.source)")
    rn.add_argument("--no-window", action="store_true", help="headless (VMC/BVH only)")
    rn.add_argument("--max-frames", type=int, default=0, help="stop after this many frames")
    rn.add_argument("--screenshot", metavar="PNG", help="save the last window frame")
    rn.add_argument("--loop", action="store_true", help="loop a video input")
    pr = sub.add_parser("process", help="offline: every frame of a video or image folder")
    pr.add_argument("input")
    pr.add_argument("--out", default="poses.jsonl", help="JSON lines, one record per frame")
    pr.add_argument("--bvh", help="also write a BVH clip")
    pr.add_argument("--vmc", metavar="HOST:PORT", help="also stream over VMC")
    pr.add_argument("--video", metavar="OUT.mp4", help="also write a video with the skeleton drawn over")
    sub.add_parser("cameras", help="list the cameras that open")
    b = sub.add_parser("bench", help="end-to-end speed on a video, headless")
    b.add_argument("--input", default=None, help="video (default: the bundled demo clip)")
    b.add_argument("--json", help="write the results as JSON")
    b.add_argument("--frames", type=int, default=0, help="stop after this many frames")
    r = sub.add_parser("repair-bvh", help="make a BVH recording cut short by a crash valid again")
    r.add_argument("file")
    pl = sub.add_parser("play", help="play a BVH clip (ours or CMU) to the VMC stream (and the avatar)")
    pl.add_argument("clip")
    pl.add_argument("--vmc", metavar="HOST:PORT", help="stream to this VMC receiver (default: config vmc.host:port)")
    pl.add_argument("--loop", action="store_true", help="play until interrupted")
    pl.add_argument("--speed", type=float, default=1.0, help="playback speed factor")
    pl.add_argument("--no-window", action="store_true", help="stream only, no window")
    pl.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = whole clip)")
    pl.add_argument("--screenshot", metavar="PNG", help="save the last window frame to this file")
    c = sub.add_parser("config", help="check the configuration and print it")
    c.add_argument("--check", action="store_true", help="only check, print nothing when valid")
    return p


def cmd_config(cfg, args) -> int:
    if not args.check:
        import yaml
        print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False).rstrip())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        overrides = dict(parse_override(o) for o in args.overrides)
        cfg = load_config(args.config, overrides)
        if args.command in ("demo", "run", "process", "bench", "cameras"):
            from app import pipeline

            if args.command == "demo":
                return pipeline.demo(cfg, args)
            if args.command == "run":
                return pipeline.run_live(cfg, args, source=args.input, max_frames=args.max_frames,
                                         screenshot=args.screenshot)
            if args.command == "process":
                return pipeline.process(cfg, args)
            if args.command == "bench":
                args.input = args.input or str(pipeline.DEMO_CLIP)
                return pipeline.bench(cfg, args)
            from app.capture import list_cameras

            cams = list_cameras()
            print("\n".join(f"{i}: {w}x{h}" for i, w, h in cams) if cams else "no cameras found")
            return 0 if cams else 1
        if args.command == "config":
            return cmd_config(cfg, args)
        if args.command == "repair-bvh":
            from app.bvh import repair_bvh
            n = repair_bvh(args.file)
            print(f"{args.file}: {n} complete frames kept; the file is a valid BVH")
            return 0
        if args.command == "play":
            from app.play import play
            return play(cfg, args)
        parser.print_help()
        return 2
    except (ConfigError, UserError) as e:
        print(f"mocap: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
