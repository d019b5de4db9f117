"""vision.ddpm beyond plain sampling: strength (SDEdit), latent interpolation, non-leaking
augmentation, held-out checkpoint choice."""

import numpy as np
import pytest

from gda_core.errors import DataError
from gda_vision.generators.ddpm import ClassConditionalDDPMGenerator

from .helpers import make_context, toy_bars

PARAMS = dict(block_out_channels=[16, 32], train_steps=150, batch_size=32, learning_rate=2e-3, warmup_steps=10,
              num_inference_steps=10, guidance_scale=2.0, scheduler="ddim", device="cpu")


@pytest.fixture(scope="module")
def trained():
    train = toy_bars(16, seed=0)
    gen = ClassConditionalDDPMGenerator(**PARAMS)
    gen.fit(train, make_context(train))
    return gen, train


def _conds(train, n=3):
    recs = [r for r in train.records if r.label == "h"][:n] + [r for r in train.records if r.label == "v"][:n]
    return [{"label": r.label, "source_id": r.id} for r in recs], np.stack([r.data for r in recs])


def _gen(gen, conds, ctx, seed=5, **params):
    old = {k: getattr(gen.params, k) for k in params}
    for k, v in params.items():
        setattr(gen.params, k, v)
    try:
        return np.stack([r.data for r in gen.generate(conds, seed=seed, context=ctx)])
    finally:
        for k, v in old.items():
            setattr(gen.params, k, v)


@pytest.mark.parametrize("scheduler", ["ddim", "dpm-solver++"])
def test_strength_one_is_plain_sampling_bit_for_bit(trained, scheduler):
    gen, train = trained
    conds, _ = _conds(train)
    ctx = make_context(train)
    plain = _gen(gen, [{"label": c["label"]} for c in conds], ctx, strength=1.0, scheduler=scheduler)
    with_sources = _gen(gen, conds, ctx, strength=1.0, scheduler=scheduler)
    idx = [gen.class_index(c["label"]) for c in conds]
    old = gen.params.scheduler
    gen.params.scheduler = scheduler
    try:
        direct = gen.sample(idx, seed=5, init=np.stack([r.data for r in train.records[:len(idx)]]))
    finally:
        gen.params.scheduler = old
    assert np.array_equal(plain, with_sources) and np.array_equal(plain, direct)


@pytest.mark.parametrize("scheduler", ["ddim", "dpm-solver++"])
def test_low_strength_stays_near_its_source_and_is_seeded(trained, scheduler):
    gen, train = trained
    conds, src = _conds(train)
    ctx = make_context(train)
    low = _gen(gen, conds, ctx, strength=0.3, scheduler=scheduler)
    again = _gen(gen, conds, ctx, strength=0.3, scheduler=scheduler)
    other = _gen(gen, conds, ctx, seed=6, strength=0.3, scheduler=scheduler)
    plain = _gen(gen, conds, ctx, strength=1.0, scheduler=scheduler)
    assert np.array_equal(low, again) and not np.array_equal(low, other)
    d_low = np.abs(low - src).mean()
    assert d_low < 0.5 * np.abs(plain - src).mean()
    recs = gen.generate(conds, seed=5, context=ctx) if gen.params.strength < 1 else None
    assert recs is None or all(r.meta["source_id"] == c["source_id"] for r, c in zip(recs, conds))


def test_strength_needs_known_sources(trained):
    gen, train = trained
    gen.params.strength = 0.5
    try:
        with pytest.raises(DataError, match="source_id"):
            gen.generate([{"label": "h", "source_id": "nope"}], seed=0, context=make_context(train))
    finally:
        gen.params.strength = 1.0


def test_interpolation_is_seeded_and_records_its_parents(trained):
    gen, train = trained
    conds, src = _conds(train, 2)
    ctx = make_context(train)
    gen.params.interpolate, gen.params.strength = True, 0.6
    try:
        a = gen.generate(conds, seed=3, context=ctx)
        b = gen.generate(conds, seed=3, context=ctx)
    finally:
        gen.params.interpolate, gen.params.strength = False, 1.0
    xa = np.stack([r.data for r in a])
    assert np.array_equal(xa, np.stack([r.data for r in b]))
    assert xa.shape == src.shape and np.isfinite(xa).all()
    for r, c in zip(a, conds):
        assert r.meta["source_id"] == c["source_id"] and r.meta["partner_id"] != c["source_id"]
        assert 0.2 <= r.meta["weight"] <= 0.8
        assert r.meta["partner_id"].startswith(c["label"])  # the partner is of the same class


def test_inversion_then_decoding_reconstructs_the_image(trained):
    gen, train = trained
    _, src = _conds(train, 2)
    idx = [0, 0, 1, 1]
    gen.params.strength = 0.5
    try:
        z = gen.invert(src, idx)
        rec = gen.sample(idx, seed=0, latents=z)
    finally:
        gen.params.strength = 1.0
    others = np.stack([r.data for r in train.records[-4:]])
    assert np.abs(rec - src).mean() < 0.5 * np.abs(others - src).mean()


def test_augmentation_conditioning_trains_saves_and_loads(tmp_path):
    train = toy_bars(8, seed=1)
    gen = ClassConditionalDDPMGenerator(**{**PARAMS, "train_steps": 30, "augment": 0.5})
    gen.fit(train, make_context(train))
    assert gen.aug_dims_ > 0 and gen.unet_.class_embedding.aug.weight.abs().sum() > 0
    conds = [{"label": "h"}, {"label": "v"}]
    a = np.stack([r.data for r in gen.generate(conds, seed=1, context=None)])
    gen.save_pretrained(tmp_path / "m")
    loaded = ClassConditionalDDPMGenerator.from_pretrained(tmp_path / "m")
    assert np.array_equal(a, np.stack([r.data for r in loaded.generate(conds, seed=1, context=None)]))


@pytest.mark.parametrize("criterion", ["heldout-loss", "copy-share"])
def test_checkpoint_is_picked_by_a_held_out_criterion(criterion):
    train = toy_bars(10, seed=2)
    gen = ClassConditionalDDPMGenerator(**{**PARAMS, "train_steps": 40, "eval_every": 20, "checkpoint": criterion,
                                           "holdout": 0.2, "num_inference_steps": 4})
    gen.fit(train, make_context(train))
    steps = [c["step"] for c in gen.checkpoints_]
    assert steps == [20, 40] and gen.checkpoint_step_ in steps
    key = "heldout_loss" if criterion == "heldout-loss" else "copy_share"
    assert all(np.isfinite(c[key]) for c in gen.checkpoints_)
    if criterion == "heldout-loss":
        best = min(gen.checkpoints_, key=lambda c: c["heldout_loss"])
        assert gen.checkpoint_step_ == best["step"]
    assert gen.generate([{"label": "h"}], seed=0, context=None)[0].data.shape == (1, 8, 8)
