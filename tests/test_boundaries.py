"""The folder boundaries of DESIGN.md: the runtime imports no torch, engine
imports neither app nor trainer, app never imports trainer."""
import ast
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def imported_modules(folder: str):
    for path in sorted((REPO / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    yield path, a.name.split(".")[0], node
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module.split(".")[0], node


def test_engine_and_app_do_not_cross_boundaries():
    bad = []
    for path, mod, _ in imported_modules("engine"):
        if mod in ("app", "trainer"):
            bad.append(f"{path.relative_to(REPO)} imports {mod}")
    for path, mod, _ in imported_modules("app"):
        if mod == "trainer":
            bad.append(f"{path.relative_to(REPO)} imports {mod}")
    assert not bad, bad


def test_runtime_imports_no_torch():
    code = ("import sys, pkgutil, importlib\n"
            "import engine, app\n"
            "for pkg in (engine, app):\n"
            "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
            "        if m.name != 'app.__main__':\n"
            "            importlib.import_module(m.name)\n"
            "print('torch' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_runtime_dependencies_are_declared():
    """Every third-party package that app/ and engine/ import is a base dependency in
    pyproject.toml: the runtime install (``make demo``: ``pip install -e .``, no extras) must
    have all it needs. The optional backends (TorchScript, TensorRT) may import their
    packages only inside functions, and those must be in the matching extra."""
    import tomllib
    from importlib.metadata import packages_distributions

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def names(reqs):   # "pkg[extra]>=1; marker" -> "pkg"
        return {re.match(r"[A-Za-z0-9._-]+", r).group(0).lower().replace("_", "-") for r in reqs}

    base = names(project["dependencies"])
    extras = {k: names(v) for k, v in project["optional-dependencies"].items()}
    optional = {"torch": ("train", "torch"), "tensorrt": ("gpu", "tensorrt"), "cuda": ("gpu", "cuda-python")}
    dists = {mod: {d.lower().replace("_", "-") for d in ds} for mod, ds in packages_distributions().items()}
    ours = {p.name for p in REPO.iterdir() if p.is_dir()} | {p.stem for p in REPO.glob("*.py")}
    bad = []
    for folder in ("engine", "app"):
        for path, mod, node in imported_modules(folder):
            if mod in sys.stdlib_module_names or mod in ours or mod == "__future__":
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno} imports {mod}"
            if mod in optional:
                extra, dist = optional[mod]
                top_level = node.col_offset == 0
                if top_level or dist not in extras[extra]:
                    bad.append(f"{where}: optional, must be imported lazily and listed in [{extra}]")
            elif not dists.get(mod, set()) & base:
                bad.append(f"{where}: distribution {sorted(dists.get(mod, [])) or '?'} not in the base dependencies")
    assert not bad, bad
