"""The core's built-in components, registered through the same hooks as any plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gda_core import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

P = "gda_core"


@hookimpl
def register_generators(register: Callable[[str, Any], None]) -> None:
    register("core.gmm", f"{P}.builtin.generators.gmm:GaussianMixtureGenerator")
    register("core.kde", f"{P}.builtin.generators.kde:KernelDensityGenerator")
    register("core.ctgan", f"{P}.tabular.ctgan:CTGANGenerator")
    register("core.tvae", f"{P}.tabular.tvae:TVAEGenerator")


@hookimpl
def register_strategies(register: Callable[[str, Any], None]) -> None:
    register("core.train", f"{P}.builtin.strategies:TrainFromScratch")
    register("core.pretrained", f"{P}.builtin.strategies:Pretrained")
    register("core.pseudo-label", f"{P}.builtin.pool:PseudoLabelStrategy")
    register("core.pretrain-finetune", f"{P}.builtin.pool:PretrainFinetuneStrategy")


@hookimpl
def register_selectors(register: Callable[[str, Any], None]) -> None:
    register("core.topk", f"{P}.builtin.selectors.topk:TopKSelector")
    register("core.confidence", f"{P}.builtin.selectors.confidence:ClassifierConfidenceSelector")
    register("core.cluster", f"{P}.builtin.selectors.cluster:ClusterDiversitySelector")
    register("core.dedup", f"{P}.builtin.selectors.dedup:DeduplicationSelector")
    register("core.balance", f"{P}.builtin.selectors.balance:ClassBalanceSelector")
    register("core.near-copy", f"{P}.builtin.selectors.near_copy:NearCopySelector")
    register("core.learner-agree", f"{P}.builtin.selectors.learner_agree:LearnerAgreeSelector")


@hookimpl
def register_validators(register: Callable[[str, Any], None]) -> None:
    register("core.downstream", f"{P}.builtin.validators.downstream:DownstreamValidator")
    register("core.prdc", f"{P}.builtin.validators.prdc:PRDCValidator")
    register("core.mmd", f"{P}.builtin.validators.mmd:MMDValidator")
    register("core.memorization", f"{P}.builtin.validators.memorization:MemorizationValidator")
    register("core.projection", f"{P}.builtin.validators.projection:ProjectionValidator")


@hookimpl
def register_applications(register: Callable[[str, Any], None]) -> None:
    register("core.classification", f"{P}.builtin.applications.classification:ClassificationApplication")


@hookimpl
def register_datasets(register: Callable[[str, Any], None]) -> None:
    register("core.wine", f"{P}.builtin.datasets:WineDataset")
    register("core.breast-cancer", f"{P}.builtin.datasets:BreastCancerDataset")
    register("core.table", f"{P}.builtin.datasets:TableDataset")
    register("core.arrays", f"{P}.builtin.datasets:ArrayDataset")


@hookimpl
def register_embedders(register: Callable[[str, Any], None]) -> None:
    register("core.flatten", f"{P}.builtin.embedders:FlattenEmbedder")
    register("core.standardize", f"{P}.builtin.embedders:StandardizeEmbedder")
    register("core.pca", f"{P}.builtin.embedders:PCAEmbedder")


@hookimpl
def register_bench_suites(register: Callable[[str, Any], None]) -> None:
    register("core", f"{P}.bench.core_suite:core_suite")
