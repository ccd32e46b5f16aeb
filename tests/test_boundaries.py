"""The folder boundaries of DESIGN.md: the runtime imports no torch, engine
imports neither app nor trainer, app never imports trainer."""
import ast
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
