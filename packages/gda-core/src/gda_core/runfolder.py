"""The run folder: atomic writes, a lock, per-step config hashes, generation shards, the manifest.

Layout::

    RUN/
      gda_run.json          marker: per-step config hashes, gda version, finished steps
      .gda.lock             held (flock) by the gda process working in RUN
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
the old one; a kill between the two renames is undone on the next start.

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

from .errors import RunFolderError
from .records import Provenance, Record, json_safe

MARKER = "gda_run.json"
LOCK = ".gda.lock"
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
    """A binary file that appears at ``path`` whole, and only if the block succeeds."""
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, dir_mode())
    try:
        yield tmp
        replace_dir(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(new: Path, path: Path) -> None:
    """Put folder ``new`` at ``path``: the old one is renamed aside, ``new`` renamed in, then the old
    one removed, so ``path`` is never half-written (a kill between the renames is undone by
    :func:`remove_stale_temporaries`)."""
    if not path.exists():
        os.replace(new, path)
        return
    aside = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}.tmp"
    os.replace(path, aside)
    os.replace(new, path)
    shutil.rmtree(aside, ignore_errors=True)


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
    holder (pid, host, start time) for the refusal message.
    """
    folder.mkdir(parents=True, exist_ok=True)
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


def _entries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name != LOCK] if folder.is_dir() else []


def check_target(folder: Path, *, overwrite: bool = False) -> None:
    """Refuse an output folder before anything is written: not a folder, not ours, not writable.

    ``--overwrite`` only ever replaces a folder holding a gda run (its marker), and never the
    current folder, the home folder or ``/`` (or a folder holding one of them).
    """
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"output {folder} exists and is not a folder; choose another --output")
    if overwrite and _entries(folder):
        real = folder.resolve()
        protected = {Path.cwd().resolve(), Path.home().resolve(), Path(real.anchor)}
        if real in protected or any(real in p.parents for p in protected):
            raise RunFolderError(f"--overwrite refuses to replace {folder} ({real}): it is or holds the "
                                 "current, home or root folder; choose a dedicated run folder")
    if _entries(folder) and not (folder / MARKER).is_file():
        raise RunFolderError(
            f"output folder {folder} is not empty and holds no gda run (no {MARKER}); "
            "choose a new or empty folder" + (" (--overwrite replaces only a gda run folder)" if overwrite else ""))
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunFolderError(f"cannot write to {probe} (permission denied); choose another --output")


def _new_marker(views: dict[str, dict[str, Any]], full_hash: str) -> dict[str, Any]:
    from . import __version__

    return {"config_hash": full_hash, "gda_version": __version__, "steps": {},
            "hashes": step_hashes(views), "config": json_safe(views)}


def first_changed(marker: dict[str, Any], views: dict[str, dict[str, Any]]) -> str | None:
    """The first step whose config differs from the one the folder's work was made with."""
    new = step_hashes(views)
    old = marker.get("hashes", {})
    return next((s for s in STEP_ORDER if old.get(s) != new[s]), None)


def _upgrade(folder: Path, marker: dict[str, Any], views: dict[str, dict[str, Any]], full_hash: str,
             remedy: str) -> dict[str, Any]:
    """A marker written before per-step hashes: adopt the hashes when the config is the same."""
    if "hashes" in marker:
        return marker
    if marker.get("config_hash") != full_hash:
        raise RunFolderError(
            f"{folder} was written by an older gda (its {MARKER} has no per-step hashes) and its config "
            f"differs from this one, so which results still hold cannot be told; {remedy}")
    marker.update(hashes=step_hashes(views), config=json_safe(views))
    write_json(folder / MARKER, marker)
    return marker


