"""Unlabelled pools of signal.ucr, signal.arrays (the rest of the training split) and signal.audio
(an unlabelled folder): no labels, never a test record, errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import DataError
from gda_core.records import Dataset
from gda_core.splits import HIDDEN_LABEL


def _load(cls, seed: int = 0, **params):
    return cls(**params).load(RunContext(train=Dataset([]), seed=seed, quiet=True))


def _clean_pool(splits, n: int) -> None:
    pool = splits.pool
    assert pool is not None and len(pool) == n and all(r.label is None for r in pool)
    others = [*splits.train, *splits.test]
    assert not {r.id for r in pool} & {r.id for r in others}
    seen = {np.asarray(r.data).tobytes() for r in splits.test}
    assert not any(np.asarray(r.data).tobytes() in seen for r in pool)


@pytest.mark.parametrize("seed", [0, 2])
def test_ucr_pool_is_the_rest_of_the_train_split(seed):
    from gda_signal.datasets import UCRDataset

    s = _load(UCRDataset, seed, k_shot=4)
    assert len(s.train) == 8 and len(s.test) == 150
    _clean_pool(s, 50 - 8)
    assert all(HIDDEN_LABEL in r.meta for r in s.pool)
    assert _load(UCRDataset, seed, k_shot=4, pool=False).pool is None
    assert _load(UCRDataset, seed).pool is None  # every training series is labelled


def test_arrays_hold_out_test_before_the_pool(tmp_path):
    from gda_signal.datasets import ArraysDataset

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(40, 1, 16)), y=np.repeat([0, 1], 20))
    s = _load(ArraysDataset, path=str(tmp_path / "d.npz"), k_shot=3, test_size=0.25)
    assert len(s.test) == 10 and len(s.train) == 6
    _clean_pool(s, 40 - 10 - 6)
    np.savez(tmp_path / "t.npz", X=rng.normal(size=(20, 1, 16)), y=np.repeat([0, 1], 10),
             X_test=rng.normal(size=(6, 1, 16)), y_test=np.repeat([0, 1], 3))
    s = _load(ArraysDataset, path=str(tmp_path / "t.npz"), k_shot=2)
    assert len(s.test) == 6
    _clean_pool(s, 20 - 4)


def _tone(freq, rate=8000, seconds=0.25):
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def audio(tmp_path):
    import soundfile as sf

    for split, n in (("train", 4), ("test", 1)):
        for label, freq in (("low", 300.0), ("high", 1200.0)):
            (tmp_path / split / label).mkdir(parents=True)
            for i in range(n):
                shift = 1 + 0.03 * i + 0.5 * (split == "test")
                sf.write(str(tmp_path / split / label / f"{i}.wav"), _tone(freq * shift), 8000)
    (tmp_path / "train" / "unlabelled" / "deep").mkdir(parents=True)
    for i, name in enumerate(("a.wav", "deep/b.WAV", "c.wav")):
        sf.write(str(tmp_path / "train" / "unlabelled" / name), _tone(600.0 + 50 * i), 8000)
    return tmp_path


def test_audio_unlabelled_folder_and_k_shot_remainder_form_the_pool(audio):
    from gda_signal.datasets import AudioFolderDataset

    common = {"path": str(audio / "train"), "sample_rate": 8000, "unlabelled": str(audio / "train" / "unlabelled")}
    s = _load(AudioFolderDataset, test_path=str(audio / "test"), **common)
    assert s.train.classes == ["high", "low"] and len(s.train) == 8
    _clean_pool(s, 3)
    assert s.pool[0].data.shape == (1, 2000)
    s = _load(AudioFolderDataset, test_path=str(audio / "test"), k_shot=1, **common)
    _clean_pool(s, 3 + 6)


def test_audio_unlabelled_subfolder_without_the_param_is_refused_with_the_fix(audio):
    from gda_signal.datasets import AudioFolderDataset

    with pytest.raises(DataError, match=r"path: the subfolder .*train/unlabelled would become a class named "
                       r"'unlabelled'; .*set dataset.params.unlabelled"):
        _load(AudioFolderDataset, path=str(audio / "train"), test_path=str(audio / "test"), sample_rate=8000)


def test_audio_unlabelled_errors_name_the_file(audio):
    import soundfile as sf

    from gda_signal.datasets import AudioFolderDataset

    def load(folder, **more):
        return _load(AudioFolderDataset, path=str(audio / "train"), test_path=str(audio / "test"),
                     sample_rate=8000, unlabelled=str(folder), **more)

    with pytest.raises(DataError, match="unlabelled: .*nowhere is not a folder"):
        load(audio / "nowhere")
    (audio / "empty").mkdir()
    with pytest.raises(DataError, match="unlabelled: .*empty holds no .wav"):
        load(audio / "empty")
    (audio / "slow").mkdir()
    sf.write(str(audio / "slow" / "s.wav"), _tone(500.0, rate=4000), 4000)
    with pytest.raises(DataError, match="slow/s.wav is sampled at 4000 Hz"):
        load(audio / "slow")
    (audio / "leak").mkdir()
    sf.write(str(audio / "leak" / "copy.wav"), _tone(300.0 * 1.5), 8000)  # the same samples as test/low/0.wav
    with pytest.raises(DataError, match="leak/copy.wav is the test record"):
        load(audio / "leak")
