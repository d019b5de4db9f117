"""medical.pix2pix and medical.vae3d on 16^3 phantoms: each generated image agrees with its own mask
better than with another sample's, and lies closer to the training images than noise does; pix2pix
returns the perturbed real masks it drew for; pool warm start; a killed fit resumes; bad parameters
name the field."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import ConfigError, DataError
from gda_core.records import Dataset, Record
from tests.interrupt import Killed, KillingContext, save_every_step

PIX2PIX = {"channels": [8, 16], "disc_channels": 8, "steps": 200, "batch_size": 4, "lr": 2e-3, "lr_d": 2e-3,
           "device": "cpu"}
VAE = {"channels": [8, 16, 16], "latent_dim": 16, "steps": 150, "batch_size": 4, "lr": 3e-3, "device": "cpu"}
GENERATORS = {"medical.pix2pix": PIX2PIX, "medical.vae3d": VAE}


def _build(name: str, **extra):
    from gda_core.host import host

    gen = host.create("generators", name, {**GENERATORS[name], **extra})
    return gen


def contrast(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean intensity inside the mask minus outside it (phantom spheres are bright)."""
    m = np.asarray(mask).astype(bool).reshape(np.shape(image))
    if not m.any() or m.all():
        return 0.0
    return float(np.asarray(image)[m].mean() - np.asarray(image)[~m].mean())


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def fitted(request, phantoms):
    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    gen = _build(request.param)
    gen.fit(phantoms.train, ctx)
    conds = [{"label": r.label, "source_id": r.id} for r in phantoms.train.records]
    return request.param, gen, gen.generate(conds, seed=1, context=ctx), phantoms.train


def test_each_image_agrees_with_its_own_mask_better_than_with_another(fitted):
    name, _gen, out, train = fitted
    assert all(r.data.shape == (1, 16, 16, 16) and r.target.shape == (1, 16, 16, 16) for r in out)
    assert all(r.target.dtype == np.uint8 and set(np.unique(r.target)) <= {0, 1} for r in out)
    own = [contrast(r.data, r.target) for r in out]
    other = [contrast(r.data, out[(i + 1) % len(out)].target) for i, r in enumerate(out)]
    real = np.mean([contrast(r.data, r.target) for r in train.records])
    assert np.mean(own) > 0.25 * real, f"{name}: images do not follow their masks ({own} vs real {real:.3f})"
    assert np.mean(own) > np.mean(other) + 0.1 * real, f"{name}: another mask fits as well ({own} vs {other})"
    assert sum(a > b for a, b in zip(own, other)) >= 0.75 * len(out)


def test_images_lie_closer_to_the_training_images_than_noise(fitted):
    name, _gen, out, train = fitted
    real = np.stack([np.asarray(r.data).ravel() for r in train.records])
    fake = np.stack([np.asarray(r.data).ravel() for r in out])
    noise = np.random.default_rng(0).uniform(0, 1, fake.shape).astype(np.float32)

    def nn(a):
        return np.sqrt(((a[:, None] - real[None]) ** 2).sum(-1)).min(1).mean()

    assert nn(fake) < 0.6 * nn(noise), name
    assert np.all((fake >= 0) & (fake <= 1))


