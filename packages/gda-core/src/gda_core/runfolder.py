"""The run folder: atomic writes, generation shards, the manifest.

Layout::

    RUN/
      gda_run.json          marker: config hash, gda version, finished steps
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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RunFolderError
from .records import Provenance, Record, json_safe

MARKER = "gda_run.json"


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Any]:
    """A binary file that appears at ``path`` whole, and only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def config_hash(resolved: dict[str, Any]) -> str:
    """A stable hash of what determines a run's results (not where it is written)."""
    relevant = {k: v for k, v in resolved.items() if k not in ("output",)}
    blob = json.dumps(json_safe(relevant), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def prepare(folder: Path, resolved: dict[str, Any], *, overwrite: bool = False) -> dict[str, Any]:
    """Claim ``folder`` for a run of ``resolved``; return its marker.

    A folder that holds the same run is resumed; one holding another run or other
    files is refused unless ``overwrite``.
    """
    digest = config_hash(resolved)
    marker_file = folder / MARKER
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"output {folder} exists and is not a folder")
    if folder.exists() and any(folder.iterdir()):
        if marker_file.is_file():
            marker = json.loads(marker_file.read_text())
            if marker.get("config_hash") == digest:
                remove_stale_temporaries(folder)
                return marker
            if not overwrite:
                raise RunFolderError(
                    f"output folder {folder} holds another run (different config); "
                    "choose another folder or pass --overwrite"
                )
        elif not overwrite:
            raise RunFolderError(
                f"output folder {folder} is not empty and holds no gda run; choose another folder"
            )
        shutil.rmtree(folder)
    from . import __version__

    folder.mkdir(parents=True, exist_ok=True)
    marker = {"config_hash": digest, "gda_version": __version__, "steps": {}}
    write_json(marker_file, marker)
    return marker


def remove_stale_temporaries(folder: Path) -> None:
    """Delete half-written files and folders a killed run left behind (``.name.xxxx.tmp``)."""
    for p in sorted(folder.rglob(".*.tmp"), key=lambda q: len(q.parts), reverse=True):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def read_marker(folder: Path) -> dict[str, Any]:
    marker_file = folder / MARKER
    if not marker_file.is_file():
        raise RunFolderError(f"{folder} is not a gda run folder (no {MARKER})")
    return json.loads(marker_file.read_text())


def mark_step(folder: Path, step: str, info: Any = True) -> None:
    marker = read_marker(folder)
    marker.setdefault("steps", {})[step] = info
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
    with np.load(path, allow_pickle=False) as z:
        rows = json.loads(str(z["__records__"]))
        out = []
        for i, row in enumerate(rows):
            data = row["text"] if "text" in row else z[f"data_{i}"]
            target = z[f"target_{i}"] if f"target_{i}" in z.files else None
            out.append(Record(id=row["id"], data=data, label=row["label"], target=target,
                              meta=row.get("meta") or {},
                              provenance=Provenance.from_dict(row["provenance"])))
    return out


def finished_shards(folder: Path, set_name: str) -> dict[int, Path]:
    d = folder / "shards" / set_name
    if not d.is_dir():
        return {}
    out = {}
    for p in d.glob("shard-*.npz"):
        with contextlib.suppress(ValueError):
            out[int(p.stem.split("-")[1])] = p
    return out
