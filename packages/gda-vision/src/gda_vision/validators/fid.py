"""Fréchet distance between real and synthetic features (FID with a configurable embedder)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from gda_core.components import Params, Table, ValidationResult, Validator
from gda_core.errors import NotApplicable
from gda_core.frechet import frechet_distance

if TYPE_CHECKING:
    from gda_core.components import ValidationInputs
    from gda_core.context import RunContext


class FIDParams(Params):
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")
    reference: Literal["train", "test"] = Field("test", description="real records the synthetic ones are compared to")
    stages: bool = Field(True, description="also score the set before and after each selector, and each baseline")


class FIDValidator(Validator):
    """Fréchet distance (the FID formula) between real and synthetic features of the configured
    embedder; the real train-vs-test distance is given as a reference floor."""

    data_kind = "arrays"
    Params = FIDParams

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
        emb = self.params.embedder
        ref_set = inputs.test if self.params.reference == "test" else inputs.train
        if len(ref_set) < 2:
            raise NotApplicable(f"a Fréchet distance needs at least two real {self.params.reference} records "
                                f"({len(ref_set)} given)")
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
