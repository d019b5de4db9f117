"""signal.embedder: MiniRocket features (aeon) or a small 1-D CNN trained on the real set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core.components import Embedder
from gda_core.torch.accelerators import DeviceParams

from .._util import stack, str_labels

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class SignalEmbedderParams(DeviceParams):
    model: Literal["minirocket", "cnn"] = Field("minirocket", description="feature extractor")
    n_kernels: int = Field(840, ge=84, description="minirocket: kernels (features), a multiple of 84")
    epochs: int = Field(60, gt=0, description="cnn: training epochs on the real set")
    width: int = Field(32, gt=0, description="cnn: channels of the first block")


class SignalEmbedder(Embedder):
    """Features for the core selectors and validators: aeon's MiniRocket transform fitted on
    the real training series (unsupervised), or the pooled last block of a small 1-D CNN
    trained to tell the real classes apart."""

    data_kind = "arrays"
    Params = SignalEmbedderParams

    def fit(self, train: Dataset, context: RunContext) -> None:
        X = stack(train.records)
        p = self.params
        if p.model == "minirocket":
            from aeon.transformations.collection.convolution_based import MiniRocket

            self.model_ = MiniRocket(n_kernels=p.n_kernels, random_state=context.seed).fit(X.astype(np.float64))
        else:
            from .._cnn import train_cnn

            keys = sorted(set(str_labels(train.records).tolist()))
            y = np.asarray([keys.index(v) for v in str_labels(train.records)])
            self.model_ = train_cnn(X, y, len(keys), seed=context.seed, epochs=p.epochs, width=p.width,
                                    device=p.device, progress=context.progress)

    def embed(self, records: Sequence[Record], context: RunContext) -> np.ndarray:
        X = stack(records)
        if self.params.model == "minirocket":
            return np.asarray(self.model_.transform(X.astype(np.float64)), dtype=np.float64)
        from .._cnn import cnn_apply

        return cnn_apply(self.model_, X, "features").astype(np.float64)
