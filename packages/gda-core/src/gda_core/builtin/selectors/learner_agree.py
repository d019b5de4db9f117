"""Learner agreement (DPT-style): keep synthetic samples that the semi-supervised learner, trained
on the labelled records plus the pseudo-labelled pool, gives their own label with confidence.

Dual pseudo training (You et al., NeurIPS 2023) trains a classifier on the partly labelled data,
a conditional generator on its pseudo-labels, and then the classifier on real + pseudo-labelled +
generated samples. This selector is the filter between the last two stages: the learner is the
one the third stage starts from (real + pseudo-labelled pool), not a classifier of the labelled
few (``core.confidence``), so it judges a sample by what the pool taught it.
"""

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


class LearnerAgreeParams(SelectorParams):
    threshold: float | None = Field(0.5, ge=0, le=1, description="keep samples to whose own label the learner "
                                    "gives at least this probability (None: no threshold; rank with keep)")
    agree: bool = Field(True, description="also drop samples whose most probable class under the learner is "
                        "not their own label")
    model: Literal["logreg", "svm", "knn", "mlp", "random-forest"] = Field(
        "svm", description="the learner fitted on labelled + pseudo-labelled records (standardised features)")
    labeller: Literal["logistic", "svm", "label-spreading", "self-training"] = Field(
        "label-spreading", description="how the pool is pseudo-labelled (core.pseudo-label's classifier)")
    pool_keep: float = Field(0.8, gt=0, le=1, description="share of the pool kept as pseudo-labelled "
                             "training records, most confident first (core.pseudo-label's keep)")
    rounds: int = Field(1, ge=1, le=10, description="labelling rounds (core.pseudo-label's rounds: iterated "
                        "self-training; rounds 2 and on retrain an RBF SVM, core.pseudo-label's refit)")
    refit_keep: float | None = Field(None, gt=0, le=1, description="share of the pool kept in rounds 2 and on "
                                     "(core.pseudo-label's refit_keep; default: pool_keep)")
    features: Literal["embedder", "raw"] = Field("embedder", description="where the learner and the labeller "
                                                 "work: the embedder's features or the raw values flattened")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class LearnerAgreeSelector(Selector):
    """Scores each synthetic sample by the probability that the learner trained on real +
    pseudo-labelled pool records (:func:`gda_core.builtin.pool.pseudo_label` with ``labeller``,
    ``pool_keep`` and ``rounds``) gives its intended class; keeps those at ``threshold`` or above
    (and, with ``agree``, only those the learner assigns to their own label). Without a pool the
    learner is trained on the labelled records alone. ``fitted_on_`` counts what it learned from."""

    Params = LearnerAgreeParams
    per_sample = True  # one fitted learner's probabilities: chunks score alike on any worker

    def fit(self, train: Dataset, context: RunContext) -> None:
        from sklearn.preprocessing import StandardScaler

        from gda_core.builtin.applications.classification import make_classifier
        from gda_core.builtin.pool import PseudoLabelParams, pseudo_label

        p = self.params
        self.scaler_ = None
        records = list(train.records)
        pool = getattr(context, "pool", None)
        pseudo: list[Record] = []
        if pool is not None and len(pool) > 0:
            params = PseudoLabelParams(classifier=p.labeller, features=p.features, keep=p.pool_keep,
                                       rounds=p.rounds, refit_keep=p.refit_keep)
            pseudo, _ = pseudo_label(train, pool, context, params, embedder=p.embedder)
        self.fitted_on_ = {"labelled": len(records), "pseudo_labelled": len(pseudo)}
        y = np.asarray([label_key(r.label) for r in records + pseudo])
        self.only_ = y[0] if len(set(y.tolist())) == 1 else None
        if self.only_ is not None:  # one class: its probability is 1 everywhere
            self.model_ = None
            return
        X = self._features(records + pseudo, context)
        self.scaler_ = StandardScaler().fit(X)
        clf = make_classifier(p.model, context.seed, probability=True, n_train=len(y))
        self.model_ = clf.fit(self.scaler_.transform(X), y)

    def _features(self, records: Sequence[Record], context: RunContext) -> np.ndarray:
        from gda_core.builtin.pool import _features

        X = _features(list(records), context, self.params.features, self.params.embedder)
        return self.scaler_.transform(X) if getattr(self, "scaler_", None) is not None else X

    def _proba(self, synthetic: Sequence[Record], context: RunContext) -> tuple[np.ndarray, np.ndarray]:
        """Each sample's own-label probability and whether it is the learner's most probable class."""
        if getattr(self, "only_", None) is not None:
            own = np.asarray([label_key(r.label) == self.only_ for r in synthetic])
            return own.astype(float), own
        proba = self.model_.predict_proba(self._features(synthetic, context))
        classes = [str(c) for c in self.model_.classes_]
        col = np.asarray([classes.index(label_key(r.label)) if label_key(r.label) in classes else -1
                          for r in synthetic], dtype=int)
        rows = np.arange(len(synthetic))
        own = np.where(col >= 0, proba[rows, np.maximum(col, 0)], 0.0)
        return own, (col >= 0) & (proba.argmax(axis=1) == col)

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        if not synthetic:
            return np.zeros(0)
        return self._proba(synthetic, context)[0]

    def select(self, scores: np.ndarray, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        keep = super().select(scores, synthetic, context)
        if self.params.agree and len(synthetic):
            keep &= self._proba(synthetic, context)[1]
        return keep
