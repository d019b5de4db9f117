"""What code computed a bench cell: the key a cell is reused by, and what ``results.csv`` records.

A cell's **code key** is a digest of

- the source of every Python package whose components the cell's config names (each component
  class and its bases: ``gda_core`` always, ``gda_vision`` for a ``vision.*`` generator, a third
  party's package for its components): every file under the package folder, by path and content,
  except :data:`PRESENTATION` (modules that only format results);
- the installed versions of the libraries that shape results (:data:`RESULT_LIBRARIES`, those
  present).

So editing ``gda_vision``'s DDPM recomputes the vision cells and leaves the core suite's alone,
and a docs-only commit changes nothing. Each row also records, without keying on them, the git
commit of the checkout the code ran from (with ``(with uncommitted changes)`` when the tracked
files differ from it) and the versions of the gda distributions and libraries.

Digests are computed once per process and package (:func:`refresh` forgets them: ``run_bench``
calls it at its start), so files edited while a bench runs count from the next bench.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

RESULT_LIBRARIES = ("numpy", "scipy", "scikit-learn", "torch", "diffusers", "monai", "transformers", "peft",
                    "aeon", "ctgan", "nlpaug")
"""Libraries whose installed version is part of every code key (where installed)."""

PRESENTATION = ("gda_core/bench/report.py", "gda_core/bench/cli.py", "gda_core/bench/code.py", "gda_core/cli.py",
                "gda_core/report.py", "gda_core/previews.py", "gda_core/library_noise.py", "gda_core/testing.py")
"""Files left out of ``gda_core``'s digest: they write reports, previews and command lines, never a
number a cell holds (editing the bench's tables does not recompute the bench)."""

_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = (".pyc", ".pyo")

_digests: dict[str, str | None] = {}
_libraries: dict[str, str] | None = None
_commit: tuple[str | None] | None = None


def refresh() -> None:
    """Forget the digests, versions and commit computed so far (they are read again when next asked)."""
    global _libraries, _commit
    _digests.clear()
    _libraries = None
    _commit = None


def package_folder(package: str) -> Path | None:
    """The folder (or single file) of the top-level package ``package``, without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin and spec.origin not in ("built-in", "frozen") else None


def source_digest(package: str) -> str | None:
    """A digest of every file of ``package`` (relative path and bytes, in path order; caches and
    :data:`PRESENTATION` left out), or None when it has no source files to read."""
    if package in _digests:
        return _digests[package]
    where = package_folder(package)
    digest: str | None = None
    if where is not None and where.exists():
        h = hashlib.sha256()
        root = where.parent
        files = [where] if where.is_file() else sorted(
            p for p in where.rglob("*") if p.is_file() and not _SKIP_DIRS & set(p.relative_to(root).parts)
            and not p.name.endswith(_SKIP_SUFFIXES))
        for path in files:
            rel = path.relative_to(root).as_posix()
            if rel in PRESENTATION:
                continue
            h.update(rel.encode() + b"\x00")
            h.update(path.read_bytes())
            h.update(b"\x01")
        digest = h.hexdigest()[:16]
    _digests[package] = digest
    return digest


def library_versions() -> dict[str, str]:
    """``{library: version}`` for the installed ones of :data:`RESULT_LIBRARIES`."""
    global _libraries
    if _libraries is None:
        found = {}
        for name in RESULT_LIBRARIES:
            try:
                found[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
        _libraries = found
    return dict(_libraries)


LIBRARY_MODULES = frozenset({"builtins", "pydantic", "numpy", "scipy", "sklearn", "torch", "diffusers", "monai",
                             "transformers", "peft", "aeon", "ctgan", "nlpaug"})
"""Top-level modules that are libraries, not plugin packages, when a component class derives from them."""


def _is_library(package: str) -> bool:
    return package in sys.stdlib_module_names or package in LIBRARY_MODULES


def packages_of(objects: Iterable[Any]) -> set[str]:
    """The top-level packages defining each object's class and its bases (components: a plugin's
    generator subclassing a core one names both packages), standard library left out."""
    out = {"gda_core"}
    for obj in objects:
        cls = obj if isinstance(obj, type) else type(obj)
        for base in cls.__mro__:
            top = base.__module__.split(".")[0]
            if not _is_library(top):
                out.add(top)
    return out


def config_packages(config: dict[str, Any], *, fit_only: bool = False, extra: Iterable[Any] = ()) -> set[str]:
    """The packages whose components ``config`` names (``fit_only``: only the data set, strategy
    and generator, which decide a fitted model), plus those of ``extra`` objects; ``{"gda_core"}``
    when the config does not resolve (the cell then fails and says why)."""
    from ..config import resolve
    from ..errors import GDAError

    try:
        r = resolve(config)
    except (GDAError, ValueError):
        return packages_of(extra)
    parts: list[Any] = [r.dataset, r.strategy, r.generator]
    if not fit_only:
        parts += [*r.selectors, *r.baselines, r.application, r.embedder, *r.embedders, *r.implicit_embedders]
    return packages_of([*parts, *extra])


@dataclasses.dataclass(frozen=True)
class CodeKey:
    """The code of one cell: its key, and what ``results.csv`` records beside it."""

    key: str
    """Digest of the packages' sources and the libraries' versions (16 hex digits)."""
    packages: dict[str, str | None]
    """Source digest of each package the cell's config names."""
    libraries: dict[str, str]
    commit: str | None
    """The git commit the code ran from, ``... (with uncommitted changes)`` when dirty; None outside a clone."""
    versions: str
    """``gda-core 0.1.0, gda-vision 0.1.0; numpy 2.3.1, torch 2.14.1, ...``: distributions and libraries."""

    def as_dict(self) -> dict[str, Any]:
        """What a cell file stores."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CodeKey:
        """A key read back from a cell file."""
        return cls(d["key"], dict(d.get("packages") or {}), dict(d.get("libraries") or {}), d.get("commit"),
                   d.get("versions", ""))


def code_key(packages: Iterable[str]) -> CodeKey:
    """The :class:`CodeKey` of code made of ``packages`` (and the result libraries)."""
    pkgs = {p: source_digest(p) for p in sorted(set(packages))}
    libs = library_versions()
    key = hashlib.sha256(repr((sorted(pkgs.items()), sorted(libs.items()))).encode()).hexdigest()[:16]
    return CodeKey(key, pkgs, libs, commit(), distribution_versions() + "; " +
                   ", ".join(f"{k} {v}" for k, v in sorted(libs.items())))


def distribution_versions() -> str:
    """``gda-core 0.1.0, gda-vision 0.1.0, ...``: every loaded plugin's distribution and version."""
    from ..host import host

    dists = sorted({f"{p.distribution} {p.version}" for p in host.list_plugins() if p.distribution})
    return ", ".join(dists) or "unknown"


