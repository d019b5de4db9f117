"""Penultimate-layer features of a small CNN trained on the real images."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from gda_core.components import Embedder, Params
from gda_core.errors import GDAError


class CNNEmbedderParams(Params):
    steps: int = Field(300, gt=0, description="training steps on the real set (batches drawn with replacement)")
    batch_size: int = Field(64, gt=1, description="training batch size")
    learning_rate: float = Field(3e-3, gt=0, description="AdamW peak learning rate")
    width: int = Field(32, gt=0, description="channels of the first conv layers")
    feature_dim: int = Field(64, gt=0, description="feature dimension")
    size: int | None = Field(None, gt=1, description="resize images to size x size first")
    seed: int | None = Field(None, description="training seed (default: the run seed)")
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, cuda:N")


class CNNEmbedder(Embedder):
    """A small CNN classifier trained on the real training images; its penultimate
    features (``feature_dim`` values after ReLU) feed the core selectors and validators."""

    Params = CNNEmbedderParams

    def fit(self, train, context) -> None:
        from .._cnn import train_cnn
        from .._torch import pick_device, set_threads

        set_threads()
        p = self.params
        self.device_ = pick_device(p.device)
        classes = list(train.classes) or sorted({r.label for r in train.records}, key=repr)
        seed = context.seed if p.seed is None else p.seed
        self.model_ = train_cnn(train.records, classes, seed=seed, steps=p.steps, batch_size=p.batch_size,
                                learning_rate=p.learning_rate, width=p.width, feature_dim=p.feature_dim,
                                size=p.size, device=self.device_)

    def embed(self, records, context) -> np.ndarray:
        from .._cnn import predict

        if not hasattr(self, "model_"):
            raise GDAError("vision.cnn-embedder has not been fitted")
        return predict(self.model_, list(records), size=self.params.size, device=self.device_,
                       features=True).astype(np.float64)
