"""gda bench beside self-training (issue 18): self-train + gen (DPT's third stage), iterated
self-training without a generator, and planted cases where generation must add to self-training
and where it cannot."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from gda_core.bench import DownstreamModel, Method, Suite, standard_methods
from gda_core.bench.report import score_table, write_report
from gda_core.bench.runner import ITERATED_SELF_TRAIN, run_bench
from gda_core.bench.stats import paired
from gda_core.errors import ConfigError

CENTRES = {"a": (0.0, 0.0), "b": (4.0, 0.0), "c": (2.0, 3.46)}


def _table(path, rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "y", "label"])
        w.writerows([f"{x:.4f}", f"{y:.4f}", label] for x, y, label in rows)


def planted(folder, *, pool_has_c: bool) -> dict:
    """Three overlapping 2-D classes (sd 1.2, centres 4 apart): 5, 5 and 3 labelled rows, 200 unlabelled
    rows of a and of b in the pool, and 200 of c only with ``pool_has_c``; 60 test rows of each class."""
    rng = np.random.default_rng(0)

    def rows(c: str, n: int, label: str) -> list:
        return [(x, y, label) for x, y in np.asarray(CENTRES[c]) + rng.normal(0, 1.2, (n, 2))]

    labelled = rows("a", 5, "a") + rows("b", 5, "b") + rows("c", 3, "c")
    pool = rows("a", 200, "") + rows("b", 200, "") + (rows("c", 200, "") if pool_has_c else [])
    test = rows("a", 60, "a") + rows("b", 60, "b") + rows("c", 60, "c")
    folder.mkdir(parents=True, exist_ok=True)
    _table(folder / "train.csv", labelled + pool)  # empty label cells: the unlabelled pool
    _table(folder / "test.csv", test)
    return {"name": "core.table", "params": {"path": str(folder / "train.csv"), "test_path": str(folder / "test.csv"),
                                             "label_column": "label"}}


def planted_suite(folder, *, pool_has_c: bool) -> Suite:
    """core.pseudo-label (logistic regression, the most confident 80%) labels the pool; a Gaussian per
    class, fitted on labelled + pseudo-labelled rows, makes 200 rows of each class; logistic regression
    downstream."""
    return Suite(name="planted", summary="planted pool", config={
        "dataset": planted(folder, pool_has_c=pool_has_c),
        "strategy": {"name": "core.pseudo-label", "params": {"classifier": "logistic", "features": "raw", "keep": 0.8}},
        "generator": {"name": "core.gmm", "params": {"n_components": 1}},
        "generate": {"per_class": 200, "shard_size": 600}, "selectors": [], "baselines": [],
        "embedder": "core.standardize"},
        downstream=[DownstreamModel("logreg", {"name": "core.classification", "params": {"model": "logreg"}})],
        methods=standard_methods(), ratios=(), seeds=3)


def _gain(run, method: str, over: str = "self-train"):
    scores = {m: {r["seed"]: r["score"] for r in run.rows if r["method"] == m} for m in (method, over)}
    return paired(scores[method], scores[over])


def test_generation_adds_to_self_training_where_the_pool_misses_a_class(tmp_path):
    """The pool holds no row of c: self-training drowns c's 3 labelled rows in 320 pseudo-labelled a
    and b rows, and logistic regression gives up much of c; the generator, fitted on the labelled c
    rows, brings 200 of them back. self-train + gen beats self-train on every seed."""
    run = run_bench([planted_suite(tmp_path / "data", pool_has_c=False)], tmp_path / "bench", quiet=True)
    st = [r for r in run.rows if r["method"] == "self-train"]
    assert st and all(r["n_synthetic"] == 320 for r in st)  # 80% of the 400 pool rows, no generated row
    gain = _gain(run, "self-train + gen")
    assert gain.n == 3 and gain.wins == 3 and gain.low > 0 and gain.mean > 0.03
    plus = [r for r in run.rows if r["method"] == "self-train + gen"]
    assert all(r["n_synthetic"] == 320 + 600 for r in plus)  # pseudo-labelled pool + every generated row
    # copies are counted on the generated part: the pool rows are the generator's own training rows
    assert all(r["near_copy_share"] < 0.5 for r in plus)
    md = write_report(run, tmp_path / "bench", {"command": "test"}).read_text()
    for name in ("self-train x2", "self-train + gen", "self-train x2 + gen"):
        assert f"| {name} |" in md
    row = next(c for c in score_table([r for r in run.rows if r["model"] == "logreg"]) if c[0] == "self-train + gen")
    assert row[-4].startswith("+") and row[-4].endswith("*")  # vs self-train: an interval above zero


def test_generation_cannot_add_where_the_pool_covers_every_class(tmp_path):
    """The same data with 200 unlabelled rows of c in the pool: self-training sees every class, and
    the same generator adds less than a point."""
    run = run_bench([planted_suite(tmp_path / "data", pool_has_c=True)], tmp_path / "bench", quiet=True)
    gain = _gain(run, "self-train + gen")
    assert gain.n == 3 and abs(gain.mean) < 0.015


def test_iterated_self_training_relabels_the_whole_pool(tmp_path):
    """self-train x2: the strategy's labeller first, then an RBF SVM on real + pseudo-labelled rows labels
    the whole pool again (refit_keep 1.0): every pool row is kept (test_pool.py checks the labels)."""
    run = run_bench([planted_suite(tmp_path / "data", pool_has_c=True)], tmp_path / "bench", quiet=True,
                    methods=["self-train*"])
    once = {r["seed"]: r for r in run.rows if r["method"] == "self-train"}
    twice = {r["seed"]: r for r in run.rows if r["method"] == "self-train x2"}
    assert set(once) == set(twice) == {0, 1, 2}
    assert ITERATED_SELF_TRAIN == {"refit": "svm", "refit_keep": 1.0}
    for seed in once:
        assert once[seed]["n_synthetic"] == 480 and twice[seed]["n_synthetic"] == 600


def test_a_suite_without_a_pool_lists_the_self_training_methods_as_not_run(tmp_path):
    config = {"dataset": {"name": "core.wine", "params": {"k_shot": 5, "pool": False}},
              "generator": {"name": "core.gmm", "params": {"n_components": 1}},
              "generate": {"per_class": 3, "shard_size": 10}, "selectors": [], "baselines": [],
              "embedder": "core.standardize"}
    logreg = DownstreamModel("logreg", {"name": "core.classification", "params": {"model": "logreg"}})
    suite = Suite(name="nopool", summary="", config=config, methods=standard_methods(), ratios=(), seeds=1,
                  downstream=[logreg])
    run = run_bench([suite], tmp_path, quiet=True)
    assert not any(r["method"].startswith("self-train") for r in run.rows)
    why = {s.what: s.why for s in run.skipped}
    for name in ("self-train", "self-train x2", "self-train + gen", "self-train x2 + gen"):
        assert why[f"method {name}"] == "the data set offers no unlabelled pool"


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "self-train", "self_train": True}, "self_train are for generative methods"),
    ({"kind": "generative", "rounds": 2}, "rounds is for self-train methods and self_train generative ones"),
    ({"kind": "self-train", "rounds": 0}, "rounds must be a whole number of at least 1"),
])
def test_bad_self_training_methods_are_refused_naming_the_field(fields, message):
    with pytest.raises(ConfigError, match=message):
        Method("bad", **fields)


def test_every_suite_with_a_pool_gets_the_comparisons():
    names = [m.name for m in standard_methods()]
    assert names[-4:] == ["self-train", "self-train x2", "self-train + gen", "self-train x2 + gen"]
    assert not any(n.startswith("self-train") for n in (m.name for m in standard_methods(self_train=False)))


def test_every_cell_runs_with_one_blas_thread_whatever_the_caller_set(tmp_path, monkeypatch):
    """Local cells get the thread count a one-CPU Ray task gets, so both executors compute the same
    numbers (label spreading's near-ties moved with the thread count on digits)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from gda_core.bench.runner import BLAS_THREADS
    from gda_core.builtin import pool

    seen: list[int] = []
    logistic = pool.LABELLERS["logistic"]

    def spy(*args, **kwargs):
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return logistic(*args, **kwargs)

    monkeypatch.setitem(pool.LABELLERS, "logistic", spy)
    with threadpool_limits(2):
        run_bench([planted_suite(tmp_path / "data", pool_has_c=True)], tmp_path / "bench", quiet=True,
                  methods=["self-train"])
    assert BLAS_THREADS == 1 and seen and set(seen) == {1}
