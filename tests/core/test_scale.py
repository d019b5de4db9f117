"""Selection at scale: the faiss backend of gda_core.neighbors agrees with exact search on small
sets, and the linear-time de-duplication and large-class k-means keep what the exact ones keep."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core import neighbors
from gda_core.builtin.selectors import cluster as cluster_mod
from gda_core.builtin.selectors.dedup import greedy_dedup

from .helpers import blobs, context, synthetic

pytest.importorskip("faiss", reason="faiss is the optional scale backend: pip install 'gda-core[scale]'")


def _low_rank(n: int, d: int = 48, latent: int = 6, seed: int = 0) -> np.ndarray:
    """Points near a ``latent``-dimensional subspace, like real embeddings."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(latent, d))
    return (rng.normal(size=(n, latent)) @ w + 0.05 * rng.normal(size=(n, d))).astype(np.float32)


def test_faiss_flat_agrees_with_exact():
    X = _low_rank(1500)
    q = _low_rank(300, seed=1)
    d_exact, i_exact = neighbors.nearest_distances(q, X, 3, backend="exact")
    d_faiss, i_faiss = neighbors.nearest_distances(q, X, 3, backend="faiss")
    np.testing.assert_allclose(d_faiss, d_exact, rtol=1e-4, atol=1e-4)
    assert np.mean(i_faiss == i_exact) > 0.99


def test_faiss_ivf_is_close_to_exact_and_never_below_it():
    X = _low_rank(4000)
    d_exact, _ = neighbors.nearest_distances(X[:500], X, 2, backend="exact")
    d_ivf, _ = neighbors.nearest_distances(X[:500], X, 2, backend="faiss-ivf")
    assert np.all(d_ivf >= d_exact - 1e-4)  # an approximate neighbour is never nearer than the true one
    assert np.mean(np.isclose(d_ivf[:, 1], d_exact[:, 1], rtol=1e-3)) > 0.9
    assert np.all(d_ivf[:, 0] < 1e-3)  # each row finds itself (an exact copy) at distance 0


def test_leave_one_out_and_auto_choice(monkeypatch):
    X = _low_rank(800)
    exact = neighbors.leave_one_out_distances(X, 1, backend="exact")
    assert neighbors.choose_backend("auto", 800, 800) == "exact"
    monkeypatch.setattr(neighbors, "EXACT_MAX_PAIRS", 0)
    assert neighbors.choose_backend("auto", 800, 800) == "faiss"
    np.testing.assert_allclose(neighbors.leave_one_out_distances(X, 1), exact, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="backends: auto, exact, faiss"):
        neighbors.nearest_distances(X, X, 1, backend="annoy")


@pytest.mark.parametrize("factor", [0.1, 1.0, 4.0])
def test_radius_search_is_exact_on_every_backend(factor):
    """ReferenceIndex.within: scikit-learn, flat faiss and IVF faiss find the same pairs (the IVF
    path probes the cells a pair could cross into; 4 times the median nearest-neighbour distance
    makes queries probe every cell)."""
    X = _low_rank(3000) + 300  # far from the origin: squared distances computed through norms round badly
    X[::7] = X[1::7] + 1e-3  # planted near-copies
    q = X[:700]
    radius = factor * float(np.median(neighbors.leave_one_out_distances(X)))
    want = neighbors.ReferenceIndex(X, backend="exact").within(q, radius)
    flat = neighbors.ReferenceIndex(X, backend="faiss").within(q, radius)
    ivf = neighbors.ReferenceIndex(X, backend="faiss-ivf").within(q, radius)
    assert len(want[0]) > len(q)  # more than each row finding itself
    self_want = neighbors.ReferenceIndex(X, backend="exact").within(X, radius)
    self_ivf = neighbors.ReferenceIndex(X, backend="faiss-ivf").within(None, radius)  # the self-join
    for got, expected in ((flat, want), (ivf, want), (self_ivf, self_want)):
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_allclose(got[2], expected[2], atol=1e-6)


def _quadratic_dedup(X: np.ndarray, candidates: np.ndarray, radius: float) -> np.ndarray:
    """The former O(n^2) loop: the reference behaviour."""
    keep = candidates.copy()
    kept: list[np.ndarray] = []
    for i in range(len(X)):
        if not keep[i]:
            continue
        if kept and np.min(np.linalg.norm(np.stack(kept) - X[i], axis=1)) <= radius:
            keep[i] = False
            continue
        kept.append(X[i])
    return keep


@pytest.mark.parametrize("index", ["exact", "ivf"])
def test_greedy_dedup_matches_the_quadratic_loop(monkeypatch, index):
    rng = np.random.default_rng(3)
    base = _low_rank(600)
    # planted near-duplicates: some rows repeated up to 12 times (more than k=8 neighbours) with tiny noise
    copies = np.repeat(base[:40], rng.integers(1, 13, size=40), axis=0)
    X = np.concatenate([base, copies + 1e-3 * rng.normal(size=copies.shape)]).astype(np.float32)
    X = X[rng.permutation(len(X))]
    candidates = rng.random(len(X)) > 0.1
    if index == "ivf":
        monkeypatch.setattr(neighbors, "EXACT_MAX_PAIRS", 0)
        monkeypatch.setattr(neighbors, "FLAT_MAX_PAIRS", 0)
    got = greedy_dedup(X, candidates, radius=0.05)
    want = _quadratic_dedup(X, candidates, 0.05)
    assert got.sum() < candidates.sum()  # duplicates were dropped
    np.testing.assert_array_equal(got, want)


def test_large_class_kmeans_covers_every_planted_cluster(monkeypatch):
    """faiss k-means (the large-class path) on three far-apart blobs keeps samples of each."""
    from gda_core.builtin.selectors.cluster import ClusterDiversitySelector

    monkeypatch.setattr(cluster_mod, "KMEANS_EXACT_MAX", 0)
    rng = np.random.default_rng(0)
    centres = np.array([[0.0] * 4, [20.0] * 4, [-20.0] * 4])
    which = rng.integers(0, 3, size=300)
    points = centres[which] + rng.normal(size=(300, 4))
    ctx = context(blobs(10))
    sel = ClusterDiversitySelector(keep=0.1, per_class=False)
    recs = synthetic(points, np.zeros(300, int))
    keep = sel.select(sel.score(recs, ctx), recs, ctx)
    assert keep.sum() == 30
    assert set(which[keep]) == {0, 1, 2}
    # at most max_clusters clusters by default: rank 0 of each cluster first, then rank 1...
    sel = ClusterDiversitySelector(keep=0.5, max_clusters=3, per_class=False)
    sel.score(recs, ctx)
    assert sorted(np.unique(sel.rank_[sel.rank_ == 0], return_counts=True)[1]) == [3]
