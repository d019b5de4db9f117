"""Nearest-neighbour distances between feature sets: the primitive behind near-copy checks,
de-duplication and PRDC.

Exact search (scikit-learn, in row blocks so memory stays linear in the query size) serves
small sets; large ones may use an approximate index (see ``backend``).
"""

from __future__ import annotations

import numpy as np


def _as_2d(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    return a.reshape(len(a), -1)


def nearest_distances(query: np.ndarray, reference: np.ndarray, k: int = 1, *,
                      backend: str = "exact") -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances ``(n, k)`` from each query row to its ``k`` nearest reference rows,
    and those rows' indices, nearest first."""
    from sklearn.neighbors import NearestNeighbors

    if backend != "exact":
        raise ValueError(f"unknown nearest-neighbour backend {backend!r}; backends: exact")
    q, r = _as_2d(query), _as_2d(reference)
    if len(r) == 0:
        raise ValueError("the reference set is empty")
    k = min(k, len(r))
    nn = NearestNeighbors(n_neighbors=k).fit(r)
    dist, idx = nn.kneighbors(q) if len(q) else (np.zeros((0, k)), np.zeros((0, k), dtype=int))
    return dist.astype(np.float64), idx


def leave_one_out_distances(reference: np.ndarray, k: int = 1, *, backend: str = "exact") -> np.ndarray:
    """Each reference row's distance to its ``k``-th nearest *other* reference row: what a new
    real sample's distance to the set looks like (the calibration of near-copy thresholds)."""
    r = _as_2d(reference)
    if len(r) < 2:
        raise ValueError("leave-one-out distances need at least two reference rows")
    dist, _ = nearest_distances(r, r, k + 1, backend=backend)
    return dist[:, k]
