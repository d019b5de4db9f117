"""Every component gda-signal registers passes the conformance kit (gda_core.testing), with tiny
parameters and planted sines or tones."""

from __future__ import annotations

import numpy as np

from gda_core.records import Dataset, Record
from gda_core.testing import (
    ApplicationContract,
    DatasetContract,
    EmbedderContract,
    GeneratorContract,
    SelectorContract,
    ValidatorContract,
    conformance_suite,
)

from .conftest import make_sines

SKIP: dict[str, str] = {}
"""Components the kit cannot test, with the reason (none in gda-signal)."""

test_every_component = conformance_suite("gda_signal", globals(), skip=SKIP)

RATE = 4000


def _tones(n_per_class=3, seed=0, length=512):
    """Short tones of 250 and 1000 Hz at 4 kHz (audio records with a sample rate)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / RATE
    recs = [Record(f"tone{seed}-{i}", (0.5 * np.sin(2 * np.pi * (250.0, 1000.0)[i % 2] * t
                                                    + rng.uniform(0, 6.3)))[None].astype(np.float32),
                   ("low", "high")[i % 2], meta={"sample_rate": RATE}) for i in range(2 * n_per_class)]
    return Dataset(recs, modality="audio", classes=["high", "low"], meta={"sample_rate": RATE})


def _planted_series():
    """Real sines, held-out sines (good) and white noise labelled as sines (bad)."""
    train, held = make_sines(8, length=64), make_sines(4, length=64, seed=1)
    rng = np.random.default_rng(0)
    good = [Record(f"good-{r.id}", r.data, r.label) for r in held.records]
    bad = [Record(f"noise-{r.id}", rng.standard_normal(np.asarray(r.data).shape).astype(np.float32), r.label)
           for r in held.records]
    return train, good, bad


class TestClassical(GeneratorContract):
    name = "signal.classical"
    params = {"methods": ["jitter", "scaling"]}

    def train_data(self):
        return make_sines(4, length=32)


class TestDiffusion1D(GeneratorContract):
    name = "signal.diffusion1d"
    params = {"base_channels": 16, "channel_mults": [1, 2], "attention": False, "steps": 2,
              "num_inference_steps": 2, "device": "cpu"}

    def train_data(self):
        return make_sines(4, length=32)


class TestTimeGAN(GeneratorContract):
    name = "signal.timegan"
    params = {"hidden_dim": 4, "num_layers": 1, "steps": 2, "batch_size": 4, "device": "cpu"}

    def train_data(self):
        return make_sines(4, length=16)


class TestVAE1D(GeneratorContract):
    name = "signal.vae1d"
    params = {"channels": [8, 8], "latent_dim": 4, "steps": 2, "batch_size": 4, "device": "cpu"}

    def train_data(self):
        return make_sines(4, length=32)


class TestSpecDiff(GeneratorContract):
    name = "signal.specdiff"
    params = {"n_fft": 128, "hop_length": 32, "n_mels": 16, "block_out_channels": [16, 32], "norm_num_groups": 8,
              "steps": 2, "batch_size": 4, "num_inference_steps": 2, "griffin_lim_iters": 2, "device": "cpu"}

    def train_data(self):
        return _tones()


class TestNoiseFilter(SelectorContract):
    name = "signal.noise-filter"

    def planted_mix(self):
        return _planted_series()


class TestDiscriminative(ValidatorContract):
    """A post-hoc GRU, a few iterations, on real sines against held-out sines."""

    name = "signal.discriminative"
    params = {"iterations": 5, "batch_size": 8, "repeats": 1, "device": "cpu"}

    def inputs(self):
        train, good, _bad = _planted_series()
        return train, make_sines(4, length=64, seed=2), good


class TestPredictive(TestDiscriminative):
    name = "signal.predictive"


class TestClassifier(ApplicationContract):
    name = "signal.classifier"
    params = {"n_kernels": 84}
    min_score = 0.8  # 2 against 6 cycles per series

    def data(self):
        return make_sines(6, length=64), make_sines(6, length=64, seed=1)


class TestMelCNN(ApplicationContract):
    name = "signal.mel-cnn"
    params = {"n_mels": 16, "n_fft": 128, "hop_length": 32, "width": 4, "epochs": 3, "batch_size": 8, "device": "cpu"}

    def data(self):
        return _tones(4), _tones(4, seed=1)


class TestEmbedder(EmbedderContract):
    name = "signal.embedder"
    params = {"n_kernels": 84}

    def train_data(self):
        return make_sines(4, length=64)


class TestUCR(DatasetContract):
    name = "signal.ucr"
    params = {"name": "GunPoint", "k_shot": 2}


class TestArrays(DatasetContract):
    name = "signal.arrays"

    def loader_params(self, tmp_path):
        sines = make_sines(6, length=32)
        np.savez(tmp_path / "series.npz", X=np.stack([r.data for r in sines.records]),
                 y=np.asarray([r.label for r in sines.records]))
        return {"path": str(tmp_path / "series.npz")}


class TestAudio(DatasetContract):
    name = "signal.audio"

    def loader_params(self, tmp_path):
        import soundfile as sf

        for r in _tones(4).records:
            (tmp_path / "clips" / r.label).mkdir(parents=True, exist_ok=True)
            sf.write(str(tmp_path / "clips" / r.label / f"{r.id}.wav"), r.data[0], RATE)
        return {"path": str(tmp_path / "clips"), "sample_rate": RATE}
