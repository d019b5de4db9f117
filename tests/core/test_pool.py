"""Pool strategies: core.pseudo-label and core.pretrain-finetune (gda_core.builtin.pool)."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.builtin.generators.gmm import GaussianMixtureGenerator
from gda_core.builtin.generators.kde import KernelDensityGenerator
from gda_core.builtin.pool import (
    PSEUDO_LABEL,
    PretrainFinetuneStrategy,
    PseudoLabelStrategy,
    supports_warm_start,
)
from gda_core.errors import ConfigError
from gda_core.splits import HIDDEN_LABEL, as_pool, hidden_labels, k_shot_with_pool, label_accuracy

from .helpers import blobs, context


def _split(n=40, k=3, seed=0):
    """Labelled few, the pool (with its hidden labels) and the context a strategy fits with."""
    labelled, pool = k_shot_with_pool(blobs(n_per_class=n, sep=5.0, seed=seed), k, seed)
    ctx = context(labelled, seed=seed)
    ctx.pool = pool
    return labelled, pool, ctx.fitting("strategy under test")


@pytest.mark.parametrize("classifier", ["logistic", "label-spreading", "self-training", "svm"])
def test_pseudo_label_gets_a_planted_easy_pool_right(classifier):
    labelled, pool, ctx = _split()
    strat = PseudoLabelStrategy.from_params({"classifier": classifier, "keep": 0.5})
    gen = strat.fit(GaussianMixtureGenerator.from_params({"n_components": 1}), labelled, ctx)
    kept = strat.pseudo_
    assert len(kept) == round(0.5 * len(pool))
    truth = {r.id: r.meta[HIDDEN_LABEL] for r in pool.records}
    assert all(r.label is not None and r.label == truth[r.id] for r in kept)
    # the strategy saw no hidden label; kept records carry their predicted label and confidence
    assert not any(HIDDEN_LABEL in r.meta for r in ctx.pool.records)
    assert all(PSEUDO_LABEL in r.meta and HIDDEN_LABEL not in r.meta for r in kept)
    assert label_accuracy(strat.pseudo_labelled(labelled, ctx), hidden_labels(pool)) == 1.0
    assert len(strat.fitted_on_) == len(labelled) + len(kept)
    assert ctx.generator_train is strat.fitted_on_  # near-copy checks measure against it
    assert gen.generate([{"label": 0}, {"label": 1}], seed=0, context=ctx)


def test_pseudo_label_keeps_the_most_confident_share():
    labelled, pool, ctx = _split()
    strat = PseudoLabelStrategy.from_params({"classifier": "logistic", "keep": 0.25, "features": "raw"})
    strat.fit(KernelDensityGenerator(), labelled, ctx)
    conf_kept = min(r.meta[PSEUDO_LABEL]["confidence"] for r in strat.pseudo_)
    # the kept quarter lies further from the class boundary (x = 2.5 on every axis) than the pool's median
    dist = lambda r: abs(float(np.mean(r.data)) - 2.5)  # noqa: E731
    kept_ids = {r.id for r in strat.pseudo_}
    assert np.median([dist(r) for r in strat.pseudo_]) > np.median([dist(r) for r in pool.records
                                                                     if r.id not in kept_ids])
    assert conf_kept > 0.5


def test_pseudo_label_conditions_use_pool_sources():
    labelled, pool, ctx = _split()
    strat = PseudoLabelStrategy.from_params({"keep": 1.0})
    strat.fit(GaussianMixtureGenerator.from_params({"n_components": 1}), labelled, ctx)
    conds = strat.conditions({0: 20, 1: 20}, labelled, ctx)
    pool_ids = {r.id for r in pool.records}
    assert any(c["source_id"] in pool_ids for c in conds)
    strat_off = PseudoLabelStrategy.from_params({"keep": 1.0, "pool_conditions": False})
    strat_off.fit(GaussianMixtureGenerator.from_params({"n_components": 1}), labelled, ctx)
    assert not any(c["source_id"] in pool_ids for c in strat_off.conditions({0: 20, 1: 20}, labelled, ctx))


def test_pool_strategies_need_a_pool():
    labelled, _, ctx = _split()
    ctx.pool = None
    with pytest.raises(ConfigError, match="pool"):
        PseudoLabelStrategy().fit(GaussianMixtureGenerator(), labelled, ctx)


@pytest.mark.parametrize("strategy", ["core.pseudo-label", "core.pretrain-finetune"])
def test_a_run_without_a_pool_is_refused_before_any_work_naming_the_loaders_own_parameter(tmp_path, strategy):
    import gda_core

    from .helpers import small_config

    out = tmp_path / "run"
    cfg = small_config(dataset={"name": "core.wine", "params": {"k_shot": 8, "pool": False}}, strategy=strategy)
    with pytest.raises(ConfigError, match=f"strategy {strategy} needs an unlabelled pool, but dataset core.wine "
                       "offers none: set dataset.params.k_shot: .*pool: true") as err:
        gda_core.run(cfg, out, quiet=True)
    assert "vision.digits" not in str(err.value) and not out.exists()
    table = tmp_path / "t.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    with pytest.raises(ConfigError, match="dataset core.table offers none: leave the label cell of unlabelled "
                       "rows empty, or set dataset.params.pool_path"):
        gda_core.run(small_config(dataset={"name": "core.table", "params": {"path": str(table)}},
                                  strategy=strategy), out, quiet=True)


def test_pretrain_finetune_refuses_a_generator_without_the_api():
    labelled, _, ctx = _split()
    assert not supports_warm_start(KernelDensityGenerator())
    with pytest.raises(ConfigError, match="pretrain/fine_tune"):
        PretrainFinetuneStrategy().fit(KernelDensityGenerator(), labelled, ctx)


def test_gmm_fine_tune_starts_from_pretrained_components():
    labelled, pool, ctx = _split(n=60, k=2)
    gen = GaussianMixtureGenerator.from_params({"n_components": 1})
    assert supports_warm_start(gen)
    strat = PretrainFinetuneStrategy()
    strat.fit(gen, labelled, ctx)
    prior_means = gen.prior_.means_
    for key, model in gen.models_.items():
        # no fine-tuning steps: each class is made of the pretrained components
        assert any(np.allclose(model["means"][0], m) for m in prior_means)
        # ... the one nearest the class (blobs sit at 0 and 5 on every axis)
        assert abs(float(model["means"][0].mean()) - 5.0 * int(key)) < 1.0
    samples = gen.generate([{"label": 1}] * 50, seed=0, context=ctx)
    assert abs(float(np.mean([s.data for s in samples])) - 5.0) < 0.5


def test_as_pool_and_k_shot_pool_hold_no_labels():
    labelled, pool, _ = _split()
    assert all(r.label is None for r in pool.records)
    assert not {r.id for r in pool.records} & {r.id for r in labelled.records}
    assert all(r.label is None for r in as_pool(labelled).records)


def test_iterated_pseudo_labels_relabel_the_whole_pool():
    """rounds 2: the first labeller keeps its confident half, then an RBF SVM fitted on labelled + that
    half labels the whole pool again (refit_keep 1.0): every pool record kept, all correctly."""
    from gda_core.builtin.pool import PseudoLabelParams, pseudo_label

    labelled, pool, ctx = _split()
    once, first = pseudo_label(labelled, ctx.pool, ctx, PseudoLabelParams(classifier="logistic", keep=0.5))
    twice, summary = pseudo_label(labelled, ctx.pool, ctx, PseudoLabelParams(
        classifier="logistic", keep=0.5, rounds=2, refit="svm", refit_keep=1.0))
    assert len(once) == round(0.5 * len(pool)) and len(twice) == len(pool)
    assert label_accuracy(twice, hidden_labels(pool)) == 1.0
    assert summary["rounds"] == 2 and summary["refit"] == "svm" and len(summary["relabelled_per_round"]) == 1
    assert "rounds" not in first  # one round: the summary is as before


@pytest.mark.parametrize(("params", "field"), [({"rounds": 0}, "rounds"), ({"rounds": 11}, "rounds"),
                                               ({"refit": "tree"}, "refit"), ({"refit_keep": 0}, "refit_keep")])
def test_bad_iteration_parameters_name_the_field(params, field):
    from gda_core.config import resolve

    from .helpers import small_config

    config = small_config(strategy={"name": "core.pseudo-label", "params": params})
    with pytest.raises(ConfigError) as info:
        resolve(config)
    msg = str(info.value)
    assert "strategy" in msg and field in msg and "\n" not in msg.strip()
