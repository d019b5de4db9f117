"""Precision, recall, density and coverage (Naeem et al., 2020) with k-NN balls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core.components import Params, Table, ValidationResult, Validator
from gda_core.errors import NotApplicable

if TYPE_CHECKING:
    from gda_core.components import ValidationInputs
    from gda_core.context import RunContext


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """The four PRDC numbers of ``fake`` against ``real`` features (``k`` capped at the real samples
    less one: :func:`k_used`)."""
    from sklearn.metrics import pairwise_distances

    k = k_used(k, len(real))
    if k < 1:
        raise NotApplicable("PRDC needs at least two real samples")
    rr = pairwise_distances(real, real)
    radii_real = np.sort(rr, axis=1)[:, k]  # column 0 is the distance to itself
    rf = pairwise_distances(real, fake)  # (n_real, n_fake)
    inside = rf < radii_real[:, None]
    precision = float(inside.any(axis=0).mean())
    density = float(inside.sum(axis=0).mean() / k)
    kf = min(k, len(fake) - 1)
    if kf >= 1:
        ff = pairwise_distances(fake, fake)
        radii_fake = np.sort(ff, axis=1)[:, kf]
        recall = float((rf < radii_fake[None, :]).any(axis=1).mean())
    else:
        recall = 0.0
    coverage = float((rf.min(axis=1) < radii_real).mean())
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def k_used(k: int, n_real: int) -> int:
    """The neighbour count PRDC uses with ``n_real`` real samples: ``k``, at most ``n_real - 1``."""
    return min(k, n_real - 1)


class PRDCParams(Params):
    k: int = Field(5, gt=0, description="nearest neighbours that set each ball's radius")
    reference: Literal["train", "test"] = Field("train", description="real records to compare against")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class PRDCValidator(Validator):
    """Fidelity (precision, density) and diversity (recall, coverage) of the kept synthetic
    samples against real ones, in the run's embedding; real test vs train as a reference."""

    Params = PRDCParams

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
        emb = self.params.embedder
        ref = inputs.train if self.params.reference == "train" else inputs.test
        real = context.embed(ref.records, emb)
        fake = context.embed(inputs.synthetic, emb)
        scores = prdc(real, fake, self.params.k)
        rows = [["synthetic", *[round(scores[m], 4) for m in scores]]]
        if self.params.reference == "train" and len(inputs.test) > 1:
            held = prdc(real, context.embed(inputs.test.records, emb), self.params.k)
            rows.append(["real test (reference)", *[round(held[m], 4) for m in held]])
        k = k_used(self.params.k, len(real))
        notes = [] if k == self.params.k else [f"k={self.params.k} asked, k={k} used: there are {len(real)} real "
                                               f"{self.params.reference} samples"]
        return ValidationResult(metrics=scores, notes=notes, tables=[Table(
            f"PRDC (k={k}) against real {self.params.reference}",
            ["set", "precision", "recall", "density", "coverage"], rows)])
