"""Core data set loaders: built-in tabular sets, CSV/Parquet tables, numpy arrays."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import DatasetLoader, DataSplits, Params
from gda_core.errors import DataError
from gda_core.records import Dataset, Record
from gda_core.splits import as_pool, k_shot, k_shot_with_pool, read_arrays

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext


def _records(X: np.ndarray, y: np.ndarray, prefix: str) -> list[Record]:
    return [Record(id=f"{prefix}-{i:05d}", data=np.asarray(x, dtype=np.float32), label=_plain(lab))
            for i, (x, lab) in enumerate(zip(X, y))]


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def save_table(records: Sequence[Record], folder: Path, feature_names: list[str] | None = None) -> dict[str, Path]:
    """Write vector records as one CSV (``id``, ``label``, features) in ``folder``."""
    import csv

    out = folder / "synthetic.csv"
    if not records:
        return {}
    d = int(np.asarray(records[0].data).size)
    names = feature_names if feature_names and len(feature_names) == d else [f"x{i}" for i in range(d)]
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "label", *names])
        for r in records:
            w.writerow([r.id, r.label, *(repr(float(v)) for v in np.asarray(r.data).reshape(-1))])
    return {r.id: out for r in records}


class _TableWriter:
    """Kept samples of a table-like data set go to one ``samples/synthetic.csv``."""

    feature_names_: list[str] | None = None

    def save_samples(self, records, folder: Path) -> dict[str, Path]:
        return save_table(records, folder, self.feature_names_)

    def preview(self, real, kept, max_features: int = 6):
        """A table of examples: per class, real rows then kept synthetic rows (first features)."""
        from gda_core.components import Table

        first = next((r for rs in [*real.values(), *kept.values()] for r in rs), None)
        if first is None:
            return None
        d = np.asarray(first.data).size
        names = self.feature_names_ if self.feature_names_ and len(self.feature_names_) == d else \
            [f"x{i}" for i in range(d)]
        shown = names[:max_features]
        rows = [[c, side, *(f"{v:.3g}" for v in np.asarray(r.data, dtype=float).reshape(-1)[:max_features])]
                for c in dict.fromkeys([*real, *kept])
                for side, recs in (("real", real.get(c, [])), ("kept synthetic", kept.get(c, [])))
                for r in recs]
        more = f" (first {max_features} of {d} features)" if d > max_features else ""
        return Table(f"Rows: real beside kept synthetic, per class{more}", ["class", "set", *shown], rows)


class SklearnTableParams(Params):
    k_shot: int | None = Field(None, gt=0, description="keep only this many training records per class")
    test_size: float = Field(0.3, gt=0, lt=1, description="held-out share")
    standardize: bool = Field(True, description="scale features to zero mean, unit variance (fitted on train)")
    pool: bool = Field(True, description="offer the training records beyond k_shot as an unlabelled pool "
                       "(labels hidden; never test records)")


class _SklearnTable(_TableWriter, DatasetLoader):
    loader: str = ""

    Params = SklearnTableParams
    pool_hint = ("set dataset.params.k_shot: the training records beyond it form the pool (with pool: true, "
                 "the default)")

    def load(self, context) -> DataSplits:
        import sklearn.datasets
        from sklearn.model_selection import train_test_split

        bunch = getattr(sklearn.datasets, self.loader)()
        X, y = bunch.data.astype(np.float64), bunch.target
        tr, te = train_test_split(np.arange(len(y)), test_size=self.params.test_size,
                                  random_state=context.seed, stratify=y)
        if self.params.standardize:
            mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-12
            X = (X - mu) / sd
        classes = sorted(set(y.tolist()))
        self.feature_names_ = [str(n) for n in bunch.feature_names]
        train = Dataset(_records(X[tr], y[tr], "train"), modality="vector", classes=classes,
                        meta={"feature_names": self.feature_names_})
        test = Dataset(_records(X[te], y[te], "test"), modality="vector", classes=classes)
        if not self.params.pool:
            return DataSplits(k_shot(train, self.params.k_shot, context.seed), test)
        labelled, pool = k_shot_with_pool(train, self.params.k_shot, context.seed)
        return DataSplits(labelled, test, pool)


class WineDataset(_SklearnTable):
    """scikit-learn's wine recognition set: 178 wines, 13 features, 3 classes (ships offline)."""

    loader = "load_wine"


class BreastCancerDataset(_SklearnTable):
    """scikit-learn's breast cancer set: 569 samples, 30 features, 2 classes (ships offline)."""

    loader = "load_breast_cancer"


