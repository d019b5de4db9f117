"""The data model: records of real and synthetic samples, and data sets of them.

A :class:`Record` holds one sample (a numpy array of any rank, or a string), its
label, an optional paired target (a segmentation mask, say), free metadata (an
affine, a sampling rate) and its :class:`Provenance`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .errors import DataError, GDAError

REAL = "real"
SYNTHETIC = "synthetic"


@dataclasses.dataclass
class Provenance:
    """Where a record comes from and what happened to it.

    ``scores`` and ``kept`` map a selector's name to the score it gave the record
    and whether the record survived it; a selector that never saw the record
    (because an earlier one dropped it) has no entry.
    """

    source: str = REAL
    generator: str | None = None
    generator_version: str | None = None
    strategy: str | None = None
    strategy_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int | None = None
    condition: dict[str, Any] = dataclasses.field(default_factory=dict)
    scores: dict[str, float] = dataclasses.field(default_factory=dict)
    kept: dict[str, bool] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Provenance:
        return cls(**d)

    @property
    def is_kept(self) -> bool:
        """True when every selector that saw the record kept it."""
        return all(self.kept.values())


@dataclasses.dataclass
class Record:
    """One sample: ``data`` (array or text), ``label``, optional ``target`` and ``meta``."""

    id: str
    data: Any
    label: Any = None
    target: Any = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    provenance: Provenance = dataclasses.field(default_factory=Provenance)


class Dataset(Sequence[Record]):
    """An ordered collection of records of one modality.

    ``modality`` is a free string used to pick sensible defaults (``"vector"``,
    ``"image"``, ``"volume"``, ``"text"``, ``"signal"``); ``classes`` lists the
    label values in a stable order.
    """

    def __init__(
        self,
        records: Iterable[Record],
        modality: str = "vector",
        classes: Sequence[Any] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.records = list(records)
        self.modality = modality
        if classes is None:
            labels = {r.label for r in self.records if r.label is not None}
            classes = sorted(labels, key=lambda v: (str(type(v)), v))
        self.classes = list(classes)
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return self.subset(range(len(self))[i])
        return self.records[i]

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __repr__(self) -> str:
        return f"Dataset(n={len(self)}, modality={self.modality!r}, classes={self.classes!r})"

    def subset(self, indices: Iterable[int]) -> Dataset:
        return self.with_records([self.records[int(i)] for i in indices])

    def with_records(self, records: Iterable[Record]) -> Dataset:
        """A data set of other records with this one's modality, classes and meta."""
        return Dataset(records, modality=self.modality, classes=self.classes, meta=self.meta)

    def arrays(self) -> np.ndarray:
        """All samples stacked into one float array ``(n, *shape)``."""
        if not self.records:
            return np.zeros((0,), dtype=np.float32)
        return np.stack([np.asarray(r.data) for r in self.records])

    def features(self) -> np.ndarray:
        """All samples flattened to ``(n, d)`` vectors."""
        a = self.arrays()
        return a.reshape(len(self.records), -1)

    def texts(self) -> list[str]:
        return [str(r.data) for r in self.records]

    def labels(self) -> np.ndarray:
        return np.asarray([r.label for r in self.records])

    def by_class(self) -> dict[Any, list[Record]]:
        out: dict[Any, list[Record]] = {c: [] for c in self.classes}
        for r in self.records:
            out.setdefault(r.label, []).append(r)
        return out


def validate_dataset(ds: Dataset, *, name: str = "data set", need_labels: bool = True) -> None:
    """Raise :class:`DataError` for an empty set, missing labels or non-finite values."""
    if len(ds) == 0:
        raise DataError(f"{name} is empty")
    for r in ds.records:
        if need_labels and r.label is None:
            raise DataError(f"{name}: record {r.id!r} has no label")
        if isinstance(r.data, str):
            if not r.data.strip():
                raise DataError(f"{name}: record {r.id!r} has an empty text")
            continue
        a = np.asarray(r.data)
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            raise DataError(f"{name}: record {r.id!r} holds NaN or infinite values")
        if a.dtype.kind not in "biufc":
            raise DataError(f"{name}: record {r.id!r} has non-numeric data of dtype {a.dtype}")


