"""signal.diffusion1d: learns planted classes, deterministic, save/load round trip, multivariate."""

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import DataError


@pytest.fixture(scope="module")
def trained(sine_factory):
    """A tiny denoiser (about 60k parameters) trained on sines of 2 and 6 cycles."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    train = sine_factory(32, length=64)
    ctx = RunContext(train=train, seed=0, quiet=True)
    gen = Diffusion1DGenerator(steps=400, base_channels=16, channel_mults=[1, 2], attention=False, lr=3e-3,
                               num_inference_steps=20, device="cpu")
    gen.fit(train, ctx)
    return gen, ctx


def _nearest_class(x, freqs):
    spec = np.abs(np.fft.rfft(np.asarray(x)[0]))
    f = int(np.argmax(spec[1:]) + 1)
    return int(np.argmin([abs(f - g) for g in freqs]))


def test_samples_have_their_class_frequency(trained, freqs):
    gen, ctx = trained
    conds = [{"label": c} for c in [0, 1] * 20]
    out = gen.generate(conds, seed=1, context=ctx)
    assert [r.label for r in out] == [c["label"] for c in conds]
    assert all(r.data.shape == (1, 64) and r.data.dtype == np.float32 for r in out)
    hits = np.mean([_nearest_class(r.data, freqs) == r.label for r in out])
    assert hits >= 0.8, f"only {hits:.2f} of samples carry their class's frequency (chance 0.5)"
    # and the samples are closer to the data than noise is: unit-ish amplitude, smooth
    amp = np.mean([np.abs(r.data).max() for r in out])
    assert 0.5 < amp < 1.6
    assert gen.losses_[-1] < gen.losses_[0]


def test_deterministic_under_seed_and_dpm_solver(trained):
    gen, ctx = trained
    conds = [{"label": 0}, {"label": 1}, {"label": 0}]
    a = np.stack([r.data for r in gen.generate(conds, seed=7, context=ctx)])
    b = np.stack([r.data for r in gen.generate(conds, seed=7, context=ctx)])
    c = np.stack([r.data for r in gen.generate(conds, seed=8, context=ctx)])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    gen.params = gen.params.model_copy(update={"sampler": "dpm-solver", "num_inference_steps": 10,
                                               "guidance_scale": 2.0})
    try:
        d = np.stack([r.data for r in gen.generate(conds, seed=7, context=ctx)])
        e = np.stack([r.data for r in gen.generate(conds, seed=7, context=ctx)])
    finally:
        gen.params = gen.params.model_copy(update={"sampler": "ddim", "num_inference_steps": 20,
                                                   "guidance_scale": 1.0})
    np.testing.assert_array_equal(d, e)
    assert np.all(np.isfinite(d))
    with pytest.raises(DataError, match="not fitted on class"):
        gen.generate([{"label": 5}], seed=0, context=ctx)


def test_save_load_round_trip_gives_identical_samples(trained, tmp_path):
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    gen, ctx = trained
    gen.name = "signal.diffusion1d"
    gen.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "denoiser" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = Diffusion1DGenerator.from_pretrained(tmp_path / "model")
    conds = [{"label": 1}, {"label": 0}]
    a = np.stack([r.data for r in gen.generate(conds, seed=3, context=ctx)])
    b = np.stack([r.data for r in loaded.generate(conds, seed=3, context=ctx)])
    np.testing.assert_array_equal(a, b)


def test_multivariate_odd_length(sine_factory):
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    train = sine_factory(4, length=37, channels=3)
    ctx = RunContext(train=train, seed=0, quiet=True)
    gen = Diffusion1DGenerator(steps=3, base_channels=8, channel_mults=[1, 2, 2], num_inference_steps=3,
                               normalize="standard", device="cpu")
    gen.fit(train, ctx)
    out = gen.generate([{"label": 0}, {"label": 1}], seed=0, context=ctx)
    assert [r.data.shape for r in out] == [(3, 37), (3, 37)]


def test_a_fit_after_minirocket_trains_on_gdas_thread_count(sine_factory, monkeypatch):
    """aeon's MiniRocket (numba, OpenMP layer) raises the process's OpenMP thread count to the core
    count; the next fit must put GDA's choice back (on a busy 2-core machine two spinning threads
    made each training step about 50 times slower)."""
    import torch

    from gda_signal.embedders.signal_embedder import SignalEmbedder
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    monkeypatch.setenv("GDA_TORCH_THREADS", "1")
    train = sine_factory(8, length=32)
    ctx = RunContext(train=train, seed=0, quiet=True)
    SignalEmbedder(n_kernels=84).fit(train, ctx)  # MiniRocket: may set OpenMP to the core count
    torch.set_num_threads(2)  # what numba does on a 2-core machine, made explicit
    gen = Diffusion1DGenerator(steps=1, base_channels=8, channel_mults=[1], attention=False, device="cpu")
    gen.fit(train, ctx)
    assert torch.get_num_threads() == 1
