"""gda-vision's ``gda bench`` suite: 5-shot digits (no heavy import here: ``--list`` loads it)."""

from __future__ import annotations

import os

from gda_core.bench import (
    Method,
    Suite,
    family_method,
    linear_and_svm,
    selector_method,
    selector_methods,
    standard_methods,
)

DDPM = "generators:vision.ddpm"
CLIP_MODEL_ENV = "GDA_BENCH_CLIP_MODEL"
"""``gda bench digits`` runs the CLIP filter's selector-table row when this names a local CLIP checkpoint
(transformers ``CLIPModel`` folder; no hub download at run time)."""


def clip_method() -> Method:
    """The CLIP filter alone on the digits generation (the half of each class most similar to
    "a handwritten digit N"), with the checkpoint at ``$GDA_BENCH_CLIP_MODEL``; listed as not run
    while it is unset."""
    params = {"model": os.environ.get(CLIP_MODEL_ENV) or "unset", "prompt": "a handwritten digit {label}",
              "keep": 0.5}
    return selector_method("CLIP filter", {"name": "vision.clip-filter", "params": params},
                           requires=(f"env:{CLIP_MODEL_ENV}",),
                           summary="the half of each class closest to its class prompt in CLIP space")

GAN = {"name": "vision.gan", "params": {"width": 32, "latent_dim": 64, "train_steps": 1500, "batch_size": 64,
                                        "diffaugment": []}}
"""DiffAugment off: the generator learns from the pseudo-labelled pool (about a thousand images), where
it collapsed the GAN. Chosen on digits' training split of run seed 100 (``benchmarks/gan_settings_digits.py
--width 32``: 900 images fit, the rest of that training split the reference, never a bench test split):
PRDC precision 0.97 / recall 0.08 with DiffAugment, 0.97 / 0.61 without."""
VAE = {"name": "vision.vae", "params": {"block_out_channels": [32, 32, 32], "train_steps": 1500, "batch_size": 64,
                                        "prior": "class-gaussian", "kl_weight": 0.1}}
GMM = {"name": "core.gmm", "params": {"n_components": 3, "covariance_type": "diag"}}
TINY_QUICK = {"train_steps": 40, "batch_size": 32}


def family_methods() -> list[Method]:
    """The GMM, VAE and GAN families, trained like the DDPM (the suite's diffusion family): the same
    pseudo-labelled pool, counts and near-copy selection, each with its own ratio sweep."""
    return [
        family_method("gen gmm", "gmm", GMM, summary="core.gmm on the pixels (3 diagonal components per class)"),
        family_method("gen vae", "vae", VAE, quick={**TINY_QUICK, "block_out_channels": [8, 8, 8],
                                                    "norm_num_groups": 4},
                      summary="vision.vae [32, 32, 32], KL 0.1, 1500 steps, per-class Gaussian prior"),
        family_method("gen gan", "gan", GAN, quick={**TINY_QUICK, "width": 8, "latent_dim": 16},
                      summary="vision.gan (SN projection discriminator, hinge, EMA; DiffAugment off), 1500 steps"),
    ]


LEARNER = {"name": "core.learner-agree", "params": {"features": "raw", "labeller": "label-spreading",
                                                   "pool_keep": 0.8, "model": "svm", "threshold": 0.5}}
"""DPT's filter for digits: the learner is an RBF SVM on real + the pool labelled as the suite's
strategy labels it (label spreading on pixels, the most confident 80%); a sample stays when that
learner assigns it to its own digit with probability at least 0.5 (the default, not tuned)."""


def dpt_methods() -> list[Method]:
    """DPT's third stage with its filter: real + pseudo-labelled pool + the generated samples that
    the semi-supervised learner assigns to their own digit (after near-copies are dropped), once
    with the pool labelled once and once after the suite's iterated self-training rounds (the
    same generation as ``gen``: only selection reruns); the DDPM refitted on the iterated labels
    (DPT's loop a second time); generation aimed where self-training is
    weakest (SDEdit of the pool's least confident fifth towards its predicted digit, the same
    filter); and real + pseudo-labelled pool + SDEdit variations of real and pseudo-labelled images
    (``gen strength 0.5``'s generation)."""
    import json

    from gda_core.bench.suite import SELF_TRAIN_ROUNDS

    def chain(rounds: int) -> str:
        more = {"rounds": rounds, "refit_keep": 1.0} if rounds > 1 else {}
        learner = {**LEARNER, "params": {**LEARNER["params"], **more}}
        return "selectors=" + json.dumps([{"name": "core.near-copy", "params": {"space": "raw"}}, learner],
                                         sort_keys=True)

    x = f"x{SELF_TRAIN_ROUNDS}"
    return [
        Method("self-train + gen learner-agree", "generative", self_train=True, overrides=(chain(1),),
               requires=("selectors:core.learner-agree",),
               summary="DPT: real + pseudo-labelled pool + generated samples the SVM learner (real + pseudo) "
                       "assigns to their own digit with probability >= 0.5"),
        Method(f"self-train {x} + gen learner-agree", "generative", self_train=True, rounds=SELF_TRAIN_ROUNDS,
               overrides=(chain(SELF_TRAIN_ROUNDS),), requires=("selectors:core.learner-agree",),
               summary=f"the same after {SELF_TRAIN_ROUNDS} labelling rounds (pool and learner)"),
        Method(f"self-train {x} + gen refit", "generative", self_train=True, rounds=SELF_TRAIN_ROUNDS,
               overrides=(f"strategy.params.rounds={SELF_TRAIN_ROUNDS}", "strategy.params.refit_keep=1.0"),
               requires=("strategies:core.pseudo-label#rounds",),
               summary=f"DPT's loop again: the DDPM refitted on the pool as iterated self-training labels it "
                       f"({SELF_TRAIN_ROUNDS} rounds, the whole pool), its kept samples added to iterated "
                       f"self-training"),
        Method(f"self-train {x} + gen uncertain", "generative", self_train=True, rounds=SELF_TRAIN_ROUNDS,
               overrides=("strategy.params.uncertain_conditions=0.2", "generator.params.strength=0.5",
                          chain(SELF_TRAIN_ROUNDS)),
               requires=(f"{DDPM}#strength", "strategies:core.pseudo-label#uncertain_conditions",
                         "selectors:core.learner-agree"),
               summary=f"generation aimed where self-training is weakest: SDEdit (strength 0.5) of the least "
                       f"confident 20% of the pool towards its predicted digit, kept where the learner "
                       f"({SELF_TRAIN_ROUNDS} labelling rounds) agrees; real + iterated self-training + those"),
        Method("self-train + gen strength 0.5", "generative", self_train=True, stage="kept",
               overrides=("generator.params.strength=0.5",), requires=(f"{DDPM}#strength",),
               summary="real + pseudo-labelled pool + SDEdit variations (strength 0.5) of labelled and "
                       "pseudo-labelled images (the generation of gen strength 0.5)"),
    ]


