"""What a run produced, handed to the report and to callers of :func:`gda_core.run`.

It lives apart from the pipeline so that the report reads a run's results without
importing the pipeline (no import cycle between the two).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from .components import DatasetLoader, Generator, Strategy, ValidationResult
from .records import Dataset, Record


@dataclasses.dataclass
class RunResult:
    """A run's folder, records and validators' results.

    ``stages`` lists the synthetic set before selection and after each selector, in order;
    ``config`` is the resolved config (every component's name and parameters, the seed);
    ``loader`` is the run's data-set loader, whose :meth:`~gda_core.DatasetLoader.preview`
    draws real and kept synthetic samples for the report. ``pool`` is the loader's unlabelled
    pool (None when it offers none) and ``strategy`` the run's strategy, so the report can say
    whether the pool was used; ``generator`` is the run's generator, whose
    :meth:`~gda_core.Generator.report_tables` add to the report.
    """

    folder: Path
    train: Dataset
    test: Dataset
    synthetic: list[Record]
    baselines: dict[str, list[Record]]
    results: dict[str, ValidationResult]
    stages: list[tuple[str, list[Record]]] = dataclasses.field(default_factory=list)
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    loader: DatasetLoader | None = None
    pool: Dataset | None = None
    strategy: Strategy | None = None
    pseudo_labels: dict[str, Any] | None = None
    """``{"records": n, "accuracy_vs_hidden_labels": acc or None}`` of the pool records the strategy
    pseudo-labelled and trained on (:meth:`~gda_core.Strategy.pseudo_labelled`), None without any."""
    generator: Generator | None = None

    @property
    def kept(self) -> list[Record]:
        """The synthetic records every selector kept."""
        return [r for r in self.synthetic if r.provenance.is_kept]

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Each validator's headline numbers, by validator name."""
        return {name: res.metrics for name, res in self.results.items()}