@dataclasses.dataclass(frozen=True)
class RecordSpec:
    """What records like a data set's look like: text or arrays, the arrays' shape (when every
    record has the same; else their number of dimensions), the targets' shape, the class keys.

    The pipeline checks every generator's output against its training set's spec
    (:meth:`check`) before anything else reads it, so a generator returning 1-feature records
    for 13-feature data stops the run with one line naming it, not a traceback in a validator."""

    text: bool
    shape: tuple[int, ...] | None
    ndim: int | None
    target_shape: tuple[int, ...] | None
    classes: frozenset[str]

    @classmethod
    def of(cls, ds: Dataset) -> RecordSpec:
        """The spec of ``ds``'s records (its labelled classes, the first record's modality)."""
        recs = list(ds.records)
        text = bool(recs) and isinstance(recs[0].data, str)
        shapes = {np.shape(r.data) for r in recs} if not text else set()
        targets = {np.shape(r.target) for r in recs if r.target is not None}
        return cls(text=text, shape=next(iter(shapes)) if len(shapes) == 1 else None,
                   ndim=len(next(iter(shapes))) if len({len(s) for s in shapes}) == 1 else None,
                   target_shape=next(iter(targets)) if len(targets) == 1 else None,
                   classes=frozenset(label_key(c) for c in ds.classes))

    def check(self, records: Any, expected: int, who: str) -> None:
        """Raise :class:`GDAError` (one line naming ``who``) unless ``records`` is a list of
        ``expected`` :class:`Record` objects like this spec's: text for text data and numeric,
        finite arrays of the same shape (and a target, when there is one, of the targets' shape)
        for array data, labels among the classes."""
        if not isinstance(records, (list, tuple)):
            raise GDAError(f"{who} returned {type(records).__name__}, not a list of records")
        if len(records) != expected:
            raise GDAError(f"{who} returned {len(records)} records for {expected} conditions")
        for i, r in enumerate(records):
            problem = self._problem(r)
            if problem:
                raise GDAError(f"{who} returned records unlike its training data: record {i} {problem}")

    def _problem(self, r: Any) -> str | None:
        if not isinstance(r, Record):
            return f"is a {type(r).__name__}, not a gda_core.Record"
        if isinstance(r.data, str) and not self.text:
            return "is a text, and the training records are arrays"
        if self.text and not isinstance(r.data, str):
            return f"is {type(r.data).__name__} data, and the training records are texts"
        if r.label is not None and self.classes and label_key(r.label) not in self.classes:
            return f"has label {r.label!r}, not one of the training classes ({', '.join(sorted(self.classes))})"
        if self.text:
            return None
        a = np.asarray(r.data)
        if a.dtype.kind not in "biuf":
            return f"has data of dtype {a.dtype}, not numbers"
        if self.shape is not None and a.shape != self.shape:
            return f"has shape {a.shape}, the training records {self.shape}"
        if self.shape is None and self.ndim is not None and a.ndim != self.ndim:
            return f"has {a.ndim} dimensions, the training records {self.ndim}"
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            return "holds NaN or infinite values"
        if r.target is not None and self.target_shape is not None and np.shape(r.target) != self.target_shape:
            return f"has a target of shape {np.shape(r.target)}, the training records' {self.target_shape}"
        return None


def fingerprint(ds: Dataset | None) -> str:
    """A short hash of a data set's records (ids, labels, data, targets; not ``meta``), taken in id
    order so that a loader listing the same files in another order gives the same fingerprint."""
    h = hashlib.blake2b(digest_size=8)
    if ds is None:
        return "none"
    for r in sorted(ds.records, key=lambda r: str(r.id)):
        h.update(json.dumps([str(r.id), None if r.label is None else label_key(r.label)]).encode())
        for part in (r.data, r.target):
            if part is None:
                h.update(b"-")
            elif isinstance(part, str):
                h.update(b"s" + part.encode("utf-8", "surrogatepass"))
            else:
                a = np.ascontiguousarray(part)
                h.update(f"{a.dtype.str}{a.shape}".encode())
                h.update(a.tobytes())
    return h.hexdigest()


def duplicate_ids(*datasets: Dataset | None) -> tuple[str, int] | None:
    """``(first repeated id, how many repeats)`` over the records of ``datasets`` together, or None."""
    seen: set[str] = set()
    first, n = None, 0
    for ds in datasets:
        for r in (ds.records if ds is not None else []):
            if r.id in seen:
                first, n = first or r.id, n + 1
            seen.add(r.id)
    return (first, n) if first is not None else None


def label_key(label: Any) -> str:
    """The one string key of a label, for dictionaries, saved state and class columns.

    ``str`` of the label (numpy scalars and Python values of one value give one key), so
    ``np.int64(3)``, ``3`` and ``"3"`` share the key ``"3"``: a data set's labels are of one type.
    """
    return str(label.item() if isinstance(label, np.generic) else label)


def flatten(records: Sequence[Record]) -> np.ndarray:
    """Each record's array flattened to one float64 row ``(n, d)``; texts are a :class:`DataError`."""
    if records and isinstance(records[0].data, str):
        raise DataError("core embedders need array data; texts need a text embedder (text.embedder)")
    return np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in records])


def json_safe(value: Any) -> Any:
    """Turn numpy scalars and arrays into plain JSON values (NaN becomes None)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
