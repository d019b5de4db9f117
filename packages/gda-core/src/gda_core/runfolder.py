"""The run folder: atomic writes, a lock, per-step config hashes, generation shards, the manifest.

Layout::

    RUN/
      gda_run.json          marker: per-step config hashes, gda version, finished steps
      .gda.lock             held (flock) by the gda process working in RUN
      .gda_written          every path gda wrote in RUN (gda_core.written): all it ever deletes
      config.yaml           the fully resolved config (every default visible)
      model/                the fitted generator (save_pretrained)
      shards/<set>/shard-00000.npz   generated records, one file per finished shard
      selection.json        every selector's scores and decisions
      validation.json       every validator's numbers
      samples/              kept synthetic samples in the modality's native format
      manifest.jsonl        one row per synthetic record, with its provenance
      report.md, report.html, figures/

Every file is written to a temporary name in the same folder and renamed into
place, so a killed run leaves finished files whole and unfinished ones absent.
A folder is replaced by renaming the old one aside, the new one in, then removing
from the old one what gda wrote (and putting back what it did not); a kill between
the two renames is undone on the next start.

gda deletes and replaces only what ``.gda_written`` lists, never through a symbolic
link, and never overwrites a file it did not write (:mod:`gda_core.written`). The
lock is taken before a command changes anything in the folder, for new folders too;
the marker is written first (atomically) and replaced, never deleted, so a kill at
any point leaves a folder the next command can resume or replace.

The marker keeps, for each step (``fit``, ``generate``, ``select``, ``validate``),
the part of the config that step depends on and a hash chained over the earlier
steps. A changed config reruns the first changed step and every later one; a
command refuses a change to work done before the step it runs.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import written as _written
from .errors import RunFolderError
from .records import Provenance, Record, json_safe
from .written import Written

MARKER = "gda_run.json"
LOCK = ".gda.lock"
LAYOUT = 2
"""The marker's ``layout``: 2 for folders with a list of written files (``.gda_written``); a marker
without it was written by an older gda, whose files are adopted (:func:`adopt_old_folder`)."""
OLD_FILES = ("config.yaml", "manifest.jsonl", "selection.json", "validation.json", "report.md", "report.html",
             "pool_strategy.json")
OLD_FOLDERS = ("model", "samples", "figures", "lora", "model.partial", "requests")
SHARD_NAME = r"shard-\d{5}\.npz"
STEP_ORDER = ("fit", "generate", "select", "validate")
STEP_OUTPUTS = {
    "fit": ("model", "model.partial"),
    "generate": ("shards",),
    "select": ("manifest.jsonl", "selection.json", "samples"),
    "validate": ("validation.json", "report.md", "report.html", "figures"),
}
"""What each step writes; a config change to a step removes its outputs and the later steps'."""
_WHAT = {"fit": "the fitted model", "generate": "the generated shards", "select": "the selection",
         "validate": "the validation"}

log = logging.getLogger("gda")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions of a new file under the user's umask (``mkstemp`` alone gives 0600)."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """Permissions of a new folder under the user's umask (``mkdtemp`` alone gives 0700)."""
    return 0o777 & ~_umask()


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Any]:
    """A binary file that appears at ``path`` whole, and only if the block succeeds.

    Inside a locked folder, ``path`` is listed as gda's first; a path through a symbolic link or a file
    gda did not write is refused (:func:`gda_core.written.before_write`)."""
    _written.before_write(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, file_mode())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path) as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(json_safe(obj), indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``path`` only if the block succeeds."""
    _written.before_write(path, folder=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, dir_mode())
    try:
        yield tmp
        _written.before_folder(path, tmp)
        replace_dir(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(new: Path, path: Path) -> None:
    """Put folder ``new`` at ``path``: the old one is renamed aside, ``new`` renamed in, then what gda
    wrote in the old one removed (what it did not is put back), so ``path`` is never half-written (a
    kill between the renames is undone by :func:`remove_stale_temporaries`)."""
    if not os.path.lexists(path):
        os.replace(new, path)
        return
    aside = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}.tmp"
    os.replace(path, aside)
    os.replace(new, path)
    found = _written.owner(path)
    if found is None:  # not in a locked folder: the old folder is gda's own temporary work
        shutil.rmtree(aside, ignore_errors=True)
    else:
        _written.settle_aside(found[0], aside, found[1])


