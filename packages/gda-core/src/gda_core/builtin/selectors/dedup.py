"""Near-duplicate removal and memorization guard."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Params, Selector
from gda_core.neighbors import ReferenceIndex, leave_one_out_distances, nearest_distances

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


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


def greedy_dedup(X: np.ndarray, candidates: np.ndarray, radius: float) -> np.ndarray:
    """Walk the ``candidates`` rows of ``X`` in order and keep each one unless a row kept before
    it lies within ``radius``: the keep mask over all rows.

    Linear in the number of rows: one radius search of the candidates against themselves
    (:meth:`~gda_core.neighbors.ReferenceIndex.within`: exact, faiss at scale) gives each row's
    earlier neighbours, then one pass decides the rows that have any, in order.
    """
    rows = np.flatnonzero(candidates)
    keep = np.zeros(len(X), dtype=bool)
    if len(rows) < 2 or radius <= 0:
        keep[rows] = True
        return keep
    Xc = np.asarray(X if len(rows) == len(X) else X[rows], dtype=np.float32)  # no copy when already float32
    i, j, _ = ReferenceIndex(Xc).within(None, radius)
    earlier = j < i
    i, j = i[earlier], j[earlier]  # sorted by i
    kept = np.ones(len(rows), dtype=bool)
    starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]]) if len(i) else np.zeros(0, int)
    for row, js in zip(i[starts], np.split(j, starts[1:])):  # a row's earlier neighbours are decided before it
        kept[row] = not kept[js].any()
    keep[rows[kept]] = True
    return keep


class DeduplicationSelector(Selector):
    """Drops synthetic samples that copy a real training sample or nearly repeat another
    synthetic sample (greedily, in order: a sample goes when one kept before it is that close).
    The score is the distance to the nearest real training sample. Nearest neighbours come from
    :mod:`gda_core.neighbors` (exact for ordinary sizes, faiss at scale)."""

    Params = DedupParams

    def fit(self, train: Dataset, context: RunContext) -> None:
        self.real_ = context.embed(train.records, self.params.embedder)
        self.index_ = ReferenceIndex(self.real_)  # one index for the leave-one-out and the scores
        self.scale_ = float(np.median(self.index_.leave_one_out(1))) if len(self.real_) > 1 else 1.0

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        self.X_ = context.embed(synthetic, self.params.embedder)
        return self.index_.nearest(self.X_, 1)[0][:, 0]

    def select(self, scores: np.ndarray, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        p = self.params
        real_min = p.min_distance if p.min_distance is not None else p.real_ratio * self.scale_
        self_min = p.min_distance if p.min_distance is not None else p.self_ratio * self.scale_
        keep = scores > real_min if real_min > 0 else np.ones(len(scores), dtype=bool)
        return greedy_dedup(self.X_, keep, self_min) if self_min > 0 else keep
