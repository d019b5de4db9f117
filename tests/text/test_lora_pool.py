"""text.lora with the unlabelled pool (its texts, or pseudo-labelled) on the planted toy set."""

from __future__ import annotations

import numpy as np
import pytest
from text_helpers import context

from gda_core.errors import ConfigError
from gda_text.generators.prompt import PromptGenerator
from gda_text.strategies.lora import LoraStrategy


@pytest.mark.parametrize("pool_mode", ["texts", "pseudo-label"])
def test_lora_learns_from_the_unlabelled_pool(toy, pool_mode):
    """text.lora with pool: the pool's texts join training (unprefixed, or pseudo-labelled by label
    spreading on TF-IDF features); test texts never do, and the near-copy reference covers them."""
    from gda_core.splits import k_shot_with_pool
    from gda_text.embedders.tfidf import TfidfEmbedder

    labelled, pool = k_shot_with_pool(toy, 3, seed=0)
    ctx = context(labelled)
    ctx.pool, ctx.embedder = pool, TfidfEmbedder()
    strategy = LoraStrategy(epochs=1, pool=pool_mode, scratch={"epochs": 1, "n_embd": 32, "n_head": 2,
                                                               "vocab_size": 300})
    gen = strategy.fit(PromptGenerator(device="cpu", max_new_tokens=8), labelled, ctx)
    learnt = {r.id for r in ctx.generator_train.records}
    assert {r.id for r in labelled.records} <= learnt
    if pool_mode == "texts":
        assert learnt == {r.id for r in labelled.records} | {r.id for r in pool.records}
    else:
        pseudo = [r for r in ctx.generator_train.records if r.id not in {x.id for x in labelled.records}]
        assert len(pseudo) == round(0.8 * len(pool)) and all(r.label in ("food", "weather") for r in pseudo)
        truth = {r.id: r.label for r in toy.records}
        assert np.mean([truth[r.id] == r.label for r in pseudo]) >= 0.8
    out = gen.generate([{"label": "food"}, {"label": "weather"}], seed=0, context=ctx)
    assert [r.label for r in out] == ["food", "weather"]
    with pytest.raises(ConfigError, match="strategy.params.pool"):
        LoraStrategy(pool="texts").fit(PromptGenerator(device="cpu"), labelled, context(labelled))
