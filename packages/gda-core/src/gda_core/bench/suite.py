"""Bench suites: a fixed protocol as data, and the suites plugins register.

A suite is a base run config (data, k-shot, split rule, generator, selectors, the classical
baseline, embedder), the downstream models every method is scored with, and the methods: each a
recipe for a training set, given as config overrides so a new strategy is one line. Suites are a
kind of the plugin host (``bench_suites``, from the ``register_bench_suites`` hook) like the
components, collected without importing torch, so listing is fast.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import ConfigError, PluginError

KINDS = ("real", "classical", "generative", "self-train")
"""What a method's training set is: real only; real + the classical baseline; real + a
generator's samples (optionally + classical); real + the unlabelled pool pseudo-labelled
with no generator."""

FAMILIES = ("", "gmm", "kde", "vae", "gan", "diffusion", "lm")
"""The generator families a generative method can belong to (the survey's four, with the GMM/KDE
baselines GDA adds for vectors); "" is none (a variant of a family's method, or no generator)."""

STAGES = ("kept", "none", "each", "both")
"""Which synthetic set a generative method takes: the selector chain's kept set, the set before
selection, one row per stage (before selection and after each selector), or two rows: before
selection and the kept set (so a variant whose samples the near-copy selector drops entirely
still shows what it generated)."""


@dataclasses.dataclass(frozen=True)
class DownstreamModel:
    """A downstream model: a label for tables and an application reference
    (``{"name": ..., "params": {...}}``) built from the component registry."""

    label: str
    application: dict[str, Any]
    strong: bool = False


@dataclasses.dataclass(frozen=True)
class Method:
    """One training-set recipe of a suite.

    ``overrides`` are ``dotted.path=value`` config overrides of this method's generation
    (methods with equal overrides share one generation per seed); ``requires`` names
    components (``"strategies:core.pool"``) or environment variables (``"env:NAME"``, a server
    URL) without which the method is listed as not run.
    ``family`` names the generator family the method stands for in the family table (one method
    per family and suite: the suite's model-selection question); ``sweep`` asks for a ratio sweep
    of this method's own generator (beside the suite's, which sweeps the base generator);
    ``quick`` are overrides added after ``overrides`` under ``--quick`` (tiny settings for a
    method that replaces the suite's generator, whose quick overrides it would otherwise lose).
    """

    name: str
    kind: str
    overrides: tuple[str, ...] = ()
    stage: str = "kept"
    classical: bool = False
    requires: tuple[str, ...] = ()
    summary: str = ""
    family: str = ""
    sweep: bool = False
    quick: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"method {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.stage not in STAGES:
            raise ConfigError(f"method {self.name!r}: stage {self.stage!r} is not one of {', '.join(STAGES)}")
        if self.family not in FAMILIES:
            raise ConfigError(f"method {self.name!r}: family {self.family!r} is not one of "
                              f"{', '.join(f for f in FAMILIES if f)}")
        if (self.family or self.sweep or self.quick) and self.kind != "generative":
            raise ConfigError(f"method {self.name!r}: family, sweep and quick are for generative methods")

    @property
    def variant(self) -> tuple[str, ...]:
        """The generation this method reads from (real, classical and self-train use the base one)."""
        return self.overrides if self.kind == "generative" else ()


def standard_methods(*extra: Method, self_train: bool = True, family: str = "") -> list[Method]:
    """The methods every suite runs where it can, then ``extra`` (the novelty strategies):
    real only, classical, generative before selection and after each selector, generative +
    classical, and self-training on the pool with no generator. ``family`` is the family of the
    suite's own generator (the ``gen`` method's)."""
    out = [
        Method("real", "real", summary="real k-shot set only"),
        Method("classical", "classical", summary="real + the suite's classical augmentation"),
        Method("gen", "generative", stage="each", family=family,
               summary="real + generated, before and after each selector"),
        Method("gen+classical", "generative", classical=True, summary="real + kept generated + classical"),
    ]
    if self_train:
        out.append(Method("self-train", "self-train",
                          summary="real + the pool pseudo-labelled with no generator (by the suite's "
                                  "pool strategy's labeller, else logistic regression)"))
    return out + list(extra)


@dataclasses.dataclass
class Suite:
    """A bench protocol. ``config`` is a run config without ``seed`` and ``validators`` (the
    bench sets both); ``quick`` are overrides that make ``--quick`` fit its time budget
    (``quick_ratios`` and ``quick_downstream``, when given, replace ``ratios`` and ``downstream`` there);
    ``sweep`` are overrides of the ratio-sweep generation, which makes ``max(ratios)`` times
    the real count per class with no selection; ``features`` names the embedder used for
    near-copies, PRDC and the Fréchet distance (default: the run's embedder)."""

    name: str
    summary: str
    config: dict[str, Any]
    downstream: list[DownstreamModel]
    methods: list[Method] = dataclasses.field(default_factory=standard_methods)
    quick: tuple[str, ...] = ()
    seeds: int = 5
    quick_seeds: int = 2
    ratios: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0)
    quick_ratios: tuple[float, ...] | None = None
    quick_downstream: list[DownstreamModel] | None = None
    sweep: tuple[str, ...] = ()
    features: str | None = None
    memory_gb: float = 1.0
    plugin: str = ""

    def __post_init__(self) -> None:
        if len(self.downstream) < 1:
            raise ConfigError(f"suite {self.name!r}: needs at least one downstream model")
        names = [m.name for m in self.methods]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError(f"suite {self.name!r}: method names repeat: {', '.join(sorted(dup))}")


