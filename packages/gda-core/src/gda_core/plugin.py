"""The core's built-in components, registered through the same hooks as any plugin."""

from __future__ import annotations

from . import hookimpl

P = "gda_core"


@hookimpl
def register_generators(register):
    register("core.gmm", f"{P}.generators.gmm:GaussianMixtureGenerator")
    register("core.kde", f"{P}.generators.kde:KernelDensityGenerator")


@hookimpl
def register_strategies(register):
    register("core.train", f"{P}.strategies:TrainFromScratch")
    register("core.pretrained", f"{P}.strategies:Pretrained")


@hookimpl
def register_selectors(register):
    register("core.topk", f"{P}.selectors.topk:TopKSelector")
    register("core.confidence", f"{P}.selectors.confidence:ClassifierConfidenceSelector")
    register("core.cluster", f"{P}.selectors.cluster:ClusterDiversitySelector")
    register("core.dedup", f"{P}.selectors.dedup:DeduplicationSelector")
    register("core.balance", f"{P}.selectors.balance:ClassBalanceSelector")


@hookimpl
def register_validators(register):
    register("core.downstream", f"{P}.validators.downstream:DownstreamValidator")
    register("core.prdc", f"{P}.validators.prdc:PRDCValidator")
    register("core.mmd", f"{P}.validators.mmd:MMDValidator")
    register("core.memorization", f"{P}.validators.memorization:MemorizationValidator")
    register("core.projection", f"{P}.validators.projection:ProjectionValidator")


@hookimpl
def register_applications(register):
    register("core.classification", f"{P}.applications.classification:ClassificationApplication")


@hookimpl
def register_datasets(register):
    register("core.wine", f"{P}.datasets:WineDataset")
    register("core.breast-cancer", f"{P}.datasets:BreastCancerDataset")
    register("core.table", f"{P}.datasets:TableDataset")
    register("core.arrays", f"{P}.datasets:ArrayDataset")


@hookimpl
def register_embedders(register):
    register("core.flatten", f"{P}.embedders:FlattenEmbedder")
    register("core.standardize", f"{P}.embedders:StandardizeEmbedder")
    register("core.pca", f"{P}.embedders:PCAEmbedder")
