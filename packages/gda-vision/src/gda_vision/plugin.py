"""Registers gda-vision's components (and nothing else)."""

from __future__ import annotations

from gda_core import hookimpl

P = "gda_vision"


@hookimpl
def register_generators(register):
    register("vision.ddpm", f"{P}.generators.ddpm:ClassConditionalDDPMGenerator")
    register("vision.sd", f"{P}.generators.sd:StableDiffusionGenerator")
    register("vision.classical", f"{P}.generators.classical:ClassicalAugmentationGenerator")


@hookimpl
def register_strategies(register):
    register("vision.lora", f"{P}.strategies.lora:LoRAFineTune")


@hookimpl
def register_selectors(register):
    register("vision.clip-filter", f"{P}.selectors.clip_filter:CLIPFilterSelector")


@hookimpl
def register_validators(register):
    register("vision.fid", f"{P}.validators.fid:FIDValidator")


@hookimpl
def register_applications(register):
    register("vision.cnn", f"{P}.applications.cnn:CNNClassificationApplication")


@hookimpl
def register_datasets(register):
    register("vision.digits", f"{P}.datasets:DigitsDataset")
    register("vision.folder", f"{P}.datasets:ImageFolderDataset")


@hookimpl
def register_embedders(register):
    register("vision.cnn-embedder", f"{P}.embedders.cnn:CNNEmbedder")
    register("vision.clip-embedder", f"{P}.embedders.clip:CLIPEmbedder")


@hookimpl
def register_bench_suites(register):
    register("digits", f"{P}.bench_suites:digits_suite")
