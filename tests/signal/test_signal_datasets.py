"""signal.ucr, signal.arrays, signal.audio: shapes, splits, k-shot, and clear errors or configured fixes."""

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import ConfigError, DataError


def _load(cls, **params):
    ctx = RunContext(train=None, seed=0, quiet=True)
    return cls(**params).load(ctx)


def test_ucr_gunpoint_default_split_and_shapes():
    from gda_signal.datasets import UCRDataset

    s = _load(UCRDataset)
    assert (len(s.train), len(s.test)) == (50, 150)
    r = s.train[0]
    assert r.data.shape == (1, 150) and r.data.dtype == np.float32
    assert s.train.classes == ["1", "2"] and s.train.modality == "signal"


def test_ucr_k_shot_and_multivariate():
    from gda_signal.datasets import UCRDataset

    s = _load(UCRDataset, name="BasicMotions", k_shot=3)
    assert len(s.train) == 3 * len(s.train.classes) == 12
    assert s.train[0].data.shape == (6, 100)
    counts = {c: sum(r.label == c for r in s.train) for c in s.train.classes}
    assert set(counts.values()) == {3}


def test_ucr_unknown_name_and_ragged_lengths():
    from gda_signal.datasets import UCRDataset

    with pytest.raises(ConfigError, match="dataset.params.name"):
        _load(UCRDataset, name="NoSuchSet")
    with pytest.raises(DataError, match="ragged lengths"):
        _load(UCRDataset, name="JapaneseVowels")
    s = _load(UCRDataset, name="JapaneseVowels", length=20, on_length_mismatch="pad-or-crop")
    assert {r.data.shape for r in s.train} == {(12, 20)} and {r.data.shape for r in s.test} == {(12, 20)}


def test_arrays_npz_and_npy(tmp_path):
    from gda_signal.datasets import ArraysDataset

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 3, 32)), np.array([0, 1] * 5)
    np.savez(tmp_path / "d.npz", X=X, y=y, X_test=X[:4], y_test=y[:4])
    s = _load(ArraysDataset, path=str(tmp_path / "d.npz"))
    assert len(s.train) == 10 and len(s.test) == 4 and s.train[0].data.shape == (3, 32)
    np.testing.assert_allclose(s.train[3].data, X[3].astype(np.float32))
    np.save(tmp_path / "x.npy", X[:, 0])  # (N, L): one channel
    np.save(tmp_path / "y.npy", y)
    s = _load(ArraysDataset, path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.npy"))
    assert s.train[0].data.shape == (1, 32) and s.test is None


def test_arrays_errors_and_fixes(tmp_path):
    from gda_signal.datasets import ArraysDataset

    X, y = np.ones((4, 1, 16)), np.array([0, 1, 0, 1])
    X[1, 0, 3] = np.nan
    np.savez(tmp_path / "nan.npz", X=X, y=y)
    with pytest.raises(DataError, match="NaN"):
        _load(ArraysDataset, path=str(tmp_path / "nan.npz"))
    s = _load(ArraysDataset, path=str(tmp_path / "nan.npz"), on_nan="interpolate")
    assert np.all(np.isfinite(s.train[1].data)) and s.train[1].data[0, 3] == 1.0
    assert len(_load(ArraysDataset, path=str(tmp_path / "nan.npz"), on_nan="drop").train) == 3
    np.savez(tmp_path / "bad.npz", X=np.ones((3, 16)), y=np.array([0, 1]))
    with pytest.raises(DataError, match="3 samples but 2 labels"):
        _load(ArraysDataset, path=str(tmp_path / "bad.npz"))
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.ones(5), np.ones(7)
    np.save(tmp_path / "ragged.npy", ragged, allow_pickle=True)
    np.save(tmp_path / "y2.npy", np.array([0, 1]))
    with pytest.raises(DataError, match="ragged"):
        _load(ArraysDataset, path=str(tmp_path / "ragged.npy"), labels_path=str(tmp_path / "y2.npy"))
    with pytest.raises(DataError, match="does not exist"):
        _load(ArraysDataset, path=str(tmp_path / "missing.npz"))


def _tone(freq, rate, seconds):
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def wav_folder(tmp_path):
    import soundfile as sf

    root = tmp_path / "audio"
    for label, freq in (("low", 300.0), ("high", 1200.0)):
        (root / label).mkdir(parents=True)
        for i in range(3):
            sf.write(str(root / label / f"{i}.wav"), _tone(freq * (1 + 0.02 * i), 8000, 0.25), 8000)
    return root


def test_audio_folder_reads_classes(wav_folder):
    from gda_signal.datasets import AudioFolderDataset

    s = _load(AudioFolderDataset, path=str(wav_folder), sample_rate=8000)
    assert len(s.train) == 6 and s.train.classes == ["high", "low"] and s.train.modality == "audio"
    assert s.train[0].data.shape == (1, 2000) and s.train[0].data.dtype == np.float32


def test_audio_wrong_rate_error_or_resample(wav_folder):
    import soundfile as sf

    from gda_signal.datasets import AudioFolderDataset

    sf.write(str(wav_folder / "low" / "odd.wav"), _tone(300.0, 16000, 0.25), 16000)
    with pytest.raises(DataError, match="16000 Hz, not 8000 Hz"):
        _load(AudioFolderDataset, path=str(wav_folder), sample_rate=8000)
    s = _load(AudioFolderDataset, path=str(wav_folder), sample_rate=8000, on_rate_mismatch="resample")
    assert len(s.train) == 7 and {r.data.shape for r in s.train} == {(1, 2000)}
    odd = s.train.records[-1].data[0]  # sorted: low/0..2, low/odd
    spec = np.abs(np.fft.rfft(odd))
    assert abs(np.argmax(spec) * 8000 / len(odd) - 300.0) < 10  # the tone survived resampling


def test_audio_ragged_lengths_error_or_fix(wav_folder):
    import soundfile as sf

    from gda_signal.datasets import AudioFolderDataset

    sf.write(str(wav_folder / "high" / "long.wav"), _tone(1200.0, 8000, 0.3), 8000)
    with pytest.raises(DataError, match="ragged lengths"):
        _load(AudioFolderDataset, path=str(wav_folder), sample_rate=8000)
    s = _load(AudioFolderDataset, path=str(wav_folder), sample_rate=8000, length=2000,
              on_length_mismatch="pad-or-crop")
    assert {r.data.shape for r in s.train} == {(1, 2000)}
    with pytest.raises(DataError, match="on_length_mismatch"):
        _load(AudioFolderDataset, path=str(wav_folder), sample_rate=8000, length=2000)


def test_audio_save_sample_writes_wav(wav_folder, tmp_path):
    import soundfile as sf

    from gda_signal.datasets import AudioFolderDataset

    loader = AudioFolderDataset(path=str(wav_folder), sample_rate=8000)
    s = loader.load(RunContext(train=None, seed=0, quiet=True))
    out = loader.save_sample(s.train[0], tmp_path / "syn-0")
    assert out.suffix == ".wav" and (tmp_path / "syn-0.npy").is_file()
    data, rate = sf.read(str(out), dtype="float32", always_2d=True)
    assert rate == 8000
    np.testing.assert_allclose(data.T, s.train[0].data, atol=1e-6)
