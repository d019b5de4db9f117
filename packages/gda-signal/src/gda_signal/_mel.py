"""Waveform <-> log-mel spectrogram with torchaudio (MelSpectrogram; InverseMelScale + GriffinLim)."""

from __future__ import annotations

import numpy as np


class MelCodec:
    """Log-mel analysis and Griffin-Lim synthesis with one set of STFT/mel settings.

    ``encode`` maps waveforms (N, C, L) to log power mel spectrograms (N, C, n_mels, frames);
    ``decode`` maps them back to waveforms of ``length`` samples. ``decode`` is deterministic
    given ``seed`` (Griffin-Lim starts from random phases).
    """

    def __init__(self, sample_rate: int, n_fft: int = 512, hop_length: int = 128, n_mels: int = 64,
                 f_min: float = 0.0, f_max: float | None = None, n_iter: int = 64, eps: float = 1e-6) -> None:
        self.sample_rate, self.n_fft, self.hop_length, self.n_mels = sample_rate, n_fft, hop_length, n_mels
        self.f_min, self.f_max, self.n_iter, self.eps = f_min, f_max, n_iter, eps

    def encode(self, wave: np.ndarray) -> np.ndarray:
        import torch
        import torchaudio.transforms as T

        mel = T.MelSpectrogram(sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
                               n_mels=self.n_mels, f_min=self.f_min, f_max=self.f_max, power=2.0)
        with torch.no_grad():
            m = mel(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)))
        return torch.log(m + self.eps).numpy()

    def decode(self, log_mel: np.ndarray, length: int, seed: int = 0) -> np.ndarray:
        import torch
        import torchaudio.transforms as T

        inv = T.InverseMelScale(n_stft=self.n_fft // 2 + 1, n_mels=self.n_mels, sample_rate=self.sample_rate,
                                f_min=self.f_min, f_max=self.f_max, driver="gelsd")
        gl = T.GriffinLim(n_fft=self.n_fft, hop_length=self.hop_length, power=2.0, n_iter=self.n_iter,
                          length=length)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            power = torch.clamp(torch.exp(torch.from_numpy(np.asarray(log_mel, dtype=np.float32))) - self.eps, min=0)
            spec = torch.clamp(inv(power), min=0)
            wave = gl(spec)
        return wave.numpy().astype(np.float32)