def commit() -> str | None:
    """The git commit of the running gda_core, when it runs from a clone that tracks it (a virtual
    environment inside some other repository is not one), with ``(with uncommitted changes)`` when
    a tracked file differs from it; None otherwise."""
    global _commit
    if _commit is None:
        _commit = (_git_commit(Path(__file__).resolve()),)
    return _commit[0]


def _git_commit(here: Path) -> str | None:
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, cwd=here.parent)

    try:
        if git("ls-files", "--error-unmatch", here.name).returncode != 0:
            return None
        out = git("rev-parse", "--short", "HEAD").stdout.strip()
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (out + (" (with uncommitted changes)" if dirty else "")) if out else None


def snapshot() -> dict[str, Any]:
    """Every digest and version computed in this process so far: a Ray worker compares its own
    with the driver's before computing cells (:func:`differences`)."""
    return {"packages": {k: v for k, v in _digests.items()}, "libraries": library_versions()}


def differences(expected: dict[str, Any]) -> list[str]:
    """What of ``expected`` (a :func:`snapshot` of another process) this process's code differs in."""
    out = []
    for pkg, digest in expected.get("packages", {}).items():
        mine = source_digest(pkg)
        if mine != digest:
            out.append(f"package {pkg} (source digest {mine} here, {digest} on the driver)")
    libs = library_versions()
    for lib, version in expected.get("libraries", {}).items():
        if libs.get(lib) != version:
            out.append(f"library {lib} ({libs.get(lib) or 'not installed'} here, {version} on the driver)")
    return out
