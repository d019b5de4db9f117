"""Class balancing: top up each class to a target count."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Params, Selector, chain_keys, class_groups
from gda_core.records import label_key

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class BalanceParams(Params):
    target: int | None = Field(None, gt=0, description="real + synthetic per class (default: the largest real class)")
    by: str | None = Field(None, description="prefer samples ranked high by this earlier selector's score")


class ClassBalanceSelector(Selector):
    """Keeps, for each class, just enough synthetic samples that real plus synthetic
    reaches ``target``: rare classes get more, the largest gets few or none."""

    Params = BalanceParams

    def check_chain(self, earlier: Sequence[Selector]) -> None:
        """``by`` must name a selector earlier in the chain (as the pipeline keys it: ``name``, or
        ``name#2`` for a second of one name); raises ``ValueError`` naming it."""
        by = self.params.by
        if by is None:
            return
        keys = chain_keys(earlier)
        if by not in keys:
            have = ", ".join(keys) or "none"
            raise ValueError(f"params.by: {by!r} is not a selector before this one in the chain (before it: {have})")

    def fit(self, train: Dataset, context: RunContext) -> None:
        self.real_counts_ = {label_key(c): len(v) for c, v in train.by_class().items()}

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        by = self.params.by
        if by is None:
            return np.zeros(len(synthetic))
        return np.asarray([r.provenance.scores.get(by) or 0.0 for r in synthetic], dtype=float)

    def select(self, scores: np.ndarray, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        target = self.params.target or max(self.real_counts_.values())
        keep = np.zeros(len(synthetic), dtype=bool)
        for idx in class_groups(synthetic):
            need = max(0, target - self.real_counts_.get(label_key(synthetic[idx[0]].label), 0))
            keep[idx[np.argsort(-scores[idx], kind="stable")[:need]]] = True
        return keep
