"""gda-medical's ``gda bench`` suite: 3-D phantom segmentation (no heavy import here)."""

from __future__ import annotations

from gda_core.bench import DownstreamModel, Method, Suite, standard_methods

M2I = "generators:medical.mask2image"


def phantoms_suite() -> Suite:
    """4 labelled 16^3 phantoms (MONAI's synthetic spheres; each run seed draws new ones) and 16
    phantoms without masks as the unlabelled pool, the method of ``examples/phantoms.yaml``: a
    mask-conditioned MONAI diffusion model pretrained on the pool's images and fine-tuned on the
    labelled pairs (``core.pretrain-finetune``) makes image + label pairs from perturbed real masks;
    near-copy, MS-SSIM realism and de-duplication selection; MONAI's classical augmentation as
    baseline. Variants: the model trained on the labelled pairs alone, non-leaking flip augmentation,
    strength 0.6 from each mask's own image. Dice of the example's 3-D UNet downstream, and of a
    smaller, shorter-trained UNet. Self-training is not run: segmentation has no pseudo-mask step."""
    seg = {"channels": [8, 16, 32], "steps": 150, "batch_size": 4, "patch_size": [16, 16, 16]}
    return Suite(
        name="phantoms",
        summary="4 labelled 3-D phantoms + 16 unlabelled, medical.mask2image pretrained on the pool; Dice of two UNets",
        config={
            "dataset": {"name": "medical.phantoms", "params": {
                "size": 16, "n_train": 4, "n_test": 8, "num_objs": 6, "noise_max": 0.3, "n_pool": 16}},
            "strategy": {"name": "core.pretrain-finetune", "params": {"pretrain_steps": 300, "finetune_steps": 150}},
            "generator": {"name": "medical.mask2image", "params": {
                "channels": [8, 16, 16], "steps": 300, "batch_size": 4, "inference_steps": 20,
                "shift": 0.1, "scale": 0.1, "elastic": 1.0}},
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
            self_train=False,
        ),
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
