"""Per-cell fidelity numbers: near-copy shares, PRDC and a Fréchet distance on features.

Near-copies are counted with :class:`gda_core.near_copies.NearCopyMeasure`, the one definition
``core.memorization`` and ``core.near-copy`` use (reference: what the generator learned from;
``tau``: the quantile of the reference's leave-one-out distances).
"""

from __future__ import annotations

import math

import numpy as np

from ..near_copies import QUANTILE, NearCopyMeasure

COPY_QUANTILE = QUANTILE
"""The quantile of the reference's leave-one-out distances that is the near-copy threshold."""


def copy_threshold(train: np.ndarray, quantile: float = COPY_QUANTILE) -> float:
    """The near-copy distance for reference features ``train`` (:class:`NearCopyMeasure`'s ``tau``)."""
    return NearCopyMeasure.fit(train, quantile).tau


def near_copy_share(samples: np.ndarray, train: np.ndarray, threshold: float) -> float:
    """Share of ``samples`` closer than ``threshold`` to a training sample (NaN when empty)."""
    if len(samples) == 0:
        return math.nan
    from ..near_copies import nn_distances

    return float(np.mean(nn_distances(samples, train) < threshold))


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID's formula;
    :func:`gda_core.frechet.frechet_distance`), NaN with fewer than two rows on a side."""
    from ..frechet import frechet_distance

    if len(a) < 2 or len(b) < 2:
        return math.nan
    return frechet_distance(a, b)


def fidelity(train: np.ndarray, test: np.ndarray, samples: np.ndarray,
             measure: NearCopyMeasure | None = None) -> dict[str, float]:
    """Near-copy share of ``samples`` and of held-out real ``test`` against the reference
    ``train`` (``measure``: its :class:`NearCopyMeasure`, when the caller has it), PRDC of
    ``samples`` against ``train``, and Fréchet distances of ``samples`` and of ``test`` to ``train``."""
    from ..builtin.validators.prdc import prdc

    measure = measure or NearCopyMeasure.fit(train)
    out = {"near_copy_share": measure.share(measure.distances(samples)) if len(samples) else math.nan,
           "near_copy_share_real": measure.share(measure.distances(test)),
           "frechet_real": frechet(test, train)}
    if len(samples) >= 2 and len(train) >= 2:
        out.update(prdc(train, samples, 5))
        out["frechet"] = frechet(samples, train)
    else:
        out.update({"precision": math.nan, "recall": math.nan, "density": math.nan,
                    "coverage": math.nan, "frechet": math.nan})
    return out
