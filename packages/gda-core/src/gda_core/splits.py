"""Splitting real data: held-out test split, k-shot subsets, the unlabelled pool, array files.

The framework half of the data layer that plugins' loaders import: a loader draws its test
split first (:func:`split_train_test`), then the labelled few (:func:`k_shot`), and may offer
the rest of the training records as an unlabelled pool (:func:`k_shot_with_pool`). A pool never
holds a test record.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .records import Dataset, Record, label_key

HIDDEN_LABEL = "hidden_label"
"""``Record.meta`` key of a pool record's true label: kept for reports (pseudo-label accuracy),
never to be read by a generator, strategy or selector."""


def split_train_test(ds: Dataset, test_size: float, seed: int) -> tuple[Dataset, Dataset]:
    """A stratified split when every class has at least two records and the test split can hold one
    of each, else a plain one that keeps every class in training (a generator cannot learn a class
    it never sees): one record of each class trains, the test records are drawn from the others."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(ds))
    labels = np.asarray([label_key(v) for v in ds.labels()])
    keys, counts = np.unique(labels, return_counts=True) if len(labels) else ([], [])
    n_test = max(1, int(round(test_size * len(ds))))
    stratify = labels if len(counts) and min(counts) >= 2 and n_test >= len(counts) else None
    if len(ds) < 2:
        raise DataError(f"the data set has {len(ds)} record(s): too few to hold out a test split")
    if stratify is None and len(counts):
        rng = np.random.default_rng(seed)
        keep = {int(rng.choice(np.flatnonzero(labels == k))) for k in keys}  # one training record per class
        rest = np.asarray([i for i in idx if i not in keep])
        if not len(rest):
            raise DataError(f"the data set has {len(ds)} record(s), one per class: none is left to hold out "
                            "as a test split without taking a class out of training (give a test file, "
                            "or more records)")
        te = rng.choice(rest, size=min(n_test, len(rest)), replace=False)
        tr = np.setdiff1d(idx, te)
    else:
        tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=stratify)
    return ds.subset(sorted(tr)), ds.subset(sorted(te))


def k_shot(ds: Dataset, k: int | None, seed: int) -> Dataset:
    """``k`` records of each class, drawn with ``seed`` (all of them when ``k`` is None)."""
    if k is None:
        return ds
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    labels = ds.labels()
    for c in ds.classes:
        idx = np.flatnonzero(labels == c)
        if len(idx) < k:
            raise DataError(f"class {c!r} has {len(idx)} records, fewer than k_shot={k}")
        keep.extend(rng.choice(idx, size=k, replace=False).tolist())
    return ds.subset(sorted(keep))

def k_shot_with_pool(ds: Dataset, k: int | None, seed: int) -> tuple[Dataset, Dataset]:
    """``(labelled, pool)``: :func:`k_shot`'s ``k`` records per class, and every other record of
    ``ds`` as an unlabelled pool (label ``None``; the true label kept in ``meta[HIDDEN_LABEL]``).

    ``ds`` must be the training part only: the pool is drawn from it, so it never holds a test record.
    """
    labelled = k_shot(ds, k, seed)
    taken = {r.id for r in labelled.records}
    pool = [
        Record(id=r.id, data=r.data, label=None, target=r.target, meta={**r.meta, HIDDEN_LABEL: r.label})
        for r in ds.records if r.id not in taken
    ]
    return labelled, Dataset(pool, modality=ds.modality, classes=ds.classes, meta=ds.meta)


def hidden_labels(pool: Dataset | None) -> dict[str, Any]:
    """The hidden labels a loader kept on ``pool``'s records, by record id (for reports only)."""
    if pool is None:
        return {}
    return {r.id: r.meta[HIDDEN_LABEL] for r in pool.records if HIDDEN_LABEL in r.meta}


def without_hidden_labels(pool: Dataset | None) -> Dataset | None:
    """``pool`` with no record carrying a hidden label (the same object when none does): what
    strategies, generators and selectors see."""
    if pool is None or not any(HIDDEN_LABEL in r.meta for r in pool.records):
        return pool
    return pool.with_records(
        Record(id=r.id, data=r.data, label=r.label, target=r.target,
               meta={k: v for k, v in r.meta.items() if k != HIDDEN_LABEL}, provenance=r.provenance)
        for r in pool.records)


