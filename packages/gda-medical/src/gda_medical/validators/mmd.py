"""``medical.mmd``: maximum mean discrepancy between real and synthetic volumes (MONAI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Params, Table, ValidationResult, Validator
from gda_core.errors import NotApplicable

from ..metrics import monai_mmd
from ..volumes import stack_images

if TYPE_CHECKING:
    from gda_core.components import ValidationInputs
    from gda_core.context import RunContext


class VolumeMMDParams(Params):
    pool: int = Field(2, ge=1, description="average-pool volumes by this factor before comparing (1: raw voxels)")
    draws: int = Field(8, ge=1, description="subsample draws when the sets differ in size")
    grid: int = Field(8, ge=1, description="grid of the pooled features the RBF-kernel MMD² compares")


class VolumeMMDValidator(Validator):
    """MMD (MONAI MMDMetric) between real and synthetic volumes; lower is closer.

    MONAI's ``MMDMetric`` between the real training volumes and the kept synthetic ones,
    the synthetic set before selection, each baseline, and the real test volumes (the floor
    a perfect generator reaches). Lower is closer."""

    data_kind = "arrays"
    Params = VolumeMMDParams

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
        p = self.params
        import torch

        from gda_core.builtin.validators.mmd import median_bandwidth, mmd2

        if len(inputs.train) < 2:
            raise NotApplicable(f"MMD needs at least two real training volumes ({len(inputs.train)} given)")
        real = stack_images(inputs.train.records)

        def pooled(vols):
            t = torch.nn.functional.adaptive_avg_pool3d(torch.from_numpy(vols), p.grid)
            return t.reshape(len(vols), -1).numpy().astype(np.float64)

        real_f = pooled(real)
        bw = median_bandwidth(real_f, pooled(stack_images(inputs.test.records)))
        sets = [("kept synthetic", inputs.synthetic)]
        if inputs.stages and len(inputs.stages) > 1:
            sets.append(("generated (no selection)", inputs.stages[0][1]))
        sets += [(f"baseline {k}", v) for k, v in inputs.baselines.items()]
        sets.append(("real test (reference)", list(inputs.test.records)))
        rows, metrics = [], {}
        for name, recs in sets:
            if len(recs) < 2:
                continue
            vols = stack_images(recs)
            v = monai_mmd(real, vols, pool=p.pool, draws=p.draws, seed=context.seed)
            rbf = mmd2(real_f, pooled(vols), bw)
            rows.append([name, len(recs), round(v, 6), round(rbf, 6)])
            key = {"kept synthetic": "mmd", "real test (reference)": "mmd_real_test",
                   "generated (no selection)": "mmd_generated"}.get(name, f"mmd_{name.replace(' ', '_')}")
            metrics[key] = v
            metrics["rbf_" + key] = rbf
        notes = [f"MMD: MONAI's unbiased linear-kernel MMD on volumes average-pooled by {p.pool}; noisy for "
                 "small sets (it can be negative)",
                 f"RBF MMD²: unbiased, Gaussian kernel (median bandwidth of real train vs test) on volumes "
                 f"pooled to {p.grid}^3"]
        return ValidationResult(metrics=metrics, notes=notes, tables=[Table(
            "MMD against the real training volumes (lower: closer)",
            ["set", "volumes", "MMD (MONAI)", "RBF MMD²"], rows)])
