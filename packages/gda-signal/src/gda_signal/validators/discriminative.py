"""signal.discriminative: TimeGAN's discriminative score."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Table, ValidationResult, Validator
from gda_core.torch.accelerators import DeviceParams, apply_thread_setting, pick_device

from .._util import stack

if TYPE_CHECKING:
    from gda_core.components import ValidationInputs
    from gda_core.context import RunContext


class DiscriminativeParams(DeviceParams):
    iterations: int = Field(2000, gt=0, description="training batches of the post-hoc GRU (reference: 2000)")
    batch_size: int = Field(128, gt=0, description="batch size (reference: 128)")
    repeats: int = Field(3, gt=0, description="independent runs; the mean and std are reported")
    train_rate: float = Field(0.8, gt=0, lt=1, description="share of each set used for training (reference: 0.8)")
    baselines: bool = Field(True, description="also score each baseline generator's samples")


class DiscriminativeValidator(Validator):
    """TimeGAN's discriminative score: a post-hoc one-layer GRU (hidden size max(1, channels // 2))
    is trained to tell real training series from as many synthetic ones on 80% of each
    and tested on the other 20%; the score is |accuracy - 0.5| (0 = indistinguishable)."""

    data_kind = "arrays"
    Params = DiscriminativeParams

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
        apply_thread_setting()
        return self._evaluate(inputs, context)

    def _evaluate(self, inputs, context) -> ValidationResult:
        from .._timegan import discriminative_score, minmax

        p = self.params
        real = stack(inputs.train.records)
        lo, hi = real.min(axis=(0, 2)), real.max(axis=(0, 2))
        sets = {"synthetic": inputs.synthetic}
        if p.baselines:
            sets.update({f"{k} (baseline)": v for k, v in inputs.baselines.items() if v})
        dev = pick_device(p.device)
        metrics, rows = {}, []
        for name, recs in sets.items():
            fake = stack(recs)
            scores = [discriminative_score(minmax(real, lo, hi), minmax(fake, lo, hi), iterations=p.iterations,
                                           batch_size=p.batch_size, seed=context.seed * 100 + s,
                                           train_rate=p.train_rate, device=dev)
                      for s in context.progress(range(p.repeats), desc=f"discriminative {name}")]
            key = "discriminative_score" if name == "synthetic" else f"discriminative_score.{name.split(' ')[0]}"
            metrics[key] = float(np.mean(scores))
            metrics[f"{key}.std"] = float(np.std(scores))
            rows.append([name, len(recs), round(float(np.mean(scores)), 4), round(float(np.std(scores)), 4)])
        table = Table(f"TimeGAN discriminative score (|accuracy - 0.5|, lower is better, {p.repeats} runs)",
                      ["synthetic set", "records", "score mean", "std"], rows)
        return ValidationResult(metrics=metrics, tables=[table])
