"""Registers gda-vision's components (and nothing else)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gda_core import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

P = "gda_vision"


@hookimpl
def register_generators(register: Callable[[str, Any], None]) -> None:
    register("vision.ddpm", f"{P}.generators.ddpm:ClassConditionalDDPMGenerator")
    register("vision.sd", f"{P}.generators.sd:StableDiffusionGenerator")
    register("vision.gan", f"{P}.generators.gan:ClassConditionalGANGenerator")
    register("vision.vae", f"{P}.generators.vae:ClassConditionalVAEGenerator")
    register("vision.classical", f"{P}.generators.classical:ClassicalAugmentationGenerator")


@hookimpl
def register_strategies(register: Callable[[str, Any], None]) -> None:
    register("vision.lora", f"{P}.strategies.lora:LoRAFineTune")


@hookimpl
def register_selectors(register: Callable[[str, Any], None]) -> None:
    register("vision.clip-filter", f"{P}.selectors.clip_filter:CLIPFilterSelector")


@hookimpl
def register_validators(register: Callable[[str, Any], None]) -> None:
    register("vision.fid", f"{P}.validators.fid:FIDValidator")


@hookimpl
def register_applications(register: Callable[[str, Any], None]) -> None:
    register("vision.cnn", f"{P}.applications.cnn:CNNClassificationApplication")


@hookimpl
def register_datasets(register: Callable[[str, Any], None]) -> None:
    register("vision.digits", f"{P}.datasets:DigitsDataset")
    register("vision.folder", f"{P}.datasets:ImageFolderDataset")


@hookimpl
def register_embedders(register: Callable[[str, Any], None]) -> None:
    register("vision.cnn-embedder", f"{P}.embedders.cnn:CNNEmbedder")
    register("vision.clip-embedder", f"{P}.embedders.clip:CLIPEmbedder")


@hookimpl
def register_bench_suites(register: Callable[[str, Any], None]) -> None:
    register("digits", f"{P}.bench_suites:digits_suite")
