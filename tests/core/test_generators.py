import numpy as np
import pytest

from gda_core.errors import ConfigError
from gda_core.host import host

from .helpers import blobs, context


@pytest.mark.parametrize("name", ["core.gmm", "core.kde"])
def test_samples_follow_their_class_better_than_noise(name):
    train = blobs(n_per_class=40, sep=6.0)
    ctx = context(train)
    gen = host.get("generators", name).from_params({})
    gen.fit(train, ctx)
    conds = [{"label": c} for c in (0, 1) for _ in range(50)]
    recs = gen.generate(conds, seed=1, context=ctx)
    assert len(recs) == 100
    assert all(r.data.shape == (4,) for r in recs)
    X = np.stack([r.data for r in recs])
    y = np.array([r.label for r in recs])
    # each class's samples sit near that class's real mean, far from the other's
    for c in (0, 1):
        real_mean = np.mean([r.data for r in train if r.label == c], axis=0)
        other_mean = np.mean([r.data for r in train if r.label != c], axis=0)
        d_own = np.linalg.norm(X[y == c] - real_mean, axis=1).mean()
        d_other = np.linalg.norm(X[y == c] - other_mean, axis=1).mean()
        noise = np.random.default_rng(0).normal(0, X.std() * 2, size=X[y == c].shape) + X.mean(0)
        d_noise = np.linalg.norm(noise - real_mean, axis=1).mean()
        assert d_own < d_other / 2
        assert d_own < d_noise


@pytest.mark.parametrize("name", ["core.gmm", "core.kde"])
def test_deterministic_and_round_trips(name, tmp_path):
    train = blobs()
    ctx = context(train)
    cls = host.get("generators", name)
    gen = cls.from_params({})
    gen.fit(train, ctx)
    conds = [{"label": 0}, {"label": 1}, {"label": 1}]
    a = gen.generate(conds, seed=7, context=ctx)
    b = gen.generate(conds, seed=7, context=ctx)
    c = gen.generate(conds, seed=8, context=ctx)
    assert all(np.array_equal(x.data, y.data) for x, y in zip(a, b))
    assert not all(np.array_equal(x.data, y.data) for x, y in zip(a, c))
    gen.save_pretrained(tmp_path / "model")
    loaded = cls.from_pretrained(tmp_path / "model")
    assert loaded.params == gen.params
    d = loaded.generate(conds, seed=7, context=ctx)
    assert all(np.array_equal(x.data, y.data) and x.label == y.label for x, y in zip(a, d))


def test_unknown_class_is_a_clear_error():
    train = blobs()
    ctx = context(train)
    gen = host.get("generators", "core.gmm").from_params({})
    gen.fit(train, ctx)
    with pytest.raises(Exception, match="class 5"):
        gen.generate([{"label": 5}], seed=0, context=ctx)


def test_bad_parameter_names_the_field():
    cls = host.get("generators", "core.gmm")
    with pytest.raises(Exception, match="n_components"):
        cls.from_params({"n_components": 0})
    with pytest.raises(ConfigError, match="core.gmm"):
        from gda_core.config import resolve

        resolve({"generator": {"name": "core.gmm", "params": {"n_componets": 2}}})