def digits_suite() -> Suite:
    """5-shot handwritten digits (8x8, scikit-learn; the rest of the training split is the
    unlabelled pool), the method of ``examples/digits.yaml``: ``core.pseudo-label`` labels the pool
    by label spreading from the 50 shots (the most confident 80% kept), a class-conditional DDPM
    learns from labelled + pseudo-labelled images, 100 samples per class at guidance 1, near-copies
    of training images dropped. Self-training uses the same pseudo-labels with no generator, so a
    gain from the pool is not credited to generation. Variants: the DDPM from the 50 shots alone,
    pretraining on the pool, strength, interpolation, augmentation and copy-share checkpointing.
    Logistic regression and an RBF SVM on the pixels downstream; near-copies and PRDC in pixel space.
    The family methods (GMM, VAE, GAN) replace the DDPM with the same strategy, counts and selector."""
    return Suite(
        name="digits",
        summary="5-shot digits + unlabelled pool, core.pseudo-label + vision.ddpm; LR and RBF SVM on pixels",
        config={
            "dataset": {"name": "vision.digits", "params": {"k_shot": 5, "test_size": 0.3}},
            "strategy": {"name": "core.pseudo-label", "params": {
                "classifier": "label-spreading", "features": "raw", "keep": 0.8}},
            "generator": {"name": "vision.ddpm", "params": {
                "block_out_channels": [32, 64], "train_steps": 1500, "batch_size": 64, "learning_rate": 0.001,
                "guidance_scale": 1.0, "scheduler": "dpm-solver++", "num_inference_steps": 25}},
            "generate": {"per_class": 100, "shard_size": 500},
            "selectors": [{"name": "core.near-copy", "params": {"space": "raw"}}],
            "baselines": [{"name": "vision.classical", "params": {
                "hflip": 0.0, "rotate": 10, "translate": 0.1, "scale": 0.1, "noise": 0.02}}],
            "application": "core.classification",
            "embedder": "core.flatten",
        },
        downstream=linear_and_svm(),
        methods=standard_methods(
            *family_methods(),
            Method("gen from 50 shots", "generative", stage="both", overrides=("strategy={name: core.train}",
                                                                 "generator.params.guidance_scale=2.0"),
                   summary="the DDPM trained on the 50 labelled images only (guidance 2): round 1's method"),
            Method("gen pretrain-finetune", "generative", stage="both",
                   overrides=("strategy.name=core.pretrain-finetune",),
                   requires=("strategies:core.pretrain-finetune",),
                   summary="pretrained on the pool without labels, then fine-tuned on the 50 shots"),
            Method("gen strength 0.5", "generative", stage="both", overrides=("generator.params.strength=0.5",),
                   requires=(f"{DDPM}#strength",), summary="real-guided variation (SDEdit) at strength 0.5"),
            Method("gen interpolation", "generative", stage="both",
                   overrides=("generator.params.interpolate=true", "generator.params.strength=0.6"),
                   requires=(f"{DDPM}#interpolate",), summary="DDIM-inverted spherical latent interpolation"),
            Method("gen augmentation", "generative", stage="both", overrides=("generator.params.augment=0.5",),
                   requires=(f"{DDPM}#augment",), summary="non-leaking augmentation (p 0.5) in DDPM training"),
            Method("gen copy-checkpoint", "generative", stage="both",
                   overrides=("generator.params.checkpoint=copy-share",),
                   requires=(f"{DDPM}#checkpoint",), summary="weights picked by held-out copy share"),
            *dpt_methods(),
            *selector_methods(near_copy={"space": "raw"}, extra=(clip_method(),)),
            family="diffusion",
        ),
        quick=("generator.params.train_steps=80", "generator.params.block_out_channels=[16, 32]",
               "generator.params.batch_size=32", "generator.params.num_inference_steps=8",
               "generate.per_class=10"),
        features="core.flatten",
        memory_gb=2.0,
    )
