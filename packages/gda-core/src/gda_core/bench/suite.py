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
    ``selector`` makes the method a row of the selector table: the suite's base generation with
    only this selection (``overrides`` set ``selectors``; :func:`selector_method`), named by the
    selector it stands for; methods of one ``selector`` with different settings are its sweep.
    ``self_train`` adds the ``self-train`` method's pseudo-labelled pool to a generative method's
    set (real + pseudo-labelled pool + synthetic: DPT's last stage; :func:`self_train_gen_method`).
    ``rounds`` (self-train methods and ``self_train`` ones) iterates that self-training: the whole
    pool labelled again by a model retrained on real + pseudo-labelled records, ``rounds - 1``
    times (:data:`~gda_core.bench.runner.ITERATED_SELF_TRAIN`; suites with a classification pool
    strategy or none; a suite ``labeller`` strategy with a ``rounds`` parameter of its own, such as
    ``medical.pseudo-mask``, iterates by its own rule).
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
    selector: str = ""
    self_train: bool = False
    rounds: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"method {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.stage not in STAGES:
            raise ConfigError(f"method {self.name!r}: stage {self.stage!r} is not one of {', '.join(STAGES)}")
        if self.family not in FAMILIES:
            raise ConfigError(f"method {self.name!r}: family {self.family!r} is not one of "
                              f"{', '.join(f for f in FAMILIES if f)}")
        if (self.family or self.sweep or self.quick or self.selector or self.self_train) and self.kind != "generative":
            raise ConfigError(f"method {self.name!r}: family, sweep, quick, selector and self_train are for "
                              "generative methods")
        if not isinstance(self.rounds, int) or self.rounds < 1:
            raise ConfigError(f"method {self.name!r}: rounds must be a whole number of at least 1, got {self.rounds!r}")
        if self.rounds > 1 and not (self.kind == "self-train" or self.self_train):
            raise ConfigError(f"method {self.name!r}: rounds is for self-train methods and self_train generative ones")

    @property
    def variant(self) -> tuple[str, ...]:
        """The generation this method reads from (real, classical and self-train use the base one)."""
        return self.overrides if self.kind == "generative" else ()


SELF_TRAIN_ROUNDS = 2
"""Labelling rounds of the standard iterated self-training methods (``self-train x2``, ``self-train x2 +
gen``): the suite's labeller, then once more an RBF SVM retrained on real + pseudo-labelled records
labelling the whole pool (:data:`~gda_core.bench.runner.ITERATED_SELF_TRAIN`). Chosen on digits
on a validation split carved from the training data (``experiments/digits_selftrain_dev.py``): 2
and 3 rounds were level, both above keeping 80% again."""


def self_train_methods(rounds: int = SELF_TRAIN_ROUNDS) -> list[Method]:
    """The comparisons of generation with what the pool alone gives (issue 18): self-training (real +
    the pool pseudo-labelled, no generator), iterated self-training (``rounds`` labelling rounds,
    no generator, so that an iterated GDA loop is not credited for what iteration alone gives),
    and each of them + the suite's kept generated set (DPT's third stage)."""
    x = f"x{rounds}"
    return [
        Method("self-train", "self-train",
               summary="real + the pool pseudo-labelled with no generator (by the suite's pool strategy's "
                       "labeller, else its labeller strategy, else logistic regression)"),
        Method(f"self-train {x}", "self-train", rounds=rounds,
               summary=f"iterated self-training, no generator: the whole pool labelled again {rounds - 1} time(s) "
                       "by an RBF SVM retrained on real + pseudo-labelled records"),
        self_train_gen_method(),
        Method(f"self-train {x} + gen", "generative", self_train=True, rounds=rounds,
               summary=f"real + the pool after {rounds} labelling rounds + the kept generated set"),
    ]


def standard_methods(*extra: Method, self_train: bool = True, family: str = "") -> list[Method]:
    """The methods every suite runs where it can, then ``extra`` (the novelty strategies):
    real only, classical, generative before selection and after each selector, generative +
    classical, and, with ``self_train`` (suites with a pool), :func:`self_train_methods`; a
    method of ``extra`` named as a standard one replaces it (a suite's own ``self-train + gen``).
    ``family`` is the family of the suite's own generator (the ``gen`` method's)."""
    out = [
        Method("real", "real", summary="real k-shot set only"),
        Method("classical", "classical", summary="real + the suite's classical augmentation"),
        Method("gen", "generative", stage="each", family=family,
               summary="real + generated, before and after each selector"),
        Method("gen+classical", "generative", classical=True, summary="real + kept generated + classical"),
    ]
    if self_train:
        out += self_train_methods()
    own = {m.name for m in extra}
    return [m for m in out if m.name not in own] + list(extra)


@dataclasses.dataclass
class Suite:
    """A bench protocol. ``config`` is a run config without ``seed`` and ``validators`` (the
    bench sets both); ``quick`` are overrides that make ``--quick`` fit its time budget
    (``quick_ratios`` and ``quick_downstream``, when given, replace ``ratios`` and ``downstream`` there);
    ``sweep`` are overrides of the ratio-sweep generation, which makes ``max(ratios)`` times
    the real count per class with no selection; ``features`` names the embedder used for
    near-copies, PRDC and the Fréchet distance (default: the run's embedder). ``labeller`` is the
    strategy (``{"name": ..., "params": {...}}``) whose :meth:`~gda_core.Strategy.pseudo_labelled`
    the self-training methods train on when the suite's own strategy pseudo-labels nothing (a
    segmentation suite's ``medical.pseudo-mask``; ``quick_labeller`` replaces it under ``--quick``);
    None: :data:`~gda_core.bench.runner.SELF_TRAIN_LABELLER`."""

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
    labeller: dict[str, Any] | None = None
    quick_labeller: dict[str, Any] | None = None

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


def self_train_gen_method(*overrides: str, stage: str = "kept", summary: str = "") -> Method:
    """``self-train + gen``: real + the ``self-train`` method's pseudo-labelled pool + the kept
    synthetic set of the suite's generation (``overrides`` change it), paired against
    ``self-train`` in the report: what generation adds to self-training."""
    return Method("self-train + gen", "generative", overrides=tuple(overrides), stage=stage, self_train=True,
                  summary=summary or "real + the pseudo-labelled pool (as self-train) + the kept synthetic set")


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


def _selector_ref(entry: str | dict[str, Any]) -> dict[str, Any]:
    return {"name": entry, "params": {}} if isinstance(entry, str) else {"params": {}, **entry}


def selector_method(label: str, *chain: str | dict[str, Any], group: str = "", summary: str = "",
                    requires: tuple[str, ...] = ()) -> Method:
    """A row of the selector table: the suite's base generation (the same fitted model and the
    same generated shards: only selection reruns) with ``chain`` as its only selection, usually
    one selector (``"core.dedup"`` or ``{"name": ..., "params": {...}}``), or one with the
    selector that scores for it (``core.topk`` ranking by ``core.confidence``). Named
    ``select <label>``; ``group`` (default ``label``) is the selector it stands for in the table,
    shared by the settings of a sweep."""
    import json

    refs = [_selector_ref(e) for e in chain]
    if not refs:
        raise ConfigError(f"selector method {label!r}: give at least one selector")
    needs = tuple(dict.fromkeys(f"selectors:{r['name']}" for r in refs))
    return Method(f"select {label}", "generative", overrides=(f"selectors={json.dumps(refs, sort_keys=True)}",),
                  selector=group or label, requires=(*needs, *requires),
                  summary=summary or f"the base generation selected by {label} alone")


def selector_sweep(group: str, selector: str, param: str, values: tuple[float, ...],
                   params: dict[str, Any] | None = None, *, fmt: str = "{param} {value:g}") -> list[Method]:
    """One :func:`selector_method` per value of ``selector``'s ``param`` (the parameter that decides
    how much it keeps), all in ``group``: the selector table's gain against share kept."""
    return [selector_method(f"{group} {fmt.format(param=param, value=v)}",
                            {"name": selector, "params": {**(params or {}), param: v}}, group=group,
                            summary=f"{selector} alone with {param}={v:g}") for v in values]


def selector_methods(*, confidence: bool = True, cluster: dict[str, Any] | None = None,
                     dedup: dict[str, Any] | None = None, near_copy: dict[str, Any] | None = None,
                     extra: tuple[Method, ...] = ()) -> list[Method]:
    """The selector table's standard rows: top-k by confidence (half of each class), confidence
    (threshold 0.5), k-means cluster coverage (half of each class), de-duplication and near-copy
    (``cluster``, ``dedup``, ``near_copy``: their params, such as ``{"space": "raw"}``), then
    ``extra`` (the modality's own selectors). ``confidence`` False leaves out the two that need a
    class-probability model (segmentation masks have none)."""
    out = []
    if confidence:
        out += [selector_method("top-k", {"name": "core.confidence", "params": {"threshold": None}},
                                {"name": "core.topk", "params": {"by": "core.confidence", "keep": 0.5}},
                                summary="the half of each class ranked highest by classifier confidence"),
                selector_method("confidence", {"name": "core.confidence", "params": {"threshold": 0.5}},
                                summary="intended-class probability at least 0.5")]
    out += [selector_method("cluster", {"name": "core.cluster", "params": {"keep": 0.5, **(cluster or {})}},
                            summary="the samples nearest k-means centroids, half of each class"),
            selector_method("de-dup", {"name": "core.dedup", "params": dict(dedup or {})},
                            summary="copies of real and repeats of kept samples dropped"),
            selector_method("near-copy", {"name": "core.near-copy", "params": dict(near_copy or {})},
                            summary="near-copies of the generator's training data dropped")]
    return out + list(extra)


def keep_sweeps(values: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)) -> list[Method]:
    """The selector table's sweep of the parameter that decides how much each core selector
    keeps: confidence and cluster ``keep`` (share per class, by rank), near-copy ``quantile``,
    de-duplication ``real_ratio`` (gain against share kept, plotted)."""
    return [*selector_sweep("confidence", "core.confidence", "keep", values, {"threshold": None}),
            *selector_sweep("cluster", "core.cluster", "keep", tuple(v for v in values if v != 0.5)),  # 0.5: "cluster"
            *selector_sweep("near-copy", "core.near-copy", "quantile", (0.02, 0.1, 0.2, 0.3, 0.45)),
            *selector_sweep("de-dup", "core.dedup", "real_ratio", (0.05, 0.25, 0.5, 1.0, 2.0))]
