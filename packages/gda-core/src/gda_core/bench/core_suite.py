"""The ``core`` bench suite: 5-shot wine with a Gaussian mixture, and the GAN and VAE families
(CTGAN, TVAE) trained the same way (about a minute without them)."""

from __future__ import annotations

from .suite import (
    Suite,
    family_method,
    keep_sweeps,
    linear_and_svm,
    near_copy_method,
    pool_methods,
    selector_methods,
    standard_methods,
)

TABULAR_QUICK = {"epochs": 5, "batch_size": 20, "embedding_dim": 16}


def core_suite() -> Suite:
    """5-shot wine (scikit-learn), a per-class Gaussian mixture, confidence + de-duplication
    selection, Gaussian jitter of the real records (``core.kde``, bandwidth 0.3 in standardised
    units) as the classical baseline, logistic regression and an RBF SVM downstream. The family
    methods replace the mixture by ``core.ctgan`` (GAN) and ``core.tvae`` (VAE), one model per
    class, with the same data, strategy, counts and selectors, each with its own ratio sweep
    (tables have no diffusion generator in GDA). The selector table: each core selector alone on
    the mixture's generation, and a sweep of the parameter that decides how much each keeps."""
    return Suite(
        name="core",
        summary="5-shot wine, core.gmm, and the GAN / VAE families (core.ctgan, core.tvae); LR and RBF SVM",
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
        methods=standard_methods(
            pool_methods()[0], near_copy_method(),
            family_method("gen ctgan", "gan", {"name": "core.ctgan", "params": {"epochs": 300, "batch_size": 100}},
                          quick={**TABULAR_QUICK, "generator_dim": [32], "discriminator_dim": [32]},
                          requires=("import:ctgan",), summary="CTGAN (SDV ctgan), one per class, 300 epochs"),
            family_method("gen tvae", "vae", {"name": "core.tvae", "params": {"epochs": 300, "batch_size": 100}},
                          quick={**TABULAR_QUICK, "compress_dims": [32], "decompress_dims": [32]},
                          requires=("import:ctgan",), summary="TVAE (SDV ctgan), one per class, 300 epochs"),
            *selector_methods(), *keep_sweeps(),
            family="gmm"),
    )