def config_hash(resolved: dict[str, Any]) -> str:
    """A stable hash of what determines a run's results (not where it is written)."""
    relevant = {k: v for k, v in resolved.items() if k not in ("output",)}
    blob = json.dumps(json_safe(relevant), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def step_hashes(views: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each step's hash, chained: a step's hash covers its own config part and every earlier step's."""
    out: dict[str, str] = {}
    chain: list[Any] = []
    for step in STEP_ORDER:
        chain.append(json_safe(views.get(step, {})))
        out[step] = hashlib.sha256(json.dumps(chain, sort_keys=True).encode()).hexdigest()[:16]
    return out


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(d, list) and d and all(isinstance(v, dict) for v in d):
        out = {}
        for i, v in enumerate(d):
            out.update(_flat(v, f"{prefix}.{i}"))
        return out or {prefix: d}
    return {prefix: d}


def describe_change(old: dict[str, Any], new: dict[str, Any], limit: int = 3) -> str:
    """``a.b: 1 -> 2, c: x -> y`` for the fields that differ between two config parts."""
    a, b = _flat(old), _flat(new)
    keys = [k for k in dict.fromkeys([*a, *b]) if a.get(k, "<unset>") != b.get(k, "<unset>")]
    parts = [f"{k}: {a.get(k, '<unset>')!r} -> {b.get(k, '<unset>')!r}" for k in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"and {len(keys) - limit} more")
    return ", ".join(parts) or "the config"


# --- the lock ----------------------------------------------------------------


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s run lock; a second process gets a :class:`RunFolderError` at once.

    The lock is an OS file lock (``flock``) on ``RUN/.gda.lock``, released by the kernel when its
    holder dies, so a lock left by a killed process is simply taken over. The file records the
    holder (pid, host, start time) for the refusal message. While it is held, the folder's list of
    written files is active (:mod:`gda_core.written`). Taking it again in the same process (nested)
    is a no-op.
    """
    if _written.is_active(folder):
        yield
        return
    if os.path.lexists(folder) and not folder.is_dir():
        raise RunFolderError(f"output {folder} exists and is not a folder; choose another --output")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"cannot create the folder {folder}: {exc.strerror}") from exc
    path = folder / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
    except OSError as exc:
        raise RunFolderError(f"cannot create the lock {path}: {exc.strerror}") from exc
    try:
        if not _try_lock(fd):
            try:
                holder = json.loads(path.read_text() or "{}")
                who = (f"pid {holder.get('pid')} on {holder.get('host')}, "
                       f"started {holder.get('started')}")
            except (OSError, ValueError, AttributeError):
                who = "holder unknown"
            raise RunFolderError(f"{folder} is in use by another gda process ({who}); "
                                 "wait for it to finish, or stop it and start again")
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        with _written.active(folder):
            yield
    finally:
        os.close(fd)  # closing releases the lock


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


# --- claiming a folder -----------------------------------------------------------


def _is_marker_temporary(name: str) -> bool:
    parsed = _written.temporary_target(name)
    return parsed is not None and parsed[0] == MARKER


def _entries(folder: Path) -> list[Path]:
    """What a folder holds besides gda's lock and a first marker that was never finished."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.name != LOCK and not _is_marker_temporary(p.name)]


def written_list(folder: Path) -> Written:
    """The folder's list of written files: the active one while it is locked."""
    found = _written.owner(folder / MARKER)
    return found[0] if found is not None else Written(folder)


def check_target(folder: Path, *, overwrite: bool = False) -> None:
    """Refuse an output folder before anything is written: not a folder, not ours, not writable.

    A folder is ours when it is new, empty, or holds a marker that parses as gda's; ``--overwrite``
    never changes that (an empty, garbage or foreign ``gda_run.json`` is refused too), and never
    replaces the current folder, the home folder or ``/`` (or a folder holding one of them).
    """
    if os.path.lexists(folder) and not folder.is_dir():
        raise RunFolderError(f"output {folder} exists and is not a folder; choose another --output")
    entries = _entries(folder)
    if overwrite and entries:
        real = folder.resolve()
        protected = {Path.cwd().resolve(), Path.home().resolve(), Path(real.anchor)}
        if real in protected or any(real in p.parents for p in protected):
            raise RunFolderError(f"--overwrite refuses to replace {folder} ({real}): it is or holds the "
                                 "current, home or root folder; choose a dedicated run folder")
    if entries and not (folder / MARKER).is_file():
        raise RunFolderError(
            f"output folder {folder} is not empty and holds no gda run (no {MARKER}); "
            "choose a new or empty folder" + (" (--overwrite replaces only a gda run folder)" if overwrite else ""))
    if (folder / MARKER).is_file():
        read_marker(folder)  # a marker that is not gda's: the folder is not a run, whatever the flags
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunFolderError(f"cannot write to {probe} (permission denied); choose another --output")


def check_links(folder: Path) -> None:
    """Refuse a run folder where one of gda's subfolders is a symbolic link (gda would write and
    delete through it, outside the folder)."""
    names = [*OLD_FOLDERS, "shards"]
    shards = folder / "shards"
    if shards.is_dir() and not shards.is_symlink():
        names += [f"shards/{p.name}" for p in shards.iterdir()
                  if p.is_symlink() and (p.name == "synthetic" or p.name.startswith("baseline-"))]
    for name in names:
        if (folder / name).is_symlink():
            raise RunFolderError(f"{folder / name} is a symbolic link; gda writes and deletes only inside its run "
                                 "folder, never through a link: replace the link by a folder (or move it out)")


def _new_marker(views: dict[str, dict[str, Any]], full_hash: str) -> dict[str, Any]:
    from . import __version__

    return {"config_hash": full_hash, "gda_version": __version__, "layout": LAYOUT, "steps": {},
            "hashes": step_hashes(views), "config": json_safe(views)}


def first_changed(marker: dict[str, Any], views: dict[str, dict[str, Any]]) -> str | None:
    """The first step whose config differs from the one the folder's work was made with."""
    new = step_hashes(views)
    old = marker.get("hashes", {})
    return next((s for s in STEP_ORDER if old.get(s) != new[s]), None)


DATA_KEYS = {"fit": "data", "validate": "test_data"}
"""Where the pipeline puts the loaded data's fingerprints in the step views (train and pool for
``fit``, the test split for ``validate``)."""


def _without_data(views: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {step: {k: v for k, v in view.items() if k != DATA_KEYS.get(step)} for step, view in views.items()}


def _upgrade(folder: Path, marker: dict[str, Any], views: dict[str, dict[str, Any]], full_hash: str,
             remedy: str) -> dict[str, Any]:
    """A marker of an older gda: without per-step hashes (adopted when the whole config is the same),
    without data fingerprints (adopted when the hashes match without them), without a list of written
    files (the files an older gda writes are adopted as gda's)."""
    changed = False
    if "hashes" not in marker:
        if marker.get("config_hash") != full_hash:
            raise RunFolderError(
                f"{folder} was written by an older gda (its {MARKER} has no per-step hashes) and its config "
                f"differs from this one, so which results still hold cannot be told; {remedy}")
        marker.update(hashes=step_hashes(views), config=json_safe(views))
        changed = True
    old_config = marker.get("config", {})
    if (isinstance(old_config, dict) and isinstance(old_config.get("fit"), dict)
            and DATA_KEYS["fit"] not in old_config["fit"] and DATA_KEYS["fit"] in views.get("fit", {})):
        bare = _without_data(views)
        if step_hashes(bare) == marker["hashes"]:  # made before data fingerprints, from this config
            marker.update(hashes=step_hashes(views), config=json_safe(views))
            log.info("%s: recorded the data's fingerprint (the folder predates them)", folder)
            changed = True
    if marker.get("layout") != LAYOUT:
        adopt_old_folder(folder)
        marker["layout"] = LAYOUT
        changed = True
    if changed:
        write_json(folder / MARKER, marker)
    return marker


def adopt_old_folder(folder: Path) -> None:
    """List as gda's what an older gda (which kept no list of written files) writes in a run folder:
    its files, ``model/``, ``samples/``, ``figures/`` and the shard files; links are not adopted."""
    rels = _written.adopt(written_list(folder), OLD_FILES, OLD_FOLDERS, {"shards": SHARD_NAME})
    log.info("%s: written by an older gda; adopted %d of its paths as gda's", folder, len(rels))


def prepare(folder: Path, views: dict[str, dict[str, Any]], full_hash: str, *,
            overwrite: bool = False) -> dict[str, Any]:
    """Claim ``folder`` (held under :func:`locked`) for a run; return its marker.

    A folder that holds this run is resumed. One whose config changed only for later steps
    (generate, select, validate) keeps the earlier work and reruns from the first changed step.
    One holding a run with another fitted model is refused unless ``overwrite``, which replaces it
    and says so; one holding an unfinished run (no step done) of another config is replaced. A
    marker that is not gda's is always refused.
    """
    check_target(folder, overwrite=overwrite)  # again, under the lock: another process may have started
    check_links(folder)
    marker_file = folder / MARKER
    if not marker_file.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        for p in folder.iterdir():  # a first marker that was never finished
            if _is_marker_temporary(p.name):
                p.unlink()
        marker = _new_marker(views, full_hash)
        write_json(marker_file, marker)  # first, atomically: from here on the folder is a gda run
        return marker
    marker = _upgrade(folder, read_marker(folder), views, full_hash,
                      "pass --overwrite to start it again, or choose another folder")
    changed = first_changed(marker, views)
    if changed is None:
        remove_stale_temporaries(folder)
        return marker
    if changed != "fit":
        discard(folder, marker, changed, views, full_hash)
        return read_marker(folder)
    work = marker.get("steps", {})
    if work and not overwrite:
        raise RunFolderError(
            f"output folder {folder} holds another run (different {_difference(marker, views)}); "
            "choose another folder or pass --overwrite to replace it")
    if work:
        log.warning("--overwrite: replacing the gda run in %s (steps done: %s)", folder, ", ".join(work))
    else:
        log.warning("replacing the unfinished gda run in %s (no step was done)", folder)
    clear(folder, marker)
    marker = _new_marker(views, full_hash)
    write_json(marker_file, marker)
    return marker


def _difference(marker: dict[str, Any], views: dict[str, dict[str, Any]]) -> str:
    """``config: a: 1 -> 2`` or ``data (the loaded records changed)``, for the fit step's change."""
    old = marker.get("config", {}).get("fit", {})
    new = views.get("fit", {})
    key = DATA_KEYS["fit"]
    bare_old, bare_new = ({k: v for k, v in d.items() if k != key} for d in (old, new))
    if bare_old == bare_new and old.get(key) != new.get(key):
        return f"data: the loaded training records changed (fingerprint {old.get(key)} -> {new.get(key)})"
    return f"config: {describe_change(bare_old, bare_new)}"


def check_step(folder: Path, step: str, views: dict[str, dict[str, Any]], full_hash: str) -> list[str]:
    """Before ``gda <step>`` on ``folder``: refuse a config change to earlier work; discard the outputs
    of a changed later step. Returns the steps after ``step`` that were done and must run again."""
    rel = f"{folder / 'config.yaml'}"
    check_links(folder)
    marker = _upgrade(folder, read_marker(folder), views, full_hash,
                      f"start a new run: gda run {rel} -o NEW_FOLDER")
    changed = first_changed(marker, views)
    if changed is None:
        remove_stale_temporaries(folder)
        return []
    if changed == "fit":
        what = _difference(marker, views).removeprefix("config: ")
    else:
        what = describe_change(marker.get("config", {}).get(changed, {}), views.get(changed, {}))
    if STEP_ORDER.index(changed) < STEP_ORDER.index(step):
        if changed == "fit":
            how = f"start a new run for it: gda run {rel} -o NEW_FOLDER"
        else:
            how = f"run `gda {changed} {folder}` to redo it and the later steps"
        raise RunFolderError(f"the config of {folder} changed ({what}), which {_WHAT[changed]} depends on; "
                             f"`gda {step}` does not redo earlier work: undo the change, or {how}")
    done = [s for s in STEP_ORDER[STEP_ORDER.index(step) + 1:] if s in marker.get("steps", {})]
    discard(folder, marker, changed, views, full_hash)
    return done


def discard(folder: Path, marker: dict[str, Any], changed: str, views: dict[str, dict[str, Any]],
            full_hash: str) -> None:
    """Remove the outputs of step ``changed`` and every later one, then record the new config.

    The steps are marked not done first, the outputs (what gda wrote of them) removed next, the new
    config recorded last: a kill at any point leaves a folder that says what is still to do."""
    later = STEP_ORDER[STEP_ORDER.index(changed):]
    what = describe_change(marker.get("config", {}).get(changed, {}), views.get(changed, {}))
    done = [s for s in later if s in marker.get("steps", {})]
    if done:
        log.warning("config changed (%s): redoing %s", what, ", ".join(_WHAT[s] for s in done))
    steps = {k: v for k, v in marker.get("steps", {}).items() if k not in later}
    if done:
        write_json(folder / MARKER, {**marker, "steps": steps})
    remove_stale_temporaries(folder)
    _written.remove(written_list(folder), [name for step in later for name in STEP_OUTPUTS[step]],
                    what=f"redoing {changed}")
    write_json(folder / MARKER, {**marker, "steps": steps, "config_hash": full_hash,
                                 "hashes": step_hashes(views), "config": json_safe(views)})


def clear(folder: Path, marker: dict[str, Any] | None = None) -> None:
    """Remove everything gda wrote in a run folder (held under the lock) but its marker, lock and list.

    The marker is first rewritten with no step done (so a kill part-way leaves an unfinished run,
    which the next ``gda run`` replaces), then every listed path is removed; the caller writes the new
    marker last. What gda did not write stays, and is named in one warning."""
    if marker is None:
        marker = read_marker(folder)
    if marker.get("steps"):
        write_json(folder / MARKER, {**marker, "steps": {}})
    written = written_list(folder)
    remove_stale_temporaries(folder)
    names = {rel.split("/", 1)[0] for rel in written.paths()} - _written.TOP_LEVEL
    _written.remove(written, sorted(names), what="--overwrite")


def remove_stale_temporaries(folder: Path) -> None:
    """Delete half-written files and folders a killed run left behind (``.name.xxxx.tmp``) when their
    ``name`` is a path gda wrote; put back a folder renamed aside whose replacement never arrived.

    Call it only under :func:`locked`: another live process's temporaries are then impossible.
    """
    _written.remove_stale_temporaries(written_list(folder))


def read_json(path: Path, remedy: str) -> Any:
    """JSON from ``path``; a missing or damaged file is one :class:`RunFolderError` naming it and ``remedy``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunFolderError(f"{path} is missing; {remedy}") from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise RunFolderError(f"{path} is damaged ({type(exc).__name__}: {str(exc)[:200]}); {remedy}") from exc


def _is_gda_marker(marker: Any) -> bool:
    """A marker gda wrote: a mapping with its version, config hash and finished steps (and, when
    present, per-step hashes and configs of the right shape)."""
    return (isinstance(marker, dict) and isinstance(marker.get("gda_version"), str)
            and isinstance(marker.get("config_hash"), str) and isinstance(marker.get("steps"), dict)
            and isinstance(marker.get("hashes", {}), dict) and isinstance(marker.get("config", {}), dict)
            and all(isinstance(v, dict) for v in marker.get("config", {}).values()))


def read_marker(folder: Path) -> dict[str, Any]:
    """The folder's marker; a folder without one, or with one that is not gda's (empty, garbage,
    another program's JSON), is one :class:`RunFolderError`: gda changes nothing in it."""
    marker_file = folder / MARKER
    if not folder.is_dir():
        raise RunFolderError(f"run folder {folder} does not exist")
    if not marker_file.is_file():
        raise RunFolderError(f"{folder} is not a gda run folder (no {MARKER})")
    try:
        marker = json.loads(marker_file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        marker, why = None, f"{type(exc).__name__}: {str(exc)[:120]}"
    else:
        why = "not the marker gda writes"
    if not _is_gda_marker(marker):
        raise RunFolderError(f"{marker_file} is not a gda marker ({why}), so {folder} is not treated as a gda "
                             "run, not even with --overwrite: gda changes nothing in it; choose another folder "
                             "(or, if it is a run of yours, remove the folder yourself)")
    return marker


def mark_step(folder: Path, step: str, info: Any = True) -> None:
    marker = read_marker(folder)
    marker.setdefault("steps", {})[step] = info
    write_json(folder / MARKER, marker)


def begin_step(folder: Path, step: str) -> None:
    """Mark ``step`` and every later step not done, before ``step`` rewrites its outputs (a kill
    part-way then leaves a folder that says so, never a stale later result next to new ones)."""
    marker = read_marker(folder)
    later = STEP_ORDER[STEP_ORDER.index(step):]
    steps = marker.get("steps", {})
    if any(s in steps for s in later):
        marker["steps"] = {k: v for k, v in steps.items() if k not in later}
        write_json(folder / MARKER, marker)


# --- shards ------------------------------------------------------------------


def shard_path(folder: Path, set_name: str, index: int) -> Path:
    return folder / "shards" / set_name / f"shard-{index:05d}.npz"


def save_shard(path: Path, records: list[Record]) -> None:
    """Write records losslessly (arrays as arrays, the rest as JSON), atomically."""
    arrays: dict[str, np.ndarray] = {}
    rows = []
    for i, r in enumerate(records):
        row: dict[str, Any] = {"id": r.id, "label": r.label, "meta": r.meta,
                               "provenance": r.provenance.to_dict()}
        if isinstance(r.data, str):
            row["text"] = r.data
        else:
            arrays[f"data_{i}"] = np.asarray(r.data)
        if r.target is not None:
            arrays[f"target_{i}"] = np.asarray(r.target)
        rows.append(row)
    arrays["__records__"] = np.array(json.dumps(json_safe(rows)))
    with atomic_file(path) as f:
        np.savez(f, **arrays)


def load_shard(path: Path) -> list[Record]:
    """The records of one shard; a damaged file is a :class:`RunFolderError` naming it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            rows = json.loads(str(z["__records__"]))
            out = []
            for i, row in enumerate(rows):
                data = row["text"] if "text" in row else z[f"data_{i}"]
                target = z[f"target_{i}"] if f"target_{i}" in z.files else None
                out.append(Record(id=row["id"], data=data, label=row["label"], target=target,
                                  meta=row.get("meta") or {},
                                  provenance=Provenance.from_dict(row["provenance"])))
    except Exception as exc:  # zip, npy, JSON and key errors of a truncated or foreign file
        raise RunFolderError(f"shard {path} is damaged ({type(exc).__name__}: {exc})") from exc
    return out


def stray_shard_files(folder: Path, set_name: str, n_shards: int) -> list[Path]:
    """Files gda wrote in a set's shard folder that are not among its planned ``n_shards`` shards
    (a file gda did not write there is left alone and not listed)."""
    d = folder / "shards" / set_name
    if not d.is_dir() or d.is_symlink():
        return []
    written = written_list(folder)
    planned = {shard_path(folder, set_name, i).name for i in range(n_shards)}
    return sorted(p for p in d.iterdir() if p.name not in planned and _written.temporary_target(p.name) is None
                  and written.owns(f"shards/{set_name}/{p.name}"))


def is_written(folder: Path, path: Path) -> bool:
    """True when gda wrote ``path`` (inside ``folder``), by the folder's list of written files (gda
    never makes a link: a link is someone else's, whatever its name)."""
    rel = Path(os.path.relpath(path, folder)).as_posix()
    return _written.link_on_the_way(folder, rel) is None and written_list(folder).owns(rel)


def will_write(folder: Path, paths: list[Path]) -> None:
    """List ``paths`` (inside the locked ``folder``) as gda's before another process writes them (a
    Ray worker writing shards); refuses one that exists and is not gda's."""
    for p in paths:
        _written.before_write(p)


def remove_written(folder: Path, paths: list[Path], what: str = "") -> list[str]:
    """Delete ``paths`` (inside ``folder``) that gda wrote; returns those left alone (not gda's)."""
    rels = [Path(os.path.relpath(p, folder)).as_posix() for p in paths]
    return _written.remove(written_list(folder), rels, what=what)
