"""Near-duplicate removal and memorization guard."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from gda_core.components import Params, Selector


class DedupParams(Params):
    real_ratio: float = Field(0.1, ge=0, description="drop samples closer to a real training sample than this "
                              "times the median real nearest-neighbour distance (copies)")
    self_ratio: float = Field(0.1, ge=0, description="drop samples this close to an already kept synthetic one")
    min_distance: float | None = Field(None, ge=0, description="an absolute distance that overrides both ratios")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


def nn_distances(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """Distance from each row of A to its nearest row of B (of A itself, excluding self, if B is None)."""
    from sklearn.neighbors import NearestNeighbors

    if B is None:
        nn = NearestNeighbors(n_neighbors=min(2, len(A))).fit(A)
        d, _ = nn.kneighbors(A)
        return d[:, -1]
    nn = NearestNeighbors(n_neighbors=1).fit(B)
    d, _ = nn.kneighbors(A)
    return d[:, 0]


class DeduplicationSelector(Selector):
    """Drops synthetic samples that copy a real training sample or nearly repeat another
    synthetic sample. The score is the distance to the nearest real training sample."""

    Params = DedupParams

    def fit(self, train, context) -> None:
        self.real_ = context.embed(train.records, self.params.embedder)
        self.scale_ = float(np.median(nn_distances(self.real_))) if len(self.real_) > 1 else 1.0

    def score(self, synthetic, context) -> np.ndarray:
        self.X_ = context.embed(synthetic, self.params.embedder)
        return nn_distances(self.X_, self.real_)

    def select(self, scores, synthetic, context) -> np.ndarray:
        p = self.params
        real_min = p.min_distance if p.min_distance is not None else p.real_ratio * self.scale_
        self_min = p.min_distance if p.min_distance is not None else p.self_ratio * self.scale_
        keep = scores > real_min if real_min > 0 else np.ones(len(scores), dtype=bool)
        kept_rows: list[np.ndarray] = []
        for i in range(len(scores)):
            if not keep[i]:
                continue
            if kept_rows and self_min > 0:
                d = np.min(np.linalg.norm(np.stack(kept_rows) - self.X_[i], axis=1))
                if d <= self_min:
                    keep[i] = False
                    continue
            kept_rows.append(self.X_[i])
        return keep
