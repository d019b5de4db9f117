"""The framework of gda_core never imports its torch helpers (``gda_core.torch``): torch is an
optional extra (``gda-core[torch]``) that only plugins use."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import gda_core

CORE = Path(gda_core.__file__).resolve().parent
HELPERS = CORE / "torch"
EXTRAS = (CORE / "tabular",)
"""Components of an optional extra that pulls torch (``gda-core[tabular]``: ctgan): like a plugin,
they use the helpers, inside their methods only (checked below), so listing them stays torch-free."""


def _module_name(path: Path) -> str:
    parts = ["gda_core", *path.relative_to(CORE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """Every module ``path`` imports (absolute names, relative imports resolved), anywhere in the
    file (inside functions too); ``source`` stands in for the file's text."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names] + [(node.lineno, base)]
    return out


def test_no_framework_module_imports_the_torch_helpers():
    framework = [p for p in sorted(CORE.rglob("*.py")) if HELPERS not in p.parents
                 and not any(extra in p.parents for extra in EXTRAS)]
    assert len(framework) > 20  # the scan sees the framework
    bad = [f"{p.relative_to(CORE)}:{line} imports {mod}" for p in framework for line, mod in _imports(p)
           if mod == "gda_core.torch" or mod.startswith("gda_core.torch.")]
    assert bad == []


def test_the_extras_import_torch_and_its_helpers_only_inside_functions():
    heavy = ("torch", "ctgan", "safetensors", "pandas", "gda_core.torch")
    allowed = ("gda_core.torch.accelerators",)  # DeviceParams: pydantic only, no torch at import
    for extra in EXTRAS:
        for p in sorted(extra.rglob("*.py")):
            tree = ast.parse(p.read_text(), str(p))
            top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
            names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
            names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
            bad = [m for m in names if m not in allowed and any(m == h or m.startswith(h + ".") for h in heavy)]
            assert bad == [], f"{p.relative_to(CORE)} imports {bad} at module level"


def test_the_scan_sees_relative_and_late_imports_of_the_helpers():
    text = ("from ..torch.accelerators import pick_device\nfrom .. import torch\n"
            "def f():\n    import gda_core.torch.sampling\n")
    found = [m for _, m in _imports(CORE / "builtin" / "planted.py", text) if m.startswith("gda_core.torch")]
    assert found == ["gda_core.torch.accelerators.pick_device", "gda_core.torch.accelerators", "gda_core.torch",
                     "gda_core.torch.sampling"]

BLOCK_TORCH = """
import sys
from importlib.abc import MetaPathFinder

class NoTorch(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch.") or name.startswith("gda_core.torch"):
            raise ImportError(f"blocked for this test: {name}")
        return None

sys.meta_path.insert(0, NoTorch())
from gda_core.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
bad = sorted(m for m in sys.modules if m == "torch" or m.startswith("gda_core.torch"))
print("LOADED", bad)
sys.exit(code)
"""


def _gda_without_torch(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GDA_LOAD_PLUGINS": ""}  # the core's own components only
    done = subprocess.run([sys.executable, "-c", BLOCK_TORCH, *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOADED []" in done.stdout
    return done.stdout


def test_gda_list_and_a_core_run_work_without_torch(tmp_path):
    listed = _gda_without_torch("list", cwd=tmp_path)
    assert "core.gmm" in listed
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: {name: core.wine, params: {k_shot: 6}}\ngenerator: {name: core.gmm}\n"
                   "generate: {per_class: 4}\nvalidators: [core.prdc]\n")
    _gda_without_torch("run", str(cfg), "-o", str(tmp_path / "out"), "-q", cwd=tmp_path)
    assert (tmp_path / "out" / "report.md").is_file()


def test_gda_list_describes_the_tabular_extra_without_torch_or_ctgan(tmp_path):
    code = BLOCK_TORCH.replace('name.startswith("gda_core.torch")', 'name.split(".")[0] in ("ctgan", "pandas")')
    env = {**os.environ, "GDA_LOAD_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-c", code, "list", "generators"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("core.ctgan", "core.tvae"):
        body = done.stdout.split(f"  {name}  ", 1)[1].split("\n  core.", 1)[0]
        assert "conditioning:" in body and "error" not in body, body


def test_importing_the_torch_helpers_imports_no_torch():
    code = ("import sys\nimport gda_core.torch.accelerators, gda_core.torch.diffusion, gda_core.torch.sampling\n"
            "import gda_core.torch.training, gda_core.torch.weights\nprint('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
