"""The ``mocap`` command line (also ``python -m app``).

User mistakes (bad config, missing file) end with one line on stderr and a
non-zero exit code, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.config import REPO_ROOT, ConfigError, config_to_dict, load_config, parse_override
from app.errors import UserError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mocap", description="Real-time single-camera motion capture (SkeletonNet).")
    p.add_argument("--config", default=None, help="config file (default: the repository's config.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set vmc.port=39540 (repeatable)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", help="run the bundled model and avatar on the bundled clip")
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


def _resolve(path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def cmd_demo(cfg) -> int:
    model = _resolve(cfg.model.path)
    if not model.exists():
        print(f"mocap demo: no trained model is bundled yet ({model.relative_to(REPO_ROOT) if model.is_relative_to(REPO_ROOT) else model} "
              "is missing). The set-up is complete; the demo runs once the default model lands "
              "(see README, 'Status').")
        return 0
    print(f"mocap demo: model {model} found, but the live pipeline is not built yet (see README, 'Status').")
    return 0


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
        if args.command == "demo":
            return cmd_demo(cfg)
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
