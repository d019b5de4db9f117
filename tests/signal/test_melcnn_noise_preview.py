"""signal.mel-cnn learns chirps in seconds; signal.noise-filter drops planted noise and keeps
real-like series; the preview draws series; loader errors name their file."""

from __future__ import annotations

import time

import numpy as np
import pytest

from gda_core.components import Figure
from gda_core.context import RunContext
from gda_core.errors import DataError
from gda_core.records import Dataset, Record

RATE = 16000


def _chirps(n_per_class: int, seed: int, prefix: str) -> Dataset:
    """0.5 s clips: class "up" sweeps 500 -> 3000 Hz, class "down" the reverse; random level,
    start offset and noise."""
    from scipy.signal import chirp

    rng = np.random.default_rng(seed)
    t = np.arange(RATE // 2) / RATE
    recs = []
    for i in range(2 * n_per_class):
        up = i % 2 == 0
        f0, f1 = (500, 3000) if up else (3000, 500)
        f0, f1 = f0 * rng.uniform(0.85, 1.15), f1 * rng.uniform(0.85, 1.15)
        x = rng.uniform(0.3, 0.8) * chirp(t, f0=f0, f1=f1, t1=t[-1], method="linear", phi=rng.uniform(0, 360))
        x = x + 0.05 * rng.standard_normal(len(t))
        recs.append(Record(f"{prefix}-{i}", x[None].astype(np.float32), "up" if up else "down",
                           meta={"sample_rate": RATE}))
    return Dataset(recs, modality="audio", classes=["down", "up"])


def test_mel_cnn_learns_chirps_fast_and_is_seeded():
    from gda_signal.applications.melcnn import MelCNNClassifier

    train, test = _chirps(8, 0, "tr"), _chirps(20, 1, "te")
    app = MelCNNClassifier(epochs=15)
    t0 = time.perf_counter()
    m = app.evaluate(train, test, seed=0, context=RunContext(train=train))
    took = time.perf_counter() - t0
    assert m["accuracy"] >= 0.9, m
    assert took < 60, f"{took:.1f} s"
    again = app.evaluate(train, test, seed=0, context=RunContext(train=train))
    assert again == m


def test_mel_cnn_noise_labels_stay_near_chance():
    from gda_signal.applications.melcnn import MelCNNClassifier

    train, test = _chirps(8, 0, "tr"), _chirps(20, 1, "te")
    rng = np.random.default_rng(3)
    shuffled = [Record(r.id, r.data, lab, meta=r.meta) for r, lab in
                zip(train.records, rng.permutation([r.label for r in train.records]))]
    m = MelCNNClassifier(epochs=15).evaluate(Dataset(shuffled, modality="audio", classes=train.classes), test,
                                             seed=0, context=RunContext(train=train))
    assert m["accuracy"] < 0.8


def _gunpoint():
    from aeon.datasets import load_gunpoint

    X, y = load_gunpoint(split="train")
    Xt, yt = load_gunpoint(split="test")
    train = Dataset([Record(f"tr{i}", X[i].astype(np.float32), str(y[i])) for i in range(len(y))],
                    modality="signal", classes=sorted(set(map(str, y))))
    return train, Xt.astype(np.float32), [str(v) for v in yt]


def test_noise_filter_drops_planted_noise_and_keeps_real_like_series():
    from gda_signal.selectors.noise import NoiseFilterSelector

    train, Xt, yt = _gunpoint()
    rng = np.random.default_rng(0)
    real_like = [Record(f"real{i}", Xt[i], yt[i]) for i in range(40)]
    noise = []
    for i in range(20):
        ref = Xt[i]
        noise.append(Record(f"noise{i}", (ref.mean() + ref.std() * rng.standard_normal(ref.shape)).astype(np.float32),
                            yt[i]))
    # half noise: a real series with strong white noise on top
    noisy = [Record(f"noisy{i}", (Xt[i] + 0.5 * Xt[i].std() * rng.standard_normal(Xt[i].shape)).astype(np.float32),
                    yt[i]) for i in range(20, 30)]
    sel = NoiseFilterSelector()
    ctx = RunContext(train=train)
    sel.fit(train, ctx)
    cands = real_like + noise + noisy
    scores = sel.score(cands, ctx)
    keep = sel.select(scores, cands, ctx)
    kept = {r.id for r, k in zip(cands, keep) if k}
    assert not any(i.startswith("noise") for i in kept), sorted(kept)
    assert sum(i.startswith("real") for i in kept) >= 36  # at least 90% of held-out real series
    assert sum(i.startswith("noisy") for i in kept) <= 2
    assert sel.tau_ >= sel.params.min_threshold


def test_noise_filter_explicit_threshold_and_keep_fraction():
    from gda_signal.selectors.noise import NoiseFilterSelector

    train, Xt, yt = _gunpoint()
    cands = [Record(f"c{i}", Xt[i], yt[i]) for i in range(10)]
    sel = NoiseFilterSelector(threshold=-1.0)
    ctx = RunContext(train=train)
    sel.fit(train, ctx)
    assert not sel.select(sel.score(cands, ctx), cands, ctx).any()  # scores are never negative


def test_preview_draws_series_and_spectrograms(tmp_path):
    import soundfile as sf

    from gda_signal.datasets import AudioFolderDataset, UCRDataset

    train, _, _ = _gunpoint()
    by = {}
    for r in train.records[:8]:
        by.setdefault(r.label, []).append(r)
    fig = UCRDataset(name="GunPoint").preview(by, by)
    assert isinstance(fig, Figure) and fig.png.startswith(b"\x89PNG")
    clips = _chirps(2, 0, "c")
    for r in clips.records:
        (tmp_path / r.label).mkdir(exist_ok=True)
        sf.write(str(tmp_path / r.label / f"{r.id}.wav"), r.data[0], RATE)
    loader = AudioFolderDataset(path=str(tmp_path), sample_rate=RATE)
    fig = loader.preview({"up": clips.records[:2]}, {"up": clips.records[2:]})
    assert isinstance(fig, Figure) and fig.png.startswith(b"\x89PNG")


def test_ragged_audio_error_names_the_file(tmp_path):
    import soundfile as sf

    from gda_signal.datasets import AudioFolderDataset

    (tmp_path / "a").mkdir()
    for i, n in enumerate([800, 800, 800, 640]):
        sf.write(str(tmp_path / "a" / f"clip{i}.wav"), np.zeros(n, np.float32), RATE)
    with pytest.raises(DataError, match=r"clip3\.wav \(640\)"):
        AudioFolderDataset(path=str(tmp_path), sample_rate=RATE).load(RunContext(train=Dataset([])))
