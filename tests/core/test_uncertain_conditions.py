"""Generation aimed where self-training is weakest (issue 18): ``core.pseudo-label``'s
``uncertain_conditions`` makes the least confident pool records the conditions' sources, each asked
for its predicted class, and ``core.kde``'s ``from_source`` draws around a condition's record."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from gda_core.bench import DownstreamModel, Method, Suite, standard_methods
from gda_core.bench.runner import run_bench
from gda_core.bench.stats import paired
from gda_core.builtin.generators.kde import KernelDensityGenerator
from gda_core.builtin.pool import PSEUDO_LABEL, PseudoLabelStrategy
from gda_core.errors import DataError
from gda_core.splits import HIDDEN_LABEL, k_shot_with_pool

from .helpers import blobs, context


def _split(seed: int = 0):
    labelled, pool = k_shot_with_pool(blobs(n_per_class=60, d=2, sep=3.0, seed=seed), 3, seed)
    ctx = context(labelled, seed=seed)
    ctx.pool = pool
    return labelled, pool, ctx.fitting("strategy under test")


def _boundary_distance(data) -> float:
    """Distance to the planted classes' boundary (the blobs sit at 0 and 3 on both axes)."""
    return float(abs(np.mean(np.asarray(data)) - 1.5))


def test_uncertain_conditions_name_the_least_confident_pool_records_with_their_predicted_class():
    labelled, pool, ctx = _split()
    strat = PseudoLabelStrategy.from_params({"classifier": "logistic", "features": "raw", "keep": 0.8,
                                             "uncertain_conditions": 0.2})
    strat.fit(KernelDensityGenerator(), labelled, ctx)
    uncertain = strat.uncertain_labelled(labelled, ctx)
    assert len(uncertain) == round(0.2 * len(pool))
    conf = [r.meta[PSEUDO_LABEL]["confidence"] for r in uncertain]
    assert conf == sorted(conf)  # least confident first
    kept_ids = {r.id for r in strat.pseudo_}
    assert not kept_ids & {r.id for r in uncertain}  # what the keep cut leaves out
    assert max(conf) <= min(r.meta[PSEUDO_LABEL]["confidence"] for r in strat.pseudo_)
    # they lie nearer the class boundary than the kept records, and carry no hidden label
    assert np.median([_boundary_distance(r.data) for r in uncertain]) < \
        np.median([_boundary_distance(r.data) for r in strat.pseudo_])
    assert not any(HIDDEN_LABEL in r.meta for r in uncertain)
    conds = strat.conditions({0: 30, 1: 30}, labelled, ctx)
    predicted = {r.id: r.label for r in uncertain}
    assert len(conds) == 60
    for c in conds:
        # each source is an uncertain record predicted as the asked class (or, for a class with none,
        # one of that class's labelled or kept records)
        assert predicted.get(c["source_id"], c["label"]) == c["label"]
    assert sum(c["source_id"] in predicted for c in conds) >= 50


def test_without_uncertain_conditions_the_sources_are_the_labelled_and_kept_records():
    labelled, pool, ctx = _split()
    strat = PseudoLabelStrategy.from_params({"classifier": "logistic", "features": "raw", "keep": 0.8})
    strat.fit(KernelDensityGenerator(), labelled, ctx)
    assert strat.uncertain_labelled(labelled, ctx) == []
    allowed = {r.id for r in labelled.records} | {r.id for r in strat.pseudo_}
    assert all(c["source_id"] in allowed for c in strat.conditions({0: 20, 1: 20}, labelled, ctx))


def test_kde_from_source_draws_around_each_condition_record_and_so_nearer_the_boundary():
    labelled, pool, ctx = _split()
    strat = PseudoLabelStrategy.from_params({"classifier": "logistic", "features": "raw",
                                             "uncertain_conditions": 0.2})
    aimed = strat.fit(KernelDensityGenerator.from_params({"from_source": True}), labelled, ctx)
    ctx.train = labelled
    conds = strat.conditions({0: 100, 1: 100}, labelled, ctx)
    near = aimed.generate(conds, seed=0, context=ctx)
    plain_gen = PseudoLabelStrategy.from_params({"classifier": "logistic", "features": "raw"}).fit(
        KernelDensityGenerator(), labelled, ctx)
    far = plain_gen.generate(conds, seed=0, context=ctx)
    assert all(s.meta["source_id"] == c["source_id"] for s, c in zip(near, conds))
    assert [s.label for s in near] == [c["label"] for c in conds]
    assert np.median([_boundary_distance(s.data) for s in near]) < np.median([_boundary_distance(s.data) for s in far])
    again = aimed.generate(conds, seed=0, context=ctx)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(near, again))  # deterministic under a seed
    with pytest.raises(DataError, match="core.kde: from_source needs each condition's source_id"):
        aimed.generate([{"label": 0, "source_id": "nowhere"}], seed=0, context=ctx)