class TableParams(Params):
    path: str = Field(..., description="CSV or Parquet file")
    label_column: str = Field("label", description="column holding the class")
    feature_columns: list[str] | None = Field(None, min_length=1,
                                              description="feature columns (default: every other numeric one)")
    test_path: str | None = Field(None, description="a separate test table (else a split is held out)")
    pool_path: str | None = Field(None, description="a table of unlabelled rows (the training table's feature "
                                  "columns; a label column, if any, is hidden) for the unlabelled pool")

    @model_validator(mode="after")
    def _features_are_not_the_label(self) -> TableParams:
        cols = self.feature_columns or []
        if self.label_column in cols:
            raise ValueError(f"feature_columns lists {self.label_column!r}, the label column; a feature cannot "
                             "be the label")
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise ValueError(f"feature_columns lists {', '.join(map(repr, dup))} twice")
        return self


class TableDataset(_TableWriter, DatasetLoader):
    """A CSV or Parquet table: one row per sample, numeric features and a label column."""

    Params = TableParams
    pool_hint = ("leave the label cell of unlabelled rows empty, or set dataset.params.pool_path to a table of "
                 "unlabelled rows")

    def _read(self, path_str: str, field: str = "path") -> tuple[Dataset, Dataset]:
        """A table's labelled rows, and its rows with an empty label (the unlabelled pool)."""
        path = Path(path_str).expanduser()
        if not path.is_file():
            raise DataError(f"dataset.params.{field}: {path} does not exist or is not a file")
        columns, rows, lines = _read_table(path)
        p = self.params
        if not rows:
            raise DataError(f"{path} has no rows")
        if p.label_column not in columns and field != "pool_path":
            raise DataError(f"{path}: no label column {p.label_column!r} (columns: {', '.join(columns)})")
        index = {c: i for i, c in enumerate(columns)}
        if field != "path" and self.feature_names_:  # test and pool tables: the training table's columns
            missing = [c for c in self.feature_names_ if c not in index]
            if missing:
                raise DataError(f"dataset.params.{field}: {path}: no feature column(s) "
                                f"{', '.join(map(repr, missing))} of the training table")
            cols = list(self.feature_names_)
        elif p.feature_columns:
            missing = [c for c in p.feature_columns if c not in index]
            if missing:
                raise DataError(f"{path}: no feature column(s) {', '.join(map(repr, missing))}")
            cols = list(p.feature_columns)
        else:  # every other column holding a number; one with a stray text cell is an error below
            cols = [c for c in columns if c != p.label_column and any(_is_number(r[index[c]]) for r in rows)]
        if not cols:
            raise DataError(f"{path}: no numeric feature columns")
        X = np.empty((len(rows), len(cols)), dtype=np.float64)
        for j, c in enumerate(cols):
            k = index[c]
            for i, r in enumerate(rows):
                try:
                    X[i, j] = float(r[k])
                except (TypeError, ValueError, OverflowError):
                    raise DataError(f"{path}: column {c!r}, row {i + 1} (line {lines[i]}): {r[k]!r} is not a "
                                    "number; fix the cell, or list the feature columns in "
                                    "dataset.params.feature_columns") from None
        labels = []
        for r in rows:
            v = r[index[p.label_column]] if p.label_column in index else None
            empty = v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and v != v)
            labels.append(None if empty else v)  # rows with an empty label: the unlabelled pool
        y = np.asarray(_labels(labels), dtype=object)
        self.feature_names_ = cols
        records = _records(X, y, f"{_SPLIT[field]}:{path.stem}")  # the split in the id: unique across files
        meta = {"feature_names": cols}
        return (Dataset([r for r in records if r.label is not None], modality="vector", meta=meta),
                Dataset([r for r in records if r.label is None], modality="vector", meta=meta))

    def load(self, context: RunContext) -> DataSplits:
        p = self.params
        self.feature_names_ = None
        train_file = Path(p.path).expanduser()
        for field in ("test_path", "pool_path"):
            other = getattr(p, field)
            if other and train_file.is_file() and Path(other).expanduser().is_file() \
                    and os.path.samefile(train_file, Path(other).expanduser()):
                why = ("test rows must be held out from training" if field == "test_path" else
                       "the pool takes other rows (rows of the training table with an empty label join it already)")
                raise DataError(f"dataset.params.{field}: {other} is the training table ({p.path}); {why}")
        train, pool = self._read(p.path)
        if len(train) == 0:
            raise DataError(f"dataset.params.path: {p.path}: every row's {p.label_column!r} is empty; label some "
                            "rows (rows with an empty label become the unlabelled pool)")
        test = None
        if p.test_path:
            test, unlabelled = self._read(p.test_path, "test_path")
            if len(unlabelled):
                raise DataError(f"dataset.params.test_path: {p.test_path}: {len(unlabelled)} row(s) with an empty "
                                f"{p.label_column!r} (first: {unlabelled[0].id!r}); test rows need labels")
            test = Dataset(test.records, modality=test.modality, classes=train.classes)
        records = list(pool.records)
        if p.pool_path:
            labelled, unlabelled = self._read(p.pool_path, "pool_path")
            records += [*unlabelled.records, *as_pool(labelled).records]
        pool = Dataset(records, modality="vector", classes=train.classes, meta=train.meta) if records else None
        return DataSplits(train, test, pool)


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


