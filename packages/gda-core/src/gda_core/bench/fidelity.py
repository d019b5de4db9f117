"""Per-cell fidelity numbers: near-copy shares, PRDC and a Fréchet distance on features."""

from __future__ import annotations

import math

import numpy as np

from ..neighbors import nearest_distances

COPY_QUANTILE = 0.05
"""A sample is a near-copy when it sits closer to its nearest training sample than this
quantile of the training samples' own leave-one-out nearest-neighbour distances."""


def copy_threshold(train: np.ndarray, quantile: float = COPY_QUANTILE) -> float:
    """The near-copy distance, calibrated on the training set alone (leave-one-out), as
    ``core.memorization`` and ``core.near-copy`` calibrate it (:mod:`gda_core.near_copies`)."""
    from ..near_copies import near_copy_threshold

    return near_copy_threshold(train, quantile)


def near_copy_share(samples: np.ndarray, train: np.ndarray, threshold: float) -> float:
    """Share of ``samples`` closer than ``threshold`` to a training sample (NaN when empty)."""
    if len(samples) == 0:
        return math.nan
    d, _ = nearest_distances(samples, train, 1)
    return float(np.mean(d[:, 0] < threshold))


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID's formula;
    :func:`gda_core.frechet.frechet_distance`), NaN with fewer than two rows on a side."""
    from ..frechet import frechet_distance

    if len(a) < 2 or len(b) < 2:
        return math.nan
    return frechet_distance(a, b)


def fidelity(train: np.ndarray, test: np.ndarray, samples: np.ndarray, threshold: float) -> dict[str, float]:
    """Near-copy share of ``samples`` and of held-out real ``test``, PRDC of ``samples`` against
    ``train``, and Fréchet distances of ``samples`` and of ``test`` to ``train``."""
    from ..builtin.validators.prdc import prdc

    out = {"near_copy_share": near_copy_share(samples, train, threshold),
           "near_copy_share_real": near_copy_share(test, train, threshold),
           "frechet_real": frechet(test, train)}
    if len(samples) >= 2 and len(train) >= 2:
        out.update(prdc(train, samples, 5))
        out["frechet"] = frechet(samples, train)
    else:
        out.update({"precision": math.nan, "recall": math.nan, "density": math.nan,
                    "coverage": math.nan, "frechet": math.nan})
    return out
