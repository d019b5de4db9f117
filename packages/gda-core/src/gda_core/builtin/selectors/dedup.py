"""Near-duplicate removal and memorization guard."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from gda_core.components import Params, Selector
from gda_core.neighbors import leave_one_out_distances, nearest_distances


class DedupParams(Params):
    real_ratio: float = Field(0.1, ge=0, description="drop samples closer to a real training sample than this "
                              "times the median real nearest-neighbour distance (copies)")
    self_ratio: float = Field(0.1, ge=0, description="drop samples this close to an already kept synthetic one")
    min_distance: float | None = Field(None, ge=0, description="an absolute distance that overrides both ratios")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


def nn_distances(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """Distance from each row of A to its nearest row of B (of A itself, excluding self, if B is None)."""
    if B is None:
        return leave_one_out_distances(A, 1) if len(A) > 1 else np.zeros(len(A))
    return nearest_distances(A, B, 1)[0][:, 0]


def greedy_dedup(X: np.ndarray, candidates: np.ndarray, radius: float, k: int = 8) -> np.ndarray:
    """Walk the ``candidates`` rows of ``X`` in order and keep each one unless a row kept before
    it lies within ``radius``: the keep mask over all rows.

    Linear in the number of rows: each candidate's ``k`` nearest other candidates come from
    :func:`~gda_core.neighbors.nearest_distances` (faiss at scale); a row whose ``k`` neighbours
    are all within ``radius`` may have more, and gets an exact radius search.
    """
    rows = np.flatnonzero(candidates)
    keep = np.zeros(len(X), dtype=bool)
    if len(rows) < 2 or radius <= 0:
        keep[rows] = True
        return keep
    Xc = np.asarray(X, dtype=np.float32)[rows]
    dist, idx = nearest_distances(Xc, Xc, min(k + 1, len(rows)))
    earlier: dict[int, np.ndarray] = {}
    saturated = np.flatnonzero(dist[:, -1] <= radius) if dist.shape[1] < len(rows) else np.zeros(0, int)
    if len(saturated):
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(radius=radius, algorithm="brute").fit(Xc)
        for i, (d, j) in zip(saturated, zip(*nn.radius_neighbors(Xc[saturated]))):
            earlier[int(i)] = j[(j < i) & (d <= radius)]
    close = (idx < np.arange(len(rows))[:, None]) & (dist <= radius)
    for i in np.flatnonzero(close.any(axis=1)):
        earlier.setdefault(int(i), idx[i][close[i]])
    kept = np.ones(len(rows), dtype=bool)
    for i in sorted(earlier):  # a row's earlier neighbours are decided before it
        kept[i] = not kept[earlier[i]].any()
    keep[rows[kept]] = True
    return keep


class DeduplicationSelector(Selector):
    """Drops synthetic samples that copy a real training sample or nearly repeat another
    synthetic sample (greedily, in order: a sample goes when one kept before it is that close).
    The score is the distance to the nearest real training sample. Nearest neighbours come from
    :mod:`gda_core.neighbors` (exact for ordinary sizes, faiss at scale)."""

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
        return greedy_dedup(self.X_, keep, self_min) if self_min > 0 else keep
