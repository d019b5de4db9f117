"""Near-copies: the core.memorization measure, the core.near-copy selector, and the reference
(what the generator trained on) surviving a resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gda_core import near_copies
from gda_core.components import Strategy, ValidationInputs
from gda_core.config import resolve
from gda_core.errors import ConfigError, NotApplicable, RunFolderError
from gda_core.host import host
from gda_core.neighbors import leave_one_out_distances
from gda_core.pipeline import open_run, step
from gda_core.records import Dataset, Record
from gda_core.splits import as_pool

from .helpers import blobs, context, small_config, synthetic

Q = 0.05


def planted(train: Dataset, seed: int = 3, scale: float = 1e-3) -> list[Record]:
    """Training samples plus tiny noise: near-copies."""
    rng = np.random.default_rng(seed)
    pts = np.stack([r.data for r in train]) + rng.normal(scale=scale, size=(len(train), train[0].data.size))
    return synthetic(pts, train.labels(), prefix="copy")


def fresh(n_per_class: int, seed: int) -> list[Record]:
    other = blobs(n_per_class=n_per_class, seed=seed, prefix="new")
    return synthetic(np.stack([r.data for r in other]), other.labels(), prefix=f"fresh{seed}")


def run_selector(sel, train, ctx, records):
    sel.fit(train, ctx)
    scores = sel.score(records, ctx)
    return np.asarray(sel.select(scores, records, ctx), dtype=bool)


def test_near_copy_selector_drops_planted_copies_and_keeps_fresh_samples():
    train, test = blobs(n_per_class=100, seed=0), blobs(seed=1, prefix="t")
    ctx = context(train, test)
    sel = host.get("selectors", "core.near-copy").from_params({"quantile": Q})
    copies_ = planted(train)
    new = fresh(200, seed=7)
    keep = run_selector(sel, train, ctx, copies_ + new)
    assert not keep[: len(copies_)].any()
    assert keep[len(copies_):].mean() >= 1 - 2 * Q


def test_near_copy_threshold_comes_from_training_data_not_test_records():
    train = blobs(n_per_class=50, seed=0)
    expected = float(np.quantile(leave_one_out_distances(np.stack([r.data for r in train])), Q))
    taus = []
    for test in (blobs(seed=1, prefix="t"), blobs(n_per_class=5, sep=40.0, seed=2, prefix="u")):
        sel = host.get("selectors", "core.near-copy").from_params({})
        sel.fit(train, context(train, test))
        taus.append(sel.tau_)
    assert taus[0] == taus[1] == pytest.approx(expected)


def test_the_pool_never_sets_tau_and_pool_records_the_generator_learned_from_are_reference():
    train, test = blobs(n_per_class=40, seed=0), blobs(seed=1, prefix="t")
    pool = as_pool(blobs(n_per_class=60, seed=4, prefix="p"))
    ctx = context(train, test)
    X = np.stack([r.data for r in train])
    sel = host.get("selectors", "core.near-copy").from_params({})
    sel.fit(train, ctx)
    alone = sel.tau_
    ctx.pool = pool  # an unused pool changes nothing: training data alone sets tau
    sel.fit(train, ctx)
    assert sel.tau_ == alone == pytest.approx(np.quantile(leave_one_out_distances(X, 1), Q))
    # a generator that trained on the pool too: its copies of pool records are near-copies as well,
    # and tau is the leave-one-out quantile over everything it learned from
    ctx.generator_train = Dataset([*train.records, *pool.records])
    pool_copies = synthetic(np.stack([r.data for r in pool]) + 1e-3, [0] * len(pool), prefix="pc")
    keep = run_selector(sel, train, ctx, pool_copies + fresh(100, seed=8))
    both = np.stack([r.data for r in ctx.generator_train])
    assert sel.tau_ == pytest.approx(np.quantile(leave_one_out_distances(both, 1), Q))
    assert not keep[: len(pool)].any() and keep[len(pool):].mean() >= 1 - 2 * Q


def test_the_retired_calibration_parameter_reads_old_configs_and_refuses_pool():
    for kind, name in (("selectors", "core.near-copy"), ("validators", "core.memorization")):
        for old in ("auto", "leave-one-out"):  # configs and run folders written before: same meaning now
            comp = host.get(kind, name).from_params({"calibration": old})
            assert "calibration" not in comp.params.model_dump()
        with pytest.raises(ConfigError, match="calibration='pool' is retired"):
            resolve(small_config(**{kind: [{"name": name, "params": {"calibration": "pool"}}]}))


def test_near_copy_selector_refuses_raw_space_for_texts():
    train = Dataset([Record(id=f"r{i}", data=f"text {i}", label=0) for i in range(5)], modality="text")
    sel = host.get("selectors", "core.near-copy").from_params({"space": "raw"})
    with pytest.raises(ConfigError, match="core.near-copy: space='raw'"):
        sel.fit(train, context(train))


def _evaluate(train, test, stages, ctx, **params):
    val = host.get("validators", "core.memorization").from_params(params)
    inputs = ValidationInputs(train=train, test=test, synthetic=stages[-1][1], stages=stages)
    return val.evaluate(inputs, ctx)


def test_memorization_reports_near_copy_shares_beside_held_out_real_data():
    train, test = blobs(n_per_class=100, seed=0), blobs(n_per_class=100, seed=1, prefix="t")
    ctx = context(train, test)
    copies_, new = planted(train), fresh(100, seed=7)
    res = _evaluate(train, test, [("generated", copies_ + new), ("after x", new)], ctx, quantile=Q)
    m = res.metrics
    for name in ("near_copy_share", "near_copy_share_real", "near_copy_threshold", "nn_distance_median",
                 "nn_distance_median_real", "near_copy_share_raw", "near_copy_share_real_raw"):
        assert name in m
    assert m["near_copy_share_generated"] == pytest.approx(0.5, abs=2 * Q)
    assert m["near_copy_share"] <= 2 * Q and m["near_copy_share_real"] <= 2 * Q
    assert m["nn_distance_median"] == pytest.approx(m["nn_distance_median_real"], rel=0.3)
    stage_rows = {row[0]: row for row in res.tables[0].rows}
    assert stage_rows["generated"][1] == 400 and stage_rows["generated"][2] >= 0.5
    assert stage_rows["after x"][2] == pytest.approx(m["near_copy_share"])
    assert not any("the generator copies" in n for n in res.notes)
    assert any("raw space: the features of embedder space" in n for n in res.notes)  # core.flatten = raw
    assert len(res.tables) == 1 and m["near_copy_share_raw"] == m["near_copy_share"]

    copied = _evaluate(train, test, [("generated", copies_)], ctx)
    assert copied.metrics["near_copy_share"] == 1.0
    assert copied.metrics["nn_distance_median"] < 0.01 * copied.metrics["nn_distance_median_real"]
    assert copied.metrics["exact_copies"] == 0.0 and copied.metrics["memorized_share"] == 1.0
    assert any("the generator copies" in n for n in copied.notes)


def test_memorization_measures_against_what_the_generator_trained_on():
    train, test = blobs(n_per_class=30, seed=0), blobs(seed=1, prefix="t")
    pool = as_pool(blobs(n_per_class=60, seed=4, prefix="p"))
    pool_copies = synthetic(np.stack([r.data for r in pool]), [0] * len(pool), prefix="pc")
    ctx = context(train, test)
    ctx.pool = pool
    before = _evaluate(train, test, [("generated", pool_copies)], ctx).metrics
    ctx.generator_train = Dataset([*train.records, *pool.records])
    after = _evaluate(train, test, [("generated", pool_copies)], ctx).metrics
    assert before["near_copy_share"] < 0.5
    assert after["near_copy_share"] == 1.0 and after["exact_copies"] == 1.0


def test_memorization_skips_raw_space_for_texts_with_a_note():
    class Length:
        name = "len"

        def fit(self, train, context):
            pass

        def embed(self, records, context):
            return np.asarray([[len(r.data), r.data.count("a")] for r in records], dtype=float)

    def texts(prefix, n, shift=0):
        return [Record(id=f"{prefix}{i}", data="a" * (i % 7 + shift) + "b" * i, label=i % 2) for i in range(n)]

    train, test = Dataset(texts("r", 30), modality="text"), Dataset(texts("t", 20, 1), modality="text")
    ctx = context(train, test)
    ctx.embedder = Length()
    res = _evaluate(train, test, [("generated", texts("s", 10, 2))], ctx)
    assert "near_copy_share" in res.metrics and "near_copy_share_raw" not in res.metrics
    assert any("raw space" in n for n in res.notes)
    with pytest.raises(NotApplicable, match="spaces"):  # the pipeline notes it, the run finishes
        _evaluate(train, test, [("generated", texts("s", 10, 2))], ctx, spaces=["raw"])


def test_every_run_measures_near_copies():
    cfg = small_config(validators=[{"name": "core.downstream", "params": {"seeds": 1}}])
    resolved = resolve(cfg)
    assert [v.name for v in resolved.validators] == ["core.downstream", "core.memorization"]
    assert [v["name"] for v in resolved.resolved_dict()["validators"]][-1] == "core.memorization"
    listed = resolve(small_config(validators=[{"name": "core.memorization", "params": {"quantile": 0.1}}]))
    assert [v.params.quantile for v in listed.validators] == [0.1]


class PoolToo(Strategy):
    """Fits on train alone but records train + pool as what it trained on (as pool strategies do)."""

    def fit(self, generator, train, context):
        generator.fit(train, context)
        context.generator_train = Dataset([*train.records, *context.pool.records])
        return generator


@pytest.fixture
def pool_too():
    from gda_core import hookimpl

    class Plugin:
        @hookimpl
        def register_strategies(self, register):
            register("test.pool-too", PoolToo)

    host.register_plugin(Plugin(), "pool-too")
    yield
    host.unregister_plugin("pool-too")


def test_what_the_generator_trained_on_survives_a_resume(tmp_path, pool_too):
    import gda_core

    cfg = small_config(selectors=["core.near-copy"], validators=["core.memorization"], strategy="test.pool-too")
    cfg["dataset"]["params"]["pool"] = True
    folder = tmp_path / "run"
    res = gda_core.run(cfg, folder, quiet=True)
    first = res.metrics["core.memorization"]
    saved = json.loads((folder / "model" / near_copies.TRAINED_ON_FILE).read_text())["ids"]

    again = open_run(folder, quiet=True)  # what `gda select` / `gda validate` start from
    assert len(saved) == len(again.context.train) + len(again.context.pool) > len(res.train)
    assert [r.id for r in again.context.generator_train] == saved
    assert step(folder, "validate", quiet=True).metrics["core.memorization"] == first
    assert gda_core.run(cfg, folder, quiet=True).metrics["core.memorization"] == first  # resumed

    (folder / "model" / near_copies.TRAINED_ON_FILE).write_text(json.dumps({"ids": [*saved, "not-a-record"]}))
    with pytest.raises(RunFolderError, match="not-a-record"):
        near_copies.restore_trained_on(folder / "model", again.context)


def test_memorization_reports_the_stages_when_nothing_was_kept():
    train, test = blobs(n_per_class=40, seed=0), blobs(seed=1, prefix="t")
    copies_ = planted(train)
    res = _evaluate(train, test, [("generated", copies_), ("after core.near-copy", [])], context(train, test))
    assert host.get("validators", "core.memorization").accepts_empty
    assert res.metrics["near_copy_share_generated"] == 1.0 and res.metrics["near_copy_share"] == 0.0
    assert np.isnan(res.metrics["nn_distance_median"])
    assert [row[:3] for row in res.tables[0].rows[1:]] == [["generated", 80, 1.0], ["after core.near-copy", 0, 0.0]]


def test_a_single_training_record_cannot_calibrate_leave_one_out():
    from gda_core.errors import DataError

    train = blobs(n_per_class=1, seed=0)[:1]
    sel = host.get("selectors", "core.near-copy").from_params({})
    with pytest.raises(DataError, match="trained on 1 record"):
        sel.fit(train, context(train))


def test_memorization_the_selector_and_the_bench_count_the_same_near_copies():
    """One definition: the selector drops exactly the samples the validator and the bench count,
    with the same tau, whatever pool the data set offers."""
    from gda_core.bench.fidelity import fidelity

    train, test = blobs(n_per_class=15, seed=0), blobs(n_per_class=100, seed=1, prefix="t")
    ctx = context(train, test)
    ctx.pool = as_pool(blobs(n_per_class=100, seed=4, prefix="p"))
    gen = planted(train) + fresh(50, seed=7)
    sel = host.get("selectors", "core.near-copy").from_params({})
    keep = run_selector(sel, train, ctx, gen)
    kept = [r for r, k in zip(gen, keep) if k]
    res = _evaluate(train, test, [("generated", gen), ("after core.near-copy", kept)], ctx)
    m = res.metrics
    assert m["near_copy_threshold"] == pytest.approx(sel.tau_)
    assert m["near_copy_share"] == 0.0 and m["near_copy_share_generated"] == pytest.approx(1 - keep.mean())
    assert "leave-one-out" in res.tables[0].title and "pool" not in res.tables[0].title
    feats = ctx.embed
    bench = fidelity(feats(train.records, None), feats(test.records, None), feats(gen, None))
    assert bench["near_copy_share"] == pytest.approx(m["near_copy_share_generated"])
    assert bench["near_copy_share_real"] == pytest.approx(m["near_copy_share_real"])


def test_a_small_reference_says_tau_is_rough_and_a_pool_does_not_change_it():
    from gda_core.near_copies import MIN_CALIBRATION

    test = blobs(seed=1, prefix="t")
    small = blobs(n_per_class=4, seed=0)  # 8 training records: a rough tau, and the report says so
    res = _evaluate(small, test, [("generated", fresh(20, seed=7))], context(small, test))
    assert any(f"quantile of only 8 real distances (leave-one-out): with fewer than {MIN_CALIBRATION}" in n
               for n in res.notes)
    ctx = context(small, test)
    ctx.pool = as_pool(blobs(n_per_class=50, seed=4, prefix="p"))
    pooled = _evaluate(small, test, [("generated", fresh(20, seed=7))], ctx)
    assert pooled.metrics["near_copy_threshold"] == res.metrics["near_copy_threshold"]
    big = blobs(n_per_class=40, seed=0)
    assert not any("only" in n for n in _evaluate(big, test, [("generated", fresh(20, seed=7))],
                                                  context(big, test)).notes)
