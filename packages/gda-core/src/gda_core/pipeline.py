"""The GDA pipeline: dataset -> strategy.fit -> generate (shards) -> select -> validate -> write.

Everything that can be wrong with the input (config, data, output folder) is
checked before the run folder is touched. Each step writes its results
atomically; generation is split into shards, and a run started again on the
same folder with the same config resumes from its finished shards and the saved
model, and ends with the same manifest as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import near_copies, runfolder
from .components import DataSplits, Strategy, ValidationInputs, ValidationResult
from .config import ResolvedRun, apply_overrides, dump_yaml, load_yaml, resolve
from .context import SCRATCH_DIR, FitContext, RunContext
from .errors import ConfigError, DataError, GDAError, NotApplicable, RunFolderError
from .executors import Executor, ShardTask, open_executor
from .records import (
    SYNTHETIC,
    Dataset,
    Provenance,
    Record,
    RecordSpec,
    duplicate_ids,
    fingerprint,
    json_safe,
    label_key,
    validate_dataset,
)
from .report import write_report
from .results import RunResult
from .splits import hidden_labels, label_accuracy, split_train_test, without_hidden_labels

log = logging.getLogger("gda")

SYNTHETIC_SET = "synthetic"
POOL_REPORT = "pool_strategy.json"
"""The strategy's pool summary in the run folder, with the pseudo-labels' accuracy vs hidden labels."""
STEPS = ("generate", "select", "validate")
STEP_ORDER_AFTER = {s: STEPS[i + 1:] for i, s in enumerate(STEPS)}



def _seed_for(seed: int, *keys: int) -> int:
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


def class_counts_to_generate(resolved: ResolvedRun, train: Dataset) -> dict[Any, int]:
    """How many samples of each class the ``generate`` section asks for."""
    g = resolved.config.generate
    by_class = train.by_class()
    classes = list(train.classes) or [None]
    if not train.classes:
        by_class = {None: list(train.records)}
    if g.per_class is not None:
        return {c: g.per_class for c in classes}
    if g.n is not None:
        base, extra = divmod(g.n, len(classes))
        return {c: base + (1 if i < extra else 0) for i, c in enumerate(classes)}
    return {c: max(1, int(round(g.ratio * len(by_class.get(c, []))))) for c in classes}


@dataclasses.dataclass(frozen=True)
class StepEvent:
    """What an ``on_step`` callback receives when a step of a run ends.

    ``step`` is ``"fit"`` (fitting, or loading the fitted model: ``loaded`` tells which),
    ``"generate"``, ``"select"`` or ``"validate"``; ``seconds`` its wall time; ``pipeline`` the
    :class:`Pipeline` (its context, synthetic records, stages and results). A step that raises
    sends no event.
    """

    step: str
    seconds: float
    pipeline: Pipeline
    loaded: bool = False


OnStep = Callable[[StepEvent], None]
"""The type of an ``on_step`` callback."""


class Pipeline:
    """One run of a resolved config in one run folder.

    ``on_step`` is called with a :class:`StepEvent` after each step (timing, progress, tools
    such as ``gda bench`` that read the run's records when it ends).
    """

    def __init__(self, resolved: ResolvedRun, folder: str | Path, *, quiet: bool = False,
                 on_step: OnStep | None = None) -> None:
        self.resolved = resolved
        self.folder = Path(folder)
        self.quiet = quiet
        self.on_step = on_step
        self.config = resolved.config
        self.context: RunContext | None = None
        self.synthetic: list[Record] = []
        self.baselines: dict[str, list[Record]] = {}
        self.stages: list[tuple[str, list[Record]]] = []
        self.results: dict[str, ValidationResult] = {}
        self._executor_open: Any = None
        self._fitted_selectors: set[int] = set()
        self.hidden_labels: dict[str, Any] = {}
        """The pool's hidden labels by record id, kept aside when the data is loaded (the pool in
        every context has none): for the report's pseudo-label accuracy only."""
        self.pseudo_labels: dict[str, Any] | None = None
        self._views: dict[str, FitContext] = {}
        self._spec: RecordSpec | None = None
        self._fingerprints: dict[str, str] | None = None

    @contextlib.contextmanager
    def _step(self, name: str) -> Iterator[dict[str, bool]]:
        """Time step ``name`` and send its :class:`StepEvent` when it ends (not when it raises)."""
        t0 = time.perf_counter()
        info = {"loaded": False}
        yield info
        if self.on_step is not None:
            self.on_step(StepEvent(name, time.perf_counter() - t0, self, loaded=info["loaded"]))

    @contextlib.contextmanager
    def executor(self) -> Iterator[Executor]:
        """The run's executor (``executor`` in the config: local, or ray): opened by the first
        caller, shared by nested ones (one Ray session for generation and selection), closed after."""
        if self._executor_open is not None:
            yield self._executor_open
            return
        with open_executor(self.config.executor) as ex:
            self._executor_open = ex
            try:
                yield ex
            finally:
                self._executor_open = None

    # -- data -------------------------------------------------------------

    def load_data(self) -> RunContext:
        """Load, check and split the real data; build the run context."""
        cfg = self.config
        ctx = RunContext(train=Dataset([]), seed=cfg.seed, quiet=self.quiet, workdir=self.folder)
        try:
            splits = self.resolved.dataset.load(ctx)
        except GDAError:
            raise
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:  # unreadable files
            raise DataError(f"dataset {self.resolved.dataset.name}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(splits, DataSplits):
            raise DataError(f"dataset {self.resolved.dataset.name} returned {type(splits).__name__}, not DataSplits")
        train, test = splits.train, splits.test
        # unlabelled data (no record has a label) is fine; partly labelled data is not
        labelled = any(r.label is not None for r in train.records)
        validate_dataset(train, name=f"dataset {self.resolved.dataset.name} (train)", need_labels=labelled)
        for c, recs in train.by_class().items():
            if not recs:
                raise DataError(f"dataset {self.resolved.dataset.name}: class {c!r} has no samples")
        if test is None:
            train, test = split_train_test(train, cfg.test_size, cfg.seed)
        validate_dataset(test, name=f"dataset {self.resolved.dataset.name} (test)", need_labels=labelled)
        for part, ds in (("train", train), ("test", test)):
            dup = duplicate_ids(ds)
            if dup is not None:
                raise DataError(f"dataset {self.resolved.dataset.name} ({part}): {dup[1]} record id(s) repeat "
                                f"(first: {dup[0]!r}); every record needs its own id")
        clash = [r.id for r in test.records if r.id in {t.id for t in train.records}]
        if clash:
            raise DataError(f"dataset {self.resolved.dataset.name}: {len(clash)} test record(s) share an id with a "
                            f"training record (first: {clash[0]!r}); ids must be unique across splits")
        pool = splits.pool
        if pool is not None:
            pool = self._check_pool(pool, train, test)
        self.hidden_labels = hidden_labels(pool)
        ctx.train, ctx.test, ctx.pool = train, test, without_hidden_labels(pool)
        self._views, self._spec = {}, None
        ctx.embedder = self.resolved.embedder
        ctx.embedders = self.resolved.named_embedders()
        ctx.application = self.resolved.application
        self.context = ctx
        return ctx

    def fitting(self, component: str) -> FitContext:
        """The context ``component`` fits, generates or selects with (no test split, no hidden
        labels; :class:`~gda_core.context.FitContext`), one per component name."""
        if component not in self._views:
            self._views[component] = self._ctx().fitting(component)
        return self._views[component]

    def step_views(self) -> dict[str, dict[str, Any]]:
        """The config part each step depends on (:meth:`ResolvedRun.step_views`) plus the loaded data's
        fingerprints: training records and pool for ``fit``, the test split for ``validate``, so an
        edited data file counts as a change, as an edited config does."""
        ctx = self._ctx()
        if self._fingerprints is None:
            self._fingerprints = {"train": fingerprint(ctx.train) + "+" + fingerprint(ctx.pool),
                                  "test": fingerprint(ctx.test)}
        views = self.resolved.step_views()
        views["fit"][runfolder.DATA_KEYS["fit"]] = self._fingerprints["train"]
        views["validate"][runfolder.DATA_KEYS["validate"]] = self._fingerprints["test"]
        return views

    def _check_pool(self, pool: Dataset, train: Dataset, test: Dataset) -> Dataset | None:
        """An unlabelled pool must hold no test record and no label; an empty one is dropped."""
        name = f"dataset {self.resolved.dataset.name} (pool)"
        if len(pool) == 0:
            return None
        validate_dataset(pool, name=name, need_labels=False)
        labelled = [r.id for r in pool.records if r.label is not None]
        if labelled:
            raise DataError(f"{name}: {len(labelled)} pool record(s) carry a label (first: {labelled[0]!r}); "
                            "a pool is unlabelled")
        test_ids = {r.id for r in test.records}
        leaked = [r.id for r in pool.records if r.id in test_ids]
        if leaked:
            raise DataError(f"{name}: {len(leaked)} pool record(s) are test records (first: {leaked[0]!r})")
        train_ids = {r.id for r in train.records}
        clash = [r.id for r in pool.records if r.id in train_ids]
        if clash:
            raise DataError(f"{name}: {len(clash)} pool record(s) share an id with a training record "
                            f"(first: {clash[0]!r})")
        return pool

    # -- checks before the folder is touched -----------------------------------

    def precheck(self) -> None:
        """What can be told before any work: the generator (or the pretrained folder) against the
        data, and the requested counts against free memory and disk. Raises a :class:`GDAError`."""
        ctx = self._ctx()
        gen, strategy = self.resolved.generator, self.resolved.strategy
        if strategy.uses_pool() and (ctx.pool is None or len(ctx.pool) == 0):
            loader = self.resolved.dataset
            raise ConfigError(f"strategy {strategy.name} needs an unlabelled pool, but dataset {loader.name} "
                              f"offers none: {loader.pool_hint}")
        try:
            strategy.check(gen, ctx.train)
        except DataError as exc:
            raise DataError(f"generator {gen.name}: {exc}") from exc
        for i, base in enumerate(self.resolved.baselines):
            try:
                base.check_train(ctx.train)
            except DataError as exc:
                raise DataError(f"baselines[{i}] ({base.name}): {exc}") from exc
        self._check_resources(ctx.train)

    def _check_resources(self, train: Dataset) -> None:
        """Refuse counts whose records would not fit in free memory or on the output's disk."""
        counts = class_counts_to_generate(self.resolved, train)
        n = sum(counts.values()) * (1 + len(self.resolved.baselines))
        first = train.records[0] if len(train) else None
        data = getattr(first, "data", None)
        if isinstance(data, str):
            per = 4 * max(len(r.data) for r in train.records)
        else:
            per = int(np.asarray(data).nbytes) if data is not None else 8
            target = getattr(first, "target", None)
            per += int(np.asarray(target).nbytes) if target is not None else 0
        overhead = 2048  # a record's objects, its provenance and its condition
        need_mem, need_disk = n * (per + overhead), n * (per + 512) * 2  # shards and samples
        g = self.config.generate
        field = next((f"generate.{k}={getattr(g, k)}" for k in ("per_class", "n", "ratio")
                      if getattr(g, k) is not None), "generate")
        avail = _available_memory()
        if avail is not None and need_mem > avail:
            raise ConfigError(f"{field} asks for {n:,} records, about {_size(need_mem)} in memory; "
                              f"{_size(avail)} is free: lower it")
        probe = self.folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            free = shutil.disk_usage(probe).free
        except OSError:
            return
        if need_disk > free + _folder_size(self.folder):
            raise ConfigError(f"{field} asks for {n:,} records, about {_size(need_disk)} on disk; "
                              f"{_size(free)} is free at {probe}: lower it or choose another --output")

    # -- generation ---------------------------------------------------------

    def fit_or_load(self) -> None:
        """Fit the generator through the strategy, or load it from the run folder's ``model/``."""
        with self._step("fit") as info:
            info["loaded"] = ((self.folder / "model").exists()  # a model whose fit was marked done only
                              and "fit" in runfolder.read_marker(self.folder).get("steps", {}))
            if info["loaded"]:
                self._load_model()
            else:
                self._fit()

    def _load_model(self) -> None:
        ctx = self._ctx()
        model_dir = self.folder / "model"
        gen = self.resolved.generator
        log.info("loading the fitted generator from %s", model_dir)
        try:  # the config's sampling parameters win over the saved ones
            self.resolved.generator = type(gen).from_pretrained(model_dir, **gen.sampling_params())
        except GDAError as exc:
            raise RunFolderError(f"{exc}; delete {model_dir} and run `gda generate {self.folder}` "
                                 "to fit it again") from exc
        near_copies.restore_trained_on(model_dir, ctx)

    def _fit(self) -> None:
        ctx = self._ctx()
        t0 = time.perf_counter()
        ctx.generator_train = None  # a strategy that trains on more than train sets it
        gen, strategy = self.resolved.generator, self.resolved.strategy
        view = self.fitting(f"generator {gen.name} (fitted by strategy {strategy.name or 'core.train'})")
        gen = strategy.fit(gen, ctx.train, view) or gen
        if not gen.name:
            gen.name = self.resolved.generator.name
        self.resolved.generator = gen
        self._note_pseudo_labels()
        with runfolder.atomic_dir(self.folder / "model") as tmp:
            gen.save_pretrained(tmp)
            near_copies.save_trained_on(tmp, ctx)
        runfolder.remove_written(self.folder, [self.folder / SCRATCH_DIR])  # resumable fit state, no longer needed
        runfolder.mark_step(self.folder, "fit", {"seconds": round(time.perf_counter() - t0, 2)})

    def generate(self) -> list[Record]:
        """Generate every unfinished shard of the synthetic set and of each baseline."""
        with self._step("generate"):
            return self._generate()

    def _generate(self) -> list[Record]:
        ctx = self._ctx()
        counts = class_counts_to_generate(self.resolved, ctx.train)
        strategy = self.resolved.strategy
        conditions = strategy.conditions(counts, ctx.train, self.fitting(f"strategy {strategy.name or 'core.train'}"))
        plain = Strategy()
        sets = [(SYNTHETIC_SET, 0, self.resolved.generator, conditions, strategy, None)]
        for i, base in enumerate(self.resolved.baselines):
            view = self.fitting(f"generator {base.name}")
            sets.append((f"baseline-{base.name}", i + 1, base, plain.conditions(counts, ctx.train, ctx), plain,
                         lambda b=base, v=view: b.fit(ctx.train, v)))
        done = "generate" in runfolder.read_marker(self.folder).get("steps", {})
        read = {name: self._read_set(name, conds) for name, _, _, conds, _, _ in sets}
        if not done or any(todo for _, todo in read.values()):  # new shards: later steps are stale
            runfolder.begin_step(self.folder, "generate")
        out = {name: self._generate_set(name, index, gen, conds, strategy=strat, before=before, read=read[name])
               for name, index, gen, conds, strat, before in sets}
        self.synthetic = out[SYNTHETIC_SET]
        self.baselines = {base.name: out[f"baseline-{base.name}"] for base in self.resolved.baselines}
        if not done or any(todo for _, todo in read.values()):
            runfolder.mark_step(self.folder, "generate", {"synthetic": len(self.synthetic)})
        return self.synthetic

    def _plan(self, conditions: Sequence[Any]) -> list[Sequence[Any]]:
        """The shards of a set: conditions cut into ``shard_size`` pieces, in order."""
        size = self.config.generate.shard_size
        return [conditions[i:i + size] for i in range(0, len(conditions), size)]

    def _read_set(self, set_name: str, conditions: Sequence[Any]) -> tuple[dict[int, list[Record]], list[int]]:
        """Read a set's shards by plan: ``(records of each good shard, indices to generate)``.

        A missing shard is to generate; a damaged one (unreadable, or not the records the plan
        expects) is reported and to generate again; a file that is not in the plan is reported
        and removed.
        """
        shards = self._plan(conditions)
        for stray in runfolder.stray_shard_files(self.folder, set_name, len(shards)):
            log.warning("removing %s: not one of the %d planned shards of %s", stray, len(shards), set_name)
            runfolder.remove_written(self.folder, [stray])
        good: dict[int, list[Record]] = {}
        todo: list[int] = []
        for i, conds in enumerate(shards):
            path = runfolder.shard_path(self.folder, set_name, i)
            if not os.path.lexists(path):
                todo.append(i)
                continue
            self._own_shard(path)
            try:
                good[i] = self._check_shard(path, set_name, i, len(conds))
            except RunFolderError as exc:
                log.warning("%s; generating it again", exc)
                runfolder.remove_written(self.folder, [path])
                todo.append(i)
        return good, todo

    def _own_shard(self, path: Path) -> None:
        """A file at a shard's path that gda did not write is never read as a shard, nor replaced."""
        if not runfolder.is_written(self.folder, path):
            raise RunFolderError(f"{path} was not written by gda (it is not in the run folder's list of written "
                                 "files), so it is neither read as a shard nor replaced: move it out of the "
                                 "run folder, then run the command again")

    @staticmethod
    def _shard_ids(set_name: str, index: int, n: int) -> list[str]:
        prefix = "syn" if set_name == SYNTHETIC_SET else set_name
        return [f"{prefix}-{index:05d}-{j:04d}" for j in range(n)]

    def _check_shard(self, path: Path, set_name: str, index: int, n: int) -> list[Record]:
        """The records of a finished shard, which must be the ``n`` records the plan expects."""
        records = runfolder.load_shard(path)
        ids = [r.id for r in records]
        if ids != self._shard_ids(set_name, index, n):
            raise RunFolderError(f"shard {path} is damaged (holds {len(records)} records, not the "
                                 f"{n} planned ones)")
        return records

    def _generate_set(self, set_name, set_index, generator, conditions, strategy=None, before=None,
                      read=None) -> list[Record]:
        """Every shard of one set: finished ones read back (or ``read``, what :meth:`_read_set` gave),
        the rest generated (``before`` runs first when any is left, e.g. fitting a baseline)."""
        ctx = self._ctx()
        strategy = strategy or self.resolved.strategy
        shards = self._plan(conditions)
        good, todo = read if read is not None else self._read_set(set_name, conditions)
        if todo and before is not None:
            before()
        runfolder.will_write(self.folder, [runfolder.shard_path(self.folder, set_name, i) for i in todo])
        task = ShardTask(self, set_name, set_index, generator, shards, strategy, rebuild=worker_pipeline)
        with self.executor() as executor:  # local, or ray (gda_core.executors)
            for i, records in ctx.progress(executor.run_shards(task, todo), desc=f"generate {set_name}",
                                           total=len(todo)):
                good[i] = records
        return [r for i in range(len(shards)) for r in good[i]]

    def generate_shard(self, set_name: str, set_index: int, generator: Any, conditions: Sequence[Any],
                       index: int, strategy: Strategy) -> list[Record]:
        """Generate shard ``index`` of a set (its ``conditions``), write it atomically, return its records.

        One call per shard index and no shared state between calls: an executor may map it over
        the shard indices in any order or in parallel.
        """
        seed = _seed_for(self.config.seed, set_index, index)
        records = generator.generate(conditions, seed=seed, context=self.fitting(f"generator {generator.name}"))
        if self._spec is None:
            self._spec = RecordSpec.of(self._ctx().train)
        self._spec.check(records, len(conditions), f"generator {generator.name}")
        strategy_params = strategy.params.model_dump(mode="json")
        version = str(getattr(generator, "version", "0"))
        for rec, cond, rid in zip(records, conditions, self._shard_ids(set_name, index, len(conditions))):
            rec.id = rid
            if rec.label is None:
                rec.label = cond.get("label")
            rec.provenance = Provenance(
                source=SYNTHETIC, generator=generator.name, generator_version=version,
                strategy=strategy.name or "core.train", strategy_params=strategy_params,
                seed=seed, condition=json_safe(dict(cond)),
            )
        runfolder.save_shard(runfolder.shard_path(self.folder, set_name, index), records)
        return records

    def load_generated(self) -> None:
        """Read the synthetic set and baselines back from the run folder's shards, by plan."""
        ctx = self._ctx()
        marker = runfolder.read_marker(self.folder)
        if "generate" not in marker.get("steps", {}):
            raise RunFolderError(f"{self.folder} has no finished generation; run `gda generate {self.folder}` first")
        counts = class_counts_to_generate(self.resolved, ctx.train)
        strategy = self.resolved.strategy
        sets = [(SYNTHETIC_SET, strategy.conditions(counts, ctx.train,
                                                    self.fitting(f"strategy {strategy.name or 'core.train'}")))]
        plain = Strategy()
        sets += [(f"baseline-{b.name}", plain.conditions(counts, ctx.train, ctx)) for b in self.resolved.baselines]
        loaded: dict[str, list[Record]] = {}
        for set_name, conditions in sets:
            shards = self._plan(conditions)
            stray = runfolder.stray_shard_files(self.folder, set_name, len(shards))
            problems = [f"{p} is not a planned shard" for p in stray]
            recs: list[Record] = []
            for i, conds in enumerate(shards):
                path = runfolder.shard_path(self.folder, set_name, i)
                try:
                    if not path.is_file():
                        raise RunFolderError(f"shard {path} is missing")
                    self._own_shard(path)
                    recs.extend(self._check_shard(path, set_name, i, len(conds)))
                except RunFolderError as exc:
                    problems.append(str(exc))
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise RunFolderError(f"{problems[0]}{more}; run `gda generate {self.folder}` to regenerate")
            loaded[set_name] = recs
        self.synthetic = loaded[SYNTHETIC_SET]
        self.baselines = {b.name: loaded[f"baseline-{b.name}"] for b in self.resolved.baselines}

    # -- selection ----------------------------------------------------------

    def select(self) -> list[Record]:
        """Run the selector chain; each selector sees what the previous ones kept."""
        with self._step("select"):
            return self._select()

    def _select(self) -> list[Record]:
        ctx = self._ctx()
        runfolder.begin_step(self.folder, "select")  # a kill before the end leaves "select" not done
        for r in self.synthetic:
            r.provenance.scores, r.provenance.kept = {}, {}
        current = list(self.synthetic)
        self.stages = [("generated (no selection)", current)]
        chain: list[str] = []
        seen_names: dict[str, int] = {}
        with self.executor() as executor:
            for position, sel in enumerate(ctx.progress(self.resolved.selectors, desc="select")):
                seen_names[sel.name] = seen_names.get(sel.name, 0) + 1
                key = sel.name if seen_names[sel.name] == 1 else f"{sel.name}#{seen_names[sel.name]}"
                chain.append(key)
                current = self._select_one(executor, position, sel, key, current)
        selection = {"chain": chain, "records": {
            r.id: {"scores": r.provenance.scores, "kept": r.provenance.kept} for r in self.synthetic}}
        runfolder.write_json(self.folder / "selection.json", selection)
        self.write_samples()
        runfolder.mark_step(self.folder, "select", {"kept": len(current), "generated": len(self.synthetic)})
        return current

    def _chunks(self, records: Sequence[Record]) -> list[list[Record]]:
        size = self.config.generate.shard_size
        return [list(records[i:i + size]) for i in range(0, len(records), size)]

    def _select_one(self, executor: Any, position: int, sel: Any, key: str, current: list[Record]) -> list[Record]:
        """One selector of the chain on ``current``: fit, embed and score (per-sample scores and
        features in chunks through ``executor``), select; the records it keeps."""
        ctx = self.fitting(f"selector {sel.name}")
        if not current:
            self.stages.append((f"after {key}", []))
            return current
        sel.fit(ctx.train, ctx)
        self._fitted_selectors.add(position)
        name = getattr(sel.params, "embedder", None)
        if "embedder" in type(sel.params).model_fields and ctx.get_embedder(name) is not None:
            chunks = self._chunks(ctx.not_embedded(current, name))
            feats = executor.map(self, "embed_records", [(c, name) for c in chunks], rebuild=worker_pipeline)
            for chunk, f in zip(chunks, feats):
                ctx.add_features(chunk, f, name)
        if sel.per_sample:
            calls = [(c, position) for c in self._chunks(current)]
            scores = np.concatenate([np.asarray(part, dtype=float).reshape(-1) for part in
                                     executor.map(self, "score_records", calls, rebuild=worker_pipeline)])
        else:
            scores = np.asarray(sel.score(current, ctx), dtype=float).reshape(-1)
        keep = np.asarray(sel.select(scores, current, ctx), dtype=bool).reshape(-1)
        if len(scores) != len(current) or len(keep) != len(current):
            raise GDAError(f"selector {sel.name} returned {len(scores)} scores for {len(current)} records")
        for r, s, k in zip(current, scores, keep):
            r.provenance.scores[key] = float(s) if np.isfinite(s) else None
            r.provenance.kept[key] = bool(k)
        current = [r for r, k in zip(current, keep) if k]
        self.stages.append((f"after {key}", current))
        return current

    def embed_records(self, records: Sequence[Record], embedder: str | None) -> np.ndarray:
        """Features of ``records`` from the run's (or the named) embedder (an executor's call: on
        a Ray worker, its own copy of the embedder, fitted once) for the selectors."""
        view = self.fitting(f"embedder {embedder or 'of the run'} (for the selectors)")
        return np.asarray(view.embed(records, embedder), dtype=np.float64)

    def score_records(self, records: Sequence[Record], position: int) -> np.ndarray:
        """Scores of ``records`` by the chain's selector at ``position`` (a per-sample selector;
        an executor's call: a Ray worker fits its copy once)."""
        sel = self.resolved.selectors[position]
        ctx = self.fitting(f"selector {sel.name}")
        if position not in self._fitted_selectors:
            sel.fit(ctx.train, ctx)
            self._fitted_selectors.add(position)
        return np.asarray(sel.score(records, ctx), dtype=float)

    def load_selection(self) -> None:
        """Apply ``selection.json`` to the loaded synthetic records and rebuild the stages.

        The selection and the manifest must be whole and match the generated records; otherwise
        one :class:`RunFolderError` names the file and says to run ``gda select`` again.
        """
        redo = f"run `gda select {self.folder}` to rewrite it"
        path = self.folder / "selection.json"
        if "select" not in runfolder.read_marker(self.folder).get("steps", {}):
            raise RunFolderError(f"{self.folder} has no finished selection; run `gda select {self.folder}` first")
        sel = runfolder.read_json(path, redo)
        ids = [r.id for r in self.synthetic]
        try:
            records, chain = sel["records"], [str(k) for k in sel["chain"]]
            entries = [records[i] for i in ids]
            for r, entry in zip(self.synthetic, entries):
                r.provenance.scores, r.provenance.kept = dict(entry["scores"]), dict(entry["kept"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RunFolderError(f"{path} is damaged or does not match the generated shards "
                                 f"({type(exc).__name__}: {exc}); {redo}") from exc
        if len(records) != len(ids):
            raise RunFolderError(f"{path} lists {len(records)} records, the shards hold {len(ids)}; {redo}")
        self._check_manifest(ids)
        current = list(self.synthetic)
        self.stages = [("generated (no selection)", current)]
        for key in chain:
            current = [r for r in current if r.provenance.kept.get(key, False)]
            self.stages.append((f"after {key}", current))

    def _check_manifest(self, ids: list[str]) -> None:
        """``manifest.jsonl`` must hold one whole JSON row per synthetic record, in order."""
        path = self.folder / "manifest.jsonl"
        redo = f"run `gda select {self.folder}` to rewrite it"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise RunFolderError(f"{path} is missing; {redo}") from exc
        except (OSError, ValueError) as exc:
            raise RunFolderError(f"{path} is damaged ({exc}); {redo}") from exc
        lines = text.split("\n")
        if lines[-1] != "":
            raise RunFolderError(f"{path} is damaged (truncated: its last line is incomplete); {redo}")
        lines = lines[:-1]
        if len(lines) != len(ids):
            raise RunFolderError(f"{path} is damaged ({len(lines)} rows for {len(ids)} generated records); {redo}")
        for n, (line, rid) in enumerate(zip(lines, ids), start=1):
            try:
                row = json.loads(line)
                ok = isinstance(row, dict) and row.get("id") == rid
            except ValueError:
                ok = False
            if not ok:
                raise RunFolderError(f"{path} is damaged (line {n} is not the row of {rid}); {redo}")

    def write_samples(self) -> None:
        """Write kept samples in the native format and the manifest of every synthetic record."""
        rows = []
        loader = self.resolved.dataset
        with runfolder.atomic_dir(self.folder / "samples") as tmp:
            written = loader.save_samples([r for r in self.synthetic if r.provenance.is_kept], tmp)
            for r in self.synthetic:
                file = written.get(r.id)
                path = f"samples/{Path(file).relative_to(tmp).as_posix()}" if file is not None else None
                prov = r.provenance.to_dict()
                decisions = prov.pop("kept")
                del prov["source"]
                row = {**prov, "id": r.id, "label": r.label, "path": path,
                       "kept": r.provenance.is_kept, "decisions": decisions}
                if isinstance(r.data, str):
                    row["text"] = r.data
                rows.append(json_safe(row))
        text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
        runfolder.atomic_write_text(self.folder / "manifest.jsonl", text)

    # -- validation ---------------------------------------------------------

    def validate(self) -> dict[str, ValidationResult]:
        """Run every validator and write ``validation.json`` and the report."""
        with self._step("validate"):
            return self._validate()

    def _validate(self) -> dict[str, ValidationResult]:
        ctx = self._ctx()
        if self.pseudo_labels is None:
            self._note_pseudo_labels()
        runfolder.begin_step(self.folder, "validate")
        kept = self.stages[-1][1] if self.stages else [r for r in self.synthetic if r.provenance.is_kept]
        inputs = ValidationInputs(train=ctx.train, test=ctx.test, synthetic=kept,
                                  stages=self.stages, baselines=self.baselines,
                                  self_training=self.self_training_records())
        self.results = {}
        for val in ctx.progress(self.resolved.validators, desc="validate"):
            if not kept and not val.accepts_empty:
                self.results[val.name] = ValidationResult(notes=["no synthetic sample was kept"])
                continue
            self.results[val.name] = evaluate_validator(val, inputs, ctx)
        write_report(self.result())
        runfolder.write_json(self.folder / "validation.json",
                             {name: res.metrics for name, res in self.results.items()})
        runfolder.mark_step(self.folder, "validate", True)
        return self.results

    def self_training_records(self) -> list[Record] | None:
        """What self-training adds to the labelled records with no generator, for the report's
        comparison of GDA with what the pool alone gives: the pool records the strategy
        pseudo-labelled (:meth:`~gda_core.Strategy.pseudo_labelled`), else, for a classification run
        with a pool, the pool labelled by :data:`~gda_core.builtin.pool.SELF_TRAIN_LABELLER` in the
        run embedder's space (the bench's ``self-train`` rule); None without a pool, or where the
        pool cannot be labelled so (fewer than two labelled classes, records the labeller refuses)."""
        from .builtin.pool import SELF_TRAIN_LABELLER, PseudoLabelParams, pseudo_label

        ctx = self._ctx()
        if ctx.pool is None or len(ctx.pool) == 0:
            return None
        strategy = self.resolved.strategy
        view = self.fitting(f"strategy {strategy.name or 'core.train'}")
        recs = strategy.pseudo_labelled(ctx.train, view)
        if recs is not None:
            return list(recs)
        if len({label_key(r.label) for r in ctx.train.records if r.label is not None}) < 2:
            return None
        try:
            recs, _ = pseudo_label(ctx.train, view.pool, view, PseudoLabelParams(**SELF_TRAIN_LABELLER))
        except (DataError, ConfigError, ValueError) as exc:
            log.info("no self-training row in the report: the pool could not be labelled (%s)", exc)
            return None
        return recs

    def pseudo_label_accuracy(self, records: Sequence[Record]) -> float | None:
        """The share of pseudo-labelled pool ``records`` whose label is the pool's hidden label
        (None when the loader kept no hidden labels). For reports only: nothing learns from it."""
        return label_accuracy(records, self.hidden_labels)

    def _note_pseudo_labels(self) -> None:
        """Score the strategy's pseudo-labels against the hidden labels kept aside (when it used
        any): logged, added to ``pool_strategy.json`` and the report; never used to learn."""
        ctx, strategy = self._ctx(), self.resolved.strategy
        pseudo = strategy.pseudo_labelled(ctx.train, self.fitting(f"strategy {strategy.name or 'core.train'}"))
        if pseudo is None:
            self.pseudo_labels = None
            return
        acc = self.pseudo_label_accuracy(pseudo)
        by_class: dict[str, list[Record]] = {}
        for r in pseudo:
            by_class.setdefault(label_key(r.label), []).append(r)
        self.pseudo_labels = {"records": len(pseudo), "accuracy_vs_hidden_labels": acc,
                              "per_class": {c: {"records": len(rs), "accuracy_vs_hidden_labels":
                                                self.pseudo_label_accuracy(rs)} for c, rs in sorted(by_class.items())}}
        if acc is None:
            return
        log.info("%s: %d pseudo-labelled pool records, accuracy vs hidden labels %.3f (report only)",
                 strategy.name, len(pseudo), acc)
        path = self.folder / POOL_REPORT
        summary = runfolder.read_json(path, "") if path.is_file() else {"strategy": strategy.name}
        runfolder.write_json(path, {**summary, "accuracy_vs_hidden_labels": acc})

    def result(self) -> RunResult:
        ctx = self._ctx()
        return RunResult(self.folder, ctx.train, ctx.test, self.synthetic, self.baselines, self.results,
                         stages=list(self.stages), config=self.resolved.resolved_dict(), loader=self.resolved.dataset,
                         pool=ctx.pool, strategy=self.resolved.strategy, pseudo_labels=self.pseudo_labels,
                         generator=self.resolved.generator)

    def _ctx(self) -> RunContext:
        if self.context is None:
            self.load_data()
        assert self.context is not None
        return self.context


def evaluate_validator(val: Any, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
    """``val.evaluate``; one that cannot apply (:class:`~gda_core.errors.NotApplicable`) gives a result
    whose note says ``not applicable: <why>`` (and a warning), so the run finishes."""
    try:
        return val.evaluate(inputs, context)
    except NotApplicable as exc:
        log.warning("%s: not applicable: %s", val.name, exc)
        return ValidationResult(notes=[f"not applicable: {exc}"])


def _available_memory() -> int | None:
    """Bytes of memory free for a new allocation (Linux ``MemAvailable``; None where unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _folder_size(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.4g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PB"


def _folder(output: str | Path | None, resolved: ResolvedRun) -> Path:
    folder = output or resolved.config.output
    if folder is None or not str(folder).strip():
        raise ConfigError("no output folder: give --output or set `output` in the config")
    path = expand_user(folder, "output")
    resolved.config.output = str(path)
    return path


def expand_user(path: str | Path, field: str) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; an unknown user is a :class:`ConfigError`
    naming ``field``."""
    try:
        return Path(str(path)).expanduser()
    except RuntimeError as exc:  # pathlib: "Could not determine home directory."
        raise ConfigError(f"{field}: {path}: cannot expand {str(path).split('/')[0]!r} "
                          "(no such user, or no home folder)") from exc


def run(config: dict[str, Any] | str | Path, output: str | Path | None = None, *,
        overwrite: bool = False, quiet: bool = False, overrides: list[str] | None = None,
        validate: bool = True, on_step: OnStep | None = None) -> RunResult:
    """Run the whole chain; resume from finished shards if ``output`` holds this run.

    ``overrides`` are ``dotted.path=value`` strings applied to the config first. ``validate``
    False stops after selection (no validators, no report; the folder's ``validate`` step stays
    not done, for ``gda validate FOLDER`` later). ``on_step`` is called with a
    :class:`StepEvent` after each step. The config, the
    data and the output folder are checked before the folder is touched; the folder is locked for
    the whole run (a second process on it gets a :class:`RunFolderError` at once). A folder whose
    run differs only in later steps (counts, sampling, selectors, validators) keeps its fitted
    model and reruns from the first changed step.
    """
    data = load_yaml(config) if isinstance(config, (str, Path)) else config
    if overrides:
        data = apply_overrides(data, overrides)
    resolved = resolve(data)
    folder = _folder(output, resolved)
    runfolder.check_target(folder, overwrite=overwrite)
    with contextlib.ExitStack() as stack:
        if (folder / runfolder.MARKER).is_file():  # an existing run: lock first, refuse a second process at once
            stack.enter_context(runfolder.locked(folder))
        pipe = Pipeline(resolved, folder, quiet=quiet, on_step=on_step)
        pipe.load_data()  # data errors surface before the folder is created
        pipe.precheck()
        stack.enter_context(runfolder.locked(folder))  # always (a no-op when held): prepare checks again under it
        resolved_dict = resolved.resolved_dict()
        runfolder.prepare(folder, pipe.step_views(), runfolder.config_hash(resolved_dict), overwrite=overwrite)
        runfolder.atomic_write_text(folder / "config.yaml", dump_yaml(resolved_dict))
        with pipe.executor():  # one executor (one Ray session) for generation and selection
            pipe.fit_or_load()
            pipe.generate()
            pipe.select()
            if validate:
                pipe.validate()
        return pipe.result()


def open_run(folder: str | Path, *, quiet: bool = False, overrides: list[str] | None = None,
             on_step: OnStep | None = None) -> Pipeline:
    """A pipeline for an existing run folder, from its config (plus ``overrides``), data loaded.

    Takes no lock and changes nothing: :func:`step` does both.
    """
    folder = expand_user(folder, "run folder")
    runfolder.read_marker(folder)
    try:
        data = load_yaml(folder / "config.yaml")
    except ConfigError as exc:
        raise ConfigError(f"{exc}; fix it, or start again: gda run CONFIG -o {folder} --overwrite") from exc
    if overrides:
        data = apply_overrides(data, overrides)
    resolved = resolve(data)
    resolved.config.output = str(folder)
    pipe = Pipeline(resolved, folder, quiet=quiet, on_step=on_step)
    near_copies.restore_trained_on(folder / "model", pipe.load_data())
    return pipe


def step(folder: str | Path, name: str, *, quiet: bool = False, overrides: list[str] | None = None,
         on_step: OnStep | None = None) -> RunResult:
    """Run one step (``generate``, ``select`` or ``validate``) on an existing run folder.

    The folder's ``config.yaml`` (with ``overrides`` applied, then saved) is compared with the
    config each step's results were made with: a change to an earlier step is refused; a change
    to this step or a later one discards their results, and the later steps that had been done
    run again after this one.
    """
    if name not in STEPS:
        raise GDAError(f"unknown step {name!r}; steps: {', '.join(STEPS)}")
    folder = expand_user(folder, "run folder")
    runfolder.read_marker(folder)
    with runfolder.locked(folder):
        pipe = open_run(folder, quiet=quiet, overrides=overrides, on_step=on_step)
        if name == "generate":
            pipe.precheck()
        resolved_dict = pipe.resolved.resolved_dict()
        before = set(runfolder.read_marker(folder).get("steps", {}))
        again = runfolder.check_step(folder, name, pipe.step_views(), runfolder.config_hash(resolved_dict))
        runfolder.atomic_write_text(folder / "config.yaml", dump_yaml(resolved_dict))
        if name == "generate":
            pipe.fit_or_load()
            pipe.generate()
        else:
            pipe.load_generated()
            if name == "select":
                pipe.select()
            else:
                pipe.load_selection()
                pipe.validate()
        now = set(runfolder.read_marker(folder).get("steps", {}))
        again = [s for s in STEP_ORDER_AFTER[name] if s in again or (s in before and s not in now)]
        if "select" in again:
            pipe.select()
        elif "select" in now and name == "generate":
            pipe.load_selection()  # nothing new was generated: the selection stands
        if "validate" in again:
            pipe.validate()
        return pipe.result()


def worker_pipeline(config: dict[str, Any], folder: str | Path) -> Pipeline:
    """The run of ``config`` (a resolved config) in ``folder``, rebuilt in another process (a Ray
    worker): data loaded, the fitted generator loaded once from ``folder/model``."""
    resolved = resolve(config)
    resolved.config.output = str(folder)
    pipe = Pipeline(resolved, folder, quiet=True)
    pipe.load_data()
    pipe.fit_or_load()  # loads model/
    return pipe
