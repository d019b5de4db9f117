import numpy as np
import pytest

from gda_core.builtin.validators.mmd import mmd2
from gda_core.builtin.validators.prdc import prdc
from gda_core.components import ValidationInputs
from gda_core.host import host

from .helpers import blobs, context, synthetic


def test_prdc_separates_faithful_from_shifted():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 5))
    same = rng.normal(size=(200, 5))
    shifted = rng.normal(loc=3.0, size=(200, 5))
    collapsed = np.zeros((200, 5)) + rng.normal(scale=0.01, size=(200, 5))
    good, bad, mode = prdc(real, same), prdc(real, shifted), prdc(real, collapsed)
    assert good["precision"] > 0.8 and good["recall"] > 0.8 and good["coverage"] > 0.8
    assert bad["precision"] < 0.2 and bad["coverage"] < 0.2
    assert mode["recall"] < 0.1 and mode["coverage"] < 0.2 and mode["precision"] > 0.9


def test_mmd_is_near_zero_for_one_distribution_and_grows_with_shift():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 3))
    vals = [mmd2(x, rng.normal(loc=s, size=(150, 3))) for s in (0.0, 0.5, 2.0)]
    assert abs(vals[0]) < 0.02
    assert vals[0] < vals[1] < vals[2]


def _inputs(train, test, syn):
    return ValidationInputs(train=train, test=test, synthetic=syn, stages=[("generated", syn)])


def test_memorization_flags_copies_not_fresh_samples():
    train, test = blobs(seed=0), blobs(seed=1, prefix="t")
    ctx = context(train, test)
    val = host.get("validators", "core.memorization").from_params({})
    copies = synthetic(np.stack([r.data for r in train]), train.labels())
    fresh = synthetic(np.stack([r.data for r in blobs(seed=2)]), train.labels(), prefix="f")
    m_copy = val.evaluate(_inputs(train, test, copies), ctx).metrics
    m_fresh = val.evaluate(_inputs(train, test, fresh), ctx).metrics
    assert m_copy["memorized_share"] == 1.0 and m_copy["exact_copies"] == 1.0
    assert m_fresh["memorized_share"] < 0.3 and m_fresh["exact_copies"] == 0.0


def test_downstream_reports_each_training_set_and_punishes_wrong_labels():
    train, test = blobs(n_per_class=6, sep=3.0), blobs(n_per_class=50, sep=3.0, seed=5, prefix="t")
    ctx = context(train, test)
    ctx.application = host.get("applications", "core.classification").from_params({})
    ctx.application.name = "core.classification"
    other = blobs(n_per_class=40, sep=3.0, seed=9, prefix="s")
    good = synthetic(np.stack([r.data for r in other]), other.labels())
    flipped = synthetic(np.stack([r.data for r in other]), 1 - other.labels(), prefix="f")
    val = host.get("validators", "core.downstream").from_params({"seeds": 2})
    m_good = val.evaluate(_inputs(train, test, good), ctx).metrics
    m_bad = val.evaluate(_inputs(train, test, flipped), ctx).metrics
    for key in ("real.accuracy.mean", "real+synthetic.accuracy.mean", "synthetic.accuracy.mean",
                "gain.accuracy"):
        assert key in m_good
    assert m_good["synthetic.accuracy.mean"] > 0.85
    assert m_bad["synthetic.accuracy.mean"] < 0.15
    assert m_good["real.accuracy.mean"] == m_bad["real.accuracy.mean"]


def test_projection_draws_png_figures():
    train, test = blobs(), blobs(seed=1, prefix="t")
    ctx = context(train, test)
    syn = synthetic(np.stack([r.data for r in blobs(seed=2)]), train.labels())
    res = host.get("validators", "core.projection").from_params({}).evaluate(_inputs(train, test, syn), ctx)
    assert [f.filename for f in res.figures] == ["projection_pca.png", "projection_tsne.png"]
    assert all(f.png.startswith(b"\x89PNG") for f in res.figures)


def test_prdc_validator_has_real_reference():
    train, test = blobs(), blobs(seed=1, prefix="t")
    ctx = context(train, test)
    syn = synthetic(np.stack([r.data for r in blobs(seed=2)]), train.labels())
    res = host.get("validators", "core.prdc").from_params({"k": 3}).evaluate(_inputs(train, test, syn), ctx)
    assert set(res.metrics) == {"precision", "recall", "density", "coverage"}
    assert res.tables[0].rows[1][0].startswith("real test")


@pytest.mark.parametrize("kind", ["validators", "selectors", "generators", "applications", "datasets", "embedders"])
def test_every_core_component_is_documented_and_describable(kind):
    for name in host.components(kind):
        d = host.describe(kind, name)
        assert d["summary"], f"{name} has no docstring"


def test_mmd_with_one_kept_sample_is_a_note_not_a_crash():
    train, test = blobs(seed=0), blobs(seed=1, prefix="t")
    ctx = context(train, test)
    val = host.get("validators", "core.mmd").from_params({})
    one = synthetic(np.stack([train.records[0].data]) + 0.5, train.labels()[:1])
    res = val.evaluate(_inputs(train, test, one), ctx)
    assert not res.metrics and "at least two" in res.notes[0]


def test_frechet_distance_matches_scipys_square_root_and_warns_for_no_singular_covariance():
    import warnings

    from scipy import linalg

    from gda_core.frechet import frechet_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 4)), rng.normal(size=(400, 4)) * 1.5 + 0.5
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1 + s2) - 2 * np.trace(np.real(linalg.sqrtm(s1 @ s2)))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    few = rng.normal(size=(5, 64))  # fewer samples than dimensions: singular covariances
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's sqrtm warns "Matrix is singular" here
        d = frechet_distance(few, few + 1.0)
    assert d == pytest.approx(64.0, rel=1e-6)  # same covariance, means 1 apart in each of 64 dimensions
