"""The ``mocap`` command line (also ``python -m app``).

This is the one place where user errors become one line: a user mistake or
fault (bad config or argument, missing or unreadable file, unwritable
output, full disk) ends with one line on stderr, ``mocap: ...``, and exit
code 2, never a traceback; Ctrl+C ends with 130 after the command has said
what it kept.
"""
from __future__ import annotations

import argparse
import sys

from app.config import ConfigError, config_to_dict, load_config, parse_override
from engine.errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as our one line (no usage block)."""

    def error(self, message: str):
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not allowed; give a number above 0 (1 = real time)")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text} is not allowed; give 0 (no limit) or more")
    return v


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mocap", description="Real-time single-camera motion capture (SkeletonNet).")
    p.add_argument("--config", default=None, help="config file (default: the repository's config.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set vmc.port=39540 (repeatable)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="the bundled model and avatar on the bundled clip")
    d.add_argument("--no-window", action="store_true", help="headless: write poses, BVH and an overlay video")
    d.add_argument("--out-dir", default="demo_output",
                   help="where the headless demo writes poses.jsonl, demo.bvh and overlay.mp4 (default: demo_output)")
    d.add_argument("--max-frames", type=_count, default=0, help=argparse.SUPPRESS)
    d.add_argument("--screenshot", help=argparse.SUPPRESS)
    d.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)  # the window demo always loops
    d.add_argument("--clip", default=None, help=argparse.SUPPRESS)  # tests play their own clip, not the held-out demo
    rn = sub.add_parser("run", help="live capture from the configured camera (or --input)")
    rn.add_argument("--input", help="camera index, video file or image folder (default: camera.source)")
    rn.add_argument("--no-window", action="store_true", help="headless (VMC/BVH only)")
    rn.add_argument("--record", action="store_true", help="record BVH from the start, into bvh.folder")
    rn.add_argument("--bvh", metavar="FILE", help="record BVH from the start, into this file")
    rn.add_argument("--max-frames", type=_count, default=0, help="stop after this many frames")
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
    b.add_argument("--frames", type=_count, default=0, help="stop after this many frames")
    r = sub.add_parser("repair-bvh", help="write a valid copy of a BVH cut short by a crash or with bad rows")
    r.add_argument("file")
    r.add_argument("--out", help="where the repaired copy goes (default: FILE's name + .repaired.bvh)")
    r.add_argument("--in-place", action="store_true", help="replace FILE, once the copy is verified")
    pl = sub.add_parser("play", help="play a BVH clip (ours or CMU) to the VMC stream (and the avatar)")
    pl.add_argument("clip")
    pl.add_argument("--vmc", metavar="HOST:PORT", help="stream to this VMC receiver (default: config vmc.host:port)")
    pl.add_argument("--loop", action="store_true", help="play until interrupted")
    pl.add_argument("--speed", type=_positive, default=1.0, help="playback speed factor (above 0)")
    pl.add_argument("--no-window", action="store_true", help="stream only, no window")
    pl.add_argument("--max-frames", type=_count, default=0, help="stop after this many frames (0 = whole clip)")
    pl.add_argument("--screenshot", metavar="PNG", help="save the last window frame to this file")
    c = sub.add_parser("config", help="check the configuration and print it")
    c.add_argument("--check", action="store_true", help="only check, print nothing when valid")
    return p


def cmd_config(cfg, args) -> int:
    if not args.check:
        import yaml
        print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False).rstrip())
    return 0


def cmd_repair(args) -> int:
    from app.bvh import repair_bvh

    if args.out and args.in_place:
        raise UserError("repair-bvh: give --out or --in-place, not both")
    r = repair_bvh(args.file, out=args.out, in_place=args.in_place)
    if r.out is None:
        print(f"{args.file}: a valid BVH with {r.kept} frames; nothing to repair, nothing written")
        return 0
    why = []
    if r.dropped:
        shown = "; ".join(r.dropped[:3]) + (f"; and {len(r.dropped) - 3} more" if len(r.dropped) > 3 else "")
        why.append(f"dropped {len(r.dropped)} ({shown})")
    if r.declared != r.kept:
        why.append(f"'Frames: {r.declared}' set to {r.kept}")
    where = f"{args.file} replaced" if args.in_place else f"{r.out} written, {args.file} unchanged"
    print(f"{args.file}: kept {r.kept} frames, {'; '.join(why)}; {where}")
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
            return cmd_repair(args)
        if args.command == "play":
            from app.play import play
            return play(cfg, args)
        parser.print_help()
        return 2
    except (ConfigError, UserError) as e:
        print(f"mocap: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file or device fault no command turned into its own line
        where = f"{e.filename}: " if e.filename else ""
        print(f"mocap: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mocap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
