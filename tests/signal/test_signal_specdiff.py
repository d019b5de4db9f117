"""signal.specdiff: the mel round trip keeps a tone; a tiny model learns two tones; save/load; WAV output."""

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.records import Dataset, Record

RATE, LENGTH, TONES = 4000, 512, (250.0, 1000.0)


def _peak_hz(x, rate=RATE):
    x = np.asarray(x)[0]
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


def _tones(n_per_class, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH) / RATE
    recs = []
    for i in range(2 * n_per_class):
        c = i % 2
        x = rng.uniform(0.3, 0.6) * np.sin(2 * np.pi * TONES[c] * (1 + rng.uniform(-0.02, 0.02)) * t
                                           + rng.uniform(0, 2 * np.pi))
        recs.append(Record(id=f"t{i:03d}", data=x[None].astype(np.float32), label=["low", "high"][c],
                           meta={"sample_rate": RATE}))
    return Dataset(recs, modality="audio", classes=["high", "low"], meta={"sample_rate": RATE})


@pytest.mark.parametrize("freq", [440.0, 1234.0])
def test_mel_round_trip_keeps_a_tone(freq):
    from gda_signal._mel import MelCodec

    rate, n = 8000, 4000
    t = np.arange(n) / rate
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None, None]
    codec = MelCodec(rate, n_fft=512, hop_length=128, n_mels=64, n_iter=32)
    mel = codec.encode(x)
    assert mel.shape == (1, 1, 64, n // 128 + 1)
    y = codec.decode(mel, n, seed=0)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, codec.decode(mel, n, seed=0))
    # within the resolution of the analysis: 3%, or 1.5 STFT bins at low frequencies
    assert abs(_peak_hz(y[0], rate) - freq) < max(0.03 * freq, 1.5 * rate / 512)


@pytest.fixture(scope="module")
def trained():
    import torch

    torch.set_num_threads(1)
    from gda_signal.generators.specdiff import SpecDiffGenerator

    train = _tones(16)
    ctx = RunContext(train=train, seed=0, quiet=True)
    gen = SpecDiffGenerator(n_fft=128, hop_length=32, n_mels=16, block_out_channels=[16, 32], norm_num_groups=8,
                            steps=250, batch_size=16, lr=3e-3, num_inference_steps=15, griffin_lim_iters=16,
                            device="cpu")
    gen.fit(train, ctx)
    return gen, ctx


def test_specdiff_samples_carry_their_class_tone(trained):
    gen, ctx = trained
    conds = [{"label": c} for c in ["low", "high"] * 8]
    out = gen.generate(conds, seed=1, context=ctx)
    assert all(r.data.shape == (1, LENGTH) and r.data.dtype == np.float32 for r in out)
    assert all(np.all(np.isfinite(r.data)) for r in out)
    hits = np.mean([abs(_peak_hz(r.data) - TONES[r.label == "high"]) < abs(_peak_hz(r.data) - TONES[r.label == "low"])
                    for r in out])
    assert hits >= 0.8, f"only {hits:.2f} of samples carry their class's tone (chance 0.5)"


def test_specdiff_save_load_round_trip(trained, tmp_path):
    from gda_signal.generators.specdiff import SpecDiffGenerator

    gen, ctx = trained
    gen.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = SpecDiffGenerator.from_pretrained(tmp_path / "m")
    conds = [{"label": "low"}, {"label": "high"}]
    a = np.stack([r.data for r in gen.generate(conds, seed=2, context=ctx)])
    b = np.stack([r.data for r in loaded.generate(conds, seed=2, context=ctx)])
    np.testing.assert_array_equal(a, b)


def test_audio_pipeline_writes_wav(tmp_path):
    import soundfile as sf

    from gda_core.pipeline import run

    root = tmp_path / "wavs"
    for r in _tones(4):
        (root / r.label).mkdir(parents=True, exist_ok=True)
        sf.write(str(root / r.label / f"{r.id}.wav"), r.data[0], RATE)
    cfg = {
        "seed": 0, "test_size": 0.25,
        "dataset": {"name": "signal.audio", "params": {"path": str(root), "sample_rate": RATE}},
        "generator": {"name": "signal.specdiff", "params": {
            "n_fft": 128, "hop_length": 32, "n_mels": 16, "block_out_channels": [8, 16], "steps": 2,
            "num_inference_steps": 2, "griffin_lim_iters": 2, "device": "cpu"}},
        "generate": {"per_class": 2},
        "baselines": [{"name": "signal.classical", "params": {"methods": ["time-mask", "frequency-mask"],
                                                              "n_fft": 64}}],
        "validators": [{"name": "core.downstream", "params": {"seeds": 1}}],
        "application": {"name": "signal.classifier", "params": {"n_kernels": 84}},
    }
    res = run(cfg, tmp_path / "run", quiet=True)
    wavs = sorted((tmp_path / "run" / "samples").glob("*.wav"))
    assert len(wavs) == len(res.kept) == 4
    data, rate = sf.read(str(wavs[0]), always_2d=True)
    assert rate == RATE and data.shape == (LENGTH, 1)
    assert "real.accuracy.mean" in res.metrics["core.downstream"]