def prepare(folder: Path, views: dict[str, dict[str, Any]], full_hash: str, *,
            overwrite: bool = False) -> dict[str, Any]:
    """Claim ``folder`` (held under :func:`locked`) for a run; return its marker.

    A folder that holds this run is resumed. One whose config changed only for later steps
    (generate, select, validate) keeps the earlier work and reruns from the first changed step.
    One holding a run with another fitted model (or a damaged marker) is refused unless
    ``overwrite``, which replaces it and says so.
    """
    check_target(folder, overwrite=overwrite)
    marker_file = folder / MARKER
    if marker_file.is_file():
        marker: dict[str, Any] | None
        try:
            marker = read_marker(folder)
            marker = _upgrade(folder, marker, views, full_hash,
                              "pass --overwrite to start it again, or choose another folder")
        except RunFolderError:
            if not overwrite:
                raise
            marker = None
        changed = "fit" if marker is None else first_changed(marker, views)
        if changed is None:
            remove_stale_temporaries(folder)
            return marker  # type: ignore[return-value]
        work = {"?": True} if marker is None else marker.get("steps", {})
        if marker is not None and changed != "fit":
            discard(folder, marker, changed, views, full_hash)
            return read_marker(folder)
        if work:
            if not overwrite:
                old = marker.get("config", {}).get("fit", {}) if marker else {}
                raise RunFolderError(
                    f"output folder {folder} holds another run (different config: "
                    f"{describe_change(old, views['fit'])}); "
                    "choose another folder or pass --overwrite to replace it")
            log.warning("--overwrite: replacing the gda run in %s (%s)", folder,
                        "damaged marker" if marker is None else f"steps done: {', '.join(work)}")
        clear(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = _new_marker(views, full_hash)
    write_json(marker_file, marker)
    return marker


def check_step(folder: Path, step: str, views: dict[str, dict[str, Any]], full_hash: str) -> list[str]:
    """Before ``gda <step>`` on ``folder``: refuse a config change to earlier work; discard the outputs
    of a changed later step. Returns the steps after ``step`` that were done and must run again."""
    rel = f"{folder / 'config.yaml'}"
    marker = _upgrade(folder, read_marker(folder), views, full_hash,
                      f"start a new run: gda run {rel} -o NEW_FOLDER")
    changed = first_changed(marker, views)
    if changed is None:
        remove_stale_temporaries(folder)
        return []
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
    """Remove the outputs of step ``changed`` and every later one, then record the new config."""
    later = STEP_ORDER[STEP_ORDER.index(changed):]
    what = describe_change(marker.get("config", {}).get(changed, {}), views.get(changed, {}))
    done = [s for s in later if s in marker.get("steps", {})]
    if done:
        log.warning("config changed (%s): redoing %s", what, ", ".join(_WHAT[s] for s in done))
    remove_stale_temporaries(folder)
    for step in later:  # outputs first, marker last: a kill in between redoes the removal
        for name in STEP_OUTPUTS[step]:
            p = folder / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    steps = {k: v for k, v in marker.get("steps", {}).items() if k not in later}
    write_json(folder / MARKER, {**marker, "steps": steps, "config_hash": full_hash,
                                 "hashes": step_hashes(views), "config": json_safe(views)})


def clear(folder: Path) -> None:
    """Empty a gda run folder (held under the lock), keeping the lock file."""
    for p in _entries(folder):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def remove_stale_temporaries(folder: Path) -> None:
    """Delete half-written files and folders a killed run left behind (``.name.xxxx.tmp``).

    Call it only under :func:`locked`: another live process's temporaries are then impossible.
    A folder renamed aside by :func:`replace_dir` whose replacement never arrived is put back.
    """
    for p in sorted(folder.rglob(".*.tmp"), key=lambda q: len(q.parts), reverse=True):
        name = p.name[1:]
        if ".old-" in name and p.is_dir():
            original = p.parent / name[:name.rindex(".old-")]
            if not original.exists():
                os.replace(p, original)
                continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def read_json(path: Path, remedy: str) -> Any:
    """JSON from ``path``; a missing or damaged file is one :class:`RunFolderError` naming it and ``remedy``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunFolderError(f"{path} is missing; {remedy}") from exc
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path} is damaged ({type(exc).__name__}: {exc}); {remedy}") from exc


def read_marker(folder: Path) -> dict[str, Any]:
    marker_file = folder / MARKER
    if not folder.is_dir():
        raise RunFolderError(f"run folder {folder} does not exist")
    if not marker_file.is_file():
        raise RunFolderError(f"{folder} is not a gda run folder (no {MARKER})")
    marker = read_json(marker_file, f"start the run again: gda run {folder / 'config.yaml'} -o {folder} --overwrite")
    if not isinstance(marker, dict) or not isinstance(marker.get("steps", {}), dict):
        raise RunFolderError(f"{marker_file} is damaged (not a gda marker); start the run again: "
                             f"gda run {folder / 'config.yaml'} -o {folder} --overwrite")
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
    """Files in a set's shard folder that are not among its planned ``n_shards`` shards."""
    d = folder / "shards" / set_name
    if not d.is_dir():
        return []
    planned = {shard_path(folder, set_name, i).name for i in range(n_shards)}
    return sorted(p for p in d.iterdir() if p.name not in planned and not p.name.endswith(".tmp"))
