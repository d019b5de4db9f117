"""Registers gda-signal's components (and nothing else)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gda_core import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

P = "gda_signal"


@hookimpl
def register_generators(register: Callable[[str, Any], None]) -> None:
    register("signal.diffusion1d", f"{P}.generators.diffusion1d:Diffusion1DGenerator")
    register("signal.classical", f"{P}.generators.classical:ClassicalAugmentation")
    register("signal.specdiff", f"{P}.generators.specdiff:SpecDiffGenerator")
    register("signal.timegan", f"{P}.generators.timegan:TimeGANGenerator")
    register("signal.vae1d", f"{P}.generators.vae1d:VAE1DGenerator")


@hookimpl
def register_validators(register: Callable[[str, Any], None]) -> None:
    register("signal.discriminative", f"{P}.validators.discriminative:DiscriminativeValidator")
    register("signal.predictive", f"{P}.validators.predictive:PredictiveValidator")


@hookimpl
def register_applications(register: Callable[[str, Any], None]) -> None:
    register("signal.classifier", f"{P}.applications.classifier:SignalClassifier")
    register("signal.mel-cnn", f"{P}.applications.melcnn:MelCNNClassifier")


@hookimpl
def register_selectors(register: Callable[[str, Any], None]) -> None:
    register("signal.noise-filter", f"{P}.selectors.noise:NoiseFilterSelector")


@hookimpl
def register_datasets(register: Callable[[str, Any], None]) -> None:
    register("signal.ucr", f"{P}.datasets:UCRDataset")
    register("signal.arrays", f"{P}.datasets:ArraysDataset")
    register("signal.audio", f"{P}.datasets:AudioFolderDataset")


@hookimpl
def register_embedders(register: Callable[[str, Any], None]) -> None:
    register("signal.embedder", f"{P}.embedders.signal_embedder:SignalEmbedder")


@hookimpl
def register_bench_suites(register: Callable[[str, Any], None]) -> None:
    register("gunpoint", f"{P}.bench_suites:gunpoint_suite")
    register("italypower", f"{P}.bench_suites:italypower_suite")
