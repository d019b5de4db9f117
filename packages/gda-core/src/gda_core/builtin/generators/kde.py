"""A class-conditional kernel density generator (scikit-learn)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import SAMPLING, Generator, Params
from gda_core.errors import DataError
from gda_core.records import Record, label_key

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Dataset


class KDEParams(Params):
    bandwidth: float | None = Field(None, gt=0, le=1e6,
                                    description="Gaussian kernel width (default: Scott's rule per class)")
    from_source: bool = Field(False, json_schema_extra=SAMPLING, description="draw each sample around its "
                              "condition's record (source_id: a training or pool record) with its class's kernel, "
                              "instead of around a random record of the class: the kernel's SDEdit (with "
                              "core.pseudo-label's uncertain_conditions, generation aimed at the pool's least "
                              "confident records)")


class KernelDensityGenerator(Generator):
    """A Gaussian kernel density estimate per class: a real sample plus kernel noise.

    Uses ``sklearn.neighbors.KernelDensity`` for sampling.
    """

    data_kind = "arrays"
    Params = KDEParams
    version = "1"

    def fit(self, train: Dataset, context: RunContext) -> None:
        self.shape_ = list(np.asarray(train.records[0].data).shape)
        self.data_: dict[str, np.ndarray] = {}
        self.bandwidth_: dict[str, float] = {}
        self.labels_: dict[str, object] = {}
        for label, recs in train.by_class().items():
            if not recs:
                continue
            X = np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in recs])
            bw = self.params.bandwidth
            if bw is None:  # Scott's rule on the mean per-feature spread
                n, d = X.shape
                bw = float(np.mean(X.std(0)) * n ** (-1.0 / (d + 4))) or 1e-3
            self.data_[label_key(label)] = X
            self.bandwidth_[label_key(label)] = bw
            self.labels_[label_key(label)] = label

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        self._require_fitted("data_")
        from sklearn.neighbors import KernelDensity

        rng = np.random.default_rng(seed)
        sources = (self.condition_sources(conditions, context, "core.kde: from_source needs")
                   if self.params.from_source else {})
        out = []
        kdes = {}
        for cond in conditions:
            key = label_key(cond.get("label"))
            if key not in self.data_:
                raise DataError(f"core.kde was not fitted on class {cond.get('label')!r}")
            meta: dict[str, Any] = {}
            if self.params.from_source:
                src = np.asarray(sources[cond["source_id"]].data, dtype=np.float64).reshape(-1)
                x = src + rng.normal(0.0, self.bandwidth_[key], size=src.shape)
                meta["source_id"] = cond["source_id"]
            else:
                if key not in kdes:
                    kdes[key] = KernelDensity(bandwidth=self.bandwidth_[key]).fit(self.data_[key])
                x = kdes[key].sample(1, random_state=int(rng.integers(2**31 - 1)))[0]
            out.append(Record(id="", data=x.reshape(self.shape_).astype(np.float32), label=self.labels_[key],
                              meta=meta))
        return out

    def save_state(self, path: Path) -> None:
        self.save_arrays(path, self.data_, "kde.npz")
        (path / "kde.json").write_text(json.dumps({"shape": self.shape_, "labels": self.labels_,
                                                   "bandwidth": self.bandwidth_}))

    def load_state(self, path: Path) -> None:
        meta = json.loads((path / "kde.json").read_text())
        self.shape_, self.labels_, self.bandwidth_ = meta["shape"], meta["labels"], meta["bandwidth"]
        self.data_ = self.load_arrays(path, "kde.npz")
