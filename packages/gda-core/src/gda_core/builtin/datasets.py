"""Core data set loaders: built-in tabular sets, CSV/Parquet tables, numpy arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from gda_core.components import DatasetLoader, DataSplits, Params
from gda_core.errors import DataError
from gda_core.records import Dataset, Record
from gda_core.splits import k_shot, k_shot_with_pool, read_arrays


def _records(X: np.ndarray, y: np.ndarray, prefix: str) -> list[Record]:
    return [Record(id=f"{prefix}-{i:05d}", data=np.asarray(x, dtype=np.float32), label=_plain(lab))
            for i, (x, lab) in enumerate(zip(X, y))]


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def save_table(records, folder: Path, feature_names: list[str] | None = None) -> dict[str, Path]:
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


class SklearnTableParams(Params):
    k_shot: int | None = Field(None, gt=0, description="keep only this many training records per class")
    test_size: float = Field(0.3, gt=0, lt=1, description="held-out share")
    standardize: bool = Field(True, description="scale features to zero mean, unit variance (fitted on train)")
    pool: bool = Field(True, description="offer the training records beyond k_shot as an unlabelled pool "
                       "(labels hidden; never test records)")


class _SklearnTable(_TableWriter, DatasetLoader):
    loader: str = ""

    Params = SklearnTableParams

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
    feature_columns: list[str] | None = Field(None, description="feature columns (default: every other numeric one)")
    test_path: str | None = Field(None, description="a separate test table (else a split is held out)")


class TableDataset(_TableWriter, DatasetLoader):
    """A CSV or Parquet table: one row per sample, numeric features and a label column."""

    Params = TableParams

    def _read(self, path_str: str) -> Dataset:
        path = Path(path_str).expanduser()
        if not path.is_file():
            raise DataError(f"dataset.params.path: {path} does not exist")
        columns, rows = _read_table(path)
        p = self.params
        if not rows:
            raise DataError(f"{path} has no rows")
        if p.label_column not in columns:
            raise DataError(f"{path}: no label column {p.label_column!r} (columns: {', '.join(columns)})")
        if p.feature_columns:
            missing = [c for c in p.feature_columns if c not in columns]
            if missing:
                raise DataError(f"{path}: no feature column(s) {', '.join(map(repr, missing))}")
            cols = p.feature_columns
        else:
            cols = [c for c in columns if c != p.label_column and all(_is_number(r[c]) for r in rows)]
        if not cols:
            raise DataError(f"{path}: no numeric feature columns")
        try:
            X = np.asarray([[float(r[c]) for c in cols] for r in rows], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: a feature value is not a number ({exc})") from exc
        y = np.asarray([_label(r[p.label_column]) for r in rows], dtype=object)
        self.feature_names_ = cols
        return Dataset(_records(X, y, path.stem), modality="vector", meta={"feature_names": cols})

    def load(self, context) -> DataSplits:
        train = self._read(self.params.path)
        test = self._read(self.params.test_path) if self.params.test_path else None
        if test is not None:
            test = Dataset(test.records, modality=test.modality, classes=train.classes)
        return DataSplits(train, test)


def _is_number(v: Any) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _label(v: Any) -> Any:
    """Labels read as text become ints where they all look like ints."""
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    return v


def _read_table(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and rows of a CSV (stdlib) or Parquet (pandas + pyarrow) file."""
    if path.suffix in (".parquet", ".pq"):
        try:
            import pandas as pd
        except ImportError as exc:
            raise DataError("reading Parquet needs pandas and pyarrow: pip install 'gda-core[parquet]'") from exc
        try:
            df = pd.read_parquet(path)
        except Exception as exc:
            raise DataError(f"cannot read {path}: {exc}") from exc
        return [str(c) for c in df.columns], df.to_dict(orient="records")
    import csv

    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


class ArrayParams(Params):
    path: str = Field(..., description=".npz with arrays X (n, ...) and y (n,), or a .npy of X with labels_path")
    labels_path: str | None = Field(None, description=".npy of labels when path is a .npy")
    modality: str = Field("vector", description="modality tag for defaults (vector, image, signal, ...)")


class ArrayDataset(DatasetLoader):
    """Numpy arrays of any rank: an ``.npz`` with ``X`` and ``y`` (and optionally ``X_test``, ``y_test``)."""

    Params = ArrayParams

    def load(self, context) -> DataSplits:
        p = self.params
        X, y, Xt, yt = read_arrays(p.path, p.labels_path)
        classes = sorted(set(np.asarray(y).tolist()))
        train = Dataset(_records(X, y, "train"), modality=p.modality, classes=classes)
        test = Dataset(_records(Xt, yt, "test"), modality=p.modality, classes=classes) if Xt is not None else None
        return DataSplits(train, test)
