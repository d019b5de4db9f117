"""signal.noise-filter: reject synthetic series that look like noise next to their real class.

Two scale-free measures of "noisiness", per series (averaged over channels):

- roughness: mean absolute second difference over the standard deviation (white noise
  about 2, a smooth series near 0);
- spectral flatness: geometric over arithmetic mean of the power spectrum, DC left out
  (white noise about 0.56, a series with a few dominant frequencies near 0).

Fitted on the real training series, each class keeps the median and spread (MAD) of the
logarithm of each measure. A series' score is its largest one-sided robust z-score (how
many spreads rougher or flatter than its intended class); smoother than real is not
penalised. The threshold is calibrated on real data: ``margin`` times the ``quantile`` of
the real series' own scores (default: 1.5 x the largest), never below ``min_threshold``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Selector, SelectorParams
from gda_core.records import label_key

from .._util import as_signal

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record

MAD_FLOOR = 0.05
"""Smallest spread (in log units) of a measure, so a class of near-identical series still has a scale."""


def noise_measures(x: np.ndarray) -> np.ndarray:
    """``(log roughness, log spectral flatness)`` of one ``(channels, length)`` series."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1) + 1e-12
    rough = np.abs(np.diff(x, n=2, axis=-1)).mean(axis=-1) / std
    power = np.abs(np.fft.rfft(x, axis=-1))[:, 1:] ** 2 + 1e-20
    flat = np.exp(np.log(power).mean(axis=-1)) / power.mean(axis=-1)
    return np.log(np.array([rough.mean(), flat.mean()]) + 1e-12)


class NoiseFilterParams(SelectorParams):
    threshold: float | None = Field(None, description="keep scores at or below this (default: calibrated on real data)")
    margin: float = Field(1.5, gt=0, description="the calibrated threshold is margin x the quantile of real scores")
    quantile: float = Field(1.0, gt=0, le=1, description="quantile of the real series' own scores used to calibrate")
    min_threshold: float = Field(3.0, ge=0, description="the calibrated threshold is never below this many spreads")


class NoiseFilterSelector(Selector):
    """Drops synthetic series rougher or spectrally flatter than their real class (noise-like),
    with a threshold calibrated on the real series; lower scores are better."""

    data_kind = "arrays"
    Params = NoiseFilterParams
    higher_is_better = False

    def fit(self, train: Dataset, context: RunContext) -> None:
        feats: dict[str, list[np.ndarray]] = {}
        for r in train.records:
            feats.setdefault(label_key(r.label), []).append(noise_measures(as_signal(r.data, where=f"record {r.id}")))
        every = np.stack([f for fs in feats.values() for f in fs])
        self.stats_ = {"*": self._stats(every)}
        self.stats_.update({c: self._stats(np.stack(fs)) for c, fs in feats.items()})
        real = np.array([self._score(f, c) for c, fs in feats.items() for f in fs])
        self.real_scores_ = real
        self.tau_ = max(self.params.min_threshold, self.params.margin * float(np.quantile(real, self.params.quantile)))

    @staticmethod
    def _stats(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        med = np.median(f, axis=0)
        mad = 1.4826 * np.median(np.abs(f - med), axis=0)
        return med, np.maximum(mad, MAD_FLOOR)

    def _score(self, f: np.ndarray, cls: str) -> float:
        med, mad = self.stats_.get(cls, self.stats_["*"])
        return float(np.max(np.maximum((f - med) / mad, 0.0)))

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        return np.array([self._score(noise_measures(as_signal(r.data, where=f"record {r.id}")), label_key(r.label))
                         for r in synthetic])

    def select(self, scores: np.ndarray, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        keep = np.asarray(scores, dtype=float) <= (self.params.threshold if self.params.threshold is not None
                                                    else self.tau_)
        if self.params.keep is not None:
            keep &= super().select(scores, synthetic, context)
        return keep
