"""The ``core`` bench suite: torch-free, 5-shot wine with a Gaussian mixture (about a minute)."""

from __future__ import annotations

from .suite import Suite, linear_and_svm, near_copy_method, pool_methods, standard_methods


def core_suite() -> Suite:
    """5-shot wine (scikit-learn), a per-class Gaussian mixture, confidence + de-duplication
    selection, Gaussian jitter of the real records (``core.kde``, bandwidth 0.3 in standardised
    units) as the classical baseline, logistic regression and an RBF SVM downstream."""
    return Suite(
        name="core",
        summary="5-shot wine, core.gmm; logistic regression and RBF SVM (torch-free)",
        config={
            "dataset": {"name": "core.wine", "params": {"k_shot": 5}},
            "generator": {"name": "core.gmm", "params": {"n_components": 2, "covariance_type": "diag"}},
            "generate": {"per_class": 20, "shard_size": 60},
            "selectors": [{"name": "core.confidence", "params": {"threshold": 0.5}}, "core.dedup"],
            "baselines": [{"name": "core.kde", "params": {"bandwidth": 0.3}}],
            "application": "core.classification",
            "embedder": "core.standardize",
        },
        downstream=linear_and_svm(),
        methods=standard_methods(pool_methods()[0], near_copy_method()),
    )
