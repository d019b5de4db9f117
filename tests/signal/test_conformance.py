"""gda-signal's generators and selector pass the conformance kit (gda_core.testing), with tiny parameters."""

from __future__ import annotations

import numpy as np

from gda_core.records import Record
from gda_core.testing import GeneratorContract, SelectorContract

from .conftest import make_sines


class TestClassical(GeneratorContract):
    name = "signal.classical"
    plugins = ("gda-signal",)
    params = {"methods": ["jitter", "scaling"]}

    def train_data(self):
        return make_sines(4, length=32)


class TestDiffusion1D(GeneratorContract):
    name = "signal.diffusion1d"
    plugins = ("gda-signal",)
    params = {"base_channels": 16, "channel_mults": [1, 2], "attention": False, "steps": 2,
              "num_inference_steps": 2, "device": "cpu"}

    def train_data(self):
        return make_sines(4, length=32)


class TestTimeGAN(GeneratorContract):
    name = "signal.timegan"
    plugins = ("gda-signal",)
    params = {"hidden_dim": 4, "num_layers": 1, "steps": 2, "batch_size": 4, "device": "cpu"}

    def train_data(self):
        return make_sines(4, length=16)


class TestVAE1D(GeneratorContract):
    name = "signal.vae1d"
    plugins = ("gda-signal",)
    params = {"channels": [8, 8], "latent_dim": 4, "steps": 2, "batch_size": 4, "device": "cpu"}

    def train_data(self):
        return make_sines(4, length=32)


class TestNoiseFilter(SelectorContract):
    name = "signal.noise-filter"
    plugins = ("gda-signal",)

    def planted_mix(self):
        train = make_sines(8, length=64)
        held = make_sines(4, length=64, seed=1)
        rng = np.random.default_rng(0)
        good = list(held.records)
        bad = [Record(f"noise-{r.id}", rng.standard_normal(np.asarray(r.data).shape).astype(np.float32), r.label)
               for r in held.records]
        return train, good, bad
