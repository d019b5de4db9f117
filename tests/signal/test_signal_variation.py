"""signal.diffusion1d's real-guided variation (strength), latent interpolation and non-leaking augmentation."""

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import DataError
from gda_core.records import Dataset, Record
from gda_core.splits import as_pool


@pytest.fixture(scope="module")
def trained(sine_factory):
    import torch

    torch.set_num_threads(1)
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    train = sine_factory(16, length=32)
    pool = as_pool(Dataset([Record(id=f"p{r.id}", data=r.data, label=r.label) for r in
                            sine_factory(4, length=32, seed=5).records], modality="signal", classes=[0, 1]))
    ctx = RunContext(train=train, pool=pool, seed=0, quiet=True)
    gen = Diffusion1DGenerator(steps=300, base_channels=16, channel_mults=[1, 2], attention=False, lr=3e-3,
                               num_inference_steps=10, device="cpu")
    gen.fit(train, ctx)
    return gen, ctx


def _with(gen, **update):
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    out = Diffusion1DGenerator(gen.params.model_copy(update=update))
    out.__dict__.update({k: v for k, v in gen.__dict__.items() if k != "params"})
    return out


def _arrays(records):
    return np.stack([r.data for r in records])


def test_strength_one_is_plain_sampling(trained):
    gen, ctx = trained
    plain = _arrays(gen.generate([{"label": 0}, {"label": 1}], seed=4, context=ctx))
    ids = [r.id for r in ctx.train.records[:2]]
    sourced = _arrays(_with(gen, strength=1.0).generate(
        [{"label": 0, "source_id": ids[0]}, {"label": 1, "source_id": ids[1]}], seed=4, context=ctx))
    np.testing.assert_array_equal(plain, sourced)


def test_low_strength_stays_near_its_source_and_is_seeded(trained):
    gen, ctx = trained
    recs = ctx.train.records[:6]
    conds = [{"label": r.label, "source_id": r.id} for r in recs]
    src = np.stack([r.data for r in recs])
    low, high = _with(gen, strength=0.2), _with(gen, strength=0.9)
    a = _arrays(low.generate(conds, seed=1, context=ctx))
    np.testing.assert_array_equal(a, _arrays(low.generate(conds, seed=1, context=ctx)))
    assert not np.allclose(a, _arrays(low.generate(conds, seed=2, context=ctx)))
    d_low = np.linalg.norm((a - src).reshape(len(a), -1), axis=1)
    d_high = np.linalg.norm((_arrays(high.generate(conds, seed=1, context=ctx)) - src).reshape(len(a), -1), axis=1)
    # each low-strength sample is nearer its own source than the other sources are
    others = np.array([min(np.linalg.norm(a[i] - src[j]) for j in range(len(src)) if j != i) for i in range(len(a))])
    assert np.all(d_low < others)
    assert d_low.mean() < d_high.mean()


def test_strength_takes_pool_sources_and_names_a_missing_one(trained):
    gen, ctx = trained
    low = _with(gen, strength=0.2)
    pool_rec = ctx.pool.records[0]
    out = low.generate([{"label": 0, "source_id": pool_rec.id}], seed=0, context=ctx)
    assert np.linalg.norm(out[0].data - pool_rec.data) < np.linalg.norm(pool_rec.data)
    with pytest.raises(DataError, match="source_id 'nope'"):
        low.generate([{"label": 0, "source_id": "nope"}], seed=0, context=ctx)


def test_ddim_inversion_reconstructs_and_interpolation_is_seeded(trained):
    gen, ctx = trained
    inv = _with(gen, strength=0.5)
    recs = ctx.train.records[:4]
    idx = [inv._label_index(r.label) for r in recs]
    z = inv.invert(np.stack([r.data for r in recs]), idx)
    back = inv.sample_arrays(idx, 0, latents=z)
    src = np.stack([r.data for r in recs])
    err = np.linalg.norm((back - src).reshape(4, -1), axis=1)
    assert np.all(err < 0.5 * np.linalg.norm(src.reshape(4, -1), axis=1))
    interp = _with(gen, strength=0.5, interpolate=True)
    conds = [{"label": r.label, "source_id": r.id} for r in recs]
    a = _arrays(interp.generate(conds, seed=3, context=ctx))
    np.testing.assert_array_equal(a, _arrays(interp.generate(conds, seed=3, context=ctx)))
    assert np.all(np.isfinite(a)) and a.shape == src.shape
    # weight 0 keeps the source's own inversion: the decode reconstructs the source
    own = _arrays(_with(gen, strength=0.5, interpolate=True, interpolation_weights=(0.0, 0.0))
                  .generate(conds, seed=3, context=ctx))
    np.testing.assert_allclose(own, back, atol=1e-5)


def test_slerp_endpoints_and_norm():
    from gda_core.torch.diffusion import slerp

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 1, 50)), rng.standard_normal((3, 1, 50))
    np.testing.assert_allclose(slerp(a, b, np.zeros(3)), a, atol=1e-5)
    np.testing.assert_allclose(slerp(a, b, np.ones(3)), b, atol=1e-5)
    mid = slerp(a, a * 2.0, np.full(3, 0.5))  # parallel vectors fall back to linear
    np.testing.assert_allclose(mid, a * 1.5, atol=1e-5)


def test_augmentation_does_not_leak_into_samples():
    """Planted: every training series is positive; training negates half of them (told to the
    network). Samples, which ask for no augmentation, stay positive."""
    import torch

    torch.set_num_threads(1)
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    rng = np.random.default_rng(0)
    t = np.arange(32) / 32
    recs = [Record(id=f"r{i}", data=(0.5 + 0.4 * np.sin(2 * np.pi * 2 * t + rng.uniform(0, 6)))[None]
                   .astype(np.float32), label=i % 2) for i in range(32)]
    train = Dataset(recs, modality="signal", classes=[0, 1])
    ctx = RunContext(train=train, seed=0, quiet=True)
    gen = Diffusion1DGenerator(steps=300, base_channels=16, channel_mults=[1, 2], attention=False, lr=3e-3,
                               num_inference_steps=10, device="cpu", normalize="standard",
                               augment=["negate", "shift"], augment_p=0.5)
    gen.fit(train, ctx)
    assert gen.model_.config.num_augment == 2
    x, aug = gen._augment(torch.ones(64, 1, 32), torch.Generator().manual_seed(0))
    negated = x[:, 0, 0] < 0
    assert 10 < int(negated.sum()) < 54 and torch.equal(negated, aug[:, 0] == 1)
    out = _arrays(gen.generate([{"label": i % 2} for i in range(20)], seed=0, context=ctx))
    assert np.mean(out.mean(axis=(1, 2)) > 0.2) >= 0.9


def test_variation_params_are_checked():
    from pydantic import ValidationError

    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    with pytest.raises(ValidationError, match="interpolation_weights"):
        Diffusion1DGenerator(interpolation_weights=(0.8, 0.2))
    with pytest.raises(ValidationError, match="strength"):
        Diffusion1DGenerator(strength=0.0)
    with pytest.raises(ValidationError, match="augment"):
        Diffusion1DGenerator(augment=["shift", "shift"])
