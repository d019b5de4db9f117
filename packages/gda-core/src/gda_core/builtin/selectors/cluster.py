"""Cluster-based diversity: k-means over embeddings, keep the samples nearest each centroid."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from gda_core.components import Selector, SelectorParams, class_groups


class ClusterParams(SelectorParams):
    keep: float | None = Field(0.5, gt=0, le=1, description="share of samples kept (one cluster per kept sample)")
    n_clusters: int | None = Field(None, gt=0, description="clusters per class (default: the number to keep)")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class ClusterDiversitySelector(Selector):
    """k-means (scikit-learn) within each class; keep the samples nearest the centroids,
    spread evenly over the clusters, so that the kept set covers the generated variety."""

    Params = ClusterParams

    def score(self, synthetic, context) -> np.ndarray:
        from sklearn.cluster import KMeans

        X = context.embed(synthetic, self.params.embedder)
        self.rank_ = np.zeros(len(synthetic))
        scores = np.zeros(len(synthetic))
        for idx in class_groups(synthetic, self.params.per_class):
            n_keep = max(1, int(round((self.params.keep or 1.0) * len(idx))))
            k = min(self.params.n_clusters or n_keep, len(idx))
            km = KMeans(n_clusters=k, n_init=4, random_state=context.seed).fit(X[idx])
            dist = np.linalg.norm(X[idx] - km.cluster_centers_[km.labels_], axis=1)
            scores[idx] = -dist
            # rank within each cluster: 0 for the nearest to its centroid, 1 for the next...
            for c in range(k):
                members = np.flatnonzero(km.labels_ == c)
                order = members[np.argsort(dist[members], kind="stable")]
                self.rank_[idx[order]] = np.arange(len(order))
        return scores

    def select(self, scores, synthetic, context) -> np.ndarray:
        keep = np.zeros(len(synthetic), dtype=bool)
        for idx in class_groups(synthetic, self.params.per_class):
            n_keep = max(1, int(round((self.params.keep or 1.0) * len(idx))))
            # round-robin over clusters: every cluster's nearest first, then second nearest...
            order = np.lexsort((-scores[idx], self.rank_[idx]))
            keep[idx[order[:n_keep]]] = True
        if self.params.threshold is not None:
            keep &= scores >= self.params.threshold
        return keep
