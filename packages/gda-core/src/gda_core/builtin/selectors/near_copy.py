"""Near-copy selection: drop the synthetic samples that ``core.memorization`` and ``gda bench``
count as near-copies of the generator's training data (:mod:`gda_core.near_copies`, one definition)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core import near_copies
from gda_core.components import Params, Selector
from gda_core.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class NearCopyParams(Params, near_copies.RetiredCalibration):
    quantile: float = Field(near_copies.QUANTILE, gt=0, lt=0.5, description="tau is this quantile of the "
                            "training data's leave-one-out nearest-neighbour distances")
    space: Literal["embedder", "raw"] = Field("embedder", description="measure distances on the run "
                                              "embedder's features or on raw samples (flattened arrays)")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class NearCopySelector(Selector):
    """Drops synthetic samples whose nearest-neighbour distance to the real data the generator
    trained on (``context.generator_train``: train, plus the pool when the strategy used it) is
    below ``tau``, the ``quantile`` of that data's leave-one-out distances (never test records, never
    the pool): exactly the samples ``core.memorization`` counts as near-copies. The score is that
    nearest-neighbour distance (higher is more novel)."""

    Params = NearCopyParams

    def fit(self, train: Dataset, context: RunContext) -> None:
        p = self.params
        reference = near_copies.generator_reference(context)
        try:
            feats = near_copies.features(reference.records, context, p.space, p.embedder)
        except ValueError as exc:
            raise ConfigError(f"core.near-copy: space={p.space!r}: {exc}") from exc
        self.measure_ = near_copies.NearCopyMeasure.fit(feats, p.quantile)
        self.tau_ = self.measure_.tau

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        feats = near_copies.features(synthetic, context, self.params.space, self.params.embedder)
        return self.measure_.distances(feats)

    def select(self, scores: np.ndarray, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        return ~self.measure_.is_copy(scores)
