"""Registers gda-medical's components (and nothing else)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gda_core import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

P = "gda_medical"


@hookimpl
def register_generators(register: Callable[[str, Any], None]) -> None:
    register("medical.ddpm3d", f"{P}.generators.ddpm3d:DDPM3DGenerator")
    register("medical.mask2image", f"{P}.generators.mask2image:Mask2ImageGenerator")
    register("medical.ldm3d", f"{P}.generators.ldm3d:LatentDiffusion3DGenerator")
    register("medical.pix2pix", f"{P}.generators.pix2pix:Pix2PixGenerator")
    register("medical.vae3d", f"{P}.generators.vae3d:VAE3DGenerator")
    register("medical.classical", f"{P}.generators.classical:ClassicalAugmentation")


@hookimpl
def register_strategies(register: Callable[[str, Any], None]) -> None:
    register("medical.pseudo-mask", f"{P}.strategies.pseudo_masks:PseudoMaskStrategy")


@hookimpl
def register_selectors(register: Callable[[str, Any], None]) -> None:
    register("medical.realism", f"{P}.selectors.realism:RealismSelector")


@hookimpl
def register_validators(register: Callable[[str, Any], None]) -> None:
    register("medical.mmd", f"{P}.validators.mmd:VolumeMMDValidator")
    register("medical.msssim-diversity", f"{P}.validators.msssim_diversity:MSSSIMDiversityValidator")


@hookimpl
def register_applications(register: Callable[[str, Any], None]) -> None:
    register("medical.segmentation", f"{P}.applications.segmentation:SegmentationApplication")


@hookimpl
def register_datasets(register: Callable[[str, Any], None]) -> None:
    register("medical.phantoms", f"{P}.datasets:PhantomsDataset")
    register("medical.nifti", f"{P}.datasets:NiftiDataset")


@hookimpl
def register_embedders(register: Callable[[str, Any], None]) -> None:
    register("medical.pooled", f"{P}.embedders:PooledVolumeEmbedder")


@hookimpl
def register_bench_suites(register: Callable[[str, Any], None]) -> None:
    register("phantoms", f"{P}.bench_suites:phantoms_suite")
