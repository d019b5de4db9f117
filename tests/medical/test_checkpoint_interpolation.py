"""3-D generators: held-out checkpoint choice, latent interpolation (DDIM inversion + slerp),
medical.ldm3d's warm start."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from gda_core.context import RunContext
from gda_core.errors import DataError

from .test_variation import _pool, _with

TINY = dict(channels=[8, 8], attention_levels=[False, False], inference_steps=6, lr=3e-3, batch_size=4)
LDM = dict(TINY, ae_channels=[8, 8], latent_channels=2, ae_steps=10)
CHECK = dict(steps=10, eval_every=5, holdout=0.25)


def _arrays(records):
    return np.stack([np.asarray(r.data) for r in records])


def _weights(module) -> np.ndarray:
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in module.parameters()])


def _generator(kind: str, **params):
    if kind == "ddpm3d":
        from gda_medical.generators.ddpm3d import DDPM3DGenerator

        return DDPM3DGenerator(**TINY, **params)
    if kind == "mask2image":
        from gda_medical.generators.mask2image import Mask2ImageGenerator

        return Mask2ImageGenerator(**TINY, perturb=False, **params)
    from gda_medical.generators.ldm3d import LatentDiffusion3DGenerator

    return LatentDiffusion3DGenerator(**LDM, **params)


@pytest.mark.parametrize("kind", ["ddpm3d", "mask2image", "ldm3d"])
def test_heldout_loss_picks_the_best_checkpoint_deterministically(phantoms, kind):
    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    gen = _generator(kind, checkpoint="heldout-loss", **CHECK)
    gen.fit(phantoms.train, ctx)
    steps = [c["step"] for c in gen.checkpoints_]
    assert steps == [5, 10] and all(np.isfinite(c["heldout_loss"]) for c in gen.checkpoints_)
    best = min(gen.checkpoints_, key=lambda c: c["heldout_loss"])
    assert gen.info["checkpoint_step"] == best["step"]
    again = _generator(kind, checkpoint="heldout-loss", **CHECK)
    again.fit(phantoms.train, ctx)
    assert again.checkpoints_ == gen.checkpoints_
    np.testing.assert_array_equal(_weights(again.unet), _weights(gen.unet))
    conds = [{"label": r.label, "source_id": r.id} for r in phantoms.train.records[:1]]
    out = gen.generate(conds, seed=0, context=ctx)
    assert out[0].data.shape == np.asarray(phantoms.train.records[0].data).shape


@pytest.mark.parametrize("kind", ["ddpm3d", "mask2image"])
def test_copy_share_checkpointing_samples_and_records_the_shares(phantoms, kind):
    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    gen = _generator(kind, checkpoint="copy-share", **CHECK)
    gen.fit(phantoms.train, ctx)
    assert [c["step"] for c in gen.checkpoints_] == [5, 10]
    assert all(0 <= c["copy_share"] <= 1 and 0 <= c["heldout_share"] <= 1 for c in gen.checkpoints_)
    assert gen.info["checkpoint_step"] in (5, 10)
    assert gen.sampling_params() == {}  # sampling shaped the kept weights: part of the fitted model


def test_last_is_the_default_and_pretraining_never_holds_out(phantoms):
    from gda_medical.generators.ddpm3d import DDPM3DGenerator

    assert DDPM3DGenerator().params.checkpoint == "last"
    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    gen = _generator("ddpm3d", checkpoint="heldout-loss", **CHECK)
    gen.pretrain(phantoms.train, ctx, steps=2)
    assert gen.checkpoints_ == [] and "checkpoint_step" not in gen.info


def test_bad_checkpoint_values_name_the_field(phantoms):
    from gda_medical.generators.ddpm3d import DDPM3DGenerator
    from gda_medical.generators.ldm3d import LatentDiffusion3DGenerator
    from gda_medical.generators.mask2image import Mask2ImageGenerator

    for cls in (DDPM3DGenerator, Mask2ImageGenerator, LatentDiffusion3DGenerator):
        with pytest.raises(ValidationError, match="checkpoint"):
            cls(checkpoint="best")
        with pytest.raises(ValidationError, match="holdout"):
            cls(holdout=1.0)
        with pytest.raises(ValidationError, match="eval_every"):
            cls(eval_every=0)
    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    with pytest.raises(DataError, match="generator.params.holdout"):
        _generator("ddpm3d", checkpoint="heldout-loss", steps=2, holdout=0.05).fit(phantoms.train, ctx)
    with pytest.raises(ValidationError, match="interpolation_weights"):
        DDPM3DGenerator(interpolation_weights=(0.8, 0.2))


@pytest.fixture(scope="module")
def ddpm(phantoms):
    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    gen = _generator("ddpm3d", steps=30, strength=0.5)
    gen.fit(phantoms.train, ctx)
    return gen, ctx


def test_ddpm3d_interpolation_at_weight_zero_is_the_inversion_round_trip(ddpm):
    gen, ctx = ddpm
    recs = ctx.train.records[:3]
    conds = [{"label": r.label, "source_id": r.id} for r in recs]
    zero = _with(gen, interpolate=True, interpolation_weights=(0.0, 0.0))
    out = zero.generate(conds, seed=1, context=ctx)
    a = _arrays(out)
    assert a.shape == _arrays(recs).shape and out[0].target.shape == np.asarray(recs[0].target).shape
    x, _ = gen._stack(recs, int(gen.info["label_classes"]))
    trip = gen._sample(tuple(x.shape), 1, latents=gen._invert(x))
    np.testing.assert_allclose(a, (trip[:, :1].numpy() + 1) / 2, atol=1e-5)
    src = _arrays(recs)
    own = [np.abs(a[i] - src[i]).mean() for i in range(3)]
    other = [min(np.abs(a[i] - src[j]).mean() for j in range(3) if j != i) for i in range(3)]
    assert np.all(np.array(own) < np.array(other)), (own, other)
    assert all(r.meta["source_id"] == c["source_id"] and r.meta["partner_id"] != c["source_id"]
               for r, c in zip(out, conds))


def test_ddpm3d_interpolation_is_seeded_and_moves_with_the_weight(ddpm):
    gen, ctx = ddpm
    conds = [{"label": r.label, "source_id": r.id} for r in ctx.train.records[:2]]
    mid = _with(gen, interpolate=True, interpolation_weights=(0.5, 0.5))
    a = _arrays(mid.generate(conds, seed=2, context=ctx))
    np.testing.assert_array_equal(a, _arrays(mid.generate(conds, seed=2, context=ctx)))
    zero = _arrays(_with(gen, interpolate=True, interpolation_weights=(0.0, 0.0)).generate(conds, seed=2, context=ctx))
    assert a.shape == zero.shape and np.all(np.isfinite(a)) and not np.allclose(a, zero)


def test_ldm3d_interpolates_in_its_latent_space(phantoms):
    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    gen = _generator("ldm3d", steps=10, interpolate=True)
    gen.fit(phantoms.train, ctx)
    conds = [{"label": r.label, "source_id": r.id} for r in phantoms.train.records[:2]]
    a = _arrays(gen.generate(conds, seed=0, context=ctx))
    assert a.shape == _arrays(phantoms.train.records[:2]).shape and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, _arrays(gen.generate(conds, seed=0, context=ctx)))


def test_ldm3d_fine_tune_starts_from_the_pretrained_weights(phantoms):
    from gda_core.builtin.pool import supports_warm_start
    from gda_core.errors import ConfigError
    from gda_medical.generators.diffusion_base import build_unet

    pool = _pool(phantoms)
    ctx = RunContext(train=phantoms.train, pool=pool, seed=0, quiet=True)
    gen = _generator("ldm3d", steps=10)
    assert supports_warm_start(gen)
    gen.pretrain(pool, ctx, steps=10)
    pre, pre_ae = _weights(gen.unet), _weights(gen.autoencoder)
    fresh = _weights(build_unet(gen.info["unet_config"]))
    scale = gen.info["scale_factor"]
    gen.fine_tune(phantoms.train, ctx, steps=1)
    moved = np.linalg.norm(_weights(gen.unet) - pre)
    assert 0 < moved < 0.05 * np.linalg.norm(fresh - pre)
    np.testing.assert_array_equal(_weights(gen.autoencoder), pre_ae)  # no label channel: the autoencoder is kept
    assert gen.info["scale_factor"] == scale
    assert len(gen.generate([{"label": None}], seed=0, context=ctx)) == 1
    with pytest.raises(ConfigError, match="lora_rank"):
        gen.fine_tune(phantoms.train, ctx, steps=1, lora_rank=4)
    with pytest.raises(DataError, match="pretrain first"):
        _generator("ldm3d").fine_tune(phantoms.train, ctx, steps=1)


def test_ldm3d_with_labels_through_the_pool_strategy(phantoms):
    from gda_core.builtin.pool import PretrainFinetuneStrategy

    ctx = RunContext(train=phantoms.train, pool=_pool(phantoms), seed=0, quiet=True)
    gen = _generator("ldm3d", steps=5, with_label=True)
    strat = PretrainFinetuneStrategy.from_params({"pretrain_steps": 5, "finetune_steps": 3})
    out = strat.fit(gen, phantoms.train, ctx).generate([{"label": "phantom"}], seed=0, context=ctx)
    assert gen.info["label_classes"] == 2 and out[0].target is not None
    assert out[0].target.shape == np.asarray(phantoms.train.records[0].target).shape
