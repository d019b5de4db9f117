"""Classifier confidence: keep synthetic samples a real-data classifier gives their intended class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core.components import Selector, SelectorParams
from gda_core.records import label_key

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class ConfidenceParams(SelectorParams):
    threshold: float | None = Field(0.5, description="keep samples whose intended-class probability is at least this "
                                    "(with one class, the probability is 1)")
    model: Literal["logreg", "random-forest", "svm", "knn", "mlp"] = Field("logreg", description="classifier")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class ClassifierConfidenceSelector(Selector):
    """A classifier fitted on the real training features scores each synthetic sample by
    the probability it gives the sample's intended class (LAMBADA's filter)."""

    Params = ConfidenceParams
    per_sample = True  # each sample's probability alone: chunks are scored on the executor's workers

    def fit(self, train: Dataset, context: RunContext) -> None:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from gda_core.builtin.applications.classification import make_classifier

        y = np.asarray([label_key(v) for v in train.labels()])
        self.only_ = y[0] if len(set(y.tolist())) == 1 else None
        if self.only_ is not None:  # one class: a classifier of it gives it probability 1 everywhere
            self.model_ = None
            return
        X = context.embed(train.records, self.params.embedder)
        clf = make_classifier(self.params.model, context.seed, probability=True, n_train=len(y))
        self.model_ = make_pipeline(StandardScaler(), clf).fit(X, y)

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        if getattr(self, "only_", None) is not None:
            return np.asarray([1.0 if label_key(r.label) == self.only_ else 0.0 for r in synthetic])
        X = context.embed(synthetic, self.params.embedder)
        proba = self.model_.predict_proba(X)
        classes = list(self.model_.classes_)
        col = [classes.index(label_key(r.label)) if label_key(r.label) in classes else -1 for r in synthetic]
        return np.asarray([proba[i, c] if c >= 0 else 0.0 for i, c in enumerate(col)])
