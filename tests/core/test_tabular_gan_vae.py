"""core.ctgan and core.tvae (SDV's ctgan library): conformance, seeds, the pickle-free state,
class conditioning and the errors a user meets."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import ConfigError, GDAError
from gda_core.host import host
from gda_core.records import Dataset, Record
from gda_core.testing import GeneratorContract, planted_vectors

pytest.importorskip("ctgan")

TINY_CTGAN = {"epochs": 3, "batch_size": 20, "pac": 10, "embedding_dim": 8, "generator_dim": [16],
              "discriminator_dim": [16], "device": "cpu"}
TINY_TVAE = {"epochs": 3, "batch_size": 20, "embedding_dim": 8, "compress_dims": [16], "decompress_dims": [16],
             "device": "cpu"}
TINY = {"core.ctgan": TINY_CTGAN, "core.tvae": TINY_TVAE}


def _train(n: int = 6):
    return planted_vectors(n=n, dim=3, seed=0)[0]


class TestCTGAN(GeneratorContract):
    name = "core.ctgan"
    params = TINY_CTGAN

    def train_data(self):
        return _train()


class TestCTGANLabelColumn(GeneratorContract):
    name = "core.ctgan"
    params = {**TINY_CTGAN, "conditioning": "label-column", "max_tries": 500}

    def train_data(self):
        return _train()


class TestTVAE(GeneratorContract):
    name = "core.tvae"
    params = TINY_TVAE

    def train_data(self):
        return _train()


class TestTVAELabelColumn(GeneratorContract):
    name = "core.tvae"
    params = {**TINY_TVAE, "conditioning": "label-column", "max_tries": 500}

    def train_data(self):
        return _train()


def _fit(name: str, train, seed: int = 0, **extra):
    gen = host.create("generators", name, {**TINY[name], **extra})
    gen.fit(train, RunContext(train=train, seed=seed, quiet=True))
    return gen


@pytest.mark.parametrize("name", ["core.ctgan", "core.tvae"])
def test_fitting_is_deterministic_under_a_seed(name):
    train = _train()
    a, b, c = _fit(name, train, 0), _fit(name, train, 0), _fit(name, train, 1)
    sa, sb, sc = (g.nets_[0].state_dict() for g in (a, b, c))
    assert all(np.array_equal(sa[k].numpy(), sb[k].numpy()) for k in sa)
    assert not all(np.array_equal(sa[k].numpy(), sc[k].numpy()) for k in sa)
    assert a.models_ == b.models_


@pytest.mark.parametrize("name", ["core.ctgan", "core.tvae"])
def test_the_saved_state_holds_no_pickle(name, tmp_path):
    gen = _fit(name, _train())
    gen.save_pretrained(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["gda_generator.json", "tabular_state.json", "tabular_weights.safetensors"]
    for f in (tmp_path / "m").iterdir():
        assert not f.read_bytes().startswith(b"\x80"), f"{f.name} looks like a pickle"


@pytest.mark.parametrize("name", ["core.ctgan", "core.tvae"])
def test_decoding_agrees_with_the_library_inverse_transform(name):
    """The JSON encoding state decodes rows exactly as ctgan's DataTransformer does (here with a
    discrete feature column and the label column, so both kinds of span are covered)."""
    from gda_core.tabular.synthesizer import decode

    rng = np.random.default_rng(0)
    recs = [Record(f"r{i}", np.array([rng.normal(3 * (i % 2), 1), float(rng.integers(0, 3)), rng.normal()],
                                     dtype=np.float32), i % 2) for i in range(40)]
    kept = {}
    gen = host.create("generators", name, {**TINY[name], "conditioning": "label-column", "discrete_columns": [1]})
    export = gen._export

    def keep(model, encoding):
        kept["model"] = model
        return export(model, encoding)

    gen._export = keep
    train = Dataset(recs)
    gen.fit(train, RunContext(train=train, seed=0, quiet=True))
    transformer = getattr(kept["model"], "_transformer", None) or kept["model"].transformer
    rows = rng.normal(size=(64, transformer.output_dimensions))
    rows[:, 0] = np.tanh(rows[:, 0])
    ours = decode(rows, gen.models_[0]["encoding"])
    theirs = transformer.inverse_transform(rows)
    for j, col in enumerate(theirs.columns):
        if gen.models_[0]["encoding"]["columns"][j]["type"] == "continuous":
            np.testing.assert_allclose(ours[j], theirs[col].to_numpy(dtype=float), rtol=1e-9, atol=1e-9)
        else:
            assert [str(v) for v in ours[j]] == [str(v) for v in theirs[col]]


@pytest.mark.parametrize("name", ["core.ctgan", "core.tvae"])
def test_per_class_samples_have_the_asked_class(name):
    """Planted, well separated classes: a classifier trained on the real rows labels the samples
    with the class they were asked for, and they sit nearer their class than noise does."""
    from sklearn.linear_model import LogisticRegression

    train = planted_vectors(n=20, dim=4, seed=1)[0]
    gen = _fit(name, train, epochs=40, batch_size=40)
    conds = [{"label": c} for c in (0, 1) for _ in range(40)]
    out = gen.generate(conds, seed=2, context=None)
    X, y = np.stack([r.data for r in out]), np.array([r.label for r in out])
    assert [r.label for r in out] == [c["label"] for c in conds]
    clf = LogisticRegression().fit(train.features(), train.labels())
    assert (clf.predict(X) == y).mean() >= 0.9
    means = {c: train.features()[train.labels() == c].mean(0) for c in (0, 1)}
    d_own = np.mean([np.linalg.norm(x - means[c]) for x, c in zip(X, y)])
    noise = np.random.default_rng(0).normal(X.mean(0), 2 * X.std(), size=X.shape)
    assert d_own < np.mean([np.linalg.norm(x - means[c]) for x, c in zip(noise, y)]) / 2


@pytest.mark.parametrize("name", ["core.ctgan", "core.tvae"])
def test_label_column_sampling_keeps_only_rows_of_the_asked_class(name, monkeypatch):
    """label-column: of the rows the model samples, exactly those whose generated label is the
    asked class are returned, in order; when none is, the error names the parameters to change."""
    from gda_core.tabular import synthesizer as tabular

    gen = _fit(name, _train(), conditioning="label-column", max_tries=2)
    wanted: list[np.ndarray] = []
    real_decode = tabular.decode

    def every_third_is_class1(rows, encoding, noise=None):
        parts = real_decode(rows, encoding, noise)
        labels = np.array(["class1" if i % 3 == 0 else "class0" for i in range(len(rows))], dtype=object)
        wanted.append(np.stack(parts[:-1], axis=1)[labels == "class1"])
        return [*parts[:-1], labels]

    monkeypatch.setattr(tabular, "decode", every_third_is_class1)
    out = gen.generate([{"label": 1}] * 9, seed=0, context=None)
    np.testing.assert_array_equal(np.stack([r.data for r in out]),
                                  np.concatenate(wanted)[:9].astype(np.float32))
    assert all(r.label == 1 for r in out)

    monkeypatch.setattr(tabular, "decode", lambda rows, encoding, noise=None: [
        *real_decode(rows, encoding, noise)[:-1], np.array(["class0"] * len(rows), dtype=object)])
    with pytest.raises(GDAError, match="conditioning: per-class.*max_tries"):
        gen.generate([{"label": 1}] * 5, seed=0, context=None)


def test_discrete_columns_take_only_the_seen_categories():
    rng = np.random.default_rng(0)
    recs = [Record(f"r{i}", np.array([rng.normal(), float(rng.choice([2.0, 5.0]))], dtype=np.float32), i % 2)
            for i in range(20)]
    train = Dataset(recs, meta={"feature_names": ["size", "grade"]})
    for name in ("core.ctgan", "core.tvae"):
        gen = _fit(name, train, discrete_columns=["grade"])
        out = gen.generate([{"label": c} for c in (0, 1) for _ in range(20)], seed=0, context=None)
        assert set(np.stack([r.data for r in out])[:, 1].tolist()) <= {2.0, 5.0}


def test_bad_discrete_columns_are_errors_naming_the_field():
    train = _train()
    with pytest.raises(ConfigError, match="discrete_columns"):
        _fit("core.ctgan", train, discrete_columns=[7])
    with pytest.raises(ConfigError, match="discrete_columns.*'grade'"):
        _fit("core.tvae", train, discrete_columns=["grade"])
    with pytest.raises(Exception, match="multiple of pac"):
        host.create("generators", "core.ctgan", {"batch_size": 25, "pac": 10})


def test_without_the_library_the_error_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ctgan", None)
    gen = host.create("generators", "core.tvae", TINY_TVAE)
    with pytest.raises(ConfigError, match=r"gda-core\[tabular\]"):
        gen.fit(_train(), RunContext(train=_train(), seed=0, quiet=True))
