"""Near-copy selection: drop synthetic samples that sit closer to the generator's training data
than real samples new to the generator would."""

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


class NearCopyParams(Params):
    quantile: float = Field(0.05, gt=0, lt=0.5, description="tau is this quantile of real samples' nearest-"
                            "neighbour distances to the training data: about this share of new real samples "
                            "would be dropped")
    space: Literal["embedder", "raw"] = Field("embedder", description="measure distances on the run "
                                              "embedder's features or on raw samples (flattened arrays)")
    calibration: near_copies.Calibration = Field("auto", description=near_copies.CALIBRATION_HELP)
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class NearCopySelector(Selector):
    """Drops synthetic samples whose nearest-neighbour distance to the real data the generator
    trained on (``context.generator_train``: train, plus the pool when the strategy used it) is
    below ``tau``. ``tau`` comes from real data only, never from test records: the ``quantile`` of
    the training data's leave-one-out distances, or of an unused pool's distances to it. The score
    is that nearest-neighbour distance (higher is more novel)."""

    Params = NearCopyParams

    def fit(self, train: Dataset, context: RunContext) -> None:
        p = self.params
        reference = near_copies.generator_reference(context)
        try:
            self.reference_ = near_copies.features(reference.records, context, p.space, p.embedder)
        except ValueError as exc:
            raise ConfigError(f"core.near-copy: space={p.space!r}: {exc}") from exc
        self.tau_, self.calibrated_on_ = near_copies.calibrate(self.reference_, context, p.quantile, p.calibration,
                                                          p.space, p.embedder, who="core.near-copy")

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        feats = near_copies.features(synthetic, context, self.params.space, self.params.embedder)
        return near_copies.nn_distances(feats, self.reference_)

    def select(self, scores: np.ndarray, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        return np.asarray(scores, dtype=float) >= self.tau_
