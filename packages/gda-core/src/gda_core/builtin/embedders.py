"""Core embedders: raw flattened features, standardized features, PCA."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Embedder, Params
from gda_core.records import flatten

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class FlattenEmbedder(Embedder):
    """Each sample's values, flattened into one vector."""

    data_kind = "arrays"

    def embed(self, records: Sequence[Record], context: RunContext) -> np.ndarray:
        return flatten(records)


class StandardizeEmbedder(Embedder):
    """Flattened values scaled by the real training set's mean and standard deviation."""

    data_kind = "arrays"

    def fit(self, train: Dataset, context: RunContext) -> None:
        X = flatten(train.records)
        self.mean_, self.std_ = X.mean(0), X.std(0) + 1e-8

    def embed(self, records: Sequence[Record], context: RunContext) -> np.ndarray:
        return (flatten(records) - self.mean_) / self.std_


class PCAParams(Params):
    n_components: int = Field(16, gt=0, description="dimensions kept (capped by the data)")


class PCAEmbedder(Embedder):
    """Principal components of the real training set (scikit-learn PCA)."""

    data_kind = "arrays"
    Params = PCAParams

    def fit(self, train: Dataset, context: RunContext) -> None:
        from sklearn.decomposition import PCA

        X = flatten(train.records)
        n = min(self.params.n_components, X.shape[0], X.shape[1])
        self.pca_ = PCA(n_components=n, random_state=context.seed).fit(X)

    def embed(self, records: Sequence[Record], context: RunContext) -> np.ndarray:
        return self.pca_.transform(flatten(records))
