"""gda-medical's ``gda bench`` suite: 3-D phantom segmentation (no heavy import here)."""

from __future__ import annotations

import json

from gda_core.bench import (
    DownstreamModel,
    Method,
    Suite,
    family_method,
    selector_method,
    selector_methods,
    self_train_gen_method,
    standard_methods,
)

M2I = "generators:medical.mask2image"
MASKS = {"shift": 0.1, "scale": 0.1, "elastic": 1.0}
PIX2PIX = {"name": "medical.pix2pix", "params": {"channels": [16, 32, 64], "disc_channels": 16, "lr": 1e-3,
                                                 "lr_d": 1e-3, "batch_size": 4, **MASKS}}
"""Chosen on phantoms of run seed 100 (no bench seed): learning rate 1e-3 against pix2pix's 2e-4 (held-out L1
0.12 against 0.21 after the suite's 300 + 150 steps), the wider generator for the mask contrast (0.62 against 0.58)."""
VAE3D = {"name": "medical.vae3d", "params": {"channels": [8, 16, 16], "latent_dim": 32, "batch_size": 4}}
"""Chosen on phantoms of run seed 100: the narrow network (mask contrast 0.43; [16, 32, 64] 0.38)."""


SEG = {"channels": [8, 16, 32], "steps": 150, "batch_size": 4, "patch_size": [16, 16, 16]}
"""The example's segmentation UNet: the suite's strong downstream model and its self-training labeller."""
PSEUDO_MASK = {"name": "medical.pseudo-mask", "params": {"segmenter": SEG, "keep": 0.25}}
"""The ``self-train`` labeller: the strong downstream UNet trained on the labelled pairs, the most confident
quarter of the pool (4 of 16 volumes) kept as pseudo-pairs. ``keep`` chosen on run seeds 100 and 101 (no bench
seed) with 8 validation phantoms carved from each seed's training stream beside the 4 labelled ones (the test
split never drawn): the strong UNet's validation Dice on labelled + pseudo-pairs, mean of the two seeds, 0.870
at keep 0.25, 0.867 at 0.5 and 0.75, 0.865 at 1.0, against 0.853 for the labelled pairs alone."""


DPT = {"name": "medical.pseudo-mask", "params": {**PSEUDO_MASK["params"], "pretrain_steps": 300, "finetune_steps": 150}}
"""``self-train + gen pseudo-mask``'s strategy: the ``self-train`` pseudo-pairs, the suite's pretraining and
fine-tuning steps, fine-tuning on labelled + pseudo-pairs (dual pseudo training's generator stage)."""


