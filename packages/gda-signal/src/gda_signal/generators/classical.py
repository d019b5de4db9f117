"""signal.classical: the standard time-series augmentations and SpecAugment masking, as a baseline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import ConfigDict, Field, field_validator

from gda_core.components import SAMPLING, Generator, Params
from gda_core.errors import DataError
from gda_core.records import Record

from .._util import as_signal

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Dataset

Method = Literal["jitter", "scaling", "magnitude-warp", "time-warp", "window-slice", "window-warp",
                 "time-mask", "frequency-mask"]
SERIES_METHODS = ["jitter", "scaling", "magnitude-warp", "time-warp", "window-slice", "window-warp"]


class ClassicalParams(Params):
    model_config = ConfigDict(json_schema_extra=SAMPLING)  # every parameter is a sampling one

    methods: list[Method] = Field(default_factory=lambda: list(SERIES_METHODS),
                                  description="augmentations to draw from (time-mask/frequency-mask: SpecAugment)")
    per_sample: int = Field(1, gt=0, description="methods applied in sequence to each sample (drawn at random)")
    jitter_sigma: float = Field(0.03, gt=0, description="jitter: std of added Gaussian noise (x the series' std)")
    scaling_sigma: float = Field(0.1, gt=0, description="scaling: std of the per-channel factor around 1")
    warp_sigma: float = Field(0.2, gt=0, description="magnitude/time warp: std of the smooth curve's knots")
    warp_knots: int = Field(4, gt=0, description="magnitude/time warp: knots of the cubic spline")
    slice_ratio: float = Field(0.9, gt=0, lt=1, description="window slicing: share of the series kept, stretched back")
    window_ratio: float = Field(0.1, gt=0, lt=1, description="window warping: share of the series warped")
    window_scales: list[float] = Field([0.5, 2.0], min_length=1, description="window warping: speed factors")
    n_fft: int = Field(256, gt=1, description="SpecAugment: STFT size")
    time_mask: int = Field(10, gt=0, description="SpecAugment: widest time mask (STFT frames)")
    freq_mask: int = Field(8, gt=0, description="SpecAugment: widest frequency mask (STFT bins)")

    @field_validator("methods")
    @classmethod
    def _nonempty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("give at least one method")
        return v


class ClassicalAugmentation(Generator):
    """Each synthetic series is a real one of its class (``source_id``) transformed by
    one or more classical augmentations (Um et al. 2017; Le Guennec et al. 2016;
    SpecAugment masks via torchaudio on the STFT, inverted back to a waveform)."""

    data_kind = "arrays"
    Params = ClassicalParams
    version = "1"

    def fit(self, train: Dataset, context: RunContext) -> None:
        self.sources_ = {r.id: (as_signal(r.data), r.label) for r in train.records}
        self.by_class_: dict[str, list[str]] = {}
        for r in train.records:
            self.by_class_.setdefault(str(r.label), []).append(r.id)

    def save_state(self, path: Path) -> None:
        import json

        ids = list(self.sources_)
        np.savez(path / "sources.npz", **{f"s{i}": self.sources_[k][0] for i, k in enumerate(ids)})
        (path / "sources.json").write_text(json.dumps({"ids": ids, "labels": [self.sources_[k][1] for k in ids]}))

    def load_state(self, path: Path) -> None:
        import json

        meta = json.loads((path / "sources.json").read_text())
        with np.load(path / "sources.npz", allow_pickle=False) as z:
            self.sources_ = {k: (z[f"s{i}"], lab) for i, (k, lab) in enumerate(zip(meta["ids"], meta["labels"]))}
        self.by_class_ = {}
        for k, (_, lab) in self.sources_.items():
            self.by_class_.setdefault(str(lab), []).append(k)

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        self._require_fitted("sources_")
        rng = np.random.default_rng(seed)
        out = []
        for cond in conditions:
            sid = cond.get("source_id")
            if sid not in self.sources_:
                pool = self.by_class_.get(str(cond.get("label"))) or list(self.sources_)
                sid = pool[int(rng.integers(len(pool)))]
            x, label = self.sources_[sid]
            methods = rng.choice(self.params.methods, size=self.params.per_sample, replace=True)
            for m in methods:
                x = self.apply(str(m), x, rng)
            out.append(Record(id="", data=x.astype(np.float32), label=cond.get("label", label)))
        return out

    def apply(self, method: str, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One augmentation of ``x`` (channels, length)."""
        p = self.params
        C, L = x.shape
        if method == "jitter":
            return x + rng.normal(0, p.jitter_sigma, x.shape) * (x.std(-1, keepdims=True) + 1e-8)
        if method == "scaling":
            return x * rng.normal(1.0, p.scaling_sigma, (C, 1))
        if method == "magnitude-warp":
            return x * np.stack([_smooth_curve(L, p.warp_knots, p.warp_sigma, rng) for _ in range(C)])
        if method == "time-warp":
            out = np.empty_like(x)
            for c in range(C):
                speed = _smooth_curve(L, p.warp_knots, p.warp_sigma, rng)
                warped = np.cumsum(speed)
                warped = (warped - warped[0]) / (warped[-1] - warped[0]) * (L - 1)
                out[c] = np.interp(np.arange(L), warped, x[c])
            return out
        if method == "window-slice":
            w = max(2, int(np.ceil(p.slice_ratio * L)))
            start = int(rng.integers(0, L - w + 1))
            return _resize(x[:, start:start + w], L)
        if method == "window-warp":
            w = max(2, int(np.ceil(p.window_ratio * L)))
            start = int(rng.integers(1, max(2, L - w - 1)))
            scale = float(rng.choice(p.window_scales))
            mid = _resize(x[:, start:start + w], max(2, int(round(w * scale))))
            return _resize(np.concatenate([x[:, :start], mid, x[:, start + w:]], axis=1), L)
        if method in ("time-mask", "frequency-mask"):
            return self._spec_mask(method, x, rng)
        raise DataError(f"signal.classical: unknown method {method!r}")

    def _spec_mask(self, method: str, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import torch
        import torchaudio.transforms as T

        L = x.shape[-1]
        n_fft = min(self.params.n_fft, 2 ** int(np.floor(np.log2(max(4, L)))))
        hop = n_fft // 4
        window = torch.hann_window(n_fft)
        wav = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        spec = torch.stft(wav, n_fft, hop_length=hop, window=window, return_complex=True)
        ones = torch.ones(spec.shape)
        torch.manual_seed(int(rng.integers(2**31)))
        if method == "time-mask":
            mask = T.TimeMasking(min(self.params.time_mask, spec.shape[-1]))(ones)
        else:
            mask = T.FrequencyMasking(min(self.params.freq_mask, spec.shape[-2]))(ones)
        out = torch.istft(spec * mask, n_fft, hop_length=hop, window=window, length=L)
        return out.numpy()


def _smooth_curve(length: int, knots: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random curve around 1 (a cubic spline through ``knots + 2`` Gaussian knots)."""
    from scipy.interpolate import CubicSpline

    xs = np.linspace(0, length - 1, knots + 2)
    ys = rng.normal(1.0, sigma, knots + 2)
    return np.maximum(CubicSpline(xs, ys)(np.arange(length)), 1e-3)


def _resize(x: np.ndarray, n: int) -> np.ndarray:
    old = np.linspace(0, 1, x.shape[-1])
    new = np.linspace(0, 1, n)
    return np.stack([np.interp(new, old, ch) for ch in x])
