"""Class margin: keep synthetic samples that lie nearer their own class than any other."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from gda_core import Selector, SelectorParams


class ClassMarginParams(SelectorParams):
    threshold: float | None = Field(0.0, description="keep samples whose margin is at least this "
                                                     "(the margin lies in [-1, 1])")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class ClassMarginSelector(Selector):
    """Keeps synthetic samples that lie nearer the real samples of their class than of any other.

    The score is ``(d_other - d_own) / (d_other + d_own)``, with ``d_own`` the distance to
    the nearest real sample of the intended class and ``d_other`` to the nearest real
    sample of another class. Positive scores mean the sample sits on its own class's
    side; the default threshold keeps those.
    """

    Params = ClassMarginParams

    def fit(self, train, context) -> None:
        self.real_ = context.embed(train.records, self.params.embedder)
        self.labels_ = np.asarray([str(v) for v in train.labels()])

    def score(self, synthetic, context) -> np.ndarray:
        from sklearn.neighbors import NearestNeighbors

        X = context.embed(synthetic, self.params.embedder)
        intended = np.asarray([str(r.label) for r in synthetic])
        scores = np.empty(len(synthetic))
        for label in np.unique(intended):
            rows = np.flatnonzero(intended == label)
            own, other = self.real_[self.labels_ == label], self.real_[self.labels_ != label]
            if len(own) == 0:
                scores[rows] = -1.0
                continue
            if len(other) == 0:
                scores[rows] = 1.0
                continue
            d_own = NearestNeighbors(n_neighbors=1).fit(own).kneighbors(X[rows])[0][:, 0]
            d_other = NearestNeighbors(n_neighbors=1).fit(other).kneighbors(X[rows])[0][:, 0]
            scores[rows] = (d_other - d_own) / np.maximum(d_other + d_own, 1e-12)
        return scores
