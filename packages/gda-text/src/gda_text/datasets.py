"""Text data sets: the shipped customer-support set and CSV/JSONL tables."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from gda_core.components import DatasetLoader, DataSplits, Params
from gda_core.errors import DataError
from gda_core.records import Dataset, Record
from gda_core.splits import HIDDEN_LABEL, k_shot_with_pool

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.components import Figure, Table
    from gda_core.context import RunContext

DATA_DIR = Path(__file__).resolve().parent / "data"
SUPPORT_CLASSES = ["account", "billing", "shipping", "technical"]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``.csv``/``.tsv`` (header line) or ``.jsonl`` (one object a line) file."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            rows = []
            for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
                if not isinstance(row, dict):
                    raise DataError(f"{path}:{n}: each line must hold a JSON object")
                rows.append(row)
            return rows
        if suffix in (".csv", ".tsv"):
            with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: a byte-order mark is skipped
                reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
                names = list(reader.fieldnames or [])
                dup = sorted({c for c in names if names.count(c) > 1})
                if dup:
                    raise DataError(f"{path}: duplicate column name(s) {', '.join(map(repr, dup))}")
                return list(reader)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text: {exc}") from exc
    raise DataError(f"{path}: unsupported file type {suffix!r} (use .csv, .tsv or .jsonl)")


def rows_to_dataset(rows: list[dict[str, Any]], *, path: Path, text_column: str, label_column: str | None,
                    prefix: str, classes: list[Any] | None = None, unlabelled_ok: bool = False) -> Dataset:
    """Records of ``rows``; a missing column or an empty text is a :class:`DataError` naming it, and so
    is an empty label unless ``unlabelled_ok`` (such rows get label None: the unlabelled pool)."""
    if not rows:
        raise DataError(f"{path} has no rows")
    columns = list(rows[0].keys())
    for col, field in ((text_column, "text column"), (label_column, "label column")):
        if col is not None and not any(col in r for r in rows):
            raise DataError(f"{path}: no {field} {col!r} (columns: {', '.join(map(str, columns))})")
    records = []
    for i, row in enumerate(rows):
        line = i + 2 if path.suffix.lower() in (".csv", ".tsv") else i + 1
        text = row.get(text_column)
        if text is None or not str(text).strip():
            raise DataError(f"{path}: row {line} has an empty text in column {text_column!r}")
        label = None
        if label_column is not None:
            label = row.get(label_column)
            if label is None or (isinstance(label, str) and not label.strip()):
                if not unlabelled_ok:
                    raise DataError(f"{path}: row {line} has no label in column {label_column!r}")
                label = None
            label = label.strip() if isinstance(label, str) else label
        records.append(Record(id=f"{prefix}-{i:05d}", data=str(text).strip(), label=label))
    return Dataset(records, modality="text", classes=classes)


def k_shot(ds: Dataset, k: int | None, seed: int) -> Dataset:
    """``k`` records of each class, drawn with ``seed`` (all of them when ``k`` is None)."""
    if k is None:
        return ds
    import numpy as np

    rng = np.random.default_rng(seed)
    keep: list[int] = []
    labels = [r.label for r in ds.records]
    for c in ds.classes:
        idx = [i for i, lab in enumerate(labels) if lab == c]
        if len(idx) < k:
            raise DataError(f"class {c!r} has {len(idx)} records, fewer than k_shot={k}")
        keep.extend(rng.choice(idx, size=k, replace=False).tolist())
    return ds.subset(sorted(keep))


KEPT_CSV = "kept.csv"
"""Every kept synthetic text in one UTF-8 CSV (columns text, label, id) beside the ``.txt`` files."""


class TextSampleWriter(DatasetLoader):
    """Writes kept synthetic texts as UTF-8 ``.txt`` files and all of them as one ``kept.csv``
    (text, label, id); shared by the text loaders."""

    def save_samples(self, records: Sequence[Record], folder: Path) -> dict[str, Path | None]:
        import csv

        files = super().save_samples(records, folder)
        with open(folder / KEPT_CSV, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label", "id"])
            for r in records:
                writer.writerow([str(r.data), "" if r.label is None else r.label, r.id])
        return files

    def save_sample(self, record: Record, stem: Path) -> Path | None:
        out = stem.with_suffix(".txt")
        out.write_text(str(record.data) + "\n", encoding="utf-8")
        return out

    def preview(self, real: dict[str, list[Record]], kept: dict[str, list[Record]]) -> Figure | Table | None:
        """A table of examples: per class, real texts beside kept synthetic ones."""
        from gda_core.previews import sample_table

        return sample_table(real, kept, lambda r: str(r.data), title="Texts: real beside kept synthetic, per class")


class SupportParams(Params):
    k_shot: int | None = Field(None, gt=0, le=25, description="keep only this many training texts per class "
                               "(drawn with the run seed); all 25 when unset")
    pool: bool = Field(True, description="with k_shot, the other training texts form the unlabelled pool "
                       "(labels hidden; never a test text)")


class SupportTicketsDataset(TextSampleWriter):
    """The shipped customer-support set: 300 short messages, 4 intents, fixed split.

    Intents: account, billing, shipping, technical; a fixed split of 25 training and 50 test texts per class."""

    Params = SupportParams
    pool_hint = ("set dataset.params.k_shot: the training texts beyond it form the pool (with pool: true, the "
                 "default)")

    def load(self, context: RunContext) -> DataSplits:
        def part(name: str, prefix: str) -> Dataset:
            path = DATA_DIR / name
            return rows_to_dataset(read_rows(path), path=path, text_column="text", label_column="label",
                                   prefix=prefix, classes=SUPPORT_CLASSES)

        train, test = part("support_train.jsonl", "train"), part("support_test.jsonl", "test")
        if self.params.k_shot is None or not self.params.pool:
            return DataSplits(k_shot(train, self.params.k_shot, context.seed), test)
        labelled, pool = k_shot_with_pool(train, self.params.k_shot, context.seed)
        return DataSplits(labelled, test, pool if len(pool) else None)


class TextTableParams(Params):
    path: str = Field(..., description="a .csv, .tsv or .jsonl file, one text per row")
    text_column: str = Field("text", description="column (or JSON key) holding the text")
    label_column: str = Field("label", description="column (or JSON key) holding the class")
    test_path: str | None = Field(None, description="a separate test table (else the run holds out test_size)")
    k_shot: int | None = Field(None, gt=0, description="keep only this many training texts per class")
    pool_path: str | None = Field(None, description="a table of unlabelled texts (same text column; a label "
                                  "column, if any, is hidden) for the unlabelled pool")
    pool: bool = Field(True, description="with k_shot, the other training texts join the unlabelled pool")


class TextTableDataset(TextSampleWriter):
    """Texts and labels from a CSV/TSV file or JSON lines, with configurable column names; rows
    with an empty label form the unlabelled pool."""

    Params = TextTableParams
    pool_hint = ("leave the label of unlabelled rows empty, set dataset.params.pool_path to a table of "
                 "unlabelled texts, or set dataset.params.k_shot: the training texts beyond it join the pool "
                 "(with pool: true, the default)")

    def _read(self, path_str: str, field: str, prefix: str, classes=None) -> Dataset:
        path = Path(path_str).expanduser()
        if not path.is_file():
            raise DataError(f"dataset.params.{field}: {path} does not exist")
        p = self.params
        rows = read_rows(path)
        label_column: str | None = p.label_column
        if field == "pool_path" and rows and not any(label_column in r for r in rows):
            label_column = None  # a pool table needs no label column
        return rows_to_dataset(rows, path=path, text_column=p.text_column, label_column=label_column,
                               prefix=prefix, classes=classes, unlabelled_ok=field != "test_path")

    def load(self, context: RunContext) -> DataSplits:
        p = self.params
        rows = self._read(p.path, "path", "train")
        train = Dataset([r for r in rows.records if r.label is not None], modality="text")
        pool = [r for r in rows.records if r.label is None]
        if not len(train):
            raise DataError(f"dataset.params.path: {p.path}: no row has a label in column {p.label_column!r}")
        if p.pool_path:
            extra = self._read(p.pool_path, "pool_path", "pool")
            pool += [dataclasses.replace(r, label=None, meta={**r.meta, HIDDEN_LABEL: r.label})
                     if r.label is not None else r for r in extra.records]
        test = None
        if self.params.test_path:
            test = self._read(self.params.test_path, "test_path", "test", classes=train.classes)
            unseen = sorted({r.label for r in test.records} - set(train.classes), key=str)
            if unseen:
                raise DataError(f"{self.params.test_path}: label(s) {', '.join(map(repr, unseen))} "
                                f"never occur in {self.params.path}")
        if p.k_shot is not None and p.pool:
            train, rest = k_shot_with_pool(train, p.k_shot, context.seed)
            pool = [*rest.records, *pool]
        else:
            train = k_shot(train, p.k_shot, context.seed)
        if test is not None:
            test_texts = {r.data: r.id for r in test.records}
            leaked = next((r for r in pool if r.data in test_texts), None)
            if leaked is not None:
                source = p.pool_path if leaked.id.startswith("pool-") else p.path
                raise DataError(f"{source}: the unlabelled text {leaked.data[:40]!r} is the test text "
                                f"{test_texts[leaked.data]!r} of {p.test_path}; the pool must hold no test text")
        return DataSplits(train, test, Dataset(pool, modality="text", classes=train.classes) if pool else None)