def test_pix2pix_draws_for_perturbed_real_masks_and_varies_with_the_seed(phantoms):
    name = "medical.pix2pix"
    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    gen = _build(name, steps=2)
    gen.fit(phantoms.train, ctx)
    src = phantoms.train.records[0]
    a = gen.generate([{"label": src.label, "source_id": src.id}], seed=3, context=ctx)[0]
    b = gen.generate([{"label": src.label, "source_id": src.id}], seed=4, context=ctx)[0]
    assert not np.array_equal(a.target, src.target) and not np.array_equal(a.target, b.target)
    assert np.mean(a.target == src.target) > 0.7  # a shifted, scaled copy of the real mask
    given = gen.generate([{"label": src.label, "source_id": src.id, "mask": src.target}], seed=3, context=ctx)[0]
    assert np.array_equal(given.target, src.target)
    gen.params = gen.params.model_copy(update={"sample_dropout": False, "noise_channels": 1})
    c1, c2 = (gen.generate([{"label": src.label, "mask": src.target, "source_id": src.id}], seed=s, context=ctx)[0]
              for s in (5, 6))
    assert not np.array_equal(c1.data, c2.data)  # the noise volume still varies the image


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_pretrain_on_a_pool_then_fine_tune(phantoms, name):
    pool = Dataset([Record(f"p{i}", r.data, None, meta=dict(r.meta)) for i, r in enumerate(phantoms.test.records)],
                   modality="volume", classes=list(phantoms.train.classes))
    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    gen = _build(name, steps=3)
    gen.pretrain(pool, ctx, steps=2)
    net = gen.net_g if name == "medical.pix2pix" else gen.vae
    before = {k: v.clone() for k, v in net.state_dict().items()}
    gen.fine_tune(phantoms.train, ctx, steps=2)
    net = gen.net_g if name == "medical.pix2pix" else gen.vae
    assert any(not np.allclose(before[k].numpy(), v.numpy()) for k, v in net.state_dict().items())
    out = gen.generate([{"label": phantoms.train.records[0].label, "source_id": phantoms.train.records[0].id}],
                       seed=0, context=ctx)
    assert out[0].target is not None
    with pytest.raises(ConfigError, match="lora_rank"):
        gen.fine_tune(phantoms.train, ctx, lora_rank=2)
    with pytest.raises(DataError, match="label volume"):
        gen.fine_tune(pool, ctx)


def test_a_pix2pix_fit_killed_part_way_resumes_to_the_same_samples(tmp_path, monkeypatch, phantoms):
    """Two optimizers and an EMA generator, saved after every step: resuming at step 3 ends where an
    uninterrupted fit does."""
    save_every_step(monkeypatch)
    short = {"steps": 6, "ema": 0.9}
    whole = _build("medical.pix2pix", **short)
    whole.fit(phantoms.train, RunContext(train=phantoms.train, seed=0, quiet=True))
    ctx = KillingContext(train=phantoms.train, seed=0, quiet=True, workdir=tmp_path)
    ctx.kill_after, ctx.phase = 3, "train"
    with pytest.raises(Killed):
        _build("medical.pix2pix", **short).fit(phantoms.train, ctx)
    ctx.kill_after = None
    resumed = _build("medical.pix2pix", **short)
    resumed.fit(phantoms.train, ctx)
    cond = [{"label": r.label, "source_id": r.id} for r in phantoms.train.records[:2]]
    a, b = whole.generate(cond, seed=2, context=ctx), resumed.generate(cond, seed=2, context=ctx)
    assert all(np.array_equal(x.data, y.data) for x, y in zip(a, b))


def test_bad_parameters_name_the_field(phantoms):
    from gda_core.host import host

    with pytest.raises(Exception, match="l1_weight"):
        host.create("generators", "medical.pix2pix", {"checkpoint": "heldout-loss", "l1_weight": 0})
    with pytest.raises(Exception, match="strides"):
        host.create("generators", "medical.vae3d", {"channels": [8, 8], "strides": [2]})
    ctx = RunContext(train=phantoms.train, seed=0, quiet=True)
    with pytest.raises(DataError, match="disc_layers"):
        _build("medical.pix2pix", steps=1, disc_layers=4).fit(phantoms.train, ctx)
    unlabelled = phantoms.train.with_records([Record(r.id, r.data, r.label) for r in phantoms.train.records])
    with pytest.raises(DataError, match="with_label"):
        _build("medical.vae3d", steps=1).fit(unlabelled, ctx)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_fitting_is_deterministic_under_a_seed(phantoms, name):
    conds = [{"label": r.label, "source_id": r.id} for r in phantoms.train.records[:2]]
    runs = []
    for seed in (0, 0, 1):
        ctx = RunContext(train=phantoms.train, seed=seed, quiet=True)
        gen = _build(name, steps=3)
        gen.fit(phantoms.train, ctx)
        runs.append(np.stack([r.data for r in gen.generate(conds, seed=0, context=ctx)]))
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])
