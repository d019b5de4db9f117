"""vision.ddpm with an unlabelled pool: the digits pool, pretrain then fine-tune (full and LoRA),
and core.pseudo-label / core.pretrain-finetune driving it."""

import numpy as np
import pytest

from gda_core.builtin.pool import PretrainFinetuneStrategy, PseudoLabelStrategy
from gda_core.errors import GDAError
from gda_core.splits import HIDDEN_LABEL, as_pool, hidden_labels, label_accuracy
from gda_vision.generators.ddpm import ClassConditionalDDPMGenerator

from .helpers import make_context, toy_bars

PARAMS = dict(block_out_channels=[16, 32], train_steps=30, batch_size=16, learning_rate=2e-3, warmup_steps=5,
              num_inference_steps=4, guidance_scale=1.0, scheduler="ddim", device="cpu")


def test_digits_pool_is_the_training_split_beyond_the_shots():
    from gda_vision.datasets import DigitsDataset

    ctx = make_context(None, seed=3)
    splits = DigitsDataset(k_shot=5, test_size=0.3).load(ctx)
    train, test, pool = splits.train, splits.test, splits.pool
    assert len(train) == 50 and pool is not None and len(pool) == 1797 - len(test) - 50
    pool_ids, test_ids = {r.id for r in pool.records}, {r.id for r in test.records}
    assert not pool_ids & test_ids and not pool_ids & {r.id for r in train.records}
    assert all(r.label is None and r.meta[HIDDEN_LABEL] in range(10) for r in pool.records)
    # a different seed draws a different split; the pool follows it
    other = DigitsDataset(k_shot=5, test_size=0.3).load(make_context(None, seed=4))
    assert {r.id for r in other.pool.records} != pool_ids
    assert DigitsDataset(k_shot=5, pool=False).load(ctx).pool is None
    assert DigitsDataset().load(ctx).pool is None  # no k_shot: every training image is labelled


def _flat(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def pretrained():
    pool = as_pool(toy_bars(12, seed=5))
    gen = ClassConditionalDDPMGenerator(**PARAMS)
    gen.pretrain(pool, make_context(pool), steps=30)
    return gen, pool


def test_fine_tuning_starts_from_the_pretrained_weights(pretrained):
    import copy

    gen, _ = pretrained
    gen = copy.deepcopy(gen)
    before = _flat(gen.unet_)
    labelled = toy_bars(3, seed=6)
    gen.fine_tune(labelled, make_context(labelled), steps=1)
    after = _flat(gen.unet_)
    fresh = ClassConditionalDDPMGenerator(**PARAMS)
    fresh.fit(labelled, make_context(labelled, seed=9))
    init = _flat(fresh.unet_)
    moved = sum(float((after[k] - before[k]).norm()) for k in before)
    far = sum(float((init[k] - before[k]).norm()) for k in before)
    assert moved < 0.1 * far
    assert gen.classes_ == ["h", "v"]


def test_lora_fine_tuning_changes_only_adapted_layers(pretrained):
    import copy

    gen, _ = pretrained
    gen = copy.deepcopy(gen)
    before = _flat(gen.unet_)
    labelled = toy_bars(3, seed=6)
    gen.fine_tune(labelled, make_context(labelled), steps=5, lora_rank=2)
    after = _flat(gen.unet_)
    assert set(after) == set(before)  # merged back into a plain UNet2DModel
    assert torch_equal(after["conv_in.weight"], before["conv_in.weight"])  # not adapted
    changed = [k for k in before if not torch_equal(after[k], before[k])]
    assert any("conv1" in k for k in changed) and any("class_embedding" in k for k in changed)
    assert gen.generate([{"label": "v"}], seed=0, context=None)[0].data.shape == (1, 8, 8)


def torch_equal(a, b):
    import torch

    return bool(torch.equal(a, b))


def test_fine_tune_needs_a_pretrained_model():
    labelled = toy_bars(3, seed=6)
    with pytest.raises(GDAError, match="before fit"):
        ClassConditionalDDPMGenerator(**PARAMS).fine_tune(labelled, make_context(labelled))


def test_pool_strategies_drive_the_ddpm():
    data = toy_bars(12, seed=7)
    labelled = data.subset([0, 1, 12, 13])
    pool = as_pool(data.subset([i for i in range(24) if i not in (0, 1, 12, 13)]))
    ctx = make_context(labelled)
    ctx.pool = pool
    strat = PseudoLabelStrategy.from_params({"classifier": "logistic", "features": "raw", "keep": 0.5})
    gen = strat.fit(ClassConditionalDDPMGenerator(**PARAMS), labelled, ctx)
    assert len(strat.fitted_on_) == 4 + 10 and 0 <= label_accuracy(strat.pseudo_, hidden_labels(pool)) <= 1
    conds = strat.conditions({"h": 4, "v": 4}, labelled, ctx)
    gen.params.strength = 0.5
    recs = gen.generate(conds, seed=0, context=ctx)  # pool sources resolve through the context
    assert len(recs) == 8 and {r.meta["source_id"] for r in recs} & {r.id for r in pool.records}
    ft = PretrainFinetuneStrategy.from_params({"pretrain_steps": 10, "finetune_steps": 10, "lora_rank": 2})
    gen2 = ft.fit(ClassConditionalDDPMGenerator(**PARAMS), labelled, ctx)
    x = np.stack([r.data for r in gen2.generate([{"label": "h"}, {"label": "v"}], seed=0, context=ctx)])
    assert x.shape == (2, 1, 8, 8) and getattr(gen2, "pretrained_", False)
