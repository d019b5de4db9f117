"""Class-aware jitter: a real training sample of the requested class plus Gaussian noise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from gda_core import DataError, Generator, Params, Record
from gda_core.records import json_safe, label_key


class JitterParams(Params):
    scale: float = Field(0.1, gt=0, description="noise standard deviation, in units of each feature's "
                                                "standard deviation within the class")
    min_std: float = Field(1e-6, ge=0, description="floor for the per-feature standard deviation "
                                                   "(constant features then still get a little noise)")


class JitterGenerator(Generator):
    """A real training sample of the requested class plus seeded Gaussian noise.

    Each condition names a class (``label``) and usually a real record
    (``source_id``, as the default strategy provides); that record is jittered.
    Without a usable ``source_id`` a random record of the class is drawn. The
    noise of feature ``j`` has standard deviation ``scale * std_j`` where
    ``std_j`` is the feature's spread within the class (over the whole training
    set for a class with a single record). Works for arrays of any rank.
    """

    Params = JitterParams
    version = "1"

    def fit(self, train, context) -> None:
        if len(train) == 0:
            raise DataError("example.jitter needs at least one training record")
        if any(isinstance(r.data, str) for r in train.records):
            raise DataError("example.jitter works on array data, not text")
        self.shape_ = list(np.asarray(train.records[0].data).shape)
        everything = np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in train.records])
        overall_std = everything.std(0)
        self.classes_: dict[str, dict[str, Any]] = {}
        for label, recs in train.by_class().items():
            if not recs:
                continue
            X = np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in recs])
            std = X.std(0) if len(X) > 1 else overall_std
            self.classes_[label_key(label)] = {"label": label, "ids": [r.id for r in recs], "X": X,
                                         "std": np.maximum(std, self.params.min_std)}

    def generate(self, conditions, *, seed, context) -> list[Record]:
        self._require_fitted("classes_")
        rng = np.random.default_rng(seed)
        out = []
        for cond in conditions:
            key = label_key(cond.get("label"))
            if key not in self.classes_:
                raise DataError(f"example.jitter was not fitted on class {cond.get('label')!r}")
            c = self.classes_[key]
            row = self._row(c, cond.get("source_id"), rng)
            x = c["X"][row] + rng.standard_normal(c["X"].shape[1]) * self.params.scale * c["std"]
            out.append(Record(id="", data=x.reshape(self.shape_).astype(np.float32), label=c["label"],
                              meta={"source_id": c["ids"][row]}))
        return out

    @staticmethod
    def _row(c: dict[str, Any], source_id: Any, rng: np.random.Generator) -> int:
        if "index" not in c:
            c["index"] = {rid: i for i, rid in enumerate(c["ids"])}
        if source_id in c["index"]:
            return c["index"][source_id]
        return int(rng.integers(len(c["ids"])))

    def save_state(self, path: Path) -> None:
        arrays, meta = {}, {"shape": self.shape_, "classes": []}
        for i, (key, c) in enumerate(self.classes_.items()):
            arrays[f"X_{i}"], arrays[f"std_{i}"] = c["X"], c["std"]
            meta["classes"].append({"key": key, "label": c["label"], "ids": c["ids"]})
        self.save_arrays(path, arrays, "jitter.npz")
        (Path(path) / "jitter.json").write_text(json.dumps(json_safe(meta), indent=2))

    def load_state(self, path: Path) -> None:
        meta = json.loads((Path(path) / "jitter.json").read_text())
        self.shape_ = meta["shape"]
        self.classes_ = {}
        z = self.load_arrays(path, "jitter.npz")
        for i, c in enumerate(meta["classes"]):
            self.classes_[c["key"]] = {"label": c["label"], "ids": c["ids"], "X": z[f"X_{i}"], "std": z[f"std_{i}"]}
