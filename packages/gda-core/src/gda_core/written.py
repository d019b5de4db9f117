"""What gda wrote in a folder it works in (a run folder, a bench folder), and removing only that.

Such a folder holds ``.gda_written``: every path gda created in it, one JSON string a line (relative,
``/``-separated; a folder ends with ``/``), appended *before* the path is created, so a kill at any
point leaves every file of gda's listed (a listed path may not exist yet). gda deletes or replaces
only listed paths, never through a symbolic link, and refuses to overwrite a file it did not list.
Everything else in the folder (a user's notes, the data a config reads, a link to elsewhere) is left
alone, also by ``--overwrite``.

The list is active while the folder is locked (:func:`gda_core.runfolder.locked`): the atomic writers
of :mod:`gda_core.runfolder` consult it for every path inside the folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import RunFolderError

WRITTEN = ".gda_written"
TOP_LEVEL = frozenset({"gda_run.json", ".gda.lock", WRITTEN, "gda_bench.json"})
"""Names at a folder's top level that are gda's by name (the markers, the lock, this list)."""
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.(?P<tag>[A-Za-z0-9_-]+)\.tmp$")

log = logging.getLogger("gda")


class Written:
    """The list of paths gda wrote under ``root`` (the file ``root/.gda_written``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.file = self.root / WRITTEN
        self._paths: set[str] | None = None

    def paths(self) -> set[str]:
        """Every listed path (folders with a trailing ``/``); a half-written last line is ignored."""
        if self._paths is None:
            self._paths = set()
            try:
                text = self.file.read_text(encoding="utf-8")
            except FileNotFoundError:
                text = ""
            except (OSError, UnicodeDecodeError) as exc:
                raise RunFolderError(f"{self.file} is unreadable ({exc}); gda cannot tell its files from "
                                     "yours: choose another folder") from exc
            for line in text.split("\n"):
                with contextlib.suppress(ValueError):
                    rel = json.loads(line) if line else None
                    if isinstance(rel, str) and rel:
                        self._paths.add(rel)
        return self._paths

    def exists(self) -> bool:
        return self.file.is_file()

    def owns(self, rel: str) -> bool:
        """True when gda wrote ``rel`` (a file or a folder), or it is one of gda's top-level names."""
        rel = rel.rstrip("/")
        return rel in TOP_LEVEL or rel in self.paths() or f"{rel}/" in self.paths()

    def add(self, rels: Iterable[str]) -> None:
        """List ``rels`` (before creating them): appended and flushed to disk."""
        paths = self.paths()
        new = [r for r in dict.fromkeys(rels) if r and r not in paths and r.rstrip("/") not in TOP_LEVEL]
        if not new:
            return
        data = "".join(json.dumps(r) + "\n" for r in new).encode("utf-8")
        fd = os.open(self.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _file_mode())
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        paths.update(new)

    def rewrite(self, rels: Iterable[str]) -> None:
        """Replace the list with ``rels`` (atomically)."""
        keep = sorted(set(rels))
        tmp = self.root / f".{WRITTEN}.rewrite.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(json.dumps(r) + "\n" for r in keep))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, self.file)
        self._paths = set(keep)


def _file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


# --- the active list: the folder this process holds the lock of -----------------------------------

_ACTIVE: dict[str, Written] = {}


@contextlib.contextmanager
def active(root: Path) -> Iterator[Written]:
    """Make ``root``'s list the one the atomic writers consult for paths under ``root``."""
    key = os.path.abspath(root)
    written = _ACTIVE.get(key) or Written(Path(key))
    outer = key in _ACTIVE
    _ACTIVE[key] = written
    try:
        yield written
    finally:
        if not outer:
            _ACTIVE.pop(key, None)


def is_active(root: Path) -> bool:
    return os.path.abspath(root) in _ACTIVE


def owner(path: Path) -> tuple[Written, str] | None:
    """The active list whose folder holds ``path``, and ``path`` relative to it."""
    p = os.path.abspath(path)
    for key in sorted(_ACTIVE, key=len, reverse=True):  # the innermost: a run folder inside a bench folder
        if p.startswith(key.rstrip(os.sep) + os.sep):
            return _ACTIVE[key], Path(os.path.relpath(p, key)).as_posix()
    return None


def link_on_the_way(root: Path, rel: str) -> str | None:
    """The first component of ``rel`` below ``root`` that is a symbolic link (``rel`` itself included)."""
    here = root
    parts = rel.split("/")
    for i, part in enumerate(parts):
        here = here / part
        try:
            if stat.S_ISLNK(os.lstat(here).st_mode):
                return "/".join(parts[: i + 1])
        except FileNotFoundError:
            return None
    return None


def before_write(path: Path, *, folder: bool = False) -> None:
    """Called before gda creates or replaces the file (or ``folder``) ``path``: refuse a path through a
    link or one gda did not write; list ``path`` and its missing parent folders."""
    found = owner(path)
    if found is None:
        return
    written, rel = found
    link = link_on_the_way(written.root, rel)
    if link is not None:
        raise RunFolderError(f"{written.root / link} is a symbolic link; gda writes only inside its folder and "
                             "never through a link: replace the link by a folder (or move it out)")
    if os.path.lexists(path) and not written.owns(rel):
        raise RunFolderError(f"{path} was not written by gda, and gda never overwrites a file it did not write: "
                             "move it out of the folder, then run the command again")
    parts = rel.split("/")
    missing = [f"{'/'.join(parts[:i])}/" for i in range(1, len(parts))
               if not os.path.lexists(written.root.joinpath(*parts[:i]))]
    written.add([*missing, f"{rel}/" if folder else rel])


def before_folder(path: Path, staged: Path) -> None:
    """Called before the folder ``staged`` (a temporary, filled) is renamed to ``path``: list ``path``
    and everything in ``staged`` under its final name; refuse when that would replace a file gda did
    not write."""
    found = owner(path)
    if found is None:
        return
    written, rel = found
    before_write(path, folder=True)  # links on the way, and a path of someone else's
    names = []
    for sub in _walk(staged):
        final = f"{rel}/{sub}"
        if os.path.lexists(path / sub.rstrip("/")) and not written.owns(final) and not sub.endswith("/"):
            raise RunFolderError(f"{path / sub} was not written by gda, and gda never overwrites a file it did "
                                 "not write: move it out of the folder, then run the command again")
        names.append(final)
    written.add(names)


def _walk(folder: Path) -> list[str]:
    """Every entry under ``folder`` (relative; folders end with ``/``), without following links."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath).relative_to(folder)
        for d in dirnames:
            out.append(f"{(base / d).as_posix()}/")
        out.extend((base / f).as_posix() for f in filenames)
    return out


# --- removing -----------------------------------------------------------------------------------


def remove(written: Written, names: Iterable[str], *, what: str = "") -> list[str]:
    """Delete every listed path that is one of ``names`` (top-level names or relative paths) or lies
    under one, deepest first; never through a link, never a path gda did not list. A folder is
    removed only once empty. Returns the paths left in place (not gda's), after warning once."""
    root = written.root
    prefixes = [n.rstrip("/") for n in names]
    listed = [r for r in written.paths()
              if any(r.rstrip("/") == p or r.startswith(f"{p}/") for p in prefixes)]
    left: list[str] = []
    removed: set[str] = set()
    for rel in sorted(listed, key=lambda r: (r.rstrip("/").count("/"), r), reverse=True):
        name = rel.rstrip("/")
        link = link_on_the_way(root, name)
        target = root / name
        if link is not None:  # the path, or a folder on the way to it, is a link now: not followed
            left.append(link)
            continue
        try:
            mode = os.lstat(target).st_mode
        except FileNotFoundError:
            removed.add(rel)
            continue
        if stat.S_ISDIR(mode):
            try:
                os.rmdir(target)
                removed.add(rel)
            except OSError:  # holds something gda did not write
                left.extend(f"{name}/{e}" for e in sorted(os.listdir(target))
                            if not written.owns(f"{name}/{e}"))
        else:
            os.unlink(target)
            removed.add(rel)
    written.rewrite(written.paths() - removed)
    left = sorted(set(left))
    if left:
        shown = ", ".join(left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
        log.warning("%sleft %s in %s alone: not written by gda (a link, or someone else's file)",
                    f"{what}: " if what else "", shown, root)
    return left


def foreign(written: Written, name: str) -> list[str]:
    """Entries under the listed folder ``name`` that gda did not write (relative to the root)."""
    folder = written.root / name
    if not folder.is_dir() or folder.is_symlink():
        return []
    return [f"{name}/{sub}" for sub in _walk(folder) if not written.owns(f"{name}/{sub}")]


def settle_aside(written: Written, aside: Path, original: str) -> None:
    """A folder ``original`` renamed aside (``aside``) and replaced: delete what gda wrote in it, put
    back into ``original`` what it did not (a user's file stays where it was), remove it once empty."""
    for sub in sorted(_walk(aside), key=lambda s: s.count("/"), reverse=False):
        src = aside / sub.rstrip("/")
        if not os.path.lexists(src) or written.owns(f"{original}/{sub}"):
            continue
        dest = written.root / original / sub.rstrip("/")
        if os.path.lexists(dest):
            continue  # its folder was moved back already, or the new folder holds that name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
    for sub in sorted(_walk(aside), key=lambda s: s.count("/"), reverse=True):
        p = aside / sub.rstrip("/")
        if sub.endswith("/") and not os.path.islink(p):
            with contextlib.suppress(OSError):
                os.rmdir(p)
        elif written.owns(f"{original}/{sub}"):
            os.unlink(p)
    with contextlib.suppress(OSError):
        os.rmdir(aside)
    if aside.exists():  # something could not be put back (its name is taken): keep it, say where
        log.warning("kept %s: files gda did not write in the old %s", aside, original)


def temporary_target(name: str) -> tuple[str, bool] | None:
    """``(target name, renamed aside)`` of a gda temporary's file name, or None for another name."""
    m = _TEMPORARY.match(name)
    if m is None:
        return None
    return m.group("target"), m.group("tag").startswith("old-")


def stale_temporaries(written: Written) -> list[tuple[Path, str, bool]]:
    """gda's half-written files and folders under the root: ``(path, target rel, aside)``, deepest
    first. A temporary is gda's when its target path is listed (or one of the top-level names)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(written.root, followlinks=False):
        base = Path(dirpath).relative_to(written.root)
        for name in [*dirnames, *filenames]:
            parsed = temporary_target(name)
            if parsed is None:
                continue
            target = (base / parsed[0]).as_posix()
            if written.owns(target):
                out.append((Path(dirpath) / name, target, parsed[1]))
        dirnames[:] = [d for d in dirnames if temporary_target(d) is None]  # a temporary's inside is its own
    return sorted(out, key=lambda t: len(t[0].parts), reverse=True)


def remove_stale_temporaries(written: Written) -> None:
    """Delete gda's half-written files and folders a killed command left; put back a folder renamed
    aside whose replacement never arrived, and settle one whose replacement did."""
    for path, target, aside in stale_temporaries(written):
        original = written.root / target
        if aside and path.is_dir() and not path.is_symlink():
            if not os.path.lexists(original):
                os.replace(path, original)
            else:
                settle_aside(written, path, target)
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


# --- folders written before the list existed ------------------------------------------------------


def adopt(written: Written, files: Iterable[str], folders: Iterable[str], patterns: dict[str, str]) -> list[str]:
    """List what an older gda wrote in the root (it kept no list): the top-level ``files``, the
    ``folders`` and everything in them, and under each key of ``patterns`` the entries whose name
    matches its regular expression (with their folders). Links are never adopted."""
    root = written.root
    rels: list[str] = []
    for name in files:
        if os.path.isfile(root / name) and not os.path.islink(root / name):
            rels.append(name)
    for name in folders:
        if os.path.isdir(root / name) and not os.path.islink(root / name):
            rels.append(f"{name}/")
            rels.extend(f"{name}/{sub}" for sub in _walk(root / name)
                        if not os.path.islink(root / name / sub.rstrip("/")))
    for name, pattern in patterns.items():
        top = root / name
        if not top.is_dir() or top.is_symlink():
            continue
        rels.append(f"{name}/")
        rx = re.compile(pattern)
        for sub in _walk(top):
            p = top / sub.rstrip("/")
            if os.path.islink(p):
                continue
            if sub.endswith("/") and sub.count("/") == 1:
                rels.append(f"{name}/{sub}")
            elif not sub.endswith("/") and rx.fullmatch(p.name) and sub.count("/") == 1:
                rels.append(f"{name}/{sub}")
    written.add(rels)
    return rels
