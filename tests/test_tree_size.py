"""The tracked tree fits a device call (docs/gpu.md: a call carries 64 MiB of working tree): under 60 MiB,
so that large weights stay float16 and stale ones out of the tree."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MIB = 60.0


def test_tracked_tree_is_under_60_mib():
    r = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if r.returncode:
        pytest.skip("not a git checkout")
    files = [ROOT / p for p in r.stdout.decode().split("\0") if p]
    sizes = sorted(((f.stat().st_size, f) for f in files if f.is_file()), reverse=True)
    total = sum(s for s, _ in sizes) / 2 ** 20
    top = ", ".join(f"{f.relative_to(ROOT)} {s / 2 ** 20:.1f}" for s, f in sizes[:5])
    assert total < LIMIT_MIB, f"tracked tree {total:.1f} MiB (largest: {top})"
