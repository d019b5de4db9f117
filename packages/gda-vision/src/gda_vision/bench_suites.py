"""gda-vision's ``gda bench`` suite: 5-shot digits (no heavy import here: ``--list`` loads it)."""

from __future__ import annotations

from gda_core.bench import Method, Suite, linear_and_svm, near_copy_method, pool_methods, standard_methods

DDPM = "generators:vision.ddpm"


def digits_suite() -> Suite:
    """5-shot handwritten digits (8x8, scikit-learn; the rest of the training split is the
    unlabelled pool), a class-conditional DDPM from scratch, cluster-diversity and confidence
    selection, the classical affine + noise baseline; logistic regression and an RBF SVM on
    the pixels downstream. Near-copies and PRDC are measured in pixel space."""
    return Suite(
        name="digits",
        summary="5-shot digits, vision.ddpm; logistic regression and RBF SVM on pixels",
        config={
            "dataset": {"name": "vision.digits", "params": {"k_shot": 5, "test_size": 0.3}},
            "generator": {"name": "vision.ddpm", "params": {
                "block_out_channels": [32, 64], "train_steps": 1500, "batch_size": 64, "learning_rate": 0.001,
                "guidance_scale": 2.0, "scheduler": "dpm-solver++", "num_inference_steps": 25}},
            "generate": {"per_class": 20, "shard_size": 100},
            "selectors": [{"name": "core.cluster", "params": {"keep": 0.75}},
                          {"name": "core.confidence", "params": {"threshold": None, "keep": 0.8}}],
            "baselines": [{"name": "vision.classical", "params": {
                "hflip": 0.0, "rotate": 10, "translate": 0.1, "scale": 0.1, "noise": 0.02}}],
            "application": "core.classification",
            "embedder": "core.flatten",
        },
        downstream=linear_and_svm(),
        methods=standard_methods(
            *pool_methods("generator.params.guidance_scale=1.0"),
            near_copy_method(),
            Method("gen strength 0.5", "generative", overrides=("generator.params.strength=0.5",),
                   requires=(f"{DDPM}#strength",), summary="real-guided variation (SDEdit) at strength 0.5"),
            Method("gen interpolation", "generative",
                   overrides=("generator.params.interpolate=true", "generator.params.strength=0.6"),
                   requires=(f"{DDPM}#interpolate",), summary="DDIM-inverted spherical latent interpolation"),
            Method("gen augmentation", "generative", overrides=("generator.params.augment=0.5",),
                   requires=(f"{DDPM}#augment",), summary="non-leaking augmentation (p 0.5) in DDPM training"),
            Method("gen copy-checkpoint", "generative", overrides=("generator.params.checkpoint=copy-share",),
                   requires=(f"{DDPM}#checkpoint",), summary="weights picked by held-out copy share"),
        ),
        quick=("generator.params.train_steps=80", "generator.params.block_out_channels=[16, 32]",
               "generator.params.batch_size=32", "generator.params.num_inference_steps=8",
               "generate.per_class=10"),
        features="core.flatten",
        memory_gb=2.0,
    )
