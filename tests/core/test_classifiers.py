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


@pytest.mark.parametrize("counts", [(5, 6, 1), (6, 6)])
def test_svm_probabilities_inside_a_pipeline(counts, tmp_path):
    """core.confidence puts the SVM behind a StandardScaler in a scikit-learn Pipeline, whose
    predict_proba checks the wrapper is a fitted estimator (issue 23's fuzz: AttributeError
    '__sklearn_tags__' on every core.confidence with model: svm)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import gda_core

    rng = np.random.default_rng(0)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    X = rng.normal(size=(len(y), 3)) + y[:, None] * 2.0
    model = make_pipeline(StandardScaler(), make_classifier("svm", 0, probability=True)).fit(X, y)
    assert model.predict_proba(X).shape == (len(y), len(counts))
    cfg = {"seed": 0, "dataset": {"name": "core.wine", "params": {"k_shot": 8}}, "generator": "core.kde",
           "generate": {"per_class": 6}, "validators": ["core.prdc"],
           "selectors": [{"name": "core.confidence", "params": {"model": "svm", "threshold": 0.5}}]}
    res = gda_core.run(cfg, tmp_path / "run", quiet=True)
    assert all(0 <= r.provenance.scores["core.confidence"] <= 1 for r in res.synthetic)


def test_every_package_bounds_scikit_learn_to_the_tested_range():
    """Each pyproject that needs scikit-learn allows only the tested >=1.6,<1.11 (1.11 removes
    SVC(probability=True)-era APIs; a package's looser bound would let pip pick an untested one)."""
    import re
    from pathlib import Path

    import tomllib

    root = Path(__file__).resolve().parents[2]
    specs = {}
    for pyproject in [*root.glob("packages/*/pyproject.toml"), *root.glob("templates/*/pyproject.toml")]:
        project = tomllib.loads(pyproject.read_text())["project"]
        deps = [*project.get("dependencies", []), *sum(project.get("optional-dependencies", {}).values(), [])]
        for dep in deps:
            if re.match(r"scikit-learn\b", dep):
                specs[pyproject.parent.name] = dep.replace(" ", "")
    assert "gda-core" in specs, specs
    assert set(specs.values()) == {"scikit-learn>=1.6,<1.11"}, specs


def test_no_code_uses_the_deprecated_svc_probability():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    deprecated = re.compile(r"(?<!`)SVC\((?:[^)]*, *)?probability=True")  # code, not a ``quoted`` name
    offenders = [str(p.relative_to(root)) for folder in ("packages", "experiments", "benchmarks", "templates")
                 for p in (root / folder).rglob("*.py") if deprecated.search(p.read_text())]
    assert offenders == []