def registered_suite(target: Any, name: str, plugin: str) -> Suite:
    """The suite a plugin registered as ``name``: ``target`` is a :class:`Suite` or a function
    returning one (the plugin host has imported a ``"module:attr"`` path already)."""
    if callable(target) and not isinstance(target, Suite):
        target = target()
    if not isinstance(target, Suite):
        raise PluginError(f"bench suite {name!r} of plugin {plugin!r} is not a gda_core.bench.Suite")
    return dataclasses.replace(target, name=name, plugin=plugin)


def suites() -> dict[str, Suite]:
    """Every installed suite by name, built by the plugin host from the ``register_bench_suites``
    hooks (the ``bench_suites`` kind: the host checks the names and reports a name two plugins
    registered). A suite that cannot be built (its module fails to import, it is not a
    :class:`Suite`) is left out and its plugin recorded as failed, as ``gda plugins`` shows."""
    from ..hookspecs import SUITE_KIND
    from ..host import host

    found: dict[str, Suite] = {}
    for name, info in list(host.components(SUITE_KIND).items()):
        try:
            found[name] = info.load()
        except Exception as exc:  # a broken suite must not hide the others
            host.record_failure(info.plugin, exc)
    failed = set(host.failures)
    return {name: suite for name, suite in found.items() if suite.plugin not in failed}


def get_suite(name: str) -> Suite:
    """The installed suite ``name``; an unknown name lists the installed ones."""
    known = suites()
    if name not in known:
        raise ConfigError(f"unknown bench suite {name!r}; installed: {', '.join(known) or 'none'}")
    return known[name]


def linear_and_svm() -> list[DownstreamModel]:
    """Logistic regression and an RBF SVM (the strong model) on the flattened samples, both
    through ``core.classification`` (standardised features)."""
    return [DownstreamModel("logreg", {"name": "core.classification", "params": {"model": "logreg"}}),
            DownstreamModel("rbf-svm", {"name": "core.classification", "params": {"model": "svm"}}, strong=True)]


def near_copy_method(selectors: str = "[core.near-copy]") -> Method:
    """Generation whose selector chain is ``selectors`` (default: only near-copies dropped)."""
    return Method("gen near-copy", "generative", overrides=(f"selectors={selectors}",),
                  requires=("selectors:core.near-copy",), summary="near-copies of training samples dropped")


def pool_methods(*overrides: str) -> list[Method]:
    """The pool strategies of ``gda_core.builtin.pool`` (``overrides`` added to each): the generator
    fitted on real + confidently pseudo-labelled pool, and pretrained on the pool then fine-tuned."""
    return [
        Method("gen pseudo-label", "generative", overrides=("strategy.name=core.pseudo-label", *overrides),
               requires=("strategies:core.pseudo-label",), summary="fitted on real + pseudo-labelled pool"),
        Method("gen pretrain-finetune", "generative", overrides=("strategy.name=core.pretrain-finetune", *overrides),
               requires=("strategies:core.pretrain-finetune",), summary="pretrained on the pool, then fine-tuned"),
    ]


def family_method(name: str, family: str, generator: dict[str, Any], *, quick: dict[str, Any] | None = None,
                  requires: tuple[str, ...] = (), summary: str = "", sweep: bool = True,
                  extra: tuple[str, ...] = ()) -> Method:
    """The method that stands for ``family`` in a suite: the suite's data, strategy, counts and
    selectors with its generator replaced by ``generator`` (``{"name": ..., "params": {...}}``;
    ``quick`` params replace its params under ``--quick``), both stages (before selection and
    kept), and its own ratio sweep."""
    import json

    def ref(g: dict[str, Any]) -> str:
        return "generator=" + json.dumps(g, sort_keys=True)

    quick_ref = (ref({**generator, "params": {**generator.get("params", {}), **quick}}),) if quick else ()
    return Method(name, "generative", overrides=(ref(generator), *extra), stage="both", family=family,
                  sweep=sweep, quick=quick_ref, requires=(f"generators:{generator['name']}", *requires),
                  summary=summary)
