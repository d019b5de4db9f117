"""docs/own-data.md's signal.audio and signal.arrays configs: they resolve, their quick checks
shorten training, and they run end to end (quick check, then tinier) on WAV clips and an .npz
written here."""

import numpy as np
import pytest

from tests.own_data_doc import check, run_tiny


@pytest.mark.parametrize("loader", ["signal.audio", "signal.arrays"])
def test_own_data_config_resolves_and_its_quick_check_shortens_training(loader):
    check(loader)


def test_own_data_audio_config_runs_on_a_wav_folder(tmp_path):
    import soundfile as sf

    t = np.arange(2000) / 16000
    for label, freq in (("low", 300.0), ("high", 2000.0)):
        (tmp_path / "clips" / label).mkdir(parents=True)
        for i in range(6):
            clip = 0.5 * np.sin(2 * np.pi * freq * (1 + 0.02 * i) * t)
            sf.write(str(tmp_path / "clips" / label / f"{i}.wav"), clip[: 1800 + 50 * i].astype(np.float32), 16000)
    res = run_tiny("signal.audio", tmp_path / "clips", tmp_path / "run", "generator.params.steps=3",
                   "generator.params.griffin_lim_iters=4", "generator.params.num_inference_steps=3",
                   "generate.per_class=2", "validators.0.params.seeds=1", "application.params.epochs=2",
                   length=2000)
    assert {str(r.label) for r in res.train} == {"low", "high"}
    assert len(res.stages[0][1]) == 4  # generated: 2 per class
    assert len(sorted((tmp_path / "run" / "samples").rglob("*.wav"))) == len(res.kept)  # WAV, kept only
    assert (tmp_path / "run" / "report.html").is_file()


def test_own_data_arrays_config_runs_on_an_npz(tmp_path):
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 32)
    y = np.repeat([0, 1], 12)
    X = np.sin(2 * np.pi * (2 + 4 * y[:, None]) * x) + 0.1 * rng.standard_normal((24, 32))
    np.savez(tmp_path / "series.npz", X=X, y=y)
    res = run_tiny("signal.arrays", tmp_path / "series.npz", tmp_path / "run", "generator.params.steps=3",
                   "generator.params.num_inference_steps=3", "generate.per_class=2", "validators.0.params.seeds=1",
                   "application.params.n_kernels=84", "embedder.params.n_kernels=84", k_shot=4)
    assert len(res.train) == 8 and res.pool is not None
    assert (tmp_path / "run" / "report.html").is_file()
