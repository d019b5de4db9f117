"""Downstream validation: train the application's model on real, real + synthetic and
synthetic data (TRTR / TRSTR / TSTR), test on held-out real data, over several seeds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Params, Table, ValidationResult, Validator
from gda_core.errors import NotApplicable
from gda_core.report import plural

if TYPE_CHECKING:
    from gda_core.components import ValidationInputs
    from gda_core.context import RunContext


SELF_TRAINING = "self-training"
"""The training set name of real + the pseudo-labelled pool with no generator (``ValidationInputs.self_training``)."""


class DownstreamParams(Params):
    seeds: int = Field(5, gt=0, le=1000, description="repeats with different model seeds (at most 1000); mean "
                       "and spread are reported")
    stages: bool = Field(True, description="also train on real + the synthetic set before and after each selector")
    synthetic_only: bool = Field(True, description="also train on synthetic data alone (TSTR)")
    baselines: bool = Field(True, description="also train on real + each baseline generator's samples")
    self_training: bool = Field(True, description="with an unlabelled pool, also train on real + the pseudo-labelled "
                                "pool with no generator (self-training) and on that + the kept synthetic set, "
                                "so GDA is compared with what the pool alone gives")


class DownstreamValidator(Validator):
    """Does the synthetic data help? The application's model is trained on each training
    set and scored on the held-out real test set; mean and standard deviation over seeds.
    With a pool, the sets include self-training (real + pseudo-labelled pool, no generator) and
    self-training + synthetic, so the gain is also read against what the pool alone gives."""

    Params = DownstreamParams
    accepts_empty = True

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
        app = context.application
        metric = app.metric
        train, test = inputs.train, inputs.test
        settings: list[tuple[str, list]] = [("real", list(train.records))]
        if inputs.synthetic:
            settings.append(("real+synthetic", list(train.records) + list(inputs.synthetic)))
        if self.params.stages and len(inputs.stages) > 1:  # "no selection" shows even with one selector
            for name, recs in inputs.stages[:-1]:
                if recs:
                    settings.append((f"real+{name}", list(train.records) + list(recs)))
        if self.params.baselines:
            for name, recs in inputs.baselines.items():
                if recs:
                    settings.append((f"real+{name} (baseline)", list(train.records) + list(recs)))
        pseudo = inputs.self_training if self.params.self_training else None
        if pseudo:
            settings.append((SELF_TRAINING, list(train.records) + list(pseudo)))
            if inputs.synthetic:
                settings.append((f"{SELF_TRAINING}+synthetic", list(train.records) + list(pseudo)
                                 + list(inputs.synthetic)))
        if self.params.synthetic_only and inputs.synthetic:
            settings.append(("synthetic", list(inputs.synthetic)))
        rows, metrics, notes = [], {}, []
        for name, recs in context.progress(settings, desc="downstream"):
            ds = train.with_records(recs)
            try:
                values = [app.evaluate(ds, test, seed=context.seed * 1000 + s, context=context)[metric]
                          for s in range(self.params.seeds)]
            except NotApplicable as exc:  # this training set is too small or too odd for the model
                if name == "real":
                    raise
                rows.append([name, len(recs), None, None, "not applicable"])
                notes.append(f"{name}: not applicable: {exc}")
                continue
            mean, std = float(np.mean(values)), float(np.std(values))
            metrics[f"{name}.{metric}.mean"] = mean
            metrics[f"{name}.{metric}.std"] = std
            rows.append([name, len(recs), round(mean, 4), round(std, 4),
                         " ".join(f"{v:.3f}" for v in values)])
        if f"real+synthetic.{metric}.mean" in metrics:
            gain = metrics[f"real+synthetic.{metric}.mean"] - metrics[f"real.{metric}.mean"]
            metrics[f"gain.{metric}"] = gain
            notes.append(f"real+synthetic vs real-only: {gain:+.4f} {metric} "
                         f"(mean over {plural(self.params.seeds, 'seed')})")
        st = metrics.get(f"{SELF_TRAINING}.{metric}.mean")
        if st is not None:
            for name, key in (("real+synthetic", "gain_over_self_training"),
                              (f"{SELF_TRAINING}+synthetic", "self_training_gain")):
                if f"{name}.{metric}.mean" in metrics:
                    metrics[f"{key}.{metric}"] = metrics[f"{name}.{metric}.mean"] - st
            notes.append(f"self-training (real + {plural(len(pseudo or []), 'pseudo-labelled pool record')}, no "
                         f"generator): {metric} {st:.4f}; " + "; ".join(
                             f"{what} minus it: {metrics[f'{key}.{metric}']:+.4f}"
                             for what, key in (("real+synthetic", "gain_over_self_training"),
                                               ("self-training+synthetic", "self_training_gain"))
                             if f"{key}.{metric}" in metrics))
        measured = [r for r in rows if r[2] is not None]
        if self.params.seeds > 1 and all(r[3] == 0 for r in measured):
            notes.append(f"every seed gave the same {metric}: {app.name}'s model is deterministic here, "
                         "so the spread says nothing; vary the run seed (data split, generation) instead")
        best = max(measured, key=lambda r: r[2])
        notes.append(f"best training set: {best[0]} ({metric} {best[2]:.4f})")
        seeds = plural(self.params.seeds, "model seed")
        table = Table(f"Downstream {metric} on held-out real data ({app.name}; {seeds} "
                      f"varied; the split, the k shots and the generator are fixed by run seed {context.seed}: "
                      "`gda bench` varies them)",
                      ["training set", "records", f"{metric} mean", "std", "per seed"], rows)
        return ValidationResult(metrics=metrics, tables=[table], notes=notes)
