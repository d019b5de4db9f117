"""signal.classifier: time-series classification for core.downstream (aeon Rocket family or a 1-D CNN)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core.components import Application
from gda_core.torch.accelerators import DeviceParams

from .._util import stack, str_labels

if TYPE_CHECKING:
    from gda_core.context import RunContext
    from gda_core.records import Dataset


class SignalClassifierParams(DeviceParams):
    model: Literal["minirocket", "rocket", "cnn"] = Field(
        "minirocket", description="aeon MiniRocketClassifier / RocketClassifier, or a small 1-D CNN")
    n_kernels: int = Field(10000, gt=0, description="rocket family: kernels (minirocket: a multiple of 84)")
    epochs: int = Field(100, gt=0, description="cnn: training epochs")
    width: int = Field(32, gt=0, description="cnn: channels of the first block")


class SignalClassifier(Application):
    """Train a time-series classifier on the given series, report accuracy and macro F1 on the test series.

    The seed fixes the random kernels (Rocket family) or the CNN's initialisation, so
    core.downstream's repeats measure the spread over models.
    """

    data_kind = "arrays"
    Params = SignalClassifierParams
    metric = "accuracy"

    def evaluate(self, train: Dataset, test: Dataset, *, seed: int, context: RunContext) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        p = self.params
        X, y = stack(train.records), str_labels(train.records)
        Xt, yt = stack(test.records), str_labels(test.records)
        seed = int(seed) % (2**31)
        if len(set(y.tolist())) < 2:
            pred = np.full(len(yt), y[0])
        elif p.model == "cnn":
            from .._cnn import cnn_apply, train_cnn

            keys = sorted(set(y.tolist()))
            model = train_cnn(X, np.asarray([keys.index(v) for v in y]), len(keys), seed=seed, epochs=p.epochs,
                              width=p.width, device=p.device)
            pred = np.asarray(keys)[cnn_apply(model, Xt).argmax(1)]
        else:
            if p.model == "minirocket":
                from aeon.classification.convolution_based import MiniRocketClassifier as Cls
            else:
                from aeon.classification.convolution_based import RocketClassifier as Cls
            clf = Cls(n_kernels=p.n_kernels, random_state=seed)
            clf.fit(X.astype(np.float64), y)
            pred = np.asarray(clf.predict(Xt.astype(np.float64)))
        return {"accuracy": float(accuracy_score(yt, pred)),
                "macro_f1": float(f1_score(yt, pred, average="macro"))}
