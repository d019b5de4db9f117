"""Penultimate-layer features of a small CNN trained on the real images."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Embedder

from .._cnn import SmallCNNParams

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class CNNEmbedderParams(SmallCNNParams):
    seed: int | None = Field(None, description="training seed (default: the run seed)")


class CNNEmbedder(Embedder):
    """A small CNN classifier trained on the real training images; its penultimate
    features (``feature_dim`` values after ReLU) feed the core selectors and validators."""

    data_kind = "arrays"
    Params = CNNEmbedderParams

    def fit(self, train: Dataset, context: RunContext) -> None:
        from gda_core.torch.accelerators import apply_thread_setting, pick_device

        from .._cnn import train_cnn

        apply_thread_setting()
        p = self.params
        self.device_ = pick_device(p.device)
        classes = list(train.classes) or sorted({r.label for r in train.records}, key=repr)
        seed = context.seed if p.seed is None else p.seed
        self.model_ = train_cnn(train.records, classes, seed=seed, steps=p.steps, batch_size=p.batch_size,
                                learning_rate=p.learning_rate, width=p.width, feature_dim=p.feature_dim,
                                size=p.size, device=self.device_)

    def embed(self, records: Sequence[Record], context: RunContext) -> np.ndarray:
        from .._cnn import predict

        self._require_fitted("model_", action="embed")
        return predict(self.model_, list(records), size=self.params.size, device=self.device_,
                       features=True).astype(np.float64)
