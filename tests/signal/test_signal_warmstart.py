"""signal.diffusion1d's warm start (pretrain on an unlabelled pool, fine-tune on the labelled few)."""

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import ConfigError, DataError
from gda_core.splits import k_shot_with_pool

TINY = dict(base_channels=16, channel_mults=[1, 2], attention=False, lr=3e-3, num_inference_steps=10, device="cpu")


def _weights(model) -> np.ndarray:
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in model.parameters()])


@pytest.fixture(scope="module")
def split(sine_factory):
    import torch

    torch.set_num_threads(1)
    labelled, pool = k_shot_with_pool(sine_factory(24, length=32), 2, seed=0)
    return labelled, pool


def test_fine_tune_starts_from_the_pretrained_weights(split):
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    labelled, pool = split
    ctx = RunContext(train=labelled, pool=pool, seed=0, quiet=True)
    gen = Diffusion1DGenerator(steps=30, **TINY)
    gen.pretrain(pool, ctx, steps=30)
    assert gen.classes_ == list(pool.classes) and len(gen.pretrain_losses_) == 30
    pre = _weights(gen.model_)
    fresh = _weights(Diffusion1DGenerator(**TINY)._build(1, 2))
    gen.fine_tune(labelled, ctx, steps=1)
    moved = np.linalg.norm(_weights(gen.model_) - pre)
    assert 0 < moved < 0.05 * np.linalg.norm(fresh - pre)
    with pytest.raises(ConfigError, match="lora_rank"):
        gen.fine_tune(labelled, ctx, steps=1, lora_rank=4)
    with pytest.raises(DataError, match="pretrain first"):
        Diffusion1DGenerator(**TINY).fine_tune(labelled, ctx, steps=1)


def test_pretrain_finetune_strategy_learns_the_classes_from_two_shots(split, freq_of, freqs):
    """Two labelled series per class and an unlabelled pool of 44: the pool teaches the shapes,
    the two shots which shape is which class."""
    from gda_core.builtin.pool import PretrainFinetuneStrategy
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    labelled, pool = split
    assert not {r.id for r in pool.records} & {r.id for r in labelled.records}
    assert all(r.label is None for r in pool.records)
    ctx = RunContext(train=labelled, pool=pool, seed=0, quiet=True)
    gen = Diffusion1DGenerator(steps=250, **TINY)
    strat = PretrainFinetuneStrategy.from_params({"finetune_steps": 150})
    out = strat.fit(gen, labelled, ctx).generate([{"label": c} for c in [0, 1] * 10], seed=0, context=ctx)
    hits = np.mean([int(np.argmin([abs(freq_of(r.data) - f) for f in freqs])) == r.label for r in out])
    assert hits >= 0.8, f"only {hits:.2f} of samples carry their class's frequency"
