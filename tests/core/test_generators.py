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


def test_gmm_on_a_singular_covariance_is_one_line_naming_the_class_and_the_fix(tmp_path):
    """Two records per class at a scale of 1e6 in three dimensions, a full covariance and reg_covar
    1e-6: scikit-learn cannot fit the mixture (issue 23's fuzz campaign: a ValueError traceback);
    gda says so in one line, naming the class and the parameters that help, and larger reg_covar fits."""
    from click.testing import CliRunner

    from gda_core.cli import cli
    from gda_core.errors import DataError
    from gda_core.records import Dataset, Record

    rng = np.random.default_rng(2)
    recs = [Record(id=f"r{i}", data=(rng.normal(size=3) * 1e6).astype(np.float64), label=i % 2) for i in range(4)]
    train = Dataset(recs, classes=[0, 1])
    gen = host.create("generators", "core.gmm", {"n_components": 1, "covariance_type": "full", "reg_covar": 1e-6})
    with pytest.raises(DataError) as info:
        gen.fit(train, context(train))
    msg = str(info.value)
    assert "\n" not in msg and "fitting class 0 failed" in msg and "generator.params.reg_covar" in msg, msg
    host.create("generators", "core.gmm", {"n_components": 1, "covariance_type": "full",
                                           "reg_covar": 1e3}).fit(train, context(train))
    np.savez(tmp_path / "d.npz", X=np.stack([r.data for r in recs]), y=np.array([0, 1, 0, 1]),
             X_test=rng.normal(size=(2, 3)) * 1e6, y_test=np.array([0, 1]))
    (tmp_path / "c.yaml").write_text(
        f"dataset: {{name: core.arrays, params: {{path: {tmp_path / 'd.npz'}}}}}\n"
        "generator: {name: core.gmm, params: {n_components: 1, covariance_type: full, reg_covar: 1.0e-6}}\n"
        "selectors: []\nvalidators: [core.prdc]\n")
    r = CliRunner().invoke(cli, ["run", str(tmp_path / "c.yaml"), "-o", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), r.exception
    assert [line for line in r.stderr.splitlines() if line.startswith("Error:")][0].count("reg_covar") >= 1
