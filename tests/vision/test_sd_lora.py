import numpy as np
import pytest

from gda_core.errors import ConfigError
from gda_vision.generators.sd import StableDiffusionGenerator
from gda_vision.strategies.lora import LoRAFineTune

from .helpers import make_context, toy_bars

SD = dict(num_inference_steps=3, guidance_scale=3.0, batch_size=3, device="cpu", prompt="a photo of {label}",
          class_names={"h": "horizontal", "v": "vertical"})


@pytest.fixture(scope="module")
def data():
    return toy_bars(3, seed=2)


def _images(recs):
    return np.stack([r.data for r in recs])


def test_text2img_from_a_local_checkpoint(tiny_sd_path, data):
    gen = StableDiffusionGenerator(model=tiny_sd_path, **SD)
    gen.fit(data, make_context(data))
    conds = [{"label": "h"}, {"label": "v"}, {"label": "h"}, {"label": "v"}]
    recs = gen.generate(conds, seed=0, context=None)
    x = _images(recs)
    assert x.shape == (4, 1, 8, 8) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert [r.meta["prompt"] for r in recs[:2]] == ["a photo of horizontal", "a photo of vertical"]
    assert np.array_equal(x, _images(gen.generate(conds, seed=0, context=None)))
    assert not np.allclose(x, _images(gen.generate(conds, seed=1, context=None)))


def test_img2img_starts_from_the_source_image(tiny_sd_path, data):
    gen = StableDiffusionGenerator(model=tiny_sd_path, mode="img2img", strength=0.6, scheduler="ddim", **SD)
    gen.fit(data, make_context(data))
    a, b = data.records[0], data.records[-1]
    same = [{"label": a.label, "source_id": a.id}] * 2
    other = [{"label": a.label, "source_id": b.id}] * 2
    x1 = _images(gen.generate(same, seed=0, context=None))
    x2 = _images(gen.generate(other, seed=0, context=None))
    assert x1.shape == (2, 1, 8, 8)
    assert np.array_equal(x1, _images(gen.generate(same, seed=0, context=None)))
    assert not np.allclose(x1, x2)  # only the source changed


def test_unloadable_checkpoint_is_a_config_error(tmp_path, data):
    gen = StableDiffusionGenerator(model=str(tmp_path / "nothing-here"), **SD)
    gen.fit(data, make_context(data))
    with pytest.raises(ConfigError, match="generator.params.model"):
        gen.generate([{"label": "h"}], seed=0, context=None)


def test_lora_strategy_trains_saves_and_reloads_the_adapter(tiny_sd_path, data, tmp_path):
    conds = [{"label": "h"}, {"label": "v"}]
    base = StableDiffusionGenerator(model=tiny_sd_path, **SD)
    base.fit(data, make_context(data))
    before = _images(base.generate(conds, seed=0, context=None))

    strategy = LoRAFineTune(rank=2, steps=4, batch_size=2, learning_rate=1e-2, output=str(tmp_path / "adapter"))
    gen = strategy.fit(StableDiffusionGenerator(model=tiny_sd_path, **SD), data, make_context(data))
    assert len(strategy.losses_) == 4 and np.isfinite(strategy.losses_).all()
    assert (tmp_path / "adapter" / "pytorch_lora_weights.safetensors").is_file()
    tuned = _images(gen.generate(conds, seed=0, context=None))
    assert not np.allclose(before, tuned)  # the adapter changes the samples

    # the adapter alone, loaded into a fresh generator of the base checkpoint
    alone = StableDiffusionGenerator(model=tiny_sd_path, lora=str(tmp_path / "adapter"), **SD)
    alone.fit(data, make_context(data))
    assert np.allclose(tuned, _images(alone.generate(conds, seed=0, context=None)), atol=1e-5)

    # and the generator's own save_pretrained / from_pretrained round trip
    gen.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "lora" / "pytorch_lora_weights.safetensors").is_file()
    loaded = StableDiffusionGenerator.from_pretrained(tmp_path / "model")
    assert np.allclose(tuned, _images(loaded.generate(conds, seed=0, context=None)), atol=1e-5)


def test_lora_needs_the_sd_generator(data):
    from gda_vision.generators.classical import ClassicalAugmentationGenerator

    with pytest.raises(ConfigError, match="vision.lora needs generator vision.sd"):
        LoRAFineTune(steps=1).fit(ClassicalAugmentationGenerator(), data, make_context(data))
