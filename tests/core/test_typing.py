"""Every GDA package ships ``py.typed`` and type hints on its whole public API (PEP 561)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGES = sorted((Path(__file__).resolve().parents[2] / "packages").glob("*/src/*"))


def _public_modules(pkg: Path) -> list[Path]:
    return [p for p in sorted(pkg.rglob("*.py"))
            if not any(part.startswith("_") and part != "__init__.py" for part in p.relative_to(pkg).parts)]


def _unannotated(path: Path) -> list[str]:
    """``module:function (what lacks a hint)`` for public functions and public classes' methods."""
    out = []

    def visit(node: ast.AST, owner: str) -> None:
        for n in ast.iter_child_nodes(node):
            if isinstance(n, ast.ClassDef) and not n.name.startswith("_"):
                visit(n, f"{n.name}.")
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if n.name.startswith("_") and n.name not in ("__init__", "__call__"):
                    continue
                a = n.args
                args = a.posonlyargs + a.args + a.kwonlyargs
                if owner and args and args[0].arg in ("self", "cls"):
                    args = args[1:]
                missing = [x.arg for x in args if x.annotation is None]
                missing += [f"*{x.arg}" for x in (a.vararg, a.kwarg) if x is not None and x.annotation is None]
                if n.returns is None:
                    missing.append("return")
                if missing:
                    out.append(f"{path.name}:{n.lineno} {owner}{n.name} ({', '.join(missing)})")

    visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return out


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_the_package_is_typed(pkg):
    assert (pkg / "py.typed").is_file(), f"{pkg.name} ships no py.typed"
    missing = [m for p in _public_modules(pkg) for m in _unannotated(p)]
    assert not missing, f"{pkg.name}: public functions without full type hints: {'; '.join(missing[:20])}"