def label_accuracy(records: Sequence[Record], hidden: dict[str, Any]) -> float | None:
    """The share of ``records`` (pseudo-labelled pool records) whose label is their hidden label in
    ``hidden`` (:func:`hidden_labels`); None when none of them has one."""
    scored = [repr(hidden[r.id]) == repr(r.label) for r in records if r.id in hidden]
    return float(np.mean(scored)) if scored else None


def class_folders(root: Path, unlabelled: str | None, field: str = "path") -> list[Path]:
    """The class subfolders of ``root`` (hidden ones and the ``unlabelled`` folder left out), sorted.

    A subfolder named like an unlabelled pool (``unlabelled/``, ``unlabeled_images/``, ...) while
    ``unlabelled`` is not set would silently become a class of its own: that is a
    :class:`DataError` saying how to offer it as the pool (or to rename it if it is a class).
    """
    skip = Path(unlabelled).expanduser().resolve() if unlabelled else None  # may sit inside root
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and d.resolve() != skip)
    if unlabelled is None:
        for d in dirs:
            if d.name.lower().replace("-", "_").startswith(("unlabelled", "unlabeled")):
                raise DataError(f"dataset.params.{field}: the subfolder {d} would become a class named "
                                f"{d.name!r}; to use its files as the unlabelled pool set "
                                f"dataset.params.unlabelled: {d} (or rename the folder if it really is a class)")
    return dirs


def as_pool(ds: Dataset) -> Dataset:
    """The records of ``ds`` as an unlabelled pool (labels moved to ``meta[HIDDEN_LABEL]``)."""
    return Dataset([Record(id=r.id, data=r.data, label=None, target=r.target,
                           meta={**r.meta, HIDDEN_LABEL: r.label}) for r in ds.records],
                   modality=ds.modality, classes=ds.classes, meta=ds.meta)


def read_arrays(path_str: str, labels_path: str | None = None) -> tuple[Any, Any, Any, Any]:
    """``X, y, X_test, y_test`` from an ``.npz`` (arrays ``X``, ``y`` and optionally ``X_test``,
    ``y_test``) or from a ``.npy`` of ``X`` plus a ``.npy`` of labels; test arrays may be None.

    Every problem is a :class:`DataError` naming the file.
    """
    path = Path(path_str).expanduser()
    if not path.is_file():
        raise DataError(f"dataset.params.path: {path} does not exist")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "X" not in z.files or "y" not in z.files:
                    raise DataError(f"{path} must hold arrays 'X' and 'y' (has {', '.join(z.files)})")
                X, y = z["X"], z["y"]
                Xt, yt = (z["X_test"], z["y_test"]) if "X_test" in z.files else (None, None)
        else:
            if labels_path is None:
                raise DataError("dataset.params.labels_path is required with a .npy file")
            X = np.load(path, allow_pickle=False)
            y = np.load(Path(labels_path).expanduser(), allow_pickle=False)
            Xt = yt = None
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DataError(f"{path} holds ragged (object) arrays; store equal-shape samples, padded") from exc
        raise DataError(f"cannot read {path}: {exc}") from exc
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:  # unreadable, empty or truncated files
        raise DataError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
    X, y = _samples(path, "X", X), _labels(path, "y", y)
    if Xt is not None:
        Xt, yt = _samples(path, "X_test", Xt), _labels(path, "y_test", yt) if yt is not None else None
    if len(X) != len(y):
        raise DataError(f"{path}: {len(X)} samples but {len(y)} labels")
    if Xt is not None and (yt is None or len(Xt) != len(yt)):
        raise DataError(f"{path}: {len(Xt)} test samples but {0 if yt is None else len(yt)} test labels")
    return X, y, Xt, yt


def _samples(path: Path, name: str, a: np.ndarray) -> np.ndarray:
    if a.ndim < 1:
        raise DataError(f"{path}: {name} is a single value, not an array of samples (shape (n, ...))")
    return a


def _labels(path: Path, name: str, a: np.ndarray) -> np.ndarray:
    """One label per sample: ``(n,)``, or ``(n, 1)`` taken as ``(n,)``; anything else is a DataError."""
    if a.ndim == 2 and a.shape[1] == 1:
        return a[:, 0]
    if a.ndim != 1:
        raise DataError(f"{path}: {name} has shape {a.shape}; it must hold one label per sample, shape (n,)")
    return a
