"""Nearest-neighbour distances between feature sets: the primitive behind near-copy checks,
de-duplication and PRDC.

Backends (``backend=``):

- ``"exact"``: scikit-learn brute force (float32 features, memory linear in the query size);
- ``"faiss"``: `faiss <https://github.com/facebookresearch/faiss>`_ (``pip install gda-core[scale]``):
  a flat (exact) index up to :data:`FLAT_MAX_PAIRS` query-reference pairs, above that an inverted-file index
  (:func:`faiss.index_factory` ``"PCA<m>,IVF<nlist>,SQfp16"``: k-means cells over a PCA projection,
  float16 vectors, ``NPROBE`` cells searched per query), approximate;
- ``"faiss-ivf"``: the inverted-file index at any size (tests and benchmarks);
- ``"auto"`` (the default): exact while ``len(query) * len(reference)`` is at most
  :data:`EXACT_MAX_PAIRS` (every run of ordinary size, so results there never depend on faiss),
  faiss above it when installed, else exact.

Whatever the index, the distances returned are recomputed (float32) for the
neighbours it found (directly, not through norms), so an exact copy is at distance 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from typing import Any

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
RANGE_DIM = 32
"""Radius search projects to this many dimensions (a lower bound of every distance: exact)."""


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
    return ReferenceIndex(reference, backend=backend).nearest(query, k)


def leave_one_out_distances(reference: np.ndarray, k: int = 1, *, backend: str = "auto") -> np.ndarray:
    """Each reference row's distance to its ``k``-th nearest *other* reference row: what a new
    real sample's distance to the set looks like (the calibration of near-copy thresholds)."""
    return ReferenceIndex(reference, backend=backend).leave_one_out(k)


