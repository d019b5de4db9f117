"""A class-conditional Gaussian mixture generator (scikit-learn)."""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
from pydantic import Field

from ..components import Generator, Params
from ..errors import DataError
from ..records import Record


class GMMParams(Params):
    n_components: int = Field(2, gt=0, description="mixture components per class (capped by the class size)")
    covariance_type: Literal["full", "tied", "diag", "spherical"] = Field("diag", description="covariance form")
    reg_covar: float = Field(1e-3, gt=0, description="added to covariance diagonals for stability")


class GaussianMixtureGenerator(Generator):
    """One ``sklearn.mixture.GaussianMixture`` per class, fitted on flattened samples.

    Samples are reshaped to the shape of the real ones. Deterministic under a seed.
    """

    Params = GMMParams
    version = "1"

    def fit(self, train, context) -> None:
        from sklearn.mixture import GaussianMixture

        self.shape_ = list(np.asarray(train.records[0].data).shape)
        self.models_: dict[str, dict] = {}
        self.labels_: dict[str, object] = {}
        for label, recs in train.by_class().items():
            if not recs:
                continue
            X = np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in recs])
            k = min(self.params.n_components, len(X))
            gm = GaussianMixture(n_components=k, covariance_type=self.params.covariance_type,
                                 reg_covar=self.params.reg_covar, random_state=context.seed).fit(X)
            self.models_[str(label)] = {"weights": gm.weights_, "means": gm.means_,
                                        "covariances": gm.covariances_}
            self.labels_[str(label)] = label

    def _sample(self, key: str, rng: np.random.Generator) -> np.ndarray:
        m = self.models_[key]
        c = rng.choice(len(m["weights"]), p=m["weights"] / m["weights"].sum())
        mean, cov = m["means"][c], m["covariances"]
        t = self.params.covariance_type
        d = mean.shape[0]
        if t == "full":
            cov = cov[c]
        elif t == "diag":
            return mean + rng.standard_normal(d) * np.sqrt(cov[c])
        elif t == "spherical":
            return mean + rng.standard_normal(d) * np.sqrt(cov[c])
        return rng.multivariate_normal(mean, cov, method="cholesky")

    def generate(self, conditions, *, seed, context) -> list[Record]:
        rng = np.random.default_rng(seed)
        out = []
        for cond in conditions:
            key = str(cond.get("label"))
            if key not in self.models_:
                raise DataError(f"core.gmm was not fitted on class {cond.get('label')!r}")
            x = self._sample(key, rng).reshape(self.shape_).astype(np.float32)
            out.append(Record(id="", data=x, label=self.labels_[key]))
        return out

    def save_state(self, path) -> None:
        arrays = {}
        for key, m in self.models_.items():
            for part, value in m.items():
                arrays[f"{key}/{part}"] = value
        np.savez(path / "gmm.npz", **arrays)
        (path / "gmm.json").write_text(json.dumps({"shape": self.shape_, "labels": self.labels_}))

    def load_state(self, path) -> None:
        meta = json.loads((path / "gmm.json").read_text())
        self.shape_, self.labels_ = meta["shape"], meta["labels"]
        self.models_ = {}
        with np.load(path / "gmm.npz", allow_pickle=False) as z:
            for name in z.files:
                key, part = name.rsplit("/", 1)
                self.models_.setdefault(key, {})[part] = z[name]
