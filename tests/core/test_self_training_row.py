"""The run report compares GDA with what the pool alone gives: core.downstream's self-training
rows (real + pseudo-labelled pool, no generator; and that + the kept synthetic set) in any run
with a pool, and the headline's gains over real and over self-training."""

from __future__ import annotations

import json

import gda_core
from gda_core.builtin.pool import SELF_TRAIN_LABELLER

from .helpers import small_config

DOWNSTREAM = {"name": "core.downstream", "params": {"seeds": 1}}


def _run(tmp_path, name, **overrides):
    cfg = small_config(dataset={"name": "core.wine", "params": {"k_shot": 5}}, validators=[DOWNSTREAM], **overrides)
    res = gda_core.run(cfg, tmp_path / name, quiet=True)
    table = next(t for t in res.results["core.downstream"].tables)
    return res, {row[0]: row for row in table.rows}, (tmp_path / name / "report.md").read_text()


def test_a_pool_strategys_run_reports_self_training_beside_real_plus_synthetic(tmp_path):
    res, rows, md = _run(tmp_path, "pseudo", strategy={"name": "core.pseudo-label",
                                                        "params": {"classifier": "logistic", "keep": 0.5}})
    pseudo_n = json.loads((tmp_path / "pseudo" / "pool_strategy.json").read_text())["kept"]
    assert {"real", "real+synthetic", "self-training", "self-training+synthetic"} <= set(rows)
    # the very records the strategy pseudo-labelled and fitted its generator on
    assert rows["self-training"][1] == len(res.train) + pseudo_n
    assert rows["self-training+synthetic"][1] == len(res.train) + pseudo_n + len(res.synthetic)
    m = res.results["core.downstream"].metrics
    assert m["gain_over_self_training.accuracy"] == m["real+synthetic.accuracy.mean"] - m["self-training.accuracy.mean"]
    assert m["self_training_gain.accuracy"] == (m["self-training+synthetic.accuracy.mean"]
                                                 - m["self-training.accuracy.mean"])
    assert "| self-training |" in md and "real + synthetic minus self-training (core.downstream)" in md
    head = md.split("## ")[0] + md.split("## ")[1]  # the headline comes first
    assert "self-training + synthetic minus self-training" in md and "minus real (core.downstream)" in head


def test_a_run_with_an_unused_pool_labels_it_as_the_bench_does(tmp_path):
    """core.train learns nothing from the pool: the self-training row labels it with the bench's
    self-train rule (logistic regression, the most confident half of each predicted class)."""
    from gda_core.context import RunContext
    from gda_core.host import host
    from gda_core.records import Dataset

    res, rows, _ = _run(tmp_path, "train")
    assert SELF_TRAIN_LABELLER["keep"] == 0.5 and SELF_TRAIN_LABELLER["per_class"]
    loader = host.get("datasets", "core.wine").from_params({"k_shot": 5})
    n_pool = len(loader.load(RunContext(train=Dataset([]), seed=0, quiet=True)).pool)
    extra = rows["self-training"][1] - len(res.train)
    assert abs(extra - n_pool / 2) <= 3 and rows["self-training"][2] is not None  # half of each predicted class


def test_no_pool_no_self_training_row(tmp_path):
    cfg = small_config(dataset={"name": "core.wine", "params": {"k_shot": 5, "pool": False}}, validators=[DOWNSTREAM])
    res = gda_core.run(cfg, tmp_path / "nopool", quiet=True)
    names = [row[0] for row in res.results["core.downstream"].tables[0].rows]
    assert "self-training" not in names and "real+synthetic" in names
    assert not any(k.startswith(("gain_over_self_training", "self_training_gain"))
                   for k in res.results["core.downstream"].metrics)


def test_the_self_training_rows_can_be_switched_off(tmp_path):
    off = {"name": "core.downstream", "params": {"seeds": 1, "self_training": False}}
    res = gda_core.run(small_config(dataset={"name": "core.wine", "params": {"k_shot": 5}}, validators=[off]),
                       tmp_path / "off", quiet=True)
    assert "self-training" not in [row[0] for row in res.results["core.downstream"].tables[0].rows]
