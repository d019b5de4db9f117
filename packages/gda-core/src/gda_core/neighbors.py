"""Nearest-neighbour distances between feature sets: the primitive behind near-copy checks,
de-duplication and PRDC.

Backends (``backend=``):

- ``"exact"``: scikit-learn brute force (float32 features, memory linear in the query size);
- ``"faiss"``: `faiss <https://github.com/facebookresearch/faiss>`_ (``pip install gda-core[scale]``):
  a flat (exact) index up to :data:`FLAT_MAX_PAIRS` query-reference pairs, above that an inverted-file index
  (:func:`faiss.index_factory` ``"PCA<m>,IVF<nlist>,Flat"``: k-means cells over a PCA projection,
  ``NPROBE`` cells searched per query), approximate;
- ``"faiss-ivf"``: the inverted-file index at any size (tests and benchmarks);
- ``"auto"`` (the default): exact while ``len(query) * len(reference)`` is at most
  :data:`EXACT_MAX_PAIRS` (every run of ordinary size, so results there never depend on faiss),
  faiss above it when installed, else exact.

Whatever the index, the distances returned are recomputed (float32) for the
neighbours it found (directly, not through norms), so an exact copy is at distance 0.
"""

from __future__ import annotations

import numpy as np

BACKENDS = ("auto", "exact", "faiss", "faiss-ivf")
EXACT_MAX_PAIRS = 10**8
"""``backend="auto"``: exact search while query rows times reference rows is at most this."""
FLAT_MAX_PAIRS = 2 * 10**8
"""``backend="faiss"``: a flat (exact) index up to this many query-reference pairs, an IVF index above."""
NPROBE = 16
"""Inverted lists searched per query (more: better recall, slower)."""
PCA_DIM = 64
"""Features wider than this are projected (PCA) to this many dimensions inside the IVF index."""
EXTRA = 4
"""Candidates fetched beyond ``k`` from an index, re-ranked by exact distance."""
_BLOCK = 16384


def _as_2d(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    return np.ascontiguousarray(a.reshape(len(a), -1))


def faiss_available() -> bool:
    """Whether the optional faiss backend is installed."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def choose_backend(backend: str, n_query: int, n_reference: int) -> str:
    """The backend ``backend`` means for these sizes (``"auto"`` resolved); errors name the choices."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown nearest-neighbour backend {backend!r}; backends: {', '.join(BACKENDS)}")
    if backend == "auto":
        big = n_query * n_reference > EXACT_MAX_PAIRS
        return "faiss" if big and faiss_available() else "exact"
    if backend.startswith("faiss") and not faiss_available():
        raise ValueError(f"nearest-neighbour backend {backend!r} needs faiss: pip install 'gda-core[scale]'")
    return backend


def nearest_distances(query: np.ndarray, reference: np.ndarray, k: int = 1, *,
                      backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances ``(n, k)`` from each query row to its ``k`` nearest reference rows,
    and those rows' indices, nearest first (``backend``: see the module docstring)."""
    q, r = _as_2d(query), _as_2d(reference)
    if len(r) == 0:
        raise ValueError("the reference set is empty")
    k = min(k, len(r))
    chosen = choose_backend(backend, len(q), len(r))
    if len(q) == 0:
        return np.zeros((0, k)), np.zeros((0, k), dtype=np.int64)
    if chosen == "exact":
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k).fit(r)
        dist, idx = nn.kneighbors(q)
        return dist.astype(np.float64), idx
    index = faiss_index(r, ivf=chosen == "faiss-ivf" or len(q) * len(r) > FLAT_MAX_PAIRS)
    return _search(index, q, r, k)


def leave_one_out_distances(reference: np.ndarray, k: int = 1, *, backend: str = "auto") -> np.ndarray:
    """Each reference row's distance to its ``k``-th nearest *other* reference row: what a new
    real sample's distance to the set looks like (the calibration of near-copy thresholds)."""
    r = _as_2d(reference)
    if len(r) < 2:
        raise ValueError("leave-one-out distances need at least two reference rows")
    dist, _ = nearest_distances(r, r, k + 1, backend=backend)
    return dist[:, k]


def faiss_index(reference: np.ndarray, *, ivf: bool, seed: int = 0):
    """A faiss index over ``reference`` rows: flat (exact) or ``PCA,IVF,Flat`` (approximate).

    The IVF index has about ``2 * sqrt(n)`` cells (k-means, 10 iterations, on at most 40 rows per
    cell drawn with ``seed``) and searches :data:`NPROBE` of them per query.
    """
    import faiss

    r = _as_2d(reference)
    n, d = r.shape
    if not ivf:
        index = faiss.IndexFlatL2(d)
        index.add(r)
        return index
    nlist = int(max(1, min(2 * np.sqrt(n), n // 39)))
    prefix = f"PCA{PCA_DIM}," if d > PCA_DIM else ""
    index = faiss.index_factory(d, f"{prefix}IVF{nlist},Flat")
    faiss.extract_index_ivf(index).cp.niter = 10
    sample = r if n <= 40 * nlist else r[np.sort(np.random.default_rng(seed).choice(n, 40 * nlist, replace=False))]
    index.train(sample)
    for start in range(0, n, _BLOCK * 4):
        index.add(r[start:start + _BLOCK * 4])
    faiss.extract_index_ivf(index).nprobe = min(NPROBE, nlist)
    return index


def _search(index, q: np.ndarray, r: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Search ``index`` (over ``r``) in query blocks; re-rank ``k + EXTRA`` candidates exactly."""
    kk = min(len(r), k + EXTRA)
    dist = np.empty((len(q), k))
    idx = np.empty((len(q), k), dtype=np.int64)
    for start in range(0, len(q), _BLOCK):
        block = q[start:start + _BLOCK]
        _, cand = index.search(block, kk)
        found = cand >= 0  # an IVF index may find fewer than kk
        safe = np.where(found, cand, 0)
        d = np.empty(cand.shape)
        for j in range(kk):  # one candidate column at a time: memory stays (block, d)
            diff = r[safe[:, j]] - block  # float32: an exact copy is still at 0
            d[:, j] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        d[~found] = np.inf
        order = np.argsort(d, axis=1, kind="stable")[:, :k]
        dist[start:start + len(block)] = np.take_along_axis(d, order, axis=1)
        idx[start:start + len(block)] = np.take_along_axis(cand, order, axis=1)
    return dist, idx