class ReferenceIndex:
    """Searches against one reference set (rows must not change): a faiss index is built on the
    first search that needs it and shared by the later ones (a selector's ``fit`` and ``score``)."""

    def __init__(self, reference: np.ndarray, *, backend: str = "auto") -> None:
        self.reference = _as_2d(reference)
        if len(self.reference) == 0:
            raise ValueError("the reference set is empty")
        choose_backend(backend, 0, 0)  # an unknown name fails here
        self.backend = backend
        self._faiss: dict[bool, object] = {}
        self._cells: dict[int, _Cells] = {}

    def _choose(self, n_query: int) -> tuple[str, bool]:
        """``(backend, ivf)`` for ``n_query`` queries."""
        chosen = choose_backend(self.backend, n_query, len(self.reference))
        return chosen, chosen == "faiss-ivf" or n_query * len(self.reference) > FLAT_MAX_PAIRS

    def index(self, ivf: bool) -> Any:
        """The faiss index (flat or IVF) over the reference rows, built once."""
        if ivf not in self._faiss:
            self._faiss[ivf] = faiss_index(self.reference, ivf=ivf)
        return self._faiss[ivf]

    def cells(self, dim: int = RANGE_DIM) -> _Cells:
        """The reference rows bucketed by k-means cell in a ``dim``-dimensional PCA projection
        (:class:`_Cells`), built once per ``dim``."""
        if dim not in self._cells:
            self._cells[dim] = _Cells(self.reference, dim)
        return self._cells[dim]

    def nearest(self, query: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """See :func:`nearest_distances`."""
        q, r = _as_2d(query), self.reference
        k = min(k, len(r))
        chosen, ivf = self._choose(len(q))
        if len(q) == 0:
            return np.zeros((0, k)), np.zeros((0, k), dtype=np.int64)
        if chosen == "exact":
            from sklearn.neighbors import NearestNeighbors

            nn = NearestNeighbors(n_neighbors=k).fit(r)
            dist, idx = nn.kneighbors(q)
            return dist.astype(np.float64), idx
        return _search(self.index(ivf), q, r, k)

    def leave_one_out(self, k: int = 1) -> np.ndarray:
        """See :func:`leave_one_out_distances`."""
        if len(self.reference) < 2:
            raise ValueError("leave-one-out distances need at least two reference rows")
        return self.nearest(self.reference, k + 1)[0][:, k]

    def within(self, query: np.ndarray | None, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query row, reference row) pair at distance ``<= radius``: ``(query rows, reference
        rows, distances)``, sorted by query row, then distance, then reference row (``query=None``:
        the reference against itself, each row finding itself among others).

        Exact with every backend: candidates come from scikit-learn, a flat faiss index, or (where
        the backend would use an IVF index) :class:`_Cells`, each with a little slack, and are kept
        when their distance, recomputed directly in float32, is within ``radius``.
        """
        r = self.reference
        q = r if query is None else _as_2d(query)
        chosen, ivf = self._choose(len(q))
        loose = float(radius) * (1 + 1e-3) + 1e-6
        parts = []
        block_rows = len(q) if ivf and query is None else _BLOCK * 16 if ivf else _BLOCK
        for start in range(0, len(q), block_rows):
            block = q[start:start + block_rows]
            if chosen == "exact":
                from sklearn.neighbors import NearestNeighbors

                found = NearestNeighbors(radius=loose, algorithm="brute").fit(r).radius_neighbors(
                    block, return_distance=False)
                rows = np.repeat(np.arange(len(block)), [len(f) for f in found])
                cols = np.concatenate(found) if len(found) else np.zeros(0, np.int64)
            elif not ivf:  # faiss's squared distances round with the norms: a little more slack for them
                norms = float((r ** 2).sum(1).max() + (block ** 2).sum(1).max())
                lims, _, cols = self.index(False).range_search(block, loose * loose + 1e-5 * norms)
                rows = np.repeat(np.arange(len(block)), np.diff(lims).astype(np.int64))
            else:
                cells = self.cells(RANGE_DIM)
                rows, cols = cells.candidates(None if query is None else block, loose)
            cols = cols.astype(np.int64)
            for c in range(0, len(rows), _BLOCK * 4):  # verify: float32, directly (an exact copy is at 0)
                rr, cc = rows[c:c + _BLOCK * 4], cols[c:c + _BLOCK * 4]
                diff = r[cc] - block[rr]
                d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
                ok = d <= radius
                parts.append((rr[ok] + start, cc[ok], d[ok].astype(np.float64)))
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        rows, cols, d = (np.concatenate(p) for p in zip(*parts))
        order = np.lexsort((cols, d, rows))
        return rows[order], cols[order], d[order]


class _Cells:
    """Reference rows bucketed by k-means cell in a PCA projection, for exact radius search.

    A PCA projection (faiss, orthonormal) never lengthens a distance, so a reference row within
    ``radius`` of a query is within ``radius`` in the projection too. A query is compared with the
    rows of its nearest cell and of each other cell ``j`` whose half-space (nearer ``c_j`` than the
    query's nearest centroid ``c_1``) comes within ``radius`` of it,
    ``(|y - c_j|^2 - |y - c_1|^2) / (2 |c_j - c_1|) <= radius``: no row within ``radius`` is missed.
    Every cell is checked (the query's distances to all centroids are one BLAS product; only cells
    with ``|y - c_j| <= |y - c_1| + 2 radius`` can qualify, so the bound is computed for those).
    For a radius well below the distances between samples that is a few cells; the comparisons
    are one matrix product (BLAS) per cell, with all its visiting queries at once.
    About ``2 sqrt(n)`` cells (k-means, 10 iterations, at most 40 sampled rows per cell).
    """

    def __init__(self, reference: np.ndarray, dim: int = RANGE_DIM, seed: int = 0) -> None:
        import faiss

        r = reference
        n, d = r.shape
        nlist = int(max(1, min(2 * np.sqrt(n), n // 39)))
        sample = r if n <= 40 * nlist else r[np.sort(np.random.default_rng(seed).choice(n, 40 * nlist, replace=False))]
        self.pca = None
        if d > dim:
            self.pca = faiss.PCAMatrix(d, dim)
            self.pca.train(sample)
        km = faiss.Kmeans(self.project(sample[:1]).shape[1], nlist, niter=10, seed=seed, max_points_per_centroid=40,
                          min_points_per_centroid=1)
        km.train(self.project(sample))
        self.centroids = km.centroids
        self.nlist = len(self.centroids)
        self.c2 = c2 = (self.centroids ** 2).sum(1)
        self.caug = np.ascontiguousarray(np.concatenate([-2 * self.centroids, c2[:, None]], axis=1))
        self.cmax2 = float(c2.max())
        self.gaps = np.sqrt(np.maximum(c2[:, None] + c2[None] - 2 * self.centroids @ self.centroids.T, 0))
        self.y = np.concatenate([self.project(r[s:s + _BLOCK * 4]) for s in range(0, n, _BLOCK * 4)])
        from threadpoolctl import threadpool_limits  # scikit-learn's

        with threadpool_limits(1, user_api="blas"):  # a block at a time: threads only wait on each other
            self.cell = np.concatenate([self._distances(_augment(self.y[s:s + _BLOCK])).argmin(1)
                                        for s in range(0, n, _BLOCK)])
        self.order = np.argsort(self.cell, kind="stable")
        y = self.y[self.order]
        # members as [-2 y, |y|^2]: one product with [y_q, 1] gives |y|^2 - 2 y.y_q (BLAS, no extra pass)
        self.members = np.ascontiguousarray(np.concatenate([-2 * y, (y ** 2).sum(1, keepdims=True)], axis=1))
        self.starts = np.searchsorted(self.cell[self.order], np.arange(self.nlist + 1))

    def _distances(self, yaug: np.ndarray) -> np.ndarray:
        """Squared distances ``(n, nlist)`` from projected rows ``[y, 1]`` to every centroid, less
        each row's squared norm: ``|c|^2 - 2 y.c``, one BLAS product and no other pass."""
        return yaug @ self.caug.T

    def project(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x if self.pca is None else self.pca.apply(x), dtype=np.float32)

    def probes(self, yq: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """``(query rows, cells)``: each query's cells to search (see the class docstring), from its
        squared distances to every centroid. The half-space bound holds for any base cell ``c_1``
        (a member of cell ``j`` is nearer ``c_j`` than ``c_1``), so rounding in the choice of the
        nearest centroid cannot lose a cell; the slack covers the rounding of the distances."""
        rows_out, cells_out = [], []
        for s in range(0, len(yq), _BLOCK):
            block = yq[s:s + _BLOCK]
            qn = (block[:, :-1] ** 2).sum(1)  # block is [y, 1]
            d = self._distances(block)  # squared distances less qn
            base = d.argmin(1)
            dbase = d[np.arange(len(d)), base]
            d1 = np.maximum(dbase + qn, 0)
            slack = 1e-3 * (radius + np.sqrt(d1)) + 1e-6
            rounding = 1e-5 * (qn + self.cmax2)
            # |c_j - c_1| <= |y - c_j| + |y - c_1| makes the bound at least (|y - c_j| - |y - c_1|) / 2:
            # only cells with |y - c_j| <= |y - c_1| + 2 r can qualify (one cheap pass), then the bound itself
            reach = (np.sqrt(d1) + 2 * (radius + slack)) ** 2 + rounding - qn
            rows, cells = np.nonzero(d <= reach[:, None])
            beyond = d[rows, cells] - dbase[rows]  # |y - c_j|^2 - |y - c_1|^2
            ok = beyond <= 2 * self.gaps[base[rows], cells] * (radius + slack[rows]) + rounding[rows]
            rows_out.append(rows[ok] + s)
            cells_out.append(cells[ok])
        return np.concatenate(rows_out), np.concatenate(cells_out)

    def _join(self, yq, qn, rows, bounds, radius, out_q, out_r) -> None:
        """Each cell's members against its visiting queries (``rows`` sorted by cell, ``bounds``)."""
        for c in np.flatnonzero(np.diff(bounds)):
            visitors = rows[bounds[c]:bounds[c + 1]]
            members = self.members[self.starts[c]:self.starts[c + 1]]
            # |y_q - y|^2 <= r^2, less the query's norm, with slack for the product form's rounding
            limit = radius * radius - qn[visitors] + 1e-4 * (qn[visitors] + members[:, -1].max())
            vi, mi = np.nonzero(yq[visitors] @ members.T <= limit[:, None])
            out_q.append(visitors[vi])
            out_r.append(self.order[self.starts[c] + mi])

    def candidates(self, q: np.ndarray | None, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """``(query rows, reference rows)``: every pair within ``radius`` in the projection (and
        some a little beyond); so every pair within ``radius``. ``q=None``: the reference itself."""
        yq = self.y if q is None else self.project(q)
        qn = (yq ** 2).sum(1)
        from threadpoolctl import threadpool_limits  # scikit-learn's

        yq = _augment(yq)
        with threadpool_limits(1, user_api="blas"):  # many small products: threads only wait on each other
            rows, cells = self.probes(yq, radius)
        if q is None:  # a pair across two cells is found from both sides: keep the side in the lower cell
            ok = cells >= self.cell[rows]
            rows, cells = rows[ok], cells[ok]
        by_cell = np.argsort(cells, kind="stable")
        rows, cells = rows[by_cell], cells[by_cell]
        bounds = np.searchsorted(cells, np.arange(self.nlist + 1))
        out_q, out_r = [], []
        with threadpool_limits(1, user_api="blas"):  # many small products: threads only wait on each other
            self._join(yq, qn, rows, bounds, radius, out_q, out_r)
        if not out_q:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        rows, cols = np.concatenate(out_q).astype(np.int64), np.concatenate(out_r).astype(np.int64)
        if q is None:  # both sides of each pair
            n = len(self.y)
            pairs = np.unique(np.concatenate([rows * n + cols, cols * n + rows]))
            rows, cols = pairs // n, pairs % n
        return rows, cols


def _augment(y: np.ndarray) -> np.ndarray:
    """``[y, 1]``: rows ready for a product with ``[-2 c, |c|^2]``."""
    return np.concatenate([y, np.ones((len(y), 1), np.float32)], axis=1)


def faiss_index(reference: np.ndarray, *, ivf: bool, seed: int = 0) -> Any:
    """A faiss index over ``reference`` rows: flat (exact) or ``PCA,IVF,SQfp16`` (approximate).

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
    # vectors stored as float16 in the cells: 40% faster scans than float32, the same neighbours
    # after the exact re-ranking (measured on the selection benchmark's 10^5 real samples)
    index = faiss.index_factory(d, f"{prefix}IVF{nlist},SQfp16")
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
