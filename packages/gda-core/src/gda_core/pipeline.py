"""The GDA pipeline: dataset -> strategy.fit -> generate (shards) -> select -> validate -> write.

Everything that can be wrong with the input (config, data, output folder) is
checked before the run folder is touched. Each step writes its results
atomically; generation is split into shards, and a run started again on the
same folder with the same config resumes from its finished shards and the saved
model, and ends with the same manifest as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import runfolder
from .components import DataSplits, Strategy, ValidationInputs, ValidationResult
from .config import ResolvedRun, apply_overrides, dump_yaml, load_yaml, resolve
from .context import RunContext
from .errors import DataError, GDAError, RunFolderError
from .records import SYNTHETIC, Dataset, Provenance, Record, json_safe, validate_dataset
from .report import write_report
from .results import RunResult
from .splits import split_train_test

log = logging.getLogger("gda")

SYNTHETIC_SET = "synthetic"
STEPS = ("generate", "select", "validate")



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


class Pipeline:
    """One run of a resolved config in one run folder."""

    def __init__(self, resolved: ResolvedRun, folder: str | Path, *, quiet: bool = False) -> None:
        self.resolved = resolved
        self.folder = Path(folder)
        self.quiet = quiet
        self.config = resolved.config
        self.context: RunContext | None = None
        self.synthetic: list[Record] = []
        self.baselines: dict[str, list[Record]] = {}
        self.stages: list[tuple[str, list[Record]]] = []
        self.results: dict[str, ValidationResult] = {}

    # -- data -------------------------------------------------------------

    def load_data(self) -> RunContext:
        """Load, check and split the real data; build the run context."""
        cfg = self.config
        ctx = RunContext(train=Dataset([]), seed=cfg.seed, quiet=self.quiet, workdir=self.folder)
        try:
            splits = self.resolved.dataset.load(ctx)
        except GDAError:
            raise
        except (OSError, ValueError) as exc:
            raise DataError(f"dataset {self.resolved.dataset.name}: {exc}") from exc
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
        pool = splits.pool
        if pool is not None:
            pool = self._check_pool(pool, train, test)
        ctx.train, ctx.test, ctx.pool = train, test, pool
        ctx.embedder = self.resolved.embedder
        ctx.embedders = self.resolved.named_embedders()
        ctx.application = self.resolved.application
        self.context = ctx
        return ctx

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

    # -- generation ---------------------------------------------------------

    def fit(self) -> None:
        """Fit the generator through the strategy, or load it from the run folder."""
        ctx = self._ctx()
        model_dir = self.folder / "model"
        gen = self.resolved.generator
        if (model_dir / gen.config_name).is_file():
            log.info("loading the fitted generator from %s", model_dir)
            self.resolved.generator = type(gen).from_pretrained(model_dir)
            return
        t0 = time.perf_counter()
        gen = self.resolved.strategy.fit(gen, ctx.train, ctx) or gen
        if not gen.name:
            gen.name = self.resolved.generator.name
        self.resolved.generator = gen
        with runfolder.atomic_dir(model_dir) as tmp:
            gen.save_pretrained(tmp)
        runfolder.mark_step(self.folder, "fit", {"seconds": round(time.perf_counter() - t0, 2)})

    def generate(self) -> list[Record]:
        """Generate every unfinished shard of the synthetic set and of each baseline."""
        ctx = self._ctx()
        counts = class_counts_to_generate(self.resolved, ctx.train)
        strategy = self.resolved.strategy
        conditions = strategy.conditions(counts, ctx.train, ctx)
        self.synthetic = self._generate_set(SYNTHETIC_SET, 0, self.resolved.generator, conditions)
        plain = Strategy()
        for i, base in enumerate(self.resolved.baselines):
            set_name = f"baseline-{base.name}"
            base_conditions = plain.conditions(counts, ctx.train, ctx)
            if not self._set_complete(set_name, base_conditions):
                base.fit(ctx.train, ctx)
            self.baselines[base.name] = self._generate_set(set_name, i + 1, base, base_conditions, strategy=plain)
        runfolder.mark_step(self.folder, "generate", {"synthetic": len(self.synthetic)})
        return self.synthetic

    def _set_complete(self, set_name: str, conditions: Sequence[Any]) -> bool:
        size = self.config.generate.shard_size
        n_shards = (len(conditions) + size - 1) // size
        return len(runfolder.finished_shards(self.folder, set_name)) >= n_shards

    def _generate_set(self, set_name, set_index, generator, conditions, strategy=None) -> list[Record]:
        ctx = self._ctx()
        strategy = strategy or self.resolved.strategy
        size = self.config.generate.shard_size
        shards = [conditions[i:i + size] for i in range(0, len(conditions), size)]
        done = runfolder.finished_shards(self.folder, set_name)
        todo = [i for i in range(len(shards)) if i not in done]
        strategy_params = strategy.params.model_dump(mode="json")
        version = str(getattr(generator, "version", "0"))
        prefix = "syn" if set_name == SYNTHETIC_SET else set_name
        for i in ctx.progress(todo, desc=f"generate {set_name}", total=len(todo)):
            seed = _seed_for(self.config.seed, set_index, i)
            records = generator.generate(shards[i], seed=seed, context=ctx)
            if len(records) != len(shards[i]):
                raise GDAError(
                    f"generator {generator.name} returned {len(records)} records for {len(shards[i])} conditions"
                )
            for j, (rec, cond) in enumerate(zip(records, shards[i])):
                rec.id = f"{prefix}-{i:05d}-{j:04d}"
                if rec.label is None:
                    rec.label = cond.get("label")
                rec.provenance = Provenance(
                    source=SYNTHETIC, generator=generator.name, generator_version=version,
                    strategy=strategy.name or "core.train", strategy_params=strategy_params,
                    seed=seed, condition=json_safe(dict(cond)),
                )
            runfolder.save_shard(runfolder.shard_path(self.folder, set_name, i), records)
        out: list[Record] = []
        for i, path in sorted(runfolder.finished_shards(self.folder, set_name).items()):
            if i < len(shards):
                out.extend(runfolder.load_shard(path))
        return out

    def load_generated(self) -> None:
        """Read the synthetic set and baselines back from the run folder's shards."""
        self.synthetic = []
        for _i, path in sorted(runfolder.finished_shards(self.folder, SYNTHETIC_SET).items()):
            self.synthetic.extend(runfolder.load_shard(path))
        if not self.synthetic:
            raise RunFolderError(f"{self.folder} has no generated samples; run `gda generate` first")
        self.baselines = {}
        for base in self.resolved.baselines:
            recs: list[Record] = []
            for _i, path in sorted(runfolder.finished_shards(self.folder, f"baseline-{base.name}").items()):
                recs.extend(runfolder.load_shard(path))
            self.baselines[base.name] = recs

    # -- selection ----------------------------------------------------------

    def select(self) -> list[Record]:
        """Run the selector chain; each selector sees what the previous ones kept."""
        ctx = self._ctx()
        for r in self.synthetic:
            r.provenance.scores, r.provenance.kept = {}, {}
        current = list(self.synthetic)
        self.stages = [("generated (no selection)", current)]
        chain: list[str] = []
        seen_names: dict[str, int] = {}
        for sel in ctx.progress(self.resolved.selectors, desc="select"):
            seen_names[sel.name] = seen_names.get(sel.name, 0) + 1
            key = sel.name if seen_names[sel.name] == 1 else f"{sel.name}#{seen_names[sel.name]}"
            chain.append(key)
            if not current:
                self.stages.append((f"after {key}", []))
                continue
            sel.fit(ctx.train, ctx)
            scores = np.asarray(sel.score(current, ctx), dtype=float).reshape(-1)
            keep = np.asarray(sel.select(scores, current, ctx), dtype=bool).reshape(-1)
            if len(scores) != len(current) or len(keep) != len(current):
                raise GDAError(f"selector {sel.name} returned {len(scores)} scores for {len(current)} records")
            for r, s, k in zip(current, scores, keep):
                r.provenance.scores[key] = float(s) if np.isfinite(s) else None
                r.provenance.kept[key] = bool(k)
            current = [r for r, k in zip(current, keep) if k]
            self.stages.append((f"after {key}", current))
        selection = {"chain": chain, "records": {
            r.id: {"scores": r.provenance.scores, "kept": r.provenance.kept} for r in self.synthetic}}
        runfolder.write_json(self.folder / "selection.json", selection)
        self.write_samples()
        runfolder.mark_step(self.folder, "select", {"kept": len(current), "generated": len(self.synthetic)})
        return current

    def load_selection(self) -> None:
        """Apply ``selection.json`` to the loaded synthetic records and rebuild the stages."""
        path = self.folder / "selection.json"
        if not path.is_file():
            raise RunFolderError(f"{self.folder} has no selection.json; run `gda select` first")
        sel = json.loads(path.read_text())
        for r in self.synthetic:
            entry = sel["records"].get(r.id, {"scores": {}, "kept": {}})
            r.provenance.scores, r.provenance.kept = entry["scores"], entry["kept"]
        current = list(self.synthetic)
        self.stages = [("generated (no selection)", current)]
        for key in sel["chain"]:
            current = [r for r in current if r.provenance.kept.get(key, False)]
            self.stages.append((f"after {key}", current))

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
        ctx = self._ctx()
        kept = self.stages[-1][1] if self.stages else [r for r in self.synthetic if r.provenance.is_kept]
        inputs = ValidationInputs(train=ctx.train, test=ctx.test, synthetic=kept,
                                  stages=self.stages, baselines=self.baselines)
        self.results = {}
        for val in ctx.progress(self.resolved.validators, desc="validate"):
            if not kept and not val.accepts_empty:
                self.results[val.name] = ValidationResult(notes=["no synthetic sample was kept"])
                continue
            self.results[val.name] = val.evaluate(inputs, ctx)
        write_report(self.result())
        runfolder.write_json(self.folder / "validation.json",
                             {name: res.metrics for name, res in self.results.items()})
        runfolder.mark_step(self.folder, "validate", True)
        return self.results

    def result(self) -> RunResult:
        ctx = self._ctx()
        return RunResult(self.folder, ctx.train, ctx.test, self.synthetic, self.baselines, self.results,
                         stages=list(self.stages), config=self.resolved.resolved_dict(), loader=self.resolved.dataset)

    def _ctx(self) -> RunContext:
        if self.context is None:
            self.load_data()
        assert self.context is not None
        return self.context


