"""Every component gda-vision registers passes the conformance kit (gda_core.testing), with tiny
parameters; Stable Diffusion and CLIP run on the tiny random checkpoints the tests build."""

from __future__ import annotations

import numpy as np

from gda_core.testing import (
    ApplicationContract,
    DatasetContract,
    EmbedderContract,
    GeneratorContract,
    SelectorContract,
    StrategyContract,
    ValidatorContract,
    conformance_suite,
)

from .helpers import tiny_clip, tiny_sd, toy_bars

SKIP: dict[str, str] = {}
"""Components the kit cannot test, with the reason (none in gda-vision)."""

test_every_component = conformance_suite("gda_vision", globals(), skip=SKIP)

SD = {"num_inference_steps": 2, "guidance_scale": 3.0, "batch_size": 2, "device": "cpu", "prompt": "a photo of {label}",
      "class_names": {"h": "horizontal", "v": "vertical"}}


def _bars():
    return toy_bars(4, seed=0)


def _planted_images():
    """Real bars, held-out bars (good) and noise labelled as bars (bad)."""
    train, good = toy_bars(4, seed=0), toy_bars(4, seed=1)
    rng = np.random.default_rng(0)
    bad = [r.__class__(f"noise-{r.id}", rng.uniform(0, 1, np.shape(r.data)).astype(np.float32), r.label)
           for r in good.records]
    return train, [r.__class__(f"good-{r.id}", r.data, r.label) for r in good.records], bad


class TestClassical(GeneratorContract):
    name = "vision.classical"

    def train_data(self):
        return _bars()


class TestDDPM(GeneratorContract):
    name = "vision.ddpm"
    params = {"block_out_channels": [16, 32], "train_steps": 2, "batch_size": 8, "warmup_steps": 0,
              "num_inference_steps": 2, "scheduler": "ddim", "device": "cpu"}

    def train_data(self):
        return _bars()


class TestStableDiffusion(GeneratorContract):
    name = "vision.sd"
    needs_fit = False  # text2img samples the pretrained pipeline; fit only keeps sources for img2img

    def build(self, **extra):
        return super().build(**{"model": tiny_sd(), **SD, **extra})

    def train_data(self):
        return _bars()


class TestLoRA(StrategyContract):
    """LoRA on the tiny Stable Diffusion checkpoint, a few steps."""

    name = "vision.lora"
    params = {"rank": 2, "steps": 2, "batch_size": 2, "learning_rate": 1e-2}

    def build(self, **extra):
        import tempfile

        return super().build(output=tempfile.mkdtemp(prefix="gda-lora-"), **extra)

    def _generator(self):
        from gda_core.host import host

        return host.create("generators", "vision.sd", {"model": tiny_sd(), **SD})

    def train_data(self):
        return toy_bars(3, seed=2)


class TestCLIPFilter(SelectorContract):
    name = "vision.clip-filter"
    params = {"prompt": "a photo of {label}", "device": "cpu"}
    min_good_share = 0.0  # random CLIP weights: the scores are real CLIP similarities, but not meaningful

    def build(self, **extra):
        return super().build(model=tiny_clip(), **extra)

    def planted_mix(self):
        return _planted_images()


class TestFID(ValidatorContract):
    name = "vision.fid"

    def inputs(self):
        train, good, _bad = _planted_images()
        return train, toy_bars(3, seed=3), good


class TestCNN(ApplicationContract):
    name = "vision.cnn"
    params = {"steps": 30, "batch_size": 8, "width": 4, "feature_dim": 8, "device": "cpu"}
    min_score = 0.6  # horizontal against vertical bars

    def data(self):
        return toy_bars(6, seed=0), toy_bars(6, seed=1)


class TestCNNEmbedder(EmbedderContract):
    name = "vision.cnn-embedder"
    params = {"steps": 3, "batch_size": 8, "width": 4, "feature_dim": 8, "device": "cpu"}

    def train_data(self):
        return _bars()


class TestCLIPEmbedder(EmbedderContract):
    name = "vision.clip-embedder"
    params = {"device": "cpu"}

    def build(self, **extra):
        return super().build(model=tiny_clip(), **extra)

    def train_data(self):
        return _bars()


class TestDigits(DatasetContract):
    name = "vision.digits"
    params = {"k_shot": 2, "classes": [0, 1]}


class TestFolder(DatasetContract):
    name = "vision.folder"

    def loader_params(self, tmp_path):
        from PIL import Image

        rng = np.random.default_rng(0)
        for label in ("cat", "dog"):
            (tmp_path / "images" / label).mkdir(parents=True, exist_ok=True)
            for i in range(5):
                pixels = (rng.uniform(0, 255, (6, 6, 3))).astype(np.uint8)
                Image.fromarray(pixels).save(tmp_path / "images" / label / f"{i}.png")
        return {"path": str(tmp_path / "images"), "size": 8, "k_shot": 2}
        return toy_bars(4, seed=0)


class TestGAN(GeneratorContract):
    name = "vision.gan"
    plugins = ("gda-vision",)
    params = {"width": 4, "latent_dim": 4, "train_steps": 2, "batch_size": 8, "device": "cpu"}

    def train_data(self):
        return toy_bars(4, seed=0)


class TestGANWithoutAugmentation(TestGAN):
    params = {**TestGAN.params, "diffaugment": []}


class TestVAE(GeneratorContract):
    name = "vision.vae"
    plugins = ("gda-vision",)
    params = {"block_out_channels": [8, 8, 8], "norm_num_groups": 4, "train_steps": 2, "batch_size": 8,
              "warmup_steps": 0, "device": "cpu"}

    def train_data(self):
        return toy_bars(4, seed=0)


class TestVAEWithAMixturePrior(TestVAE):
    params = {**TestVAE.params, "prior": "class-gmm", "prior_components": 2}


class TestVAEAt32Pixels(TestVAE):
    """vision.folder's default side: 32 x 32 RGB."""

    def train_data(self):
        import numpy as np

        from gda_core.records import Dataset, Record

        rng = np.random.default_rng(0)
        return Dataset([Record(f"{c}-{i}", rng.uniform(0, 1, (3, 32, 32)).astype(np.float32), c)
                        for c in ("a", "b") for i in range(3)], modality="image", classes=["a", "b"])


class TestGANAt32Pixels(TestGAN):
    train_data = TestVAEAt32Pixels.train_data
