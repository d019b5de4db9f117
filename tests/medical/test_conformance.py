"""Every component gda-medical registers passes the conformance kit (gda_core.testing), with tiny
parameters on 16^3 MONAI phantoms."""

from __future__ import annotations

import dataclasses

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

SKIP: dict[str, str] = {}
"""Components the kit cannot test, with the reason (none in gda-medical)."""

test_every_component = conformance_suite("gda_medical", globals(), skip=SKIP)

TINY = {"channels": [8, 8], "attention_levels": [False, False], "steps": 2, "inference_steps": 2, "batch_size": 2,
        "device": "cpu"}


def _phantoms(n_train=4, n_test=4, size=16, n_pool=0):
    from gda_core.context import RunContext
    from gda_core.records import Dataset
    from gda_medical.datasets import PhantomsDataset

    return PhantomsDataset(size=size, n_train=n_train, n_test=n_test, num_objs=3, n_pool=n_pool).load(
        RunContext(train=Dataset([]), seed=0, quiet=True))


def _planted_volumes():
    """Real phantoms, held-out ones (good) and uniform noise with their masks (bad)."""
    splits = _phantoms()
    rng = np.random.default_rng(0)
    good = [dataclasses.replace(r, id=f"good-{r.id}") for r in splits.test.records]
    bad = [dataclasses.replace(r, id=f"bad-{r.id}", data=rng.random(np.asarray(r.data).shape).astype(np.float32))
           for r in splits.test.records]
    return splits.train, good, bad


class TestClassical(GeneratorContract):
    name = "medical.classical"
    needs_fit = False  # augments context.train's volumes when not fitted

    def train_data(self):
        return _phantoms().train


class TestDDPM3D(GeneratorContract):
    name = "medical.ddpm3d"
    params = TINY

    def train_data(self):
        return _phantoms().train


class TestMask2Image(GeneratorContract):
    name = "medical.mask2image"
    params = TINY

    def train_data(self):
        return _phantoms().train


class TestLDM3D(GeneratorContract):
    name = "medical.ldm3d"
    params = {**TINY, "ae_channels": [8, 8], "latent_channels": 2, "ae_steps": 2}

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


class TestPseudoMask(StrategyContract):
    """Segmentation self-training driving medical.mask2image (pool-pretrained, then fine-tuned on
    labelled + pseudo-pairs)."""

    name = "medical.pseudo-mask"
    params = {"segmenter": {"channels": [4, 8], "steps": 3, "batch_size": 2, "device": "cpu"}, "keep": 0.5}
    generator = {"name": "medical.mask2image", "params": TINY}

    def train_data(self):
        return _phantoms(n_train=2, n_pool=4).train

    def pool_data(self):
        return _phantoms(n_train=2, n_pool=4).pool


class TestRealism(SelectorContract):
    name = "medical.realism"

    def planted_mix(self):
        return _planted_volumes()


class TestMMD(ValidatorContract):
    name = "medical.mmd"

    def inputs(self):
        train, good, _bad = _planted_volumes()
        return train, _phantoms(n_train=2, n_test=3).test, good


class TestMSSSIMDiversity(ValidatorContract):
    name = "medical.msssim-diversity"

    def inputs(self):
        train, good, _bad = _planted_volumes()
        return train, _phantoms(n_train=2, n_test=3).test, good


class TestSegmentation(ApplicationContract):
    name = "medical.segmentation"
    params = {"channels": [4, 8], "steps": 3, "batch_size": 2, "device": "cpu"}

    def data(self):
        splits = _phantoms()
        return splits.train, splits.test


class TestPooled(EmbedderContract):
    name = "medical.pooled"
    params = {"grid": 4}

    def train_data(self):
        return _phantoms().train


class TestPhantoms(DatasetContract):
    name = "medical.phantoms"
    params = {"size": 16, "n_train": 3, "n_test": 2, "n_pool": 2, "num_objs": 2}


class TestNifti(DatasetContract):
    name = "medical.nifti"

    def loader_params(self, tmp_path):
        import nibabel as nib

        rng = np.random.default_rng(0)
        (tmp_path / "scans").mkdir(exist_ok=True)
        affine = np.diag([2.0, 2.0, 2.0, 1.0])
        for i in range(4):
            nib.save(nib.Nifti1Image((rng.random((8, 8, 6)) * 100).astype(np.float32), affine),
                     str(tmp_path / "scans" / f"case{i}.nii.gz"))
            nib.save(nib.Nifti1Image((rng.random((8, 8, 6)) > 0.7).astype(np.uint8), affine),
                     str(tmp_path / "scans" / f"case{i}_label.nii.gz"))
        return {"path": str(tmp_path / "scans")}