def _prepare(config: dict[str, Any] | str | Path, output: str | Path | None,
             overwrite: bool, quiet: bool, overrides: list[str] | None = None) -> Pipeline:
    data = load_yaml(config) if isinstance(config, (str, Path)) else config
    if overrides:
        data = apply_overrides(data, overrides)
    resolved = resolve(data)
    folder = output or resolved.config.output
    if folder is None:
        raise GDAError("no output folder: give --output or set `output` in the config")
    resolved.config.output = str(folder)
    pipe = Pipeline(resolved, folder, quiet=quiet)
    pipe.load_data()  # data errors surface before the folder is touched
    resolved_dict = resolved.resolved_dict()
    runfolder.prepare(Path(folder), resolved_dict, overwrite=overwrite)
    runfolder.atomic_write_text(Path(folder) / "config.yaml", dump_yaml(resolved_dict))
    return pipe


def run(config: dict[str, Any] | str | Path, output: str | Path | None = None, *,
        overwrite: bool = False, quiet: bool = False, overrides: list[str] | None = None) -> RunResult:
    """Run the whole chain; resume from finished shards if ``output`` holds this run.

    ``overrides`` are ``dotted.path=value`` strings applied to the config first.
    """
    pipe = _prepare(config, output, overwrite, quiet, overrides)
    pipe.fit()
    pipe.generate()
    pipe.select()
    pipe.validate()
    return pipe.result()


def open_run(folder: str | Path, *, quiet: bool = False) -> Pipeline:
    """A pipeline for an existing run folder, from its resolved config."""
    folder = Path(folder)
    runfolder.read_marker(folder)
    data = load_yaml(folder / "config.yaml")
    resolved = resolve(data)
    pipe = Pipeline(resolved, folder, quiet=quiet)
    pipe.load_data()
    return pipe


def step(folder: str | Path, name: str, *, quiet: bool = False) -> RunResult:
    """Run one step (``generate``, ``select`` or ``validate``) on an existing run folder."""
    if name not in STEPS:
        raise GDAError(f"unknown step {name!r}; steps: {', '.join(STEPS)}")
    pipe = open_run(folder, quiet=quiet)
    if name == "generate":
        pipe.fit()
        pipe.generate()
    elif name == "select":
        pipe.load_generated()
        pipe.select()
    else:
        pipe.load_generated()
        pipe.load_selection()
        pipe.validate()
    return pipe.result()
