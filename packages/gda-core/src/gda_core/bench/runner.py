"""Running suites: cells through the pipeline, resumable, one row per method x seed x model.

A cell is one suite, run seed and generation variant (the methods sharing that generation),
or one seed's ratio sweep. Its pipeline run folder lives under ``runs/`` (so an interrupted
generation resumes from its shards) and its rows are written atomically to ``cells/`` with
the hash of everything that determines them: a restarted bench reads finished cells back
instead of recomputing them, and a changed protocol recomputes them.
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

from .. import __version__, runfolder
from ..config import apply_overrides
from ..errors import GDAError
from ..host import host
from ..records import Record
from .fidelity import fidelity
from .suite import Method, Suite

if TYPE_CHECKING:
    from gda_core.records import Dataset

log = logging.getLogger("gda.bench")

SELF_TRAIN_LABELLER: dict[str, Any] = {"classifier": "logistic", "standardize": True, "keep": 0.5, "per_class": True}
"""How the ``self-train`` method labels the pool when the suite's strategy uses no pseudo-labels:
logistic regression on standardised features, the most confident half of each predicted class
(:func:`gda_core.builtin.pool.pseudo_label` with these :class:`~gda_core.builtin.pool.PseudoLabelParams`)."""

PROTOCOL_VERSION = "1"
"""Bumped when the bench computes a cell differently; older cells are then recomputed."""

FIELDS = [
    "suite", "method", "kind", "family", "sweep", "seed", "split", "model", "metric", "score", "ratio", "n_real",
    "n_synthetic",
    "near_copy_share", "near_copy_share_real", "precision", "recall", "density", "coverage",
    "frechet", "frechet_real", "pseudo_label_accuracy", "fit_s", "generate_s", "select_s",
    "validate_s", "samples_per_s", "peak_rss_mb", "quick", "cell",
]
"""Columns of ``results.csv``: one row per suite x method x seed x downstream model. ``split`` is a
digest of the labelled training ids and the test ids: equal within a seed (so pairing is fair),
different across seeds (a run seed redraws the split and the k shots). ``family`` is the generator
family a method stands for (``Method.family``); ``sweep`` names the method whose generator a
ratio-sweep row comes from (``gen``: the suite's base generator)."""


@dataclasses.dataclass
class Skipped:
    """Something the bench did not run, and why (listed in ``results.md``, never dropped)."""

    suite: str
    what: str
    why: str


@dataclasses.dataclass
class BenchRun:
    """What a bench produced: its rows, what it skipped, and each suite's wall and CPU seconds
    (CPU time of this process, all threads: on a busy machine it says what the wall time would be
    on an idle one)."""

    rows: list[dict[str, Any]]
    skipped: list[Skipped]
    seconds: dict[str, float]
    cpu_seconds: dict[str, float] = dataclasses.field(default_factory=dict)


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
            if k not in ("family", "sweep", "quick") or v != defaults.get(k)}


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
    """Runs one suite's cells for the given run seeds into ``out``."""

    def __init__(self, suite: Suite, out: Path, *, seeds: int, quick: bool, quiet: bool,
                 echo: Callable[[str], None] = print, methods: Sequence[str] | None = None,
                 compute: bool = True) -> None:
        self.suite, self.out, self.seeds, self.quick, self.quiet = suite, out, seeds, quick, quiet
        self.echo, self.compute = echo, compute
        self.skipped: list[Skipped] = []
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
        self.methods: list[Method] = []
        for m in suite.methods:
            if methods and not any(fnmatch.fnmatchcase(m.name, pat) for pat in methods):
                self.skipped.append(Skipped(suite.name, f"method {m.name}", "not selected (--method)"))
                continue
            missing = missing_requirements(m)
            unset = [r.partition(":")[2] for r in missing if r.startswith("env:")]
            absent = [r for r in missing if not r.startswith("env:")]
            if missing:
                why = ([f"not installed: {', '.join(absent)}"] if absent else []) + (
                    [f"not run: set {', '.join(unset)}"] if unset else [])
                self.skipped.append(Skipped(suite.name, f"method {m.name}", "; ".join(why)))
            else:
                self.methods.append(m)

    # -- cells ------------------------------------------------------------

    def run(self) -> list[dict[str, Any]]:
        """Every cell: the base generation of every seed first, then the cells that reuse its
        fitted generator (sampling or selection variants, the ratio sweep), then the variants that
        fit a generator of their own, so a bench stopped early has the widest paired comparison."""
        variants: list[tuple[str, ...]] = [()]
        for m in self.methods:
            if self._variant(m) not in variants:
                variants.append(self._variant(m))
        tasks: list[tuple[int, int, int, str, Callable[[], list[dict[str, Any]]]]] = []
        for seed in range(self.seeds):
            base_fit = self._fit_key(self._variant_config((), [], seed))
            for i, variant in enumerate(variants):
                methods = [m for m in self.methods if self._variant(m) == variant]
                tier = 0 if not variant else (1 if self._fit_key(self._variant_config(variant, methods, seed))
                                              == base_fit else 2)
                tasks.append((tier, i, seed, f"seed {seed} {' '.join(variant) or 'base'}",
                              lambda v=variant, ms=methods, s=seed: self.cell(v, ms, s)))
            if self.ratios:
                tasks.append((1, len(variants), seed, f"seed {seed} ratio sweep", lambda s=seed: self.sweep(s)))
                # a method's own sweep reuses its cell's fitted generator: after every cell has run
                for j, m in enumerate(m for m in self.methods if m.sweep):
                    tasks.append((3, j, seed, f"seed {seed} ratio sweep of {m.name}",
                                  lambda s=seed, m=m: self.sweep(s, m)))
        rows: list[dict[str, Any]] = []
        for _tier, _i, _seed, what, fn in sorted(tasks, key=lambda t: t[:3]):
            rows += self._guarded(what, fn)
        return rows

    def _fit_key(self, config: dict[str, Any]) -> str:
        """What decides the fitted generator (the folder a cell runs in), or "" when unknown."""
        try:
            return self._folder(config, "", 0).name
        except GDAError:  # an unknown component: the cell itself reports it
            return ""

    def _guarded(self, what: str, fn: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        try:
            return fn()
        except (GDAError, MemoryError, RuntimeError, ValueError, OSError, ImportError) as exc:
            log.debug("cell failed", exc_info=True)
            self.skipped.append(Skipped(self.suite.name, what, f"failed: {type(exc).__name__}: {exc}"))
            if not self.quiet:
                self.echo(f"  {self.suite.name} {what}: FAILED {type(exc).__name__}: {exc}")
                self.echo("".join(traceback.format_exception(exc)[-3:]).rstrip())
            return []

    def _cell(self, name: str, config: dict[str, Any], methods: Sequence[Method], seed: int,
              compute: Callable[[Path], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Read a finished cell back, or compute and write it atomically."""
        key = _digest({"protocol": PROTOCOL_VERSION, "gda": __version__, "config": config,
                       "methods": [_method_key(m) for m in methods],
                       "downstream": [dataclasses.asdict(d) for d in self.downstream],
                       "ratios": self.ratios, "features": self.suite.features})
        path = self.out / "cells" / self.suite.name / f"{name}-seed{seed}.json"
        if path.is_file():
            try:
                saved = json.loads(path.read_text())
            except json.JSONDecodeError:
                saved = {}
            if saved.get("key") == key:
                if not self.quiet:
                    self.echo(f"  {self.suite.name} seed {seed} {name}: done before, read back")
                return saved["rows"]
        if not self.compute:
            self.skipped.append(Skipped(self.suite.name, f"seed {seed} {name}", "not computed yet (--report)"))
            return []
        t0 = time.perf_counter()
        rows = compute(self._folder(config, name, seed))
        for r in rows:
            r["cell"] = f"{name}-seed{seed}"
            r["quick"] = self.quick
        runfolder.write_json(path, {"key": key, "rows": rows})
        if not self.quiet:
            self.echo(f"  {self.suite.name} seed {seed} {name}: {len(rows)} rows in {time.perf_counter() - t0:.1f} s")
        return rows

    def _config(self, overrides: Sequence[str], seed: int) -> dict[str, Any]:
        return apply_overrides(self.base, [*overrides, f"seed={seed}"])

    def _folder(self, config: dict[str, Any], name: str, seed: int) -> Path:
        """The pipeline run folder of a cell: one per run seed and fitted generator, so cells that
        differ only in sampling, counts or selection reuse the fitted model (the pipeline reruns
        from the first changed step)."""
        from ..config import resolve

        try:
            fit = resolve(config).step_views()["fit"]
        except (AttributeError, KeyError):  # a pipeline without step views: one folder per cell
            return self.out / "runs" / self.suite.name / f"{name}-seed{seed}"
        return self.out / "runs" / self.suite.name / f"seed{seed}-fit{_digest(fit)[:8]}"

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
        overrides = list(variant)
        if variant and not any(m.classical for m in methods):
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
        sets: list[tuple[Method, str, list[Record], dict[str, Any]]] = []
        for m in methods:
            if m.kind == "real":
                sets.append((m, m.name, [], {}))
            elif m.kind == "classical":
                if not classical:
                    self.skipped.append(Skipped(self.suite.name, f"method {m.name}", "the suite has no baseline"))
                    continue
                sets.append((m, m.name, classical, {}))
            elif m.kind == "self-train":
                if ctx.pool is None or len(ctx.pool) == 0:
                    self._skip_once(f"method {m.name}", "the data set offers no unlabelled pool")
                    continue
                recs, acc = self._self_train(pipe)
                sets.append((m, m.name, recs, {"pseudo_label_accuracy": acc}))
            else:
                extra = classical if m.classical else []
                family = {"family": m.family} if m.family and not m.classical else {}
                if m.stage in ("each", "both"):
                    stages = pipe.stages if m.stage == "each" or len(pipe.stages) < 2 else [pipe.stages[0],
                                                                                             pipe.stages[-1]]
                    for label, recs in stages:
                        stage = label.replace("generated ", "").strip("()")
                        sets.append((m, f"{m.name} ({stage})", list(recs) + extra, family))
                else:
                    recs = pipe.stages[-1][1] if m.stage == "kept" else pipe.stages[0][1]
                    sets.append((m, m.name, list(recs) + extra, family))
        return self._score(ctx, sets, seed, cost)

    def _self_train(self, pipe) -> tuple[list[Record], float]:
        """The pool pseudo-labelled with no generator: the very records the run's strategy
        pseudo-labelled and fitted its generator on (:meth:`~gda_core.Strategy.pseudo_labelled`, so
        the comparison isolates what generation adds to the same pseudo-labels), or, for a
        strategy without pseudo-labels, those of :data:`SELF_TRAIN_LABELLER` in the suite's
        feature space; and their accuracy against the pool's hidden labels (NaN without them)."""
        from ..builtin.pool import PseudoLabelParams, pseudo_label

        ctx = pipe.context
        recs = pipe.resolved.strategy.pseudo_labelled(ctx.train, ctx)
        if recs is None:
            recs, _ = pseudo_label(ctx.train, ctx.pool, ctx, PseudoLabelParams(**SELF_TRAIN_LABELLER),
                                   embedder=self.suite.features)
        acc = pipe.pseudo_label_accuracy(recs)
        return recs, math.nan if acc is None else acc

    def _skip_once(self, what: str, why: str) -> None:
        if not any(s.what == what and s.why == why for s in self.skipped):
            self.skipped.append(Skipped(self.suite.name, what, why))

    def _score(self, ctx, sets, seed: int, cost: dict[str, float], ratio: float | None = None) -> list[dict[str, Any]]:
        from ..near_copies import NearCopyMeasure, generator_reference

        train, test = ctx.train, ctx.test
        feats_test = ctx.embed(test.records, self.suite.features)
        refs: dict[int, tuple[np.ndarray, Any]] = {}
        fid: dict[str, dict[str, float]] = {}
        for m, label, recs, _extra in sets:
            # copies are measured against the real records the generator trained on (train + pool
            # for a pool strategy); classical and self-train sets against the labelled records
            ref = generator_reference(ctx) if m.kind == "generative" else train
            if id(ref) not in refs:
                feats = ctx.embed(ref.records, self.suite.features)
                refs[id(ref)] = (feats, NearCopyMeasure.fit(feats))
            feats_ref, measure = refs[id(ref)]
            fake = ctx.embed(recs, self.suite.features) if recs else np.zeros((0, feats_ref.shape[1]))
            fid[label] = fidelity(feats_ref, feats_test, fake, measure)
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
                    "ratio": ratio, "n_real": len(train), "n_synthetic": len(recs), **fid[label], **extra,
                    **(cost if recs and m.kind in ("generative", "classical") else {}),
                    "validate_s": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb(),
                })
        return rows

    def sweep(self, seed: int, of: Method | None = None) -> list[dict[str, Any]]:
        """Real + the first ``ratio x n_c`` generated samples of each class, for each ratio
        (no selection, so the sets are nested), from one generation at the largest ratio: of the
        suite's base generator (with the suite's ``sweep`` overrides), or of method ``of``'s."""
        top = max(self.ratios)
        counts = ["generate.per_class=null", "generate.n=null", f"generate.ratio={top}", "selectors=[]",
                  "baselines=[]"]
        if of is None:
            config = self._config([*self.suite.sweep, *counts], seed)
            base = next((m for m in self.methods if m.name == "gen"), None)
            method = Method("ratio", "generative", stage="none", family=base.family if base else "")
            name, label, sweep = "sweep", "ratio", "gen"
        else:
            config = self._config([*self._variant(of), *counts], seed)
            method = dataclasses.replace(of, stage="none", sweep=False)
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


def run_bench(suites: Sequence[Suite], out: Path, *, seeds: int | None = None, quick: bool = False,
              quiet: bool = False, echo: Callable[[str], None] = print, methods: Sequence[str] | None = None,
              compute: bool = True) -> BenchRun:
    """Run ``suites`` into ``out`` (resuming finished cells) and return every row.

    ``methods`` (shell patterns) keeps only the matching methods (``real`` and ``classical``
    always run: the comparisons need them); with ``compute`` False only finished cells are read
    and the others are listed as not computed.
    """
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    memory = machine_memory_gb()
    for suite in suites:
        if suite.memory_gb > memory:
            skipped.append(Skipped(suite.name, "whole suite",
                                   f"needs {suite.memory_gb:g} GiB, the machine has {memory:.1f} GiB"))
            continue
        n = seeds or (suite.quick_seeds if quick else suite.seeds)
        if not quiet:
            echo(f"suite {suite.name}: {n} seed(s){' (quick)' if quick else ''}")
        t0, c0 = time.perf_counter(), time.process_time()
        chosen = [*methods, "real", "classical"] if methods else None
        runner = SuiteRunner(suite, out, seeds=n, quick=quick, quiet=quiet, echo=echo, methods=chosen,
                             compute=compute)
        rows += runner.run()
        skipped += runner.skipped
        seconds[suite.name] = time.perf_counter() - t0
        cpu[suite.name] = time.process_time() - c0
    return BenchRun(rows, skipped, seconds, cpu)
