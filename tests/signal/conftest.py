import os

# Tiny models run fastest on one intra-op thread, and the test machines are shared.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gda_core.testing import restrict_plugins

_plugins_for_module, _plugins_for_test = restrict_plugins("gda-signal")


FREQS = (2, 6)


def make_sines(n_per_class: int = 32, length: int = 64, channels: int = 1, seed: int = 0, noise: float = 0.05):
    """Two planted classes: sines of FREQS[0] and FREQS[1] cycles per series, random phase and amplitude."""
    from gda_core.records import Dataset, Record

    rng = np.random.default_rng(seed)
    t = np.arange(length) / length
    recs = []
    for i in range(2 * n_per_class):
        c = i % 2
        x = np.stack([rng.uniform(0.8, 1.2) * np.sin(2 * np.pi * FREQS[c] * t + rng.uniform(0, 2 * np.pi))
                      for _ in range(channels)])
        x = x + noise * rng.standard_normal(x.shape)
        recs.append(Record(id=f"r{i:03d}", data=x.astype(np.float32), label=c))
    return Dataset(recs, modality="signal", classes=[0, 1])


def dominant_freq(x: np.ndarray) -> int:
    spec = np.abs(np.fft.rfft(np.asarray(x)[0]))
    return int(np.argmax(spec[1:]) + 1)


@pytest.fixture
def sines():
    return make_sines()


@pytest.fixture
def ctx(sines):
    from gda_core.context import RunContext

    return RunContext(train=sines, test=make_sines(16, seed=1), seed=0, quiet=True)


@pytest.fixture(scope="session")
def sine_factory():
    return make_sines


@pytest.fixture(scope="session")
def freq_of():
    return dominant_freq


@pytest.fixture(scope="session")
def freqs():
    return FREQS
