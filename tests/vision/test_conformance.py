"""gda-vision's generators pass the conformance kit (gda_core.testing), with tiny parameters.

vision.sd and vision.clip-filter need a Stable Diffusion / CLIP checkpoint, so they are not run here."""

from __future__ import annotations

from gda_core.testing import GeneratorContract

from .helpers import toy_bars


class TestClassical(GeneratorContract):
    name = "vision.classical"
    plugins = ("gda-vision",)

    def train_data(self):
        return toy_bars(4, seed=0)


class TestDDPM(GeneratorContract):
    name = "vision.ddpm"
    plugins = ("gda-vision",)
    params = {"block_out_channels": [16, 32], "train_steps": 2, "batch_size": 8, "warmup_steps": 0,
              "num_inference_steps": 2, "scheduler": "ddim", "device": "cpu"}

    def train_data(self):
        return toy_bars(4, seed=0)