def test_uncertain_conditions_and_from_source_are_sampling_parameters_outside_the_fit_hash():
    from gda_core import runfolder
    from gda_core.config import resolve

    def cfg(strategy_params: dict, gen_params: dict) -> dict:
        return {"dataset": {"name": "core.wine", "params": {"k_shot": 5, "pool": True}},
                "strategy": {"name": "core.pseudo-label", "params": strategy_params},
                "generator": {"name": "core.kde", "params": gen_params}, "generate": {"per_class": 3}}

    a = resolve(cfg({}, {})).step_views()
    b = resolve(cfg({"uncertain_conditions": 0.2}, {"from_source": True})).step_views()
    ha, hb = runfolder.step_hashes(a), runfolder.step_hashes(b)
    assert ha["fit"] == hb["fit"] and ha["generate"] != hb["generate"]
    assert b["generate"]["strategy"] == {"uncertain_conditions": 0.2}
    assert "uncertain_conditions" not in a["fit"]["strategy"]["params"]
    c = resolve(cfg({"keep": 0.5}, {})).step_views()  # a labelling parameter does change the fitted model
    assert runfolder.step_hashes(c)["fit"] != ha["fit"]


# --- planted cases in the bench: where aimed generation must add to self-training, and where it cannot


def _planted(folder, centres: dict) -> dict:
    """Three 2-D classes (sd 1): 5, 5 and 2 labelled rows, 200 unlabelled rows of each in the pool, 60
    test rows of each."""
    rng = np.random.default_rng(0)

    def rows(c: str, n: int, label: str) -> list:
        return [(x, y, label) for x, y in np.asarray(centres[c]) + rng.normal(0, 1.0, (n, 2))]

    labelled = rows("a", 5, "a") + rows("b", 5, "b") + rows("c", 2, "c")
    pool = rows("a", 200, "") + rows("b", 200, "") + rows("c", 200, "")
    test = rows("a", 60, "a") + rows("b", 60, "b") + rows("c", 60, "c")
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.csv", labelled + pool), ("test.csv", test)):
        with open(folder / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["x", "y", "label"])
            w.writerows([f"{x:.4f}", f"{y:.4f}", label] for x, y, label in part)
    return {"name": "core.table", "params": {"path": str(folder / "train.csv"), "test_path": str(folder / "test.csv"),
                                             "label_column": "label"}}


AIMED = Method("self-train + gen uncertain", "generative", self_train=True,
               overrides=("strategy.params.uncertain_conditions=0.2", "generator.params.from_source=true"))


def _run(tmp_path, centres: dict):
    suite = Suite(name="planted", summary="planted pool", config={
        "dataset": _planted(tmp_path / "data", centres),
        "strategy": {"name": "core.pseudo-label", "params": {"classifier": "logistic", "features": "raw", "keep": 0.8}},
        "generator": {"name": "core.kde", "params": {}},
        "generate": {"per_class": 200, "shard_size": 600}, "selectors": [], "baselines": [],
        "embedder": "core.standardize"},
        downstream=[DownstreamModel("logreg", {"name": "core.classification", "params": {"model": "logreg"}})],
        methods=[*standard_methods(), AIMED], ratios=(), seeds=3)
    run = run_bench([suite], tmp_path / "bench", quiet=True, methods=["self-train", "self-train + gen uncertain"])
    scores = {m: {r["seed"]: r["score"] for r in run.rows if r["method"] == m}
              for m in ("self-train", "self-train + gen uncertain")}
    return paired(scores["self-train + gen uncertain"], scores["self-train"])


def test_aimed_generation_adds_where_the_keep_cut_leaves_out_the_middle_class(tmp_path):
    """c sits between a and b with 2 labelled rows: the labeller is least sure there, the keep cut
    drops much of c, and self-training gives c up; drawing around the least confident pool rows, with
    the labels the labeller predicts, brings c back on every seed."""
    gain = _run(tmp_path, {"a": (0.0, 0.0), "c": (3.0, 0.0), "b": (6.0, 0.0)})
    assert gain.n == 3 and gain.wins == 3 and gain.low > 0 and gain.mean > 0.01  # 2+ of 180 test rows


def test_aimed_generation_cannot_add_where_self_training_is_right_everywhere(tmp_path):
    """The classes 8 apart: self-training is (nearly) right everywhere, the least confident pool rows
    are still inside their class, and drawing around them changes at most one of 180 test rows."""
    gain = _run(tmp_path, {"a": (0.0, 0.0), "c": (8.0, 0.0), "b": (16.0, 0.0)})
    assert gain.n == 3 and abs(gain.mean) < 0.01


def test_the_pool_is_labelled_once_for_the_kept_and_the_uncertain_records(monkeypatch):
    from gda_core.builtin import pool

    labelled, _, ctx = _split()
    calls = []
    real = pool.pseudo_label
    monkeypatch.setattr(pool, "pseudo_label", lambda *a, **k: calls.append(1) or real(*a, **k))
    strat = PseudoLabelStrategy.from_params({"classifier": "logistic", "features": "raw", "uncertain_conditions": 0.2})
    strat.fit(KernelDensityGenerator(), labelled, ctx)
    strat.conditions({0: 10, 1: 10}, labelled, ctx)
    assert len(calls) == 1 and strat.uncertain_ and "uncertain" not in strat.summary_  # the report stays JSON
