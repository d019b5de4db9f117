"""A small CNN image classifier as the downstream task."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Application
from gda_core.records import label_key

from .._cnn import SmallCNNParams

if TYPE_CHECKING:
    from gda_core.context import RunContext
    from gda_core.records import Dataset


class CNNParams(SmallCNNParams):
    augment: bool = Field(False, description="random one-pixel shifts while training (off: the comparison "
                          "measures the data, not in-model augmentation)")
    synthetic_share: float | None = Field(None, ge=0, le=1, description="expected share of synthetic images in "
                                          "each batch when real and synthetic are mixed (default: by count)")


class CNNClassificationApplication(Application):
    """A small convolutional network (torch) trained on the given images and scored on the test
    images: accuracy and macro F1. Deterministic for a seed on CPU."""

    data_kind = "arrays"
    Params = CNNParams
    metric = "accuracy"

    def evaluate(self, train: Dataset, test: Dataset, *, seed: int, context: RunContext) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        from gda_core.torch.accelerators import apply_thread_setting, pick_device

        from .._cnn import predict, train_cnn

        apply_thread_setting()
        p = self.params
        device = pick_device(p.device)
        classes = list(train.classes) or sorted({r.label for r in train.records}, key=repr)
        model = train_cnn(train.records, classes, seed=seed, steps=p.steps, batch_size=p.batch_size,
                          learning_rate=p.learning_rate, width=p.width, feature_dim=p.feature_dim,
                          size=p.size, device=device, augment=p.augment,
                          synthetic_share=p.synthetic_share)
        proba = predict(model, test.records, size=p.size, device=device)
        keys = [label_key(c) for c in classes]
        pred = np.asarray([keys[i] for i in proba.argmax(1)])
        truth = np.asarray([label_key(r.label) for r in test.records])
        return {"accuracy": float(accuracy_score(truth, pred)),
                "macro_f1": float(f1_score(truth, pred, average="macro"))}
