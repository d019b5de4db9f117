"""Classification with scikit-learn models, the core's downstream task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core.components import Application, Params
from gda_core.errors import NotApplicable
from gda_core.records import Dataset, label_key

if TYPE_CHECKING:
    from typing import Any

    from gda_core.context import RunContext


class ClassificationParams(Params):
    model: Literal["logreg", "random-forest", "svm", "knn", "mlp"] = Field(
        "logreg", description="scikit-learn classifier trained by validators")
    features: Literal["raw", "embedder"] = Field(
        "raw", description="flattened samples, or the run's embedder")
    standardize: bool = Field(True, description="scale features before the model")


class CalibratedSVC:
    """An RBF SVM with probabilities: scikit-learn's supported replacement of the deprecated
    ``SVC(probability=True)`` (removed in 1.11), ``CalibratedClassifierCV(SVC(), ensemble=False)``.

    The cross-validation folds are chosen at fit time from the smallest class (at most 5, as
    libsvm's own probability estimate used). With one record in some class no fold split exists:
    probabilities are then a softmax of the SVM's one-vs-rest decision values (a sigmoid for two
    classes), uncalibrated but ordered as the SVM's decisions.
    """

    def __init__(self, random_state: int | None = None) -> None:
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, int | None]:
        return {"random_state": self.random_state}

    def set_params(self, **params: int | None) -> CalibratedSVC:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def __sklearn_tags__(self) -> Any:
        """An SVC's tags (a classifier that must be fitted), so that scikit-learn's checks (a
        ``Pipeline``'s ``predict_proba`` asks ``check_is_fitted``) accept this wrapper; sklearn is
        imported only here, not with the module."""
        from sklearn.svm import SVC

        return SVC().__sklearn_tags__()

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def fit(self, X: np.ndarray, y: np.ndarray) -> CalibratedSVC:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        folds = int(min(5, np.unique(y, return_counts=True)[1].min()))
        if folds >= 2:
            self.model_ = CalibratedClassifierCV(SVC(random_state=self.random_state), cv=folds, ensemble=False)
        else:
            self.model_ = SVC(random_state=self.random_state)
        self.model_.fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if hasattr(self.model_, "predict_proba"):
            return self.model_.predict_proba(X)
        d = np.asarray(self.model_.decision_function(X), dtype=float)
        if d.ndim == 1:
            p1 = 1.0 / (1.0 + np.exp(-d))
            return np.column_stack([1.0 - p1, p1])
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X)


def make_classifier(kind: str, seed: int, *, probability: bool = False, n_train: int | None = None) -> Any:
    """A scikit-learn classifier of the given kind (``logreg``, ``random-forest``, ...).

    ``probability``: the caller needs ``predict_proba`` (the SVM is then calibrated by
    cross-validation, :class:`CalibratedSVC`; the other kinds have it anyway). ``knn`` asks for at
    most ``n_train`` neighbours (3 by default)."""
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
        return CalibratedSVC(random_state=seed) if probability else SVC(random_state=seed)
    if kind == "knn":
        return KNeighborsClassifier(n_neighbors=max(1, min(3, n_train or 3)))
    if kind == "mlp":
        return MLPClassifier(hidden_layer_sizes=(64,), max_iter=1000, random_state=seed)
    raise ValueError(f"unknown classifier {kind!r}")


class ClassificationApplication(Application):
    """Train a scikit-learn classifier; report accuracy and macro F1 on the test records."""

    data_kind = "arrays"
    Params = ClassificationParams
    metric = "accuracy"

    def _features(self, ds: Dataset, context) -> np.ndarray:
        if self.params.features == "embedder":
            return context.embed(ds.records)
        return np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in ds.records])

    def evaluate(self, train: Dataset, test: Dataset, *, seed: int, context: RunContext) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X, y = self._features(train, context), np.asarray([label_key(v) for v in train.labels()])
        Xt, yt = self._features(test, context), np.asarray([label_key(v) for v in test.labels()])
        if X.shape[1:] != Xt.shape[1:]:
            raise NotApplicable(f"{self.name}: training samples have {X.shape[1]} features, test samples "
                                f"{Xt.shape[1]}")
        if len(set(y.tolist())) < 2:
            # one class only: the model predicts it everywhere
            pred = np.full(len(yt), y[0])
        else:
            clf = make_classifier(self.params.model, seed, n_train=len(y))
            model = make_pipeline(StandardScaler(), clf) if self.params.standardize else clf
            model.fit(X, y)
            pred = model.predict(Xt)
        return {"accuracy": float(accuracy_score(yt, pred)),
                "macro_f1": float(f1_score(yt, pred, average="macro"))}
