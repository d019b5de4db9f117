"""``medical.msssim-diversity``: how alike the synthetic volumes are to one another (MS-SSIM)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Params, Table, ValidationResult, Validator

from ..metrics import ms_ssim_matrix
from ..volumes import stack_images

if TYPE_CHECKING:
    from gda_core.components import ValidationInputs
    from gda_core.context import RunContext


class DiversityParams(Params):
    max_volumes: int = Field(32, ge=2, description="compare at most this many volumes per set (seeded subsample)")
    scales: int = Field(3, ge=1, le=5, description="MS-SSIM scales (fewer are used on small volumes)")
    kernel_size: int = Field(7, ge=3, description="MS-SSIM kernel size (shrunk on small volumes)")


def mean_pairwise(vols: np.ndarray, p: DiversityParams) -> float:
    m = ms_ssim_matrix(vols, vols, scales=p.scales, kernel_size=p.kernel_size)
    iu = np.triu_indices(len(vols), k=1)
    return float(m[iu].mean())


class MSSSIMDiversityValidator(Validator):
    """Diversity: mean pairwise MS-SSIM within the synthetic volumes (lower is more diverse).

    Mean pairwise MS-SSIM within the kept synthetic volumes, beside
    the same number for the real training volumes and each baseline. A synthetic set far
    above the real one has collapsed onto few modes."""

    data_kind = "arrays"
    Params = DiversityParams

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
        p = self.params
        rng = context.rng(4242)
        sets = [("kept synthetic", inputs.synthetic), ("real train (reference)", list(inputs.train.records))]
        sets += [(f"baseline {k}", v) for k, v in inputs.baselines.items()]
        rows, metrics = [], {}
        for name, recs in sets:
            if len(recs) < 2:
                continue
            if len(recs) > p.max_volumes:
                recs = [recs[i] for i in sorted(rng.choice(len(recs), p.max_volumes, replace=False))]
            v = mean_pairwise(stack_images(recs), p)
            rows.append([name, len(recs), round(v, 4)])
            key = {"kept synthetic": "ms_ssim", "real train (reference)": "ms_ssim_real"}.get(
                name, f"ms_ssim_{name.replace(' ', '_')}")
            metrics[key] = v
        return ValidationResult(metrics=metrics, tables=[Table(
            "Mean pairwise MS-SSIM (lower: more diverse)", ["set", "volumes", "MS-SSIM"], rows)])
