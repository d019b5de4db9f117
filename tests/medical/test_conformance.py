"""gda-medical's generators and selector pass the conformance kit (gda_core.testing), with tiny parameters."""

from __future__ import annotations

import dataclasses

import numpy as np

from gda_core.testing import GeneratorContract, SelectorContract


def _phantoms(n_train=4, n_test=4, size=16):
    from gda_core.context import RunContext
    from gda_core.records import Dataset
    from gda_medical.datasets import PhantomsDataset

    return PhantomsDataset(size=size, n_train=n_train, n_test=n_test, num_objs=3).load(
        RunContext(train=Dataset([]), seed=0, quiet=True))


class TestClassical(GeneratorContract):
    name = "medical.classical"
    plugins = ("gda-medical",)
    needs_fit = False  # augments context.train's volumes when not fitted

    def train_data(self):
        return _phantoms().train


class TestDDPM3D(GeneratorContract):
    name = "medical.ddpm3d"
    plugins = ("gda-medical",)
    params = {"channels": [8, 16], "steps": 2, "inference_steps": 2, "batch_size": 2, "device": "cpu"}

    def train_data(self):
        return _phantoms().train


class TestPix2Pix(GeneratorContract):
    name = "medical.pix2pix"
    plugins = ("gda-medical",)
    params = {"channels": [4, 8], "disc_channels": 4, "disc_layers": 1, "steps": 2, "batch_size": 2, "device": "cpu"}

    def train_data(self):
        return _phantoms(size=8).train


class TestVAE3D(GeneratorContract):
    name = "medical.vae3d"
    plugins = ("gda-medical",)
    params = {"channels": [4, 8], "latent_dim": 4, "steps": 2, "batch_size": 2, "device": "cpu"}

    def train_data(self):
        return _phantoms(size=8).train


class TestRealism(SelectorContract):
    name = "medical.realism"
    plugins = ("gda-medical",)

    def planted_mix(self):
        splits = _phantoms()
        rng = np.random.default_rng(0)
        good = [dataclasses.replace(r, id=f"good-{r.id}") for r in splits.test.records]
        bad = [dataclasses.replace(r, id=f"bad-{r.id}", data=rng.random(np.asarray(r.data).shape).astype(np.float32))
               for r in splits.test.records]
        return splits.train, good, bad
