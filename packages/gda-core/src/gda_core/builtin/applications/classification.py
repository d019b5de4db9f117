"""Classification with scikit-learn models, the core's downstream task."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from gda_core.components import Application, Params
from gda_core.records import Dataset, label_key


class ClassificationParams(Params):
    model: Literal["logreg", "random-forest", "svm", "knn", "mlp"] = Field(
        "logreg", description="scikit-learn classifier trained by validators")
    features: Literal["raw", "embedder"] = Field(
        "raw", description="flattened samples, or the run's embedder")
    standardize: bool = Field(True, description="scale features before the model")


def make_classifier(kind: str, seed: int):
    """A scikit-learn classifier of the given kind (``logreg``, ``random-forest``, ...)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    if kind == "logreg":
        return LogisticRegression(max_iter=2000, random_state=seed)
    if kind == "random-forest":
        return RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1)
    if kind == "svm":
        return SVC(probability=True, random_state=seed)
    if kind == "knn":
        return KNeighborsClassifier(n_neighbors=3)
    if kind == "mlp":
        return MLPClassifier(hidden_layer_sizes=(64,), max_iter=1000, random_state=seed)
    raise ValueError(f"unknown classifier {kind!r}")


class ClassificationApplication(Application):
    """Train a scikit-learn classifier; report accuracy and macro F1 on the test records."""

    Params = ClassificationParams
    metric = "accuracy"

    def _features(self, ds: Dataset, context) -> np.ndarray:
        if self.params.features == "embedder":
            return context.embed(ds.records)
        return np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in ds.records])

    def evaluate(self, train: Dataset, test: Dataset, *, seed: int, context) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X, y = self._features(train, context), np.asarray([label_key(v) for v in train.labels()])
        Xt, yt = self._features(test, context), np.asarray([label_key(v) for v in test.labels()])
        if len(set(y.tolist())) < 2:
            # one class only: the model predicts it everywhere
            pred = np.full(len(yt), y[0])
        else:
            clf = make_classifier(self.params.model, seed)
            model = make_pipeline(StandardScaler(), clf) if self.params.standardize else clf
            model.fit(X, y)
            pred = model.predict(Xt)
        return {"accuracy": float(accuracy_score(yt, pred)),
                "macro_f1": float(f1_score(yt, pred, average="macro"))}
