"""Fréchet distance between real and synthetic features (FID with a configurable embedder)."""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from pydantic import Field

from gda_core.components import Params, Table, ValidationResult, Validator


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and ``b``."""
    from scipy import linalg

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Fréchet distance needs at least two samples on each side")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # a small ridge keeps the square root defined when there are fewer samples than dimensions
    offset = np.eye(s1.shape[0]) * eps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(max(0.0, diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean)))


class FIDParams(Params):
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")
    reference: Literal["train", "test"] = Field("test", description="real records the synthetic ones are compared to")
    stages: bool = Field(True, description="also score the set before and after each selector, and each baseline")


class FIDValidator(Validator):
    """Fréchet distance (the FID formula) between real and synthetic features of the configured
    embedder; the real train-vs-test distance is given as a reference floor."""

    Params = FIDParams

    def evaluate(self, inputs, context) -> ValidationResult:
        emb = self.params.embedder
        ref_set = inputs.test if self.params.reference == "test" else inputs.train
        real = context.embed(ref_set.records, emb)
        sets: list[tuple[str, list]] = [("synthetic (kept)", list(inputs.synthetic))]
        if self.params.stages:
            sets += [(name, list(recs)) for name, recs in inputs.stages[:-1] if recs]
            sets += [(f"baseline {name}", list(recs)) for name, recs in inputs.baselines.items() if recs]
        other = inputs.train if self.params.reference == "test" else inputs.test
        if len(other) > 1:
            sets.append((f"real {'train' if self.params.reference == 'test' else 'test'} (reference)",
                         list(other.records)))
        rows, metrics, notes = [], {}, []
        for name, recs in sets:
            if len(recs) < 2:
                notes.append(f"{name}: fewer than two records, no distance")
                continue
            d = frechet_distance(real, context.embed(recs, emb))
            rows.append([name, len(recs), round(d, 4)])
            if name == "synthetic (kept)":
                metrics["fid"] = d
            elif name.endswith("(reference)"):
                metrics["fid.reference"] = d
            elif name.startswith("baseline "):
                metrics[f"fid.{name[len('baseline '):]}"] = d
        table = Table(f"Fréchet distance to real {self.params.reference} features (lower is closer)",
                      ["set", "records", "distance"], rows)
        return ValidationResult(metrics=metrics, tables=[table], notes=notes)
