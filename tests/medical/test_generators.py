"""medical.ddpm3d, medical.mask2image, medical.ldm3d, medical.classical on 16^3 phantoms."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.builtin.validators.mmd import median_bandwidth, mmd2
from gda_core.config import resolve
from gda_core.errors import ConfigError

TINY = dict(channels=[8, 16], inference_steps=10, lr=3e-3, batch_size=4)


def _flat(records):
    return np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in records])


def _conds(train, n=8):
    return [{"label": "phantom", "source_id": train[i % len(train)].id} for i in range(n)]


@pytest.fixture(scope="module")
def ddpm(phantoms):
    from gda_core.context import RunContext
    from gda_medical.generators.ddpm3d import DDPM3DGenerator

    gen = DDPM3DGenerator(**TINY, steps=160)
    gen.name = "medical.ddpm3d"
    gen.fit(phantoms.train, RunContext(train=phantoms.train, seed=0, quiet=True))
    return gen


@pytest.fixture(scope="module")
def mask2image(phantoms):
    from gda_core.context import RunContext
    from gda_medical.generators.mask2image import Mask2ImageGenerator

    gen = Mask2ImageGenerator(**TINY, steps=160)
    gen.name = "medical.mask2image"
    gen.fit(phantoms.train, RunContext(train=phantoms.train, seed=0, quiet=True))
    return gen


def test_ddpm3d_samples_closer_to_phantoms_than_noise(ddpm, phantoms, context):
    recs = ddpm.generate(_conds(phantoms.train), seed=1, context=context)
    assert len(recs) == 8
    assert all(r.data.shape == (1, 16, 16, 16) and r.data.dtype == np.float32 for r in recs)
    assert all(r.target.shape == (1, 16, 16, 16) and set(np.unique(r.target)) <= {0, 1} for r in recs)
    real = _flat(phantoms.test)
    fake = _flat(recs)
    noise = np.random.default_rng(0).random(fake.shape)
    bw = median_bandwidth(real, real)
    d_fake, d_noise = mmd2(real, fake, bw), mmd2(real, noise, bw)
    assert d_fake < 0.25 * d_noise, (d_fake, d_noise)
    from gda_medical.metrics import monai_mmd

    real_v = np.stack([r.data for r in phantoms.test])
    assert monai_mmd(real_v, np.stack([r.data for r in recs])) < monai_mmd(real_v, noise.reshape(real_v.shape).astype(
        np.float32))
    # the jointly generated label marks the bright voxels of its image
    img = np.stack([r.data for r in recs])
    lab = np.stack([r.target for r in recs]) > 0
    assert lab.any() and img[lab].mean() > img[~lab].mean() + 0.2


def test_ddpm3d_deterministic_and_save_load_round_trip(ddpm, phantoms, context, tmp_path):
    from gda_medical.generators.ddpm3d import DDPM3DGenerator

    conds = _conds(phantoms.train, 3)
    a = ddpm.generate(conds, seed=5, context=context)
    b = ddpm.generate(conds, seed=5, context=context)
    c = ddpm.generate(conds, seed=6, context=context)
    assert all(np.array_equal(x.data, y.data) for x, y in zip(a, b))
    assert not np.allclose(a[0].data, c[0].data)
    ddpm.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "unet" / "model.safetensors").is_file()
    loaded = DDPM3DGenerator.from_pretrained(tmp_path / "m")
    d = loaded.generate(conds, seed=5, context=context)
    assert all(np.array_equal(x.data, y.data) and np.array_equal(x.target, y.target) for x, y in zip(a, d))
    assert a[0].meta["affine"] == phantoms.train[0].meta["affine"]
    # the same weights sampled with the stochastic DDPM sampler
    ddpm_sampler = DDPM3DGenerator.from_pretrained(tmp_path / "m", scheduler="ddpm", inference_steps=10)
    e = ddpm_sampler.generate(conds, seed=5, context=context)
    assert e[0].data.shape == (1, 16, 16, 16) and not np.array_equal(e[0].data, a[0].data)


def test_diffusion_bad_params_name_the_field():
    with pytest.raises(ConfigError, match="channels"):
        resolve({"generator": {"name": "medical.ddpm3d", "params": {"channels": [8, 12]}}})
    with pytest.raises(ConfigError, match="attention_levels"):
        resolve({"generator": {"name": "medical.mask2image", "params": {"attention_levels": [True]}}})
    with pytest.raises(ConfigError, match="scheduler"):
        resolve({"generator": {"name": "medical.ddpm3d", "params": {"scheduler": "euler"}}})
    with pytest.raises(ConfigError, match="ae_channels"):
        resolve({"generator": {"name": "medical.ldm3d", "params": {"ae_channels": [8, 10]}}})
    with pytest.raises(ConfigError, match="patch_size"):
        resolve({"application": {"name": "medical.segmentation", "params": {"patch_size": [10, 10, 10]}}})
    with pytest.raises(ConfigError, match="shift"):
        resolve({"generator": {"name": "medical.mask2image", "params": {"shift": 0.9}}})


def test_mask2image_keeps_the_mask_geometry(mask2image, phantoms, context):
    conds = _conds(phantoms.train)
    recs = mask2image.generate(conds, seed=2, context=context)
    dice, chance = [], []
    rng = np.random.default_rng(0)
    for r in recs:
        m = r.target[0] > 0
        pred = r.data[0] > 0.5
        dice.append(2 * (pred & m).sum() / (pred.sum() + m.sum() + 1e-8))
        rand = rng.random(m.shape) < m.mean()  # a guess with the right foreground share
        chance.append(2 * (rand & m).sum() / (rand.sum() + m.sum() + 1e-8))
    assert np.mean(dice) > 0.6 and np.mean(dice) > 4 * np.mean(chance), (dice, chance)


def test_mask2image_pairs_are_new_masks(mask2image, phantoms, context):
    conds = _conds(phantoms.train, 4)
    recs = mask2image.generate(conds, seed=2, context=context)
    again = mask2image.generate(conds, seed=2, context=context)
    for r, a, c in zip(recs, again, conds):
        src = next(x for x in phantoms.train if x.id == c["source_id"]).target
        assert r.target.shape == src.shape
        assert np.array_equal(r.target, a.target) and np.array_equal(r.data, a.data)
        assert not np.array_equal(r.target, src)  # shifted / scaled: a new pair
        assert abs(int((r.target > 0).sum()) - int((src > 0).sum())) < 0.8 * (src > 0).sum()


def test_classical_moves_image_and_label_together(phantoms, context):
    from gda_medical.generators.classical import ClassicalAugmentation

    gen = ClassicalAugmentation(intensity_prob=0.0)
    gen.fit(phantoms.train, context)
    conds = _conds(phantoms.train, 4)
    a = gen.generate(conds, seed=0, context=context)
    b = gen.generate(conds, seed=0, context=context)
    for r, s, c in zip(a, b, conds):
        src = next(x for x in phantoms.train if x.id == c["source_id"])
        assert np.array_equal(r.data, s.data) and np.array_equal(r.target, s.target)
        assert r.data.shape == src.data.shape and r.target.shape == src.target.shape
        assert not np.allclose(r.data, src.data)
        lab = r.target > 0
        assert r.data[lab].mean() > r.data[~lab].mean() + 0.2  # the label still covers the spheres


def test_ldm3d_trains_saves_and_reloads_both_stages(phantoms, context, tmp_path):
    from gda_medical.generators.ldm3d import LatentDiffusion3DGenerator

    gen = LatentDiffusion3DGenerator(channels=[8, 8], ae_channels=[8, 8], latent_channels=2, ae_steps=120,
                                     steps=120, inference_steps=10, lr=3e-3, with_label=True)
    gen.fit(phantoms.train, context)
    conds = _conds(phantoms.train, 4)
    a = gen.generate(conds, seed=1, context=context)
    assert a[0].data.shape == (1, 16, 16, 16) and a[0].target.shape == (1, 16, 16, 16)
    assert gen.info["latent_shape"] == [2, 8, 8, 8]
    real = _flat(phantoms.test)
    fake = _flat(a)
    noise = np.random.default_rng(0).random(fake.shape)
    bw = median_bandwidth(real, real)
    assert mmd2(real, fake, bw) < mmd2(real, noise, bw)
    gen.save_pretrained(tmp_path / "ldm")
    assert (tmp_path / "ldm" / "autoencoder" / "model.safetensors").is_file()
    assert (tmp_path / "ldm" / "unet" / "model.safetensors").is_file()
    loaded = LatentDiffusion3DGenerator.from_pretrained(tmp_path / "ldm")
    b = loaded.generate(conds, seed=1, context=context)
    assert all(np.array_equal(x.data, y.data) for x, y in zip(a, b))
    # pretrained stages from a local path: used as they are with ae_steps=0, steps=0
    reuse = LatentDiffusion3DGenerator(channels=[8, 8], ae_channels=[8, 8], latent_channels=2, ae_steps=0, steps=0,
                                       inference_steps=10, with_label=True,
                                       autoencoder_path=str(tmp_path / "ldm"), diffusion_path=str(tmp_path / "ldm"))
    reuse.fit(phantoms.train, context)
    c = reuse.generate(conds, seed=1, context=context)
    assert all(np.allclose(x.data, y.data, atol=1e-5) for x, y in zip(a, c))


def test_ldm3d_bad_pretrained_path_names_the_field(phantoms, context, tmp_path):
    from gda_medical.generators.ldm3d import LatentDiffusion3DGenerator

    gen = LatentDiffusion3DGenerator(channels=[8, 8], ae_channels=[8, 8], ae_steps=0, steps=0,
                                     autoencoder_path=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="autoencoder_path"):
        gen.fit(phantoms.train, context)
