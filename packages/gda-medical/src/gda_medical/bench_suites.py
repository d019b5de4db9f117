"""gda-medical's ``gda bench`` suite: 3-D phantom segmentation (no heavy import here)."""

from __future__ import annotations

from gda_core.bench import DownstreamModel, Suite, near_copy_method, standard_methods


def phantoms_suite() -> Suite:
    """8 labelled 32^3 phantoms (MONAI's synthetic spheres; each run seed draws new ones), a
    mask-conditioned MONAI diffusion model making image + label pairs from perturbed real masks,
    MS-SSIM realism and de-duplication selection, MONAI's classical augmentation as baseline;
    Dice of a 3-D UNet downstream, and of a smaller, shorter-trained UNet."""
    seg = {"channels": [8, 16, 32], "steps": 150, "batch_size": 4, "patch_size": [16, 16, 16]}
    return Suite(
        name="phantoms",
        summary="8 labelled 3-D phantoms, medical.mask2image; Dice of two 3-D UNets",
        config={
            "dataset": {"name": "medical.phantoms", "params": {
                "size": 32, "n_train": 8, "n_test": 16, "num_objs": 6, "noise_max": 0.3}},
            "generator": {"name": "medical.mask2image", "params": {
                "channels": [8, 16, 16], "steps": 400, "batch_size": 4, "inference_steps": 20,
                "shift": 0.1, "scale": 0.1, "elastic": 1.0}},
            "generate": {"per_class": 16, "shard_size": 8},
            "selectors": [{"name": "medical.realism", "params": {"keep": 0.75}},
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
            near_copy_method(),
            self_train=False,
        ),
        quick=("dataset.params.size=16", "dataset.params.n_train=4", "dataset.params.n_test=6",
               "generator.params.steps=30", "generator.params.inference_steps=4", "generate.per_class=4",
               "generator.params.channels=[8, 8, 8]"),
        quick_ratios=(0.5, 1.0, 2.0),
        quick_downstream=[
            DownstreamModel("unet", {"name": "medical.segmentation", "params": {**seg, "steps": 30}}, strong=True),
            DownstreamModel("unet-small", {"name": "medical.segmentation", "params": {
                "channels": [4, 8], "steps": 20, "batch_size": 4, "patch_size": [8, 8, 8]}}),
        ],
        memory_gb=4.0,
    )
