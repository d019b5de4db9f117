import numpy as np

from gda_core.host import host

from .helpers import blobs, context, synthetic


def _run(name, params, train, recs, ctx):
    sel = host.get("selectors", name).from_params(params)
    sel.fit(train, ctx)
    scores = sel.score(recs, ctx)
    assert scores.shape == (len(recs),)
    return sel.select(scores, recs, ctx), scores


def test_confidence_keeps_the_good_half_of_a_planted_mix():
    train = blobs(n_per_class=30, sep=5.0)
    ctx = context(train)
    rng = np.random.default_rng(3)
    # 20 good samples per class drawn from their own class, 20 drawn from the *other* class
    good = [rng.normal(c * 5.0, 1.0, size=(20, 4)) for c in (0, 1)]
    bad = [rng.normal((1 - c) * 5.0, 1.0, size=(20, 4)) for c in (0, 1)]
    pts = np.concatenate([good[0], bad[0], good[1], bad[1]])
    labels = [0] * 40 + [1] * 40
    is_good = np.array(([True] * 20 + [False] * 20) * 2)
    recs = synthetic(pts, labels)
    keep, scores = _run("core.confidence", {"keep": 0.5, "threshold": None}, train, recs, ctx)
    assert keep.sum() == 40
    assert (keep & is_good).sum() >= 38
    assert scores[is_good].mean() > scores[~is_good].mean()


def test_topk_ranks_by_an_earlier_score():
    train = blobs()
    ctx = context(train)
    recs = synthetic(np.zeros((6, 4)), [0, 0, 0, 1, 1, 1])
    for i, r in enumerate(recs):
        r.provenance.scores["x.score"] = float(i % 3)
    keep, _ = _run("core.topk", {"by": "x.score", "k": 1}, train, recs, ctx)
    assert keep.tolist() == [False, False, True, False, False, True]
    keep, _ = _run("core.topk", {"by": "x.score", "k": 1, "lower_is_better": True}, train, recs, ctx)
    assert keep.tolist() == [True, False, False, True, False, False]


def test_cluster_selection_covers_every_mode():
    train = blobs()
    ctx = context(train)
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0, 0], [10, 0, 0, 0], [0, 10, 0, 0], [0, 0, 10, 0]], dtype=float)
    # very uneven modes: 40, 3, 3, 2 points
    sizes = [40, 3, 3, 2]
    pts = np.concatenate([rng.normal(c, 0.1, size=(n, 4)) for c, n in zip(centres, sizes)])
    mode = np.repeat(np.arange(4), sizes)
    recs = synthetic(pts, [0] * len(pts))
    keep, _ = _run("core.cluster", {"keep": 4 / len(pts)}, train, recs, ctx)
    assert keep.sum() == 4
    assert sorted(mode[keep].tolist()) == [0, 1, 2, 3]  # one from each mode, not four from the big one


def test_dedup_drops_copies_of_real_and_of_each_other():
    train = blobs()
    ctx = context(train)
    real = np.stack([r.data for r in train.records[:3]])
    rng = np.random.default_rng(1)
    fresh = rng.normal(2.0, 1.0, size=(5, 4))
    pts = np.concatenate([real, fresh, fresh[:2] + 1e-4])  # 3 copies of real, 5 fresh, 2 near-repeats
    recs = synthetic(pts, [0] * len(pts))
    keep, scores = _run("core.dedup", {}, train, recs, ctx)
    assert keep.tolist() == [False] * 3 + [True] * 5 + [False] * 2
    assert np.allclose(scores[:3], 0, atol=1e-5)


def test_balance_tops_up_rare_classes():
    train = blobs(n_per_class=10).with_records(
        [r for r in blobs(n_per_class=10).records if r.label == 0 or r.id.endswith(("-0", "-1", "-2"))])
    ctx = context(train)
    recs = synthetic(np.zeros((20, 4)), [0] * 10 + [1] * 10)
    keep, _ = _run("core.balance", {}, train, recs, ctx)
    # class 0 has 10 real (the target), class 1 has 3 real: 7 synthetic of class 1 kept, none of 0
    assert keep[:10].sum() == 0 and keep[10:].sum() == 7
