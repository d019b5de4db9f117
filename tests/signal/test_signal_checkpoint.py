"""signal.diffusion1d's held-out checkpoint choice (checkpoint, holdout, eval_every, copy_tolerance)."""

import numpy as np
import pytest
from pydantic import ValidationError

from gda_core.context import RunContext
from gda_core.errors import DataError

TINY = dict(base_channels=16, channel_mults=[1, 2], attention=False, lr=3e-3, num_inference_steps=4, device="cpu",
            steps=20, eval_every=10, holdout=0.25)


def _weights(model) -> np.ndarray:
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in model.parameters()])


@pytest.fixture(scope="module")
def data(sine_factory):
    import torch

    torch.set_num_threads(1)
    return sine_factory(6, length=32)


def _fit(data, **params):
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    gen = Diffusion1DGenerator(**{**TINY, **params})
    gen.fit(data, RunContext(train=data, seed=0, quiet=True))
    return gen


def test_heldout_loss_picks_the_lowest_loss_checkpoint_deterministically(data):
    gen = _fit(data, checkpoint="heldout-loss")
    assert [c["step"] for c in gen.checkpoints_] == [10, 20]
    assert all(np.isfinite(c["heldout_loss"]) for c in gen.checkpoints_)
    assert gen.checkpoint_step_ == min(gen.checkpoints_, key=lambda c: c["heldout_loss"])["step"]
    assert len(gen.losses_) == 20
    again = _fit(data, checkpoint="heldout-loss")
    assert again.checkpoints_ == gen.checkpoints_
    np.testing.assert_array_equal(_weights(again.model_), _weights(gen.model_))
    out = gen.generate([{"label": 0}, {"label": 1}], seed=0, context=None)
    assert [r.data.shape for r in out] == [(1, 32)] * 2


def test_copy_share_checkpointing_records_shares_and_fixes_the_sampling_params(data):
    gen = _fit(data, checkpoint="copy-share")
    assert [c["step"] for c in gen.checkpoints_] == [10, 20] and gen.checkpoint_step_ in (10, 20)
    assert all(0 <= c["copy_share"] <= 1 and 0 <= c["heldout_share"] <= 1 for c in gen.checkpoints_)
    assert gen.sampling_params() == {}
    assert _fit(data).sampling_params()  # 'last': sampling parameters stay sampling-only


def test_last_keeps_every_record_and_pretraining_never_holds_out(data):
    from gda_core.splits import k_shot_with_pool

    gen = _fit(data)
    assert gen.params.checkpoint == "last" and gen.checkpoints_ == [] and gen.checkpoint_step_ is None
    labelled, pool = k_shot_with_pool(data, 3, seed=0)
    ctx = RunContext(train=labelled, pool=pool, seed=0, quiet=True)
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    warm = Diffusion1DGenerator(**{**TINY, "checkpoint": "heldout-loss", "eval_every": 2})
    warm.pretrain(pool, ctx, steps=4)
    assert warm.checkpoints_ == []
    warm.fine_tune(labelled, ctx, steps=4)  # fine-tuning holds out a share of the labelled records
    assert [c["step"] for c in warm.checkpoints_] == [2, 4]


def test_bad_values_name_the_field(data):
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    for bad, field in [({"checkpoint": "best"}, "checkpoint"), ({"holdout": 0}, "holdout"),
                       ({"eval_every": 0}, "eval_every"), ({"copy_tolerance": 2}, "copy_tolerance")]:
        with pytest.raises(ValidationError, match=field):
            Diffusion1DGenerator(**bad)
    with pytest.raises(DataError, match="generator.params.holdout"):
        _fit(data, checkpoint="heldout-loss", holdout=0.05)
