"""signal.mel-cnn: a fast log-mel CNN classifier for audio, for core.downstream.

Each clip becomes a log-mel spectrogram (torchaudio ``MelSpectrogram``), standardised per mel
band with the training clips' statistics; a small 2-D CNN (three conv blocks, global average
pooling) learns the classes. On CPU it trains in seconds on 0.5 s clips (16 kHz, 32 mel
bands, hop 128: a 32 x 63 image per clip), where a 1-D CNN on raw waveforms is slow and
MiniRocket can fall below chance on chirps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Application
from gda_core.torch.accelerators import DeviceParams

from .._util import stack, str_labels

if TYPE_CHECKING:
    from gda_core.context import RunContext
    from gda_core.records import Dataset


class MelCNNParams(DeviceParams):
    sample_rate: int | None = Field(None, gt=0, description="Hz (default: the records' meta sample_rate, else 16000)")
    n_mels: int = Field(32, gt=1, description="mel bands")
    n_fft: int = Field(512, gt=8, description="FFT size of the spectrogram")
    hop_length: int = Field(128, gt=0, description="samples between frames")
    width: int = Field(16, gt=0, description="channels of the first conv block (then 2x, 2x)")
    epochs: int = Field(30, gt=0, description="training epochs")
    batch_size: int = Field(32, gt=1, description="clips per step")
    lr: float = Field(3e-3, gt=0, description="AdamW learning rate")


def log_mel(X: np.ndarray, sample_rate: int, n_fft: int, hop_length: int, n_mels: int) -> np.ndarray:
    """``(N, C, L)`` waveforms as ``(N, C, n_mels, frames)`` log-mel spectrograms (torchaudio)."""
    import torch
    import torchaudio.transforms as T

    mel = T.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=2.0)
    with torch.no_grad():
        m = mel(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)))
    return torch.log(m + 1e-6).numpy()


def _net(in_channels: int, n_classes: int, width: int):
    from torch import nn

    def block(cin: int, cout: int, pool: bool) -> list:
        layers = [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        return layers + [nn.MaxPool2d(2)] if pool else layers

    return nn.Sequential(*block(in_channels, width, True), *block(width, 2 * width, True),
                         *block(2 * width, 2 * width, False), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Dropout(0.2), nn.Linear(2 * width, n_classes))


class MelCNNClassifier(Application):
    """Log-mel spectrogram + small 2-D CNN audio classifier; reports accuracy and macro F1.

    The seed fixes the network's initialisation and batch order, so core.downstream's
    repeats measure the spread over models.
    """

    data_kind = "arrays"
    Params = MelCNNParams
    metric = "accuracy"

    def _rate(self, train) -> int:
        if self.params.sample_rate:
            return self.params.sample_rate
        rates = {r.meta.get("sample_rate") for r in train.records} - {None}
        return int(next(iter(rates))) if len(rates) == 1 else 16000

    def fit_predict(self, train: Dataset, test: Dataset, seed: int) -> np.ndarray:
        """Train on ``train`` and return the predicted class of each ``test`` record."""
        import torch

        from gda_core.torch.accelerators import apply_thread_setting, pick_device

        apply_thread_setting()  # once per process
        p = self.params
        rate = self._rate(train)
        y = str_labels(train.records)
        keys = sorted(set(y.tolist()))
        if len(keys) < 2:
            return np.full(len(test.records), keys[0] if keys else None)
        feats = log_mel(stack(train.records), rate, p.n_fft, p.hop_length, p.n_mels)
        mean = feats.mean(axis=(0, 3), keepdims=True)
        std = feats.std(axis=(0, 3), keepdims=True) + 1e-3
        dev = pick_device(p.device)
        torch.manual_seed(seed)
        model = _net(feats.shape[1], len(keys), p.width).to(dev)
        data = torch.from_numpy(((feats - mean) / std).astype(np.float32)).to(dev)
        labels = torch.tensor([keys.index(v) for v in y], dtype=torch.long, device=dev)
        opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=1e-3)
        gen = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(p.epochs):
            perm = torch.randperm(len(data), generator=gen).to(dev)
            for i in range(0, len(data), p.batch_size):
                idx = perm[i:i + p.batch_size]
                if len(idx) < 2:  # BatchNorm needs two clips
                    continue
                loss = torch.nn.functional.cross_entropy(model(data[idx]), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        model.eval()
        test_feats = log_mel(stack(test.records), rate, p.n_fft, p.hop_length, p.n_mels)
        with torch.no_grad():
            x = torch.from_numpy(((test_feats - mean) / std).astype(np.float32)).to(dev)
            pred = torch.cat([model(x[i:i + 256]) for i in range(0, len(x), 256)]).argmax(1).cpu().numpy()
        return np.asarray(keys)[pred]

    def evaluate(self, train: Dataset, test: Dataset, *, seed: int, context: RunContext) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        pred = self.fit_predict(train, test, int(seed) % (2**31))
        yt = str_labels(test.records)
        return {"accuracy": float(accuracy_score(yt, pred)), "macro_f1": float(f1_score(yt, pred, average="macro"))}