_SPLIT = {"path": "train", "test_path": "test", "pool_path": "pool"}


def _labels(values: list[Any]) -> list[Any]:
    """A column's labels: ints when every one is written as an int in its one canonical form ("3",
    "-2"), else as read, stripped ("01" and "1", or "-0" and "0", stay two classes)."""
    given = [v for v in values if v is not None]
    if given and all(isinstance(v, str) and re.fullmatch(r"-?(0|[1-9][0-9]*)", v.strip()) and v.strip() != "-0"
                     for v in given):
        return [None if v is None else int(v) for v in values]
    return [v.strip() if isinstance(v, str) else _plain(v) for v in values]


def _read_table(path: Path) -> tuple[list[str], list[list[Any]], list[int]]:
    """Column names, rows (lists of cells) and each row's line in the file, of a CSV (stdlib; a UTF-8
    byte-order mark is skipped) or Parquet (pandas + pyarrow) file. Duplicate column names, an empty
    header and rows of the wrong length are :class:`DataError`s naming the file."""
    if path.suffix in (".parquet", ".pq"):
        try:
            import pandas as pd
        except ImportError as exc:
            raise DataError("reading Parquet needs pandas and pyarrow: pip install 'gda-core[parquet]'") from exc
        try:
            df = pd.read_parquet(path)
        except Exception as exc:
            raise DataError(f"cannot read {path}: {exc}") from exc
        columns = [str(c) for c in df.columns]
        _no_duplicates(path, columns)
        rows = df.astype(object).to_numpy().tolist()
        return columns, rows, list(range(1, len(rows) + 1))
    import csv

    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                raise DataError(f"{path} has no header row (column names)")
            _no_duplicates(path, header)
            rows, lines = [], []
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                if len(row) != len(header):
                    raise DataError(f"{path}: line {reader.line_num} has {len(row)} fields, the header "
                                    f"has {len(header)}")
                rows.append(row)
                lines.append(reader.line_num)
            return header, rows, lines
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def _no_duplicates(path: Path, columns: list[str]) -> None:
    seen: set[str] = set()
    dup = [c for c in columns if c in seen or seen.add(c)]  # type: ignore[func-returns-value]
    if dup:
        raise DataError(f"{path}: duplicate column name(s) {', '.join(map(repr, dict.fromkeys(dup)))}; "
                        "give every column its own name")


class ArrayParams(Params):
    path: str = Field(..., description=".npz with arrays X (n, ...) and y (n,), or a .npy of X with labels_path")
    labels_path: str | None = Field(None, description=".npy of labels when path is a .npy")
    modality: str = Field("vector", description="modality tag for defaults (vector, image, signal, ...)")


class ArrayDataset(DatasetLoader):
    """Numpy arrays of any rank: an ``.npz`` with ``X`` and ``y`` (and optionally ``X_test``, ``y_test``)."""

    Params = ArrayParams

    def load(self, context: RunContext) -> DataSplits:
        p = self.params
        X, y, Xt, yt = read_arrays(p.path, p.labels_path)
        for name, a in (("X", X), ("X_test", Xt)):
            if a is not None and np.asarray(a).dtype.kind not in "biuf":
                raise DataError(f"{p.path}: array {name} holds {np.asarray(a).dtype} values; gda needs real numbers")
        classes = sorted(set(np.asarray(y).tolist()))
        train = Dataset(_records(X, y, "train"), modality=p.modality, classes=classes)
        test = Dataset(_records(Xt, yt, "test"), modality=p.modality, classes=classes) if Xt is not None else None
        return DataSplits(train, test)
