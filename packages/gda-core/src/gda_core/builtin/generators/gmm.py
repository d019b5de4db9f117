"""A class-conditional Gaussian mixture generator (scikit-learn)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

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


class GMMParams(Params):
    n_components: int = Field(2, gt=0, description="mixture components per class (capped by the class size)")
    covariance_type: Literal["full", "tied", "diag", "spherical"] = Field("diag", description="covariance form")
    reg_covar: float = Field(1e-3, gt=0, le=1e6, description="added to covariance diagonals for stability")
    temperature: float = Field(1.0, gt=0, le=100, json_schema_extra=SAMPLING,
                               description="scales each draw's spread around its component mean (at most 100)")


class GaussianMixtureGenerator(Generator):
    """One ``sklearn.mixture.GaussianMixture`` per class, fitted on flattened samples.

    Samples are reshaped to the shape of the real ones. Deterministic under a seed.
    """

    data_kind = "arrays"
    Params = GMMParams
    version = "1"
    min_class_size = 2  # scikit-learn's GaussianMixture needs two samples

    def fit(self, train: Dataset, context: RunContext) -> None:
        from sklearn.mixture import GaussianMixture

        self.shape_ = list(np.asarray(train.records[0].data).shape)
        self.models_: dict[str, dict] = {}
        self.labels_: dict[str, object] = {}
        for label, recs in train.by_class().items():
            if not recs:
                continue
            X = np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in recs])
            k = min(self.params.n_components, len(X))
            gm = self._fitted(GaussianMixture(n_components=k, covariance_type=self.params.covariance_type,
                                              reg_covar=self.params.reg_covar, random_state=context.seed),
                              X, f"class {label!r}")
            self.models_[label_key(label)] = {"weights": gm.weights_, "means": gm.means_,
                                        "covariances": gm.covariances_}
            self.labels_[label_key(label)] = label

    def _fitted(self, gm: Any, X: np.ndarray, what: str) -> Any:
        """``gm`` fitted on ``X``; scikit-learn's failure on a collapsed or singular covariance
        (records that coincide, or too few for a full covariance at their scale) is one
        :class:`DataError` naming ``what`` and the parameters that help."""
        try:
            return gm.fit(X)
        except ValueError as exc:
            if "ill-defined empirical covariance" not in str(exc):
                raise
            p = self.params
            raise DataError(
                f"generator core.gmm: fitting {what} failed: the covariance of its {len(X)} record(s) in "
                f"{X.shape[1]} dimension(s) is singular for covariance_type {p.covariance_type!r} at reg_covar "
                f"{p.reg_covar:g} (records that coincide, or values far larger than reg_covar); raise "
                "generator.params.reg_covar, use covariance_type diag or spherical, or fewer n_components"
            ) from exc

    # -- warm-start API of gda_core.builtin.pool (core.pretrain-finetune) -------------

    def pretrain(self, pool: Dataset, context: RunContext, *, steps: int | None = None) -> None:
        """Fit one mixture of ``n_components`` x classes components on the unlabelled ``pool``;
        :meth:`fine_tune` then builds each class from these components. ``steps``: EM iterations."""
        from sklearn.mixture import GaussianMixture

        if len(pool) == 0:
            raise DataError("core.gmm: the pool to pretrain on is empty")
        X = np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in pool.records])
        k = min(self.params.n_components * max(1, len(pool.classes)), len(X))
        self.prior_ = self._fitted(GaussianMixture(n_components=k, covariance_type=self.params.covariance_type,
                                                   reg_covar=self.params.reg_covar, max_iter=steps or 100,
                                                   random_state=context.seed), X, "the pool")
        self.shape_ = list(np.asarray(pool.records[0].data).shape)

    def fine_tune(self, train: Dataset, context: RunContext, *, steps: int | None = None, lora_rank: int = 0) -> None:
        """Each class's mixture starts from the ``n_components`` pretrained components its labelled
        records are most responsible to, weighted by those responsibilities; ``steps`` EM iterations
        on the labelled records then refine it (default 0: the pretrained components as they are)."""
        from sklearn.mixture import GaussianMixture

        from gda_core.errors import ConfigError

        if lora_rank:
            raise ConfigError("strategy.params.lora_rank: core.gmm has no LoRA; use 0")
        self._require_fitted("prior_", action="fine_tune (call pretrain first)")
        prior = self.prior_
        self.models_, self.labels_ = {}, {}
        for label, recs in train.by_class().items():
            if not recs:
                continue
            X = np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in recs])
            resp = prior.predict_proba(X).sum(axis=0)
            top = np.sort(np.argsort(-resp, kind="stable")[:min(self.params.n_components, len(resp))])
            weights = resp[top] + 1e-12
            means = prior.means_[top]
            tied = self.params.covariance_type == "tied"
            cov = prior.covariances_ if tied else prior.covariances_[top]
            if steps:
                prec = prior.precisions_ if tied else prior.precisions_[top]
                gm = self._fitted(GaussianMixture(n_components=len(top), covariance_type=self.params.covariance_type,
                                                  reg_covar=self.params.reg_covar, max_iter=steps,
                                                  weights_init=weights / weights.sum(), means_init=means,
                                                  precisions_init=prec, random_state=context.seed),
                                  X, f"class {label!r}")
                weights, means, cov = gm.weights_, gm.means_, gm.covariances_
            self.models_[label_key(label)] = {"weights": weights / weights.sum(), "means": means, "covariances": cov}
            self.labels_[label_key(label)] = label

    def _sample(self, key: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws from class ``key``'s mixture, shape ``(n, d)``."""
        m = self.models_[key]
        weights = m["weights"] / m["weights"].sum()
        comp = rng.choice(len(weights), size=n, p=weights)
        means, cov = m["means"], m["covariances"]
        z = rng.standard_normal((n, means.shape[1])) * self.params.temperature
        t = self.params.covariance_type
        if t == "diag":
            return means[comp] + z * np.sqrt(cov[comp])
        if t == "spherical":
            return means[comp] + z * np.sqrt(cov[comp])[:, None]
        chol = np.linalg.cholesky(cov[comp] if t == "full" else np.broadcast_to(cov, (n, *cov.shape)))
        return means[comp] + np.einsum("nij,nj->ni", chol, z)

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        self._require_fitted("models_")
        rng = np.random.default_rng(seed)
        keys = [label_key(c.get("label")) for c in conditions]
        for key, cond in zip(keys, conditions):
            if key not in self.models_:
                raise DataError(f"core.gmm was not fitted on class {cond.get('label')!r}")
        data: list[np.ndarray | None] = [None] * len(conditions)
        for key in dict.fromkeys(keys):  # classes in order of first appearance: deterministic
            idx = [i for i, k in enumerate(keys) if k == key]
            for i, x in zip(idx, self._sample(key, len(idx), rng)):
                data[i] = x.reshape(self.shape_).astype(np.float32)
        return [Record(id="", data=x, label=self.labels_[k]) for x, k in zip(data, keys)]

    def save_state(self, path: Path) -> None:
        arrays = {}
        for key, m in self.models_.items():
            for part, value in m.items():
                arrays[f"{key}/{part}"] = value
        self.save_arrays(path, arrays, "gmm.npz")
        (path / "gmm.json").write_text(json.dumps({"shape": self.shape_, "labels": self.labels_}))

    def load_state(self, path: Path) -> None:
        meta = json.loads((path / "gmm.json").read_text())
        self.shape_, self.labels_ = meta["shape"], meta["labels"]
        self.models_ = {}
        for name, value in self.load_arrays(path, "gmm.npz").items():
            key, part = name.rsplit("/", 1)
            self.models_.setdefault(key, {})[part] = value
