"""Tests of the example plugin: it is found, and its components behave."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gda_core import ConfigError, DataError, Dataset, Record, RunContext
from gda_core.config import resolve
from gda_core.host import host
from gda_core.testing import GeneratorContract, SelectorContract, conformance_suite, planted_vectors


def test_plugin_is_installed_and_loaded():
    found = {p.name: p for p in host.list_plugins()}
    assert "gda_example" in found, f"loaded plugins: {sorted(found)}"
    info = found["gda_example"]
    assert info.error is None
    assert info.distribution == "gda-example"
    assert {"register_generators", "register_selectors"} <= set(info.hooks)


def test_components_are_registered_by_this_plugin():
    assert host.components("generators")["example.jitter"].plugin == "gda_example"
    assert host.components("selectors")["example.margin"].plugin == "gda_example"
    desc = host.describe("generators", "example.jitter")
    assert {p["name"] for p in desc["params"]} == {"scale", "min_std"}


def _two_blobs(n_per_class=20, d=4, seed=0):
    rng = np.random.default_rng(seed)
    records = []
    for label, centre in ((0, -3.0), (1, 3.0)):
        spread = np.linspace(0.5, 2.0, d)  # a different spread per feature
        for i in range(n_per_class):
            x = centre + spread * rng.standard_normal(d)
            records.append(Record(id=f"r{label}-{i:03d}", data=x.astype(np.float32), label=label))
    return Dataset(records)


def _fitted(**params):
    train = _two_blobs()
    ctx = RunContext(train=train, seed=0, quiet=True)
    gen = host.get("generators", "example.jitter").from_params(params)
    gen.fit(train, ctx)
    return gen, train, ctx


def test_jitter_returns_one_record_per_condition_of_the_asked_class():
    gen, train, ctx = _fitted()
    conditions = [{"label": r.label, "source_id": r.id} for r in train.records[::5]]
    out = gen.generate(conditions, seed=1, context=ctx)
    assert len(out) == len(conditions)
    for rec, cond in zip(out, conditions):
        assert rec.label == cond["label"]
        assert rec.meta["source_id"] == cond["source_id"]
        assert np.asarray(rec.data).shape == (4,)
        assert np.asarray(rec.data).dtype == np.float32


def test_jitter_stays_next_to_its_source():
    gen, train, ctx = _fitted(scale=0.05)
    by_id = {r.id: np.asarray(r.data, dtype=float) for r in train.records}
    real = np.stack(list(by_id.values()))
    conditions = [{"label": r.label, "source_id": r.id} for r in train.records]
    for rec, cond in zip(gen.generate(conditions, seed=3, context=ctx), conditions):
        x = np.asarray(rec.data, dtype=float)
        nearest = np.argmin(np.linalg.norm(real - x, axis=1))
        assert list(by_id)[nearest] == cond["source_id"]


def test_noise_is_scale_times_the_class_std_per_feature():
    gen, train, ctx = _fitted(scale=0.5)
    source = train.records[0]
    out = gen.generate([{"label": source.label, "source_id": source.id}] * 4000, seed=7, context=ctx)
    noise = np.stack([np.asarray(r.data, dtype=float) for r in out]) - np.asarray(source.data, dtype=float)
    class_x = np.stack([np.asarray(r.data, dtype=float) for r in train.records if r.label == source.label])
    expected = 0.5 * class_x.std(0)
    np.testing.assert_allclose(noise.std(0), expected, rtol=0.08)
    np.testing.assert_allclose(noise.mean(0), 0.0, atol=0.1)


def test_without_source_id_a_record_of_the_class_is_drawn():
    gen, train, ctx = _fitted(scale=0.01)
    out = gen.generate([{"label": 1}] * 30, seed=0, context=ctx)
    sources = {r.meta["source_id"] for r in out}
    assert len(sources) > 1
    assert all(s.startswith("r1-") for s in sources)


def test_deterministic_under_seed():
    gen, train, ctx = _fitted()
    conditions = [{"label": r.label, "source_id": r.id} for r in train.records]
    a = gen.generate(conditions, seed=11, context=ctx)
    b = gen.generate(conditions, seed=11, context=ctx)
    c = gen.generate(conditions, seed=12, context=ctx)
    assert all(np.array_equal(x.data, y.data) for x, y in zip(a, b))
    assert not all(np.array_equal(x.data, z.data) for x, z in zip(a, c))


def test_save_pretrained_round_trip_gives_identical_samples(tmp_path):
    gen, train, ctx = _fitted(scale=0.2)
    gen.save_pretrained(tmp_path / "model")
    saved = json.loads((tmp_path / "model" / "gda_generator.json").read_text())
    assert saved["params"]["scale"] == 0.2
    loaded = type(gen).from_pretrained(tmp_path / "model")
    conditions = [{"label": r.label, "source_id": r.id} for r in train.records] + [{"label": 0}]
    a = gen.generate(conditions, seed=5, context=ctx)
    b = loaded.generate(conditions, seed=5, context=ctx)
    assert all(np.array_equal(x.data, y.data) and x.label == y.label for x, y in zip(a, b))


def test_unknown_class_is_a_data_error():
    gen, _train, ctx = _fitted()
    with pytest.raises(DataError, match="not fitted on class 7"):
        gen.generate([{"label": 7}], seed=0, context=ctx)


def test_bad_parameter_names_the_field():
    with pytest.raises(ConfigError, match=r"generator \(example.jitter\): params.scale"):
        resolve({"generator": {"name": "example.jitter", "params": {"scale": -1}}})
    with pytest.raises(ConfigError, match="params.noise"):
        resolve({"generator": {"name": "example.jitter", "params": {"noise": 1}}})


def test_margin_selector_keeps_samples_on_their_own_side():
    train = _two_blobs()
    ctx = RunContext(train=train, seed=0, quiet=True)
    rng = np.random.default_rng(0)
    good = [Record(id=f"g{i}", data=(3.0 + 0.3 * rng.standard_normal(4)).astype(np.float32), label=1)
            for i in range(10)]
    bad = [Record(id=f"b{i}", data=(-3.0 + 0.3 * rng.standard_normal(4)).astype(np.float32), label=1)
           for i in range(10)]
    mix = [r for pair in zip(good, bad) for r in pair]
    sel = host.get("selectors", "example.margin").from_params({})
    sel.fit(train, ctx)
    scores = sel.score(mix, ctx)
    keep = sel.select(scores, mix, ctx)
    assert [r.id for r, k in zip(mix, keep) if k] == [r.id for r in good]
    assert np.all(scores[::2] > 0.5) and np.all(scores[1::2] < -0.5)


# --- the conformance kit: one contract per component, and the common test over all of them ---


class TestJitterContract(GeneratorContract):
    """The generator contract: samples like the training records, one per condition with its label;
    determinism under a seed; fitting twice saves the same model, and a sampling parameter never
    changes it; a save/load round trip; clear errors before fit and for no records or texts."""

    name = "example.jitter"
    params = {"scale": 0.2}

    def train_data(self):
        return _two_blobs(6)


class TestMarginContract(SelectorContract):
    """Scores one float per record, the same under a seed, a boolean keep mask, the better half of
    a planted mix kept; clear errors for no records or texts."""

    name = "example.margin"

    def planted_mix(self):
        return planted_vectors(n=6, dim=4, seed=0)


SKIP: dict[str, str] = {}
"""Components the kit cannot test, each with the reason (a checkpoint no test can build, say)."""

# every component this plugin registers, of every kind: it has a contract above or a reason in SKIP,
# and lists without heavy imports, forbids unknown parameters, has a summary
test_every_component = conformance_suite("gda_example", globals(), skip=SKIP)
