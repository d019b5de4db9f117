"""Memorization: how many synthetic samples sit closer to a real sample than real samples
sit to each other."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from gda_core.components import Params, Table, ValidationResult, Validator


def memorized_share(real: np.ndarray, other: np.ndarray, ratio: float) -> float:
    """Share of ``other`` rows whose distance to their nearest real row r is below ``ratio``
    times r's own distance to its nearest other real row."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=2).fit(real)
    real_nn = nn.kneighbors(real)[0][:, 1]
    d, idx = NearestNeighbors(n_neighbors=1).fit(real).kneighbors(other)
    return float(np.mean(d[:, 0] < ratio * real_nn[idx[:, 0]]))


class MemorizationParams(Params):
    ratio: float = Field(0.5, gt=0, description="a sample counts as memorized when its distance to its nearest "
                         "real sample is below this times that sample's nearest-real distance")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class MemorizationValidator(Validator):
    """Share of synthetic samples that are (near) copies of training samples, beside the
    share among held-out real samples (what an honest generator would show)."""

    Params = MemorizationParams

    def evaluate(self, inputs, context) -> ValidationResult:
        emb = self.params.embedder
        real = context.embed(inputs.train.records, emb)
        fake = context.embed(inputs.synthetic, emb)
        test = context.embed(inputs.test.records, emb)
        r = self.params.ratio
        metrics = {"memorized_share": memorized_share(real, fake, r),
                   "memorized_share_real_test": memorized_share(real, test, r),
                   "exact_copies": float(np.mean(np.min(
                       np.linalg.norm(fake[:, None, :] - real[None, :, :], axis=2), axis=1) < 1e-9))}
        notes = []
        if metrics["memorized_share"] > 2 * metrics["memorized_share_real_test"] + 0.05:
            notes.append("synthetic samples sit unusually close to training samples: the generator may memorize")
        return ValidationResult(metrics=metrics, notes=notes, tables=[Table(
            f"Memorization (distance below {r} x real nearest-neighbour distance)", ["set", "share", ],
            [["synthetic", round(metrics["memorized_share"], 4)],
             ["real test (reference)", round(metrics["memorized_share_real_test"], 4)]])])