def phantoms_suite() -> Suite:
    """4 labelled 16^3 phantoms (MONAI's synthetic spheres; each run seed draws new ones) and 16
    phantoms without masks as the unlabelled pool, the method of ``examples/phantoms.yaml``: a
    mask-conditioned MONAI diffusion model pretrained on the pool's images and fine-tuned on the
    labelled pairs (``core.pretrain-finetune``) makes image + label pairs from perturbed real masks;
    near-copy, MS-SSIM realism and de-duplication selection; MONAI's classical augmentation as
    baseline. Variants: the model trained on the labelled pairs alone, non-leaking flip augmentation,
    strength 0.6 from each mask's own image. The GAN and VAE families, trained the same way (pool
    pretraining, then fine-tuning on the labelled pairs, the same steps, counts and selectors):
    ``medical.pix2pix`` drawing images for the same perturbed real masks, ``medical.vae3d`` drawing
    image + label pairs from its fitted latent prior. Dice of the example's 3-D UNet downstream, and of
    a smaller, shorter-trained UNet. ``self-train``: segmentation self-training (``medical.pseudo-mask``,
    :data:`PSEUDO_MASK`: the example's UNet trained on the labelled pairs segments the pool, its most
    confident volumes become pseudo-pairs); ``self-train + gen``: labelled + those pseudo-pairs + the
    suite's kept synthetic pairs (before selection and after the chain), and + those of the model trained on
    the labelled pairs alone (``gen from labelled only``'s generation)."""
    seg = SEG
    return Suite(
        name="phantoms",
        summary="4 labelled 3-D phantoms + 16 unlabelled, medical.mask2image pretrained on the pool (and pix2pix, "
                "vae3d); Dice of two UNets",
        config={
            "dataset": {"name": "medical.phantoms", "params": {
                "size": 16, "n_train": 4, "n_test": 8, "num_objs": 6, "noise_max": 0.3, "n_pool": 16}},
            "strategy": {"name": "core.pretrain-finetune", "params": {"pretrain_steps": 300, "finetune_steps": 150}},
            "generator": {"name": "medical.mask2image", "params": {
                "channels": [8, 16, 16], "steps": 300, "batch_size": 4, "inference_steps": 20, **MASKS}},
            "generate": {"per_class": 12, "shard_size": 12},
            "selectors": ["core.near-copy", {"name": "medical.realism", "params": {"keep": 0.75}},
                          {"name": "core.dedup", "params": {"real_ratio": 0.05, "self_ratio": 0.0}}],
            "baselines": ["medical.classical"],
            "application": {"name": "medical.segmentation", "params": seg},
            "embedder": "medical.pooled",
        },
        downstream=[
            DownstreamModel("unet", {"name": "medical.segmentation", "params": seg}, strong=True),
            DownstreamModel("unet-small", {"name": "medical.segmentation", "params": {
                "channels": [4, 8], "steps": 75, "batch_size": 4, "patch_size": [16, 16, 16]}}),
        ],
        methods=standard_methods(
            Method("gen from labelled only", "generative", stage="both", overrides=("strategy={name: core.train}",),
                   summary="mask2image trained on the labelled pairs only"),
            Method("gen augmentation", "generative", stage="both", overrides=("generator.params.augment=[flip]",),
                   requires=(f"{M2I}#augment",), summary="non-leaking flip augmentation in training"),
            Method("gen strength 0.6", "generative", stage="both",
                   overrides=("generator.params.strength=0.6", "generator.params.perturb=false"),
                   requires=(f"{M2I}#strength",), summary="each mask's own image noised to 0.6 and denoised"),
            family_method("gen pix2pix", "gan", PIX2PIX, quick={"channels": [8, 8], "disc_channels": 8},
                          sweep=False, summary="mask-conditioned GAN (pix2pix: MONAI UNet + PatchDiscriminator), "
                          "pool-pretrained"),
            family_method("gen vae3d", "vae", VAE3D, quick={"channels": [8, 8], "latent_dim": 8}, sweep=False,
                          summary="joint image + label VAE (MONAI VarAutoEncoder), fitted latent prior, "
                          "pool-pretrained"),
            *selector_methods(confidence=False, dedup={"real_ratio": 0.05, "self_ratio": 0.0}, extra=(
                selector_method("realism", {"name": "medical.realism", "params": {"keep": 0.75}},
                                summary="the 75% of pairs whose volume is most similar (MS-SSIM) to a real one"),)),
            self_train_gen_method(stage="both", summary="labelled + pseudo-pairs (as self-train) + the kept "
                                  "mask2image pairs, whose perturbed masks self-training cannot produce"),
            Method("self-train + gen pseudo-mask", "generative", stage="both", self_train=True,
                   overrides=("strategy=" + json.dumps(DPT, sort_keys=True),),
                   quick=("strategy.params.segmenter.steps=30",),
                   summary="DPT's loop for segmentation: mask2image pool-pretrained, then fine-tuned on labelled + "
                           "the self-train pseudo-pairs (medical.pseudo-mask); + those pseudo-pairs"),
            Method("self-train + gen from labelled only", "generative", stage="both",
                   overrides=("strategy={name: core.train}",), self_train=True,
                   summary="labelled + pseudo-pairs + the pairs of mask2image trained on the labelled pairs only "
                           "(the generation of gen from labelled only)"),
            family="diffusion",
        ),
        labeller=PSEUDO_MASK,
        quick_labeller={"name": "medical.pseudo-mask", "params": {"segmenter": {**SEG, "steps": 30}, "keep": 0.25}},
        quick=("dataset.params.n_test=6", "dataset.params.n_pool=4", "generator.params.steps=30",
               "strategy.params.pretrain_steps=30", "strategy.params.finetune_steps=15",
               "generator.params.inference_steps=4", "generate.per_class=4", "generator.params.channels=[8, 8, 8]"),
        quick_ratios=(0.5, 1.0, 2.0),
        quick_downstream=[
            DownstreamModel("unet", {"name": "medical.segmentation", "params": {**seg, "steps": 30}}, strong=True),
            DownstreamModel("unet-small", {"name": "medical.segmentation", "params": {
                "channels": [4, 8], "steps": 20, "batch_size": 4, "patch_size": [8, 8, 8]}}),
        ],
        memory_gb=4.0,
    )
