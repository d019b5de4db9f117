"""3-D generators: strength (SDEdit), non-leaking augmentation, warm start on volumes without masks."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import DataError
from gda_core.records import Dataset, Record

TINY = dict(channels=[8, 8], attention_levels=[False, False], inference_steps=8, lr=3e-3, batch_size=4)


def _arrays(records):
    return np.stack([np.asarray(r.data) for r in records])


def _weights(module) -> np.ndarray:
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in module.parameters()])


def _pool(phantoms) -> Dataset:
    """The test fixture's test volumes as a pool without masks (ids renamed)."""
    return Dataset([Record(id=f"pool-{r.id}", data=r.data, label=None, meta=dict(r.meta))
                    for r in phantoms.test.records], modality="medical", classes=phantoms.train.classes)


@pytest.fixture(scope="module")
def ddpm(phantoms):
    from gda_medical.generators.ddpm3d import DDPM3DGenerator

    ctx = RunContext(train=phantoms.train, pool=_pool(phantoms), seed=0, quiet=True)
    gen = DDPM3DGenerator(**TINY, steps=40)
    gen.fit(phantoms.train, ctx)
    return gen, ctx


def _with(gen, **update):
    out = type(gen)(gen.params.model_copy(update=update))
    out.__dict__.update({k: v for k, v in gen.__dict__.items() if k != "params"})
    return out


def test_ddpm3d_strength_one_is_plain_and_low_strength_stays_near_its_source(ddpm):
    gen, ctx = ddpm
    recs = ctx.train.records[:4]
    sourced = [{"label": r.label, "source_id": r.id} for r in recs]
    plain = _arrays(gen.generate([{"label": r.label} for r in recs], seed=2, context=ctx))
    np.testing.assert_array_equal(plain, _arrays(_with(gen, strength=1.0).generate(sourced, seed=2, context=ctx)))
    low = _with(gen, strength=0.25)
    a = _arrays(low.generate(sourced, seed=2, context=ctx))
    np.testing.assert_array_equal(a, _arrays(low.generate(sourced, seed=2, context=ctx)))
    assert not np.allclose(a, _arrays(low.generate(sourced, seed=3, context=ctx)))
    src = _arrays(recs)
    own = [np.linalg.norm(a[i] - src[i]) for i in range(4)]
    other = [min(np.linalg.norm(a[i] - src[j]) for j in range(4) if j != i) for i in range(4)]
    assert np.all(np.array(own) < np.array(other))
    pool_rec = ctx.pool.records[0]
    out = low.generate([{"label": None, "source_id": pool_rec.id}], seed=0, context=ctx)
    assert out[0].data.shape == np.asarray(pool_rec.data).shape
    with pytest.raises(DataError, match="source_id 'nope'"):
        low.generate([{"label": None, "source_id": "nope"}], seed=0, context=ctx)


def test_augment_batch_moves_volume_and_condition_together():
    import torch

    from gda_medical.generators.diffusion_base import augment_batch, augment_ids

    x = torch.arange(2 * 1 * 4 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4, 4).repeat(8, 1, 1, 1, 1)
    xa, ca, ids = augment_batch(x, x.clone() * 2, ["flip", "rot90"], 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(ca, xa * 2)
    assert augment_ids(["flip", "rot90"]) == 32 and int(ids.max()) < 32
    assert (ids == 0).any() and (ids > 0).sum() > 4
    for i in range(len(x)):  # each id names the transform that was applied
        code = int(ids[i])
        y = x[i]
        for axis in range(3):
            if code >> axis & 1:
                y = torch.flip(y, dims=[axis + 1])
        y = torch.rot90(y, code // 8, dims=(2, 3))
        assert torch.equal(y, xa[i])


def test_mask2image_augmented_training_is_seeded_and_samples_the_identity(phantoms):
    from gda_medical.generators.mask2image import Mask2ImageGenerator

    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    gen = Mask2ImageGenerator(**TINY, steps=20, augment=["flip"], perturb=False)
    gen.fit(phantoms.train, ctx)
    assert gen.unet.num_class_embeds == 8
    conds = [{"label": r.label, "source_id": r.id} for r in phantoms.train.records[:2]]
    a = _arrays(gen.generate(conds, seed=1, context=ctx))
    np.testing.assert_array_equal(a, _arrays(gen.generate(conds, seed=1, context=ctx)))
    with pytest.raises(ValueError, match="augment"):
        Mask2ImageGenerator(augment=["flip", "flip"])


def test_ddpm3d_fine_tune_starts_from_weights_pretrained_on_volumes_without_masks(phantoms):
    from gda_medical.generators.ddpm3d import DDPM3DGenerator
    from gda_medical.generators.diffusion_base import build_unet

    pool = _pool(phantoms)
    assert not {r.id for r in pool.records} & {r.id for r in phantoms.test.records}
    ctx = RunContext(train=phantoms.train, pool=pool, seed=0, quiet=True)
    gen = DDPM3DGenerator(**TINY, steps=10)
    gen.pretrain(pool, ctx, steps=10)
    assert gen.info["label_classes"] == 2 and gen.info["unet_config"]["in_channels"] == 2
    pre = _weights(gen.unet)
    fresh = _weights(build_unet(gen.info["unet_config"]))
    gen.fine_tune(phantoms.train, ctx, steps=1)
    moved = np.linalg.norm(_weights(gen.unet) - pre)
    assert 0 < moved < 0.05 * np.linalg.norm(fresh - pre)
    out = gen.generate([{"label": None}], seed=0, context=ctx)
    assert out[0].target is not None and out[0].target.shape == (1, 16, 16, 16)


def test_mask2image_warm_start_through_the_pool_strategy(phantoms):
    from gda_core.builtin.pool import PretrainFinetuneStrategy
    from gda_medical.generators.mask2image import Mask2ImageGenerator

    ctx = RunContext(train=phantoms.train, pool=_pool(phantoms), seed=0, quiet=True)
    gen = Mask2ImageGenerator(**TINY, steps=10)
    strat = PretrainFinetuneStrategy.from_params({"pretrain_steps": 10, "finetune_steps": 5})
    fitted = strat.fit(gen, phantoms.train, ctx)
    conds = [{"label": r.label, "source_id": r.id} for r in phantoms.train.records[:2]]
    out = fitted.generate(conds, seed=0, context=ctx)
    assert len(out) == 2 and all(r.target is not None for r in out)
    with pytest.raises(DataError, match="pretrain first"):
        Mask2ImageGenerator(**TINY).fine_tune(phantoms.train, ctx, steps=1)


def test_ldm3d_strength(phantoms):
    from gda_medical.generators.ldm3d import LatentDiffusion3DGenerator

    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    gen = LatentDiffusion3DGenerator(channels=[8, 8], attention_levels=[False, False], ae_channels=[8, 8],
                                     latent_channels=2, ae_steps=10, steps=10, inference_steps=6, batch_size=4)
    gen.fit(phantoms.train, ctx)
    recs = phantoms.train.records[:2]
    sourced = [{"label": r.label, "source_id": r.id} for r in recs]
    plain = _arrays(gen.generate([{"label": r.label} for r in recs], seed=0, context=ctx))
    np.testing.assert_array_equal(plain, _arrays(gen.generate(sourced, seed=0, context=ctx)))
    low = _with(gen, strength=0.3)
    a = _arrays(low.generate(sourced, seed=0, context=ctx))
    assert a.shape == plain.shape and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, _arrays(low.generate(sourced, seed=0, context=ctx)))
