"""Running suites: cells through the pipeline, resumable, one row per method x seed x model.

A cell is one suite, run seed and generation variant (the methods sharing that generation),
or one seed's ratio sweep. Its pipeline run folder lives under ``runs/`` (so an interrupted
generation resumes from its shards) and its rows are written atomically to ``cells/`` with
the hash of everything that determines them and the :class:`~gda_core.bench.code.CodeKey` of the
code that computed them: a restarted bench reads finished cells back instead of recomputing
them, and a changed protocol or changed code recomputes them.

:meth:`SuiteRunner.plan` lists a suite's cells as :class:`CellTask` s (picklable: the Ray runner,
:mod:`gda_core.bench.ray_cells`, ships them to workers); cells that share a pipeline run folder
(``CellTask.folder``) run one after another, in plan order.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import hashlib
import json
import logging
import math
import os
import re
import resource
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import runfolder
from ..builtin.pool import SELF_TRAIN_LABELLER  # the self-train methods' labeller (core.downstream's too)
from ..config import apply_overrides
from ..errors import GDAError
from ..host import host
from ..records import Record, json_safe
from . import code as code_mod
from .fidelity import fidelity
from .suite import Method, Suite

if TYPE_CHECKING:
    from gda_core.records import Dataset

log = logging.getLogger("gda.bench")

BLAS_THREADS = 1
"""BLAS/OpenMP threads of every bench cell, run here or on a Ray worker: one, as Ray gives a task of
one CPU, so that both executors compute the same numbers. Summation order changes with the thread
count, and with it near-ties: at commit c5f685d label spreading kept 16 other pool images of digits'
run seed 2 (of 966) with two threads than with one, and that seed's pool-dependent rows moved by
up to 1.5 points."""

ITERATED_SELF_TRAIN: dict[str, Any] = {"refit": "svm", "refit_keep": 1.0}
"""The rule of rounds 2 and on of the iterated self-training methods (``Method.rounds``): an RBF SVM
on standardised features, fitted on real + the records kept so far, labels the whole pool
(:class:`~gda_core.builtin.pool.PseudoLabelParams` ``refit`` and ``refit_keep``)."""

POOL_LABELLERS = ("core.pseudo-label", "core.pretrain-finetune")
"""Suite ``labeller`` strategies whose parameters iterated self-training can take (their ``rounds``)."""

PROTOCOL_VERSION = "2"
"""Bumped when the bench computes a cell differently; older cells are then recomputed."""

FIELDS = [
    "suite", "method", "kind", "family", "sweep", "selector", "seed", "split", "model", "metric", "score", "ratio",
    "n_real", "n_generated", "n_synthetic",
    "near_copy_share_generated", "near_copy_share", "near_copy_filtered", "near_copy_share_real",
    "precision", "recall", "density", "coverage",
    "frechet", "frechet_real", "pseudo_label_accuracy", "fit_s", "generate_s", "select_s",
    "validate_s", "samples_per_s", "peak_rss_mb", "quick", "cell", "code", "commit", "versions",
]
"""Columns of ``results.csv``: one row per suite x method x seed x downstream model. ``split`` is a
digest of the labelled training ids and the test ids: equal within a seed (so pairing is fair),
different across seeds (a run seed redraws the split and the k shots). ``family`` is the generator
family a method stands for (``Method.family``); ``sweep`` names the method whose generator a
ratio-sweep row comes from (``gen``: the suite's base generator); ``selector`` the selector a
selector-table row applies alone (``Method.selector``). ``n_generated`` and
``near_copy_share_generated`` describe the set before selection (the generation the row's set
was selected from), ``n_synthetic`` and ``near_copy_share`` the set added to the real records;
``near_copy_filtered`` is true when ``core.near-copy`` took part in choosing that set (its
near-copy share is then 0 by construction). ``code`` is the cell's code key, ``commit`` the git
commit it ran from (empty outside a clone) and ``versions`` the gda distributions' and the
result libraries' versions (:mod:`gda_core.bench.code`)."""

COST = ("fit_s", "generate_s", "select_s", "validate_s", "samples_per_s", "peak_rss_mb")
"""Columns that measure cost, not results: they differ between two runs of the same cells."""


@dataclasses.dataclass
class Skipped:
    """Something the bench did not run, and why (listed in ``results.md``, never dropped)."""

    suite: str
    what: str
    why: str


@dataclasses.dataclass
class BenchRun:
    """What a bench produced: its rows, what it skipped, and each suite's wall and CPU seconds
    (CPU time of the processes that computed its cells, all threads: on a busy machine it says
    what the wall time would be on an idle one). ``codes`` holds the :class:`~gda_core.bench.code.CodeKey`
    of every code key the rows carry; ``workers`` what the Ray runner learnt of its workers."""

    rows: list[dict[str, Any]]
    skipped: list[Skipped]
    seconds: dict[str, float]
    cpu_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    codes: dict[str, code_mod.CodeKey] = dataclasses.field(default_factory=dict)
    workers: list[dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class CellTask:
    """One cell of a suite's plan: a generation (``kind`` "cell": ``variant`` overrides and the
    names of the ``methods`` reading it) or a ratio sweep (``kind`` "sweep": of the method named
    ``methods[0]``, or of the suite's generator when empty), for run seed ``seed``. ``order``
    sorts the plan; ``folder`` names the pipeline run folder the cell runs in (cells sharing one
    run one after another)."""

    order: tuple[int, int, int]
    what: str
    kind: str
    seed: int
    variant: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    folder: str = ""


def mixed_code(codes: Sequence[code_mod.CodeKey]) -> list[str]:
    """What makes ``codes`` mixed: each package or library that has more than one digest or
    version among them (cells computed by different code). Different packages in different cells
    (a vision suite's key names ``gda_vision``, the core suite's does not) are not mixed."""
    seen: dict[str, set[str | None]] = {}
    for c in codes:
        for pkg, digest in c.packages.items():
            seen.setdefault(f"package {pkg}", set()).add(digest)
        for lib, version in c.libraries.items():
            seen.setdefault(f"library {lib}", set()).add(version)
    return [f"{what} ({len(v)} versions)" for what, v in seen.items() if len(v) > 1]


def machine_memory_gb() -> float:
    """Physical memory of this machine in GiB."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return math.inf


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-")[:60] or "base"


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def split_digest(train: Dataset, test: Dataset) -> str:
    """A digest of the labelled and the test records (ids, labels and contents): equal for the
    cells of one run seed, different when a run seed redraws or regenerates the data."""
    h = hashlib.sha256()
    for part in (train, test):
        for r in sorted(part.records, key=lambda r: r.id):
            h.update(f"{r.id}\x00{r.label}\x00".encode())
            h.update(r.data.encode() if isinstance(r.data, str) else np.ascontiguousarray(r.data).tobytes())
        h.update(b"\x01")
    return h.hexdigest()[:10]


def _method_key(m: Method) -> dict[str, Any]:
    """What of a method decides its cell: its fields, those at their defaults left out (so a field
    added to :class:`Method` does not recompute the cells of suites that do not use it)."""
    defaults = {f.name: f.default for f in dataclasses.fields(Method) if f.default is not dataclasses.MISSING}
    return {k: v for k, v in dataclasses.asdict(m).items()
            if k not in ("family", "sweep", "quick", "selector", "self_train", "rounds") or v != defaults.get(k)}


def _ref_name(ref: Any) -> str | None:
    return ref.get("name") if isinstance(ref, dict) else ref


def missing_requirements(method: Method) -> list[str]:
    """What ``method.requires`` names that is not installed: ``"kind:name"`` is a component,
    ``"kind:name#param"`` one of its parameters, ``"import:module"`` a Python module (a library
    an optional extra brings, such as ``ctgan`` for ``core.ctgan``); ``"env:NAME"`` an environment
    variable that must be set (a server URL, say)."""
    import importlib.util

    out = []
    for req in method.requires:
        kind, _, rest = req.partition(":")
        name, _, param = rest.partition("#")
        if kind == "import":
            if importlib.util.find_spec(name) is None:
                out.append(f"the Python module {name}")
            continue
        if kind == "env":
            if not os.environ.get(name):
                out.append(req)
            continue
        try:
            if name not in host.components(kind):
                out.append(req)
            elif param and param not in host.get(kind, name).Params.model_fields:
                out.append(f"{name} parameter {param}")
        except (ValueError, GDAError):
            out.append(req)
    return out


class SuiteRunner:
    """Runs one suite's cells for the given run seeds into ``out``.

    ``compute`` False (``--report``) only reads finished cells, whatever code computed them (the
    caller checks the mix, :func:`mixed_code`); ``allow_mixed_code`` also reads back, instead of
    recomputing, cells another code computed when computing."""

    def __init__(self, suite: Suite, out: Path, *, seeds: int, quick: bool, quiet: bool,
                 echo: Callable[[str], None] = print, methods: Sequence[str] | None = None,
                 compute: bool = True, allow_mixed_code: bool = False) -> None:
        self.suite, self.out, self.seeds, self.quick, self.quiet = suite, out, seeds, quick, quiet
        self.echo, self.compute, self.allow_mixed_code = echo, compute, allow_mixed_code
        self.skipped: list[Skipped] = []
        self.codes: dict[str, code_mod.CodeKey] = {}
        self.selected = list(methods) if methods else None
        """The method patterns this runner was given (a Ray worker rebuilds it with them)."""
        base = copy.deepcopy(suite.config)
        if quick and suite.quick:
            base = apply_overrides(base, list(suite.quick))
        base["validators"] = []
        if suite.features and suite.features != _ref_name(base.get("embedder")):
            named = base.setdefault("embedders", [])
            if suite.features not in [_ref_name(e) for e in named]:
                named.append(suite.features)  # the features of the copy and fidelity numbers
        self.base = base
        self.ratios = suite.quick_ratios if quick and suite.quick_ratios is not None else suite.ratios
        self.downstream = suite.quick_downstream if quick and suite.quick_downstream else suite.downstream
        self.labeller = suite.quick_labeller if quick and suite.quick_labeller else suite.labeller
        self.methods: list[Method] = []
        for m in suite.methods:
            if methods and not any(fnmatch.fnmatchcase(m.name, pat) for pat in methods):
                self._skip(f"method {m.name}", "not selected (--method)")
                continue
            missing = missing_requirements(m)
            unset = [r.partition(":")[2] for r in missing if r.startswith("env:")]
            absent = [r for r in missing if not r.startswith("env:")]
            if missing:
                why = ([f"not installed: {', '.join(absent)}"] if absent else []) + (
                    [f"not run: set {', '.join(unset)}"] if unset else [])
                self._skip(f"method {m.name}", "; ".join(why))
            else:
                self.methods.append(m)

    # -- the plan -----------------------------------------------------------

    def plan(self) -> list[CellTask]:
        """Every cell, in the order they run: the base generation of every seed first, then the
        cells that reuse its fitted generator (sampling or selection variants, the ratio sweep),
        then the variants that fit a generator of their own, then the methods' own ratio sweeps,
        so a bench stopped early has the widest paired comparison."""
        variants: list[tuple[str, ...]] = [()]
        for m in self.methods:
            if self._variant(m) not in variants:
                variants.append(self._variant(m))
        tasks: list[CellTask] = []
        for seed in range(self.seeds):
            base_fit = self._fit_key(self._variant_config((), [], seed))
            for i, variant in enumerate(variants):
                methods = [m for m in self.methods if self._variant(m) == variant]
                fit = self._fit_key(self._variant_config(variant, methods, seed)) if variant else base_fit
                tier = 0 if not variant else (1 if fit == base_fit else 2)
                tasks.append(CellTask((tier, i, seed), f"seed {seed} {' '.join(variant) or 'base'}", "cell", seed,
                                      variant, tuple(m.name for m in methods), fit))
            if self.ratios:
                tasks.append(CellTask((1, len(variants), seed), f"seed {seed} ratio sweep", "sweep", seed,
                                      folder=self._fit_key(self._sweep_config(seed, None))))
                # a method's own sweep reuses its cell's fitted generator: after every cell has run
                for j, m in enumerate(m for m in self.methods if m.sweep):
                    tasks.append(CellTask((3, j, seed), f"seed {seed} ratio sweep of {m.name}", "sweep", seed,
                                          methods=(m.name,), folder=self._fit_key(self._sweep_config(seed, m))))
        return sorted(tasks, key=lambda t: t.order)

    def run(self) -> list[dict[str, Any]]:
        """Every cell of :meth:`plan`, here, one after another; their rows."""
        rows: list[dict[str, Any]] = []
        for task in self.plan():
            rows += self.execute(task)
        return rows

    def execute(self, task: CellTask) -> list[dict[str, Any]]:
        """One planned cell (read back when finished); its rows. A failure is listed, not raised.

        The cell runs with :data:`BLAS_THREADS` BLAS/OpenMP threads whichever executor calls it."""
        import scipy.linalg  # noqa: F401  (load numpy's, scipy's and scikit-learn's thread pools first:
        import sklearn.svm  # noqa: F401  threadpoolctl limits only the libraries loaded when it is entered)
        from threadpoolctl import threadpool_limits  # scikit-learn's

        with threadpool_limits(BLAS_THREADS):
            if task.kind == "sweep":
                of = next((m for m in self.methods if m.name == task.methods[0]), None) if task.methods else None
                return self._guarded(task.what, lambda: self.sweep(task.seed, of))
            methods = [m for m in self.methods if m.name in task.methods]
            return self._guarded(task.what, lambda: self.cell(task.variant, methods, task.seed))

    def _fit_key(self, config: dict[str, Any]) -> str:
        """What decides the fitted generator (the folder a cell runs in), or "" when unknown."""
        try:
            return self._folder(config, "", 0).name
        except GDAError:  # an unknown component: the cell itself reports it
            return ""

    def _skip(self, what: str, why: str) -> None:
        """List ``what`` as not run, once."""
        if not any(s.what == what and s.why == why for s in self.skipped):
            self.skipped.append(Skipped(self.suite.name, what, why))

    def _guarded(self, what: str, fn: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        try:
            return fn()
        except (GDAError, MemoryError, RuntimeError, ValueError, OSError, ImportError) as exc:
            log.debug("cell failed", exc_info=True)
            self._skip(what, f"failed: {type(exc).__name__}: {exc}")
            if not self.quiet:
                self.echo(f"  {self.suite.name} {what}: FAILED {type(exc).__name__}: {exc}")
                self.echo("".join(traceback.format_exception(exc)[-3:]).rstrip())
            return []

    # -- cells and their code ----------------------------------------------------

    def code(self, config: dict[str, Any], *, fit_only: bool = False) -> code_mod.CodeKey:
        """The code key of a cell running ``config`` (with the suite's downstream models and
        feature embedder; ``fit_only``: of the data set, strategy and generator alone, which
        decide the fitted model and so the run folder)."""
        extra: list[Any] = []
        if not fit_only:
            for dm in self.downstream:
                try:
                    extra.append(host.get("applications", dm.application["name"]))
                except GDAError:
                    pass
            if self.suite.features:
                try:
                    extra.append(host.get("embedders", self.suite.features))
                except GDAError:
                    pass
            if self.labeller is not None:
                try:
                    extra.append(host.get("strategies", self.labeller["name"]))
                except GDAError:
                    pass
        return code_mod.code_key(code_mod.config_packages(config, fit_only=fit_only, extra=extra))

    def _cell(self, name: str, config: dict[str, Any], methods: Sequence[Method], seed: int,
              compute: Callable[[Path], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Read a finished cell back (its protocol and code key match), or compute and write it
        atomically. A cell of the same protocol that other code computed is recomputed, or read
        back with ``--report`` / ``allow_mixed_code``; one written before cells carried a code key
        is recomputed, or listed as not run with ``--report``."""
        key = {"protocol": PROTOCOL_VERSION, "config": config, "methods": [_method_key(m) for m in methods],
               "downstream": [dataclasses.asdict(d) for d in self.downstream],
               "ratios": self.ratios, "features": self.suite.features}
        if self.labeller is not None:  # only where set: other suites' cells keep their key
            key["labeller"] = self.labeller
        protocol = _digest(key)
        code = self.code(config)
        path = self.out / "cells" / self.suite.name / f"{name}-seed{seed}.json"
        what = f"{self.suite.name} seed {seed} {name}"
        saved = _read_cell(path)
        if saved is not None and "protocol" not in saved:
            if not self.compute:
                self._skip(f"seed {seed} {name}", "computed by a bench from before cells were keyed by the code "
                           "that computed them (no code key): run without --report to recompute it")
                return []
            self._say(f"  {what}: computed before cells carried a code key: recomputing")
        elif saved is not None and saved["protocol"] == protocol:
            theirs = code_mod.CodeKey.from_dict(saved["code"])
            if theirs.key == code.key or not self.compute or self.allow_mixed_code:
                self.codes[theirs.key] = theirs
                self._say(f"  {what}: done before, read back" + ("" if theirs.key == code.key else
                                                                  f" (code {theirs.key}, not this code's {code.key})"))
                return saved["rows"]
            changed = [p for p, d in code.packages.items() if theirs.packages.get(p) != d] + [
                lib for lib, v in code.libraries.items() if theirs.libraries.get(lib) != v]
            self._say(f"  {what}: computed by other code ({', '.join(changed) or 'other packages'} changed): "
                      "recomputing")
        if not self.compute:
            self._skip(f"seed {seed} {name}", "not computed yet (--report)")
            return []
        t0 = time.perf_counter()
        # as JSON stores them (NaN as None): a computed cell's rows are the rows it reads back as
        rows = json_safe(compute(self._folder(config, name, seed)))
        for r in rows:
            r.update({"cell": f"{name}-seed{seed}", "quick": self.quick, "code": code.key,
                      "commit": code.commit or "", "versions": code.versions})
        runfolder.write_json(path, {"protocol": protocol, "code": code.as_dict(), "rows": rows})
        self.codes[code.key] = code
        self._say(f"  {what}: {len(rows)} rows in {time.perf_counter() - t0:.1f} s")
        return rows

    def _say(self, msg: str) -> None:
        if not self.quiet:
            self.echo(msg)

    def _config(self, overrides: Sequence[str], seed: int) -> dict[str, Any]:
        return apply_overrides(self.base, [*overrides, f"seed={seed}"])

    def _folder(self, config: dict[str, Any], name: str, seed: int) -> Path:
        """The pipeline run folder of a cell: one per run seed, fitted generator and the code that
        fits it, so cells that differ only in sampling, counts or selection reuse the fitted model
        (the pipeline reruns from the first changed step), and changed generator code refits."""
        from ..config import resolve

        try:
            fit = resolve(config).step_views()["fit"]
        except (AttributeError, KeyError):  # a pipeline without step views: one folder per cell
            return self.out / "runs" / self.suite.name / f"{name}-seed{seed}"
        code = self.code(config, fit_only=True).key
        return self.out / "runs" / self.suite.name / f"seed{seed}-fit{_digest({'fit': fit, 'code': code})[:8]}"

    def _run(self, config: dict[str, Any], folder: Path) -> tuple[Any, dict[str, float]]:
        """Run the pipeline (resuming its folder; no validation: the bench scores the cells
        itself) and return the pipeline object and its cost: wall seconds of fit, generate and
        select, and samples generated per second."""
        from .. import pipeline

        seen: dict[str, Any] = {"pipe": None}
        cost: dict[str, float] = {}

        def on_step(event: pipeline.StepEvent) -> None:
            seen["pipe"] = event.pipeline
            cost[f"{event.step}_s"] = cost.get(f"{event.step}_s", 0.0) + event.seconds

        gda_log = logging.getLogger("gda")
        level = gda_log.level
        gda_log.setLevel(logging.ERROR)  # "config changed: redoing ..." is the bench reusing a folder on purpose
        try:
            pipeline.run(config, folder, overwrite=True, quiet=True, validate=False, on_step=on_step)
        finally:
            gda_log.setLevel(level)
        pipe = seen["pipe"]
        fit_file = folder / "bench_fit.json"  # the folder holds one fitted model: keep what fitting it cost
        if fit_file.is_file():
            cost["fit_s"] = json.loads(fit_file.read_text())["fit_s"]
        else:
            runfolder.write_json(fit_file, {"fit_s": cost.get("fit_s", 0.0)})
        n = len(pipe.synthetic) + sum(len(v) for v in pipe.baselines.values())
        gen_s = cost.get("generate_s", 0.0)
        cost["samples_per_s"] = n / gen_s if gen_s > 0 else math.nan
        return pipe, cost

    def _variant(self, m: Method) -> tuple[str, ...]:
        """The generation ``m`` reads from: its overrides, and its quick ones under ``--quick``."""
        return (*m.variant, *(m.quick if self.quick and m.variant else ()))

    def _variant_config(self, variant: tuple[str, ...], methods: Sequence[Method], seed: int) -> dict[str, Any]:
        """A variant's config: without the baselines unless a method of it reads them, except for a
        variant that changes only the selection (it keeps the base's generate step: the same
        fitted model and the same generated shards, so only selection reruns)."""
        overrides = list(variant)
        if variant and not any(m.classical for m in methods) and not selection_only(variant):
            overrides.append("baselines=[]")
        return self._config(overrides, seed)

    def cell(self, variant: tuple[str, ...], methods: Sequence[Method], seed: int) -> list[dict[str, Any]]:
        """One generation (base or a method's overrides) and every method that reads it."""
        config = self._variant_config(variant, methods, seed)
        name = _slug("-".join(variant)) if variant else "base"
        if variant:
            name = f"v{_digest(list(variant))[:6]}-{name}"
        return self._cell(name, config, methods, seed, lambda folder: self._compute(config, methods, seed, folder))

    def _compute(self, config, methods: Sequence[Method], seed: int, folder: Path) -> list[dict[str, Any]]:
        pipe, cost = self._run(config, folder)
        ctx = pipe.context
        classical = [r for recs in pipe.baselines.values() for r in recs]
        generated = pipe.stages[0][1] if pipe.stages else list(pipe.synthetic)
        filters = self._near_copy_filters(pipe)
        sets: list[tuple[Method, str, list[Record], dict[str, Any]]] = []
        pseudo: dict[int, tuple[list[Record], float]] = {}  # the pool labelled once per rounds, for every method

        def self_trained(m: Method) -> tuple[list[Record], float] | None:
            if ctx.pool is None or len(ctx.pool) == 0:
                self._skip(f"method {m.name}", "the data set offers no unlabelled pool")
                return None
            if (m.rounds > 1 and self.labeller is not None and self.labeller["name"] not in POOL_LABELLERS
                    and not self._labeller_rounds() and pipe.resolved.strategy.pseudo_labelled(ctx.train, ctx) is None):
                self._skip(f"method {m.name}", "iterated self-training relabels with a classifier (core.pseudo-label's "
                           f"rounds); the suite's labeller {self.labeller['name']} has no rounds")
                return None
            if m.rounds not in pseudo:
                pseudo[m.rounds] = self._self_train(pipe, m.rounds)
            return pseudo[m.rounds]

        for m in methods:
            if m.kind == "real":
                sets.append((m, m.name, [], {}))
            elif m.kind == "classical":
                if not classical:
                    self._skip(f"method {m.name}", "the suite has no baseline")
                    continue
                sets.append((m, m.name, classical, {}))
            elif m.kind == "self-train":
                labelled = self_trained(m)
                if labelled is None:
                    continue
                recs, acc = labelled
                sets.append((m, m.name, recs, {"pseudo_label_accuracy": acc}))
            else:
                extra = classical if m.classical else []
                tags = {"family": m.family} if m.family and not m.classical else {}
                if m.self_train:
                    labelled = self_trained(m)
                    if labelled is None:
                        continue
                    extra = [*extra, *labelled[0]]
                    tags["pseudo_label_accuracy"] = labelled[1]
                if m.selector:
                    tags["selector"] = m.selector
                indices = {"kept": [len(pipe.stages) - 1], "none": [0], "each": list(range(len(pipe.stages))),
                           "both": sorted({0, len(pipe.stages) - 1})}[m.stage]
                for i in indices:
                    label, recs = pipe.stages[i]
                    stage = label.replace("generated ", "").strip("()")
                    name = f"{m.name} ({stage})" if m.stage in ("each", "both") else m.name
                    # copies of the added set are counted on its synthetic part (``_synthetic``): a
                    # self_train method's pool records are the generator's own training records
                    info = {"_generated": generated, "_synthetic": list(recs), "near_copy_filtered": any(filters[:i])}
                    sets.append((m, name, list(recs) + extra, {**tags, **info}))
        return self._score(ctx, sets, seed, cost)

    def _near_copy_filters(self, pipe) -> list[bool]:
        """For each selector of the chain: whether it is ``core.near-copy`` in the space the bench
        counts near-copies in (the suite's ``features``), so that what it kept holds none of them
        by construction (raw samples and ``core.flatten`` are one space)."""
        run_embedder = pipe.resolved.embedder.name
        features = self.suite.features or run_embedder

        def space(name: str | None) -> str:
            return "raw" if name in ("raw", "core.flatten") else str(name)

        out = []
        for sel in pipe.resolved.selectors:
            p = sel.params
            mine = "raw" if getattr(p, "space", None) == "raw" else (getattr(p, "embedder", None) or run_embedder)
            out.append(sel.name == "core.near-copy" and space(mine) == space(features))
        return out

    def _labeller_rounds(self) -> bool:
        """Whether the suite's ``labeller`` is a strategy outside :data:`POOL_LABELLERS` with a
        ``rounds`` parameter of its own (it iterates itself: ``medical.pseudo-mask``)."""
        if self.labeller is None or self.labeller["name"] in POOL_LABELLERS:
            return False
        try:
            return "rounds" in host.get("strategies", self.labeller["name"]).Params.model_fields
        except GDAError:
            return False

    def _self_train(self, pipe, rounds: int = 1) -> tuple[list[Record], float]:
        """The pool pseudo-labelled with no generator: the very records the run's strategy
        pseudo-labelled and fitted its generator on (:meth:`~gda_core.Strategy.pseudo_labelled`, so
        the comparison isolates what generation adds to the same pseudo-labels), or, for a
        strategy without pseudo-labels, those of :data:`SELF_TRAIN_LABELLER` in the suite's
        feature space, or the suite's ``labeller`` strategy's (segmentation: pseudo-masks); and their
        accuracy against the pool's hidden labels (NaN without them). ``rounds`` above 1 iterates
        (classification): the same first labeller and keep rule, then ``rounds - 1`` rounds of
        :data:`ITERATED_SELF_TRAIN` (an RBF SVM retrained on real + kept pseudo-labelled records
        labels the whole pool again); a ``labeller`` with ``rounds`` of its own (segmentation's
        ``medical.pseudo-mask``) iterates by its own rule instead."""
        from ..builtin.pool import PseudoLabelParams, pseudo_label

        ctx = pipe.context
        strategy = pipe.resolved.strategy
        recs = strategy.pseudo_labelled(ctx.train, ctx)
        if recs is None and rounds > 1 and self._labeller_rounds():
            # a labeller strategy that iterates itself (medical.pseudo-mask: the UNet retrained on
            # labelled + pseudo-pairs relabels the whole pool): its own rule, ``rounds`` rounds
            ref = self.labeller
            labeller = host.create("strategies", ref["name"], {**ref.get("params", {}), "rounds": rounds})
            recs = labeller.pseudo_labelled(ctx.train, ctx.fitting(f"strategy {ref['name']} (self-train x{rounds})"))
        elif rounds > 1:
            view = pipe.fitting("bench self-training")  # no test split, no hidden labels
            own = getattr(strategy, "params", None)
            if recs is not None and isinstance(own, PseudoLabelParams):
                base = own.model_dump(include=set(PseudoLabelParams.model_fields))
                embedder = None
            elif self.labeller is not None and self.labeller["name"] in POOL_LABELLERS:
                base, embedder = dict(self.labeller.get("params", {})), None
            else:
                base, embedder = dict(SELF_TRAIN_LABELLER), self.suite.features
            params = PseudoLabelParams(**{**base, **ITERATED_SELF_TRAIN, "rounds": rounds})
            recs, _ = pseudo_label(ctx.train, view.pool, view, params, embedder=embedder)
        if recs is None and self.labeller is not None:
            ref = self.labeller
            labeller = host.create("strategies", ref["name"], ref.get("params", {}))
            recs = labeller.pseudo_labelled(ctx.train, ctx.fitting(f"strategy {ref['name']} (self-train)"))
        if recs is None:
            recs, _ = pseudo_label(ctx.train, ctx.pool, ctx, PseudoLabelParams(**SELF_TRAIN_LABELLER),
                                   embedder=self.suite.features)
        acc = pipe.pseudo_label_accuracy(recs)
        return recs, math.nan if acc is None else acc

    def _score(self, ctx, sets, seed: int, cost: dict[str, float], ratio: float | None = None) -> list[dict[str, Any]]:
        """Rows for each ``(method, label, records, extra)`` set and downstream model. Near-copies
        are counted with one :class:`~gda_core.near_copies.NearCopyMeasure` per reference: the
        records the generator learned from for generative sets, the labelled records for the
        classical and self-training sets. ``extra["_generated"]`` is the set a generative set was
        selected from (its share before selection); without it the set itself is that set."""
        from ..near_copies import NearCopyMeasure, generator_reference

        train, test = ctx.train, ctx.test
        feats_test = ctx.embed(test.records, self.suite.features)
        refs: dict[int, tuple[np.ndarray, Any]] = {}
        before: dict[tuple[int, int], float] = {}
        fid: dict[str, dict[str, float]] = {}
        for m, label, recs, extra in sets:
            # copies are measured against the real records the generator trained on (train + pool
            # for a pool strategy); classical and self-train sets against the labelled records
            ref = generator_reference(ctx) if m.kind == "generative" else train
            if id(ref) not in refs:
                feats = ctx.embed(ref.records, self.suite.features)
                refs[id(ref)] = (feats, NearCopyMeasure.fit(feats))
            feats_ref, measure = refs[id(ref)]
            # the added set's copies and fidelity: of its synthetic part (a self_train method's pool
            # records are the generator's own training records, not samples)
            added = extra.get("_synthetic", recs) if m.kind == "generative" else recs
            fake = ctx.embed(added, self.suite.features) if added else np.zeros((0, feats_ref.shape[1]))
            fid[label] = fidelity(feats_ref, feats_test, fake, measure)
            if m.kind in ("generative", "classical"):
                source = extra.get("_generated", recs)
                if (id(source), id(ref)) not in before:
                    feats = ctx.embed(list(source), self.suite.features) if source else fake[:0]
                    before[(id(source), id(ref))] = measure.share(measure.distances(feats))
                fid[label].update(n_generated=len(source), near_copy_share_generated=before[(id(source), id(ref))])
        split = split_digest(train, test)
        rows = []
        for dm in self.downstream:
            app = host.create("applications", dm.application["name"], dm.application.get("params", {}))
            ctx.application = app
            for m, label, recs, extra in sets:
                t0 = time.perf_counter()
                scores = app.evaluate(train.with_records(list(train.records) + list(recs)), test,
                                      seed=seed, context=ctx)
                rows.append({
                    "suite": self.suite.name, "method": label, "kind": "sweep" if ratio else m.kind,
                    "seed": seed, "split": split, "model": dm.label, "metric": app.metric,
                    "score": float(scores[app.metric]),
                    "ratio": ratio, "n_real": len(train), "n_synthetic": len(recs), **fid[label],
                    **{k: v for k, v in extra.items() if not k.startswith("_")},
                    **(cost if recs and m.kind in ("generative", "classical") else {}),
                    "validate_s": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb(),
                })
        return rows

    def _sweep_config(self, seed: int, of: Method | None) -> dict[str, Any]:
        top = max(self.ratios)
        counts = ["generate.per_class=null", "generate.n=null", f"generate.ratio={top}", "selectors=[]",
                  "baselines=[]"]
        if of is None:
            return self._config([*self.suite.sweep, *counts], seed)
        return self._config([*self._variant(of), *counts], seed)

    def sweep(self, seed: int, of: Method | None = None) -> list[dict[str, Any]]:
        """Real + the first ``ratio x n_c`` generated samples of each class, for each ratio
        (no selection, so the sets are nested), from one generation at the largest ratio: of the
        suite's base generator (with the suite's ``sweep`` overrides), or of method ``of``'s."""
        config = self._sweep_config(seed, of)
        if of is None:
            base = next((m for m in self.methods if m.name == "gen"), None)
            method = Method("ratio", "generative", stage="none", family=base.family if base else "")
            name, label, sweep = "sweep", "ratio", "gen"
        else:
            method = dataclasses.replace(of, stage="none", sweep=False, selector="")
            name, label, sweep = f"sweep-{_slug(of.name)}", f"{of.name} ratio", of.name
        return self._cell(name, config, [method], seed,
                          lambda folder: self._sweep(config, method, seed, folder, label, sweep))

    def _sweep(self, config, method: Method, seed: int, folder: Path, label: str = "ratio",
               sweep: str = "gen") -> list[dict[str, Any]]:
        pipe, cost = self._run(config, folder)
        ctx = pipe.context
        counts = {c: len(v) for c, v in ctx.train.by_class().items()}
        by_class: dict[Any, list[Record]] = {}
        for r in pipe.synthetic:
            by_class.setdefault(r.label, []).append(r)
        rows = []
        tags = {"family": method.family, "sweep": sweep}
        for ratio in sorted(self.ratios):
            recs = [r for c, n in counts.items() for r in by_class.get(c, [])[:max(1, round(ratio * n))]]
            rows += self._score(ctx, [(method, f"{label} {ratio:g}", recs, tags)], seed, cost, ratio=ratio)
        return rows


def selection_only(variant: Sequence[str]) -> bool:
    """Whether these overrides change only the selector chain (``selectors=...``, ``selectors.0...``)."""
    return bool(variant) and all(o.split("=", 1)[0].strip().split(".")[0] == "selectors" for o in variant)


def _read_cell(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (json.JSONDecodeError, OSError):
        return None
    return saved if isinstance(saved, dict) and "rows" in saved else None


def _runners(suites: Sequence[Suite], out: Path, *, seeds: int | None, quick: bool, quiet: bool,
             echo: Callable[[str], None], methods: Sequence[str] | None, compute: bool,
             allow_mixed_code: bool, skipped: list[Skipped]) -> list[SuiteRunner]:
    memory = machine_memory_gb()
    runners = []
    for suite in suites:
        if suite.memory_gb > memory:
            skipped.append(Skipped(suite.name, "whole suite",
                                   f"needs {suite.memory_gb:g} GiB, the machine has {memory:.1f} GiB"))
            continue
        n = seeds or (suite.quick_seeds if quick else suite.seeds)
        chosen = [*methods, "real", "classical"] if methods else None
        runners.append(SuiteRunner(suite, out, seeds=n, quick=quick, quiet=quiet, echo=echo, methods=chosen,
                                   compute=compute, allow_mixed_code=allow_mixed_code))
    return runners


def run_bench(suites: Sequence[Suite], out: Path, *, seeds: int | None = None, quick: bool = False,
              quiet: bool = False, echo: Callable[[str], None] = print, methods: Sequence[str] | None = None,
              compute: bool = True, allow_mixed_code: bool = False, ray: Any = None) -> BenchRun:
    """Run ``suites`` into ``out`` (resuming finished cells) and return every row.

    ``methods`` (shell patterns) keeps only the matching methods (``real`` and ``classical``
    always run: the comparisons need them); with ``compute`` False only finished cells are read
    and the others are listed as not computed. Cells computed by different code (a package or
    library in two versions, :func:`mixed_code`) are refused with a :class:`GDAError` unless
    ``allow_mixed_code``; each row carries its code key. ``ray`` (a
    :class:`~gda_core.bench.ray_cells.RayBench`) runs the cells as Ray tasks instead of here: the
    same cells, the same rows in the same order.
    """
    code_mod.refresh()
    skipped: list[Skipped] = []
    runners = _runners(suites, out, seeds=seeds, quick=quick, quiet=quiet, echo=echo, methods=methods,
                       compute=compute, allow_mixed_code=allow_mixed_code, skipped=skipped)
    if ray is not None and compute:
        result = ray.run(runners, echo=echo, quiet=quiet)
        result.skipped[:0] = skipped
    else:
        rows: list[dict[str, Any]] = []
        seconds: dict[str, float] = {}
        cpu: dict[str, float] = {}
        codes: dict[str, code_mod.CodeKey] = {}
        for runner in runners:
            if not quiet:
                echo(f"suite {runner.suite.name}: {runner.seeds} seed(s){' (quick)' if quick else ''}")
            t0, c0 = time.perf_counter(), time.process_time()
            rows += runner.run()
            skipped += runner.skipped
            codes.update(runner.codes)
            seconds[runner.suite.name] = time.perf_counter() - t0
            cpu[runner.suite.name] = time.process_time() - c0
        result = BenchRun(rows, skipped, seconds, cpu, codes)
    used = {r.get("code") for r in result.rows}
    result.codes = {k: v for k, v in result.codes.items() if k in used}
    mixed = mixed_code(list(result.codes.values()))
    if mixed and not allow_mixed_code:
        commits = sorted({c.commit or "no commit" for c in result.codes.values()})
        raise GDAError(f"the finished cells in {out} were computed by different code: {'; '.join(mixed)} "
                       f"(commits {', '.join(commits)}); recompute them (run without --report), or pass "
                       "--allow-mixed-code to report them with each row marked by its code key")
    return result
