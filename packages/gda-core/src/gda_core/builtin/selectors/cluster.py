"""Cluster-based diversity: k-means over embeddings, keep the samples nearest each centroid."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Selector, SelectorParams, class_groups

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Record


class ClusterParams(SelectorParams):
    keep: float | None = Field(0.5, gt=0, le=1, description="share of samples kept (one cluster per kept sample)")
    n_clusters: int | None = Field(None, gt=0, description="clusters per class (default: the number to keep, "
                                   "at most max_clusters)")
    max_clusters: int = Field(256, gt=0, description="the default n_clusters' cap: above it the kept samples "
                              "are the nearest few of each cluster, in turn")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


KMEANS_EXACT_MAX = 100_000
"""Groups whose samples times clusters is at most this cluster with scikit-learn's KMeans (4
starts); larger ones with faiss k-means (one start, 10 iterations on at most 64 samples per
cluster) when faiss is installed."""


def kmeans(X: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(centers, labels)`` of ``k``-means on the rows of ``X`` (see :data:`KMEANS_EXACT_MAX`)."""
    from gda_core.neighbors import faiss_available

    if len(X) * k <= KMEANS_EXACT_MAX or not faiss_available():
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(X)
        return km.cluster_centers_, km.labels_
    import faiss

    x = np.ascontiguousarray(X, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], k, niter=10, seed=seed % 2**31, max_points_per_centroid=64,
                      min_points_per_centroid=1)
    km.train(x)
    _, labels = km.index.search(x, 1)
    return km.centroids.astype(np.float64), labels[:, 0].astype(np.int64)


class ClusterDiversitySelector(Selector):
    """k-means within each class (scikit-learn; faiss for large classes); keep the samples
    nearest the centroids, spread evenly over the clusters, so that the kept set covers the
    generated variety."""

    Params = ClusterParams

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        X = context.embed(synthetic, self.params.embedder)
        self.rank_ = np.zeros(len(synthetic))
        scores = np.zeros(len(synthetic))
        for idx in class_groups(synthetic, self.params.per_class):
            n_keep = max(1, int(round((self.params.keep or 1.0) * len(idx))))
            k = min(self.params.n_clusters or min(n_keep, self.params.max_clusters), len(idx))
            centers, labels = kmeans(X[idx], k, context.seed)
            dist = np.linalg.norm(X[idx] - centers[labels], axis=1)
            scores[idx] = -dist
            # rank within each cluster: 0 for the nearest to its centroid, 1 for the next...
            order = np.lexsort((dist, labels))
            sorted_labels = labels[order]
            starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
            self.rank_[idx[order]] = np.arange(len(order)) - starts
        return scores

    def select(self, scores: np.ndarray, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        keep = np.zeros(len(synthetic), dtype=bool)
        for idx in class_groups(synthetic, self.params.per_class):
            n_keep = max(1, int(round((self.params.keep or 1.0) * len(idx))))
            # round-robin over clusters: every cluster's nearest first, then second nearest...
            order = np.lexsort((-scores[idx], self.rank_[idx]))
            keep[idx[order[:n_keep]]] = True
        if self.params.threshold is not None:
            keep &= scores >= self.params.threshold
        return keep
