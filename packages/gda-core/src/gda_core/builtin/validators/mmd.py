"""Maximum mean discrepancy with an RBF kernel and the median heuristic."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Params, Table, ValidationResult, Validator
from gda_core.errors import NotApplicable

if TYPE_CHECKING:
    from gda_core.components import ValidationInputs
    from gda_core.context import RunContext


def median_bandwidth(X: np.ndarray, Y: np.ndarray) -> float:
    from sklearn.metrics import pairwise_distances

    Z = np.concatenate([X, Y])
    d = pairwise_distances(Z, Z)
    med = float(np.median(d[np.triu_indices(len(Z), k=1)])) if len(Z) > 1 else 1.0
    return med if med > 0 else 1.0


def mmd2(X: np.ndarray, Y: np.ndarray, bandwidth: float | None = None) -> float:
    """Unbiased squared MMD between samples ``X`` and ``Y`` with an RBF kernel."""
    from sklearn.metrics.pairwise import rbf_kernel

    sigma = bandwidth or median_bandwidth(X, Y)
    gamma = 1.0 / (2 * sigma**2)
    kxx, kyy, kxy = rbf_kernel(X, X, gamma=gamma), rbf_kernel(Y, Y, gamma=gamma), rbf_kernel(X, Y, gamma=gamma)
    m, n = len(X), len(Y)
    if m < 2 or n < 2:
        raise NotApplicable("MMD needs at least two samples on each side")
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


class MMDParams(Params):
    bandwidth: float | None = Field(None, gt=0, le=1e12, description="RBF width (default: median pairwise distance)")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class MMDValidator(Validator):
    """Squared MMD (unbiased, RBF kernel) between real training and kept synthetic features,
    beside real test vs train as the floor a perfect generator would reach."""

    Params = MMDParams

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
        emb = self.params.embedder
        real = context.embed(inputs.train.records, emb)
        if len(inputs.synthetic) < 2 or len(inputs.train) < 2:
            return ValidationResult(notes=[
                f"core.mmd needs at least two kept synthetic and two real samples "
                f"({len(inputs.synthetic)} kept, {len(inputs.train)} real): not measured"])
        fake = context.embed(inputs.synthetic, emb)
        test = context.embed(inputs.test.records, emb)
        bw = self.params.bandwidth or median_bandwidth(real, test if len(test) > 1 else fake)
        metrics = {"mmd2": mmd2(real, fake, bw)}
        rows = [["synthetic", round(metrics["mmd2"], 5)]]
        notes = []
        if len(test) > 1:
            metrics["mmd2_real_test"] = mmd2(real, test, bw)
            rows.append(["real test (reference)", round(metrics["mmd2_real_test"], 5)])
        else:
            notes.append(f"no real-test reference: it needs at least two test samples ({len(test)} given)")
        return ValidationResult(metrics=metrics, notes=notes, tables=[Table(
            "MMD² (RBF kernel) against real train", ["set", "MMD²"], rows)])
