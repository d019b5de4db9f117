"""signal.predictive: TimeGAN's predictive score (train on synthetic, test on real)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core.components import Table, ValidationResult, Validator
from gda_core.torch.accelerators import DeviceParams, apply_thread_setting, pick_device

from .._util import stack

if TYPE_CHECKING:
    from gda_core.components import ValidationInputs
    from gda_core.context import RunContext


class PredictiveParams(DeviceParams):
    iterations: int = Field(5000, gt=0, description="training batches of the post-hoc GRU (reference: 5000)")
    batch_size: int = Field(128, gt=0, description="batch size (reference: 128)")
    repeats: int = Field(3, gt=0, description="independent runs; the mean and std are reported")
    real: Literal["train", "test"] = Field("train", description="real series the MAE is measured on "
                                                                "(reference: the real training data)")
    baselines: bool = Field(True, description="also score each baseline generator's samples")
    reference: bool = Field(True, description="also train on the real training series (TRTR) for comparison")


class PredictiveValidator(Validator):
    """TimeGAN's predictive score: a post-hoc GRU (hidden size max(1, channels // 2)) is trained
    on synthetic series to predict the next step (the last channel from the others, as in
    the reference; a univariate series predicts itself) and its mean absolute error is
    measured on real series, all min-max scaled to [0, 1] by the real range (lower is better)."""

    data_kind = "arrays"
    Params = PredictiveParams

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
        apply_thread_setting()
        return self._evaluate(inputs, context)

    def _evaluate(self, inputs, context) -> ValidationResult:
        from .._timegan import minmax, predictive_score

        p = self.params
        real_train = stack(inputs.train.records)
        lo, hi = real_train.min(axis=(0, 2)), real_train.max(axis=(0, 2))
        target = real_train if p.real == "train" else stack(inputs.test.records)
        target = minmax(target, lo, hi)
        sets = {"synthetic": inputs.synthetic}
        if p.baselines:
            sets.update({f"{k} (baseline)": v for k, v in inputs.baselines.items() if v})
        if p.reference:
            sets["real (reference)"] = list(inputs.train.records)
        dev = pick_device(p.device)
        metrics, rows = {}, []
        for name, recs in sets.items():
            X = minmax(stack(recs), lo, hi)
            scores = [predictive_score(X, target, iterations=p.iterations, batch_size=p.batch_size,
                                       seed=context.seed * 100 + s, device=dev)
                      for s in context.progress(range(p.repeats), desc=f"predictive {name}")]
            key = "predictive_score" if name == "synthetic" else f"predictive_score.{name.split(' ')[0]}"
            metrics[key] = float(np.mean(scores))
            metrics[f"{key}.std"] = float(np.std(scores))
            rows.append([name, len(recs), round(float(np.mean(scores)), 4), round(float(np.std(scores)), 4)])
        table = Table(f"TimeGAN predictive score (MAE on real {p.real} series, lower is better, {p.repeats} runs)",
                      ["training set", "records", "MAE mean", "std"], rows)
        return ValidationResult(metrics=metrics, tables=[table])
