"""The core's scikit-learn classifiers use supported APIs only (no deprecation warnings)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gda_core.builtin.applications.classification import make_classifier


@pytest.mark.parametrize("counts", [(5, 6, 1), (6, 6), (11, 1)])
def test_svm_probabilities_without_deprecated_api(counts):
    rng = np.random.default_rng(0)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    X = rng.normal(size=(len(y), 3)) + y[:, None] * 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FutureWarning of SVC(probability=True) would fail here
        model = make_classifier("svm", 0, probability=True).fit(X, y)
        proba = model.predict_proba(X)
    assert proba.shape == (len(y), len(counts))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == list(range(len(counts)))
    # well separated classes: the largest probability is the record's own class for most records
    assert (proba.argmax(axis=1) == y).mean() > 0.8


def test_svm_for_prediction_only_is_a_plain_svc():
    from sklearn.svm import SVC

    assert type(make_classifier("svm", 0)) is SVC
