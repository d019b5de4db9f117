"""Test helpers for plugin authors: plugin restriction and the conformance kit.

Load only the plugins a test suite names, in a plugin's ``tests/conftest.py``::

    from gda_core.testing import restrict_plugins

    _plugins_for_module, _plugins_for_test = restrict_plugins("gda-example")

Both fixtures are autouse: the first covers module-scoped fixtures (which run before
function-scoped ones), the second every test, so a plugin that a test registers by hand
is gone by the next test.

The conformance kit (as scikit-learn's ``check_estimator`` and diffusers' ``SchedulerCommonTest``):
one contract class per component kind (:data:`CONTRACTS`). Subclass it in a test module (the
class name must start with ``Test``), name the component, give tiny parameters and data, and
pytest runs the kind's checks on it::

    class TestExampleGenerator(GeneratorContract):
        name = "example.noise"
        params = {"scale": 0.1}

        def train_data(self):
            return planted_vectors(n=6, seed=0)[0]

Then one line makes the common test over every component the plugin registers (every kind, as
``host.components(kind)`` lists them): each must have a contract in the module or a reason in
``skip``, and each, skipped or not, lists and describes without heavy imports, forbids unknown
parameters, has a summary, and takes ``device`` from ``DeviceParams``::

    test_every_component = conformance_suite("gda_example", globals(), skip={
        "example.big": "needs a checkpoint no test can build"})
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .context import RunContext
from .errors import GDAError
from .host import host, kind_label
from .records import Dataset, Record, RecordSpec, label_key, validate_dataset


@contextlib.contextmanager
def only_plugins(*distributions: str) -> Iterator[None]:
    """Inside the block, load gda-core's built-ins and only these plugin distributions."""
    before = os.environ.get("GDA_LOAD_PLUGINS")
    os.environ["GDA_LOAD_PLUGINS"] = ",".join(distributions)
    host.reset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("GDA_LOAD_PLUGINS", None)
        else:
            os.environ["GDA_LOAD_PLUGINS"] = before
        host.reset()


def restrict_plugins(*distributions: str) -> tuple[Any, Any]:
    """Two autouse pytest fixtures (module and function scope) wrapping :func:`only_plugins`."""
    import pytest

    @pytest.fixture(autouse=True, scope="module")
    def _gda_plugins_for_module() -> Iterator[None]:
        with only_plugins(*distributions):
            yield

    @pytest.fixture(autouse=True)
    def _gda_plugins_for_test() -> Iterator[None]:
        with only_plugins(*distributions):
            yield

    return _gda_plugins_for_module, _gda_plugins_for_test


# --- the conformance kit -----------------------------------------------------

HEAVY_MODULES = ("torch", "diffusers", "monai", "transformers", "peft", "torchaudio", "nlpaug", "aeon",
                 "faiss", "ray")
"""Modules that describing or listing a component must not import."""


def planted_vectors(n: int = 8, dim: int = 4, classes: tuple[Any, ...] = (0, 1), seed: int = 0,
                    gap: float = 20.0) -> tuple[Dataset, list[Record], list[Record]]:
    """A small labelled vector set and a planted mix for selectors, ``n`` of each per class: ``good``
    records near their class's real records, ``bad`` ones labelled with a class but lying near the
    next class's real records (or ``gap`` standard deviations off, with one class)."""
    rng = np.random.default_rng(seed)
    centres = {c: rng.normal(0, gap / 2, dim) for c in classes}
    train = Dataset([Record(f"r{c}-{i}", (centres[c] + rng.normal(0, 1, dim)).astype(np.float32), c)
                     for c in classes for i in range(n)])
    good = [Record(f"good-{c}-{i}", (centres[c] + rng.normal(0, 1, dim)).astype(np.float32), c)
            for c in classes for i in range(n)]
    elsewhere = {c: centres[classes[(j + 1) % len(classes)]] if len(classes) > 1 else centres[c] + gap
                 for j, c in enumerate(classes)}
    bad = [Record(f"bad-{c}-{i}", (elsewhere[c] + rng.normal(0, 1, dim)).astype(np.float32), c)
           for c in classes for i in range(n)]
    return train, good, bad


def tiny_texts(n: int = 4, classes: tuple[str, ...] = ("billing", "shipping"), seed: int = 0,
               prefix: str = "t") -> Dataset:
    """``n`` short texts per class, each naming its class's topic (the wrong kind for array components)."""
    rng = np.random.default_rng(seed)
    words = {c: [f"{c}", f"{c} issue", f"my {c}", f"about {c}"] for c in classes}
    recs = [Record(f"{prefix}-{c}-{i}", f"please help with {rng.choice(words[c])} number {i}", c)
            for c in classes for i in range(n)]
    return Dataset(recs, modality="text", classes=list(classes))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def _same_metrics(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        (isinstance(a[k], float) and isinstance(b[k], float) and math.isnan(a[k]) and math.isnan(b[k]))
        or a[k] == b[k] for k in a)


def _wrong_kind(data_kind: str) -> Dataset | None:
    """Records of the kind a component does not take (None for ``data_kind`` "any")."""
    if data_kind == "arrays":
        return tiny_texts()
    if data_kind == "texts":
        return planted_vectors(n=3)[0]
    return None


def _refuses(call: Callable[[Dataset], Any], data: Dataset, what: str) -> None:
    try:
        call(data)
    except GDAError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip(), f"{what}: the error is not one line: {exc}"
        return
    raise AssertionError(f"{what}: no GDAError")


def _one_line_errors(call: Callable[[Dataset], Any], data_kind: str, name: str) -> None:
    """``call`` on no records, and on records of the kind the component does not take, raises a
    one-line :class:`GDAError` (a :class:`DataError`: ``check_records`` or the component's own)."""
    _refuses(call, Dataset([]), f"{name} on no records")
    wrong = _wrong_kind(data_kind)
    if wrong is not None:
        _refuses(call, wrong, f"{name} (data_kind {data_kind!r}) on {'texts' if data_kind == 'arrays' else 'arrays'}")


DEVICE_ENV = "GDA_CONFORMANCE_DEVICE"
PRECISION_ENV = "GDA_CONFORMANCE_PRECISION"


def device_overrides(kind: str, name: str) -> dict[str, Any]:
    """``device`` and ``precision`` from :data:`DEVICE_ENV` and :data:`PRECISION_ENV` for a
    component whose parameters have those fields (nothing when the variables are unset)."""
    fields = host.get(kind, name).Params.model_fields
    out: dict[str, Any] = {}
    for env, field in ((DEVICE_ENV, "device"), (PRECISION_ENV, "precision")):
        value = os.environ.get(env, "").strip()
        if value and field in fields:
            out[field] = value
    return out


class _Contract:
    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    """The registered name of the component under test."""
    params: ClassVar[dict[str, Any]] = {}
    """Tiny parameters (few steps, small widths): the contract must run in seconds."""
    plugins: ClassVar[tuple[str, ...]] = ()
    """Plugin distributions the component needs (kept for contracts written before the common test)."""
    seed: ClassVar[int] = 0

    def build(self, **extra: Any) -> Any:
        """The component, built as a config would build it (``extra`` overrides ``params``).

        With ``GDA_CONFORMANCE_DEVICE`` set (``cuda``, ``cuda:1``, ...), a component whose
        parameters have ``device`` is built on that device, and with ``GDA_CONFORMANCE_PRECISION``
        one with ``precision`` in that precision: the same contracts then run on a GPU
        (``nox -s gpu``). ``extra`` still wins."""
        return host.create(self.kind, self.name, {**self.params, **device_overrides(self.kind, self.name), **extra})

    def run_context(self, train: Dataset, test: Dataset | None = None, pool: Dataset | None = None) -> RunContext:
        """The run's context (override to add embedders or an application); validators get it whole."""
        return RunContext(train=train, test=test, pool=pool, seed=self.seed, quiet=True)

    def context(self, train: Dataset, pool: Dataset | None = None) -> RunContext:
        """What the component fits, generates or selects with: as in a run, a
        :class:`~gda_core.context.FitContext` (no test split; no hidden labels on the pool)."""
        return self.run_context(train, pool=pool).fitting(f"{kind_label(self.kind)} {self.name} (conformance)")

    @property
    def data_kind(self) -> str:
        return host.get(self.kind, self.name).data_kind


class GeneratorContract(_Contract):
    """What every generator does; subclass it with ``name``, ``params`` and :meth:`train_data`.

    Checks: one record per condition, like the training records (the pipeline's
    :class:`~gda_core.records.RecordSpec` check), with the condition's label; the same seed
    gives the same samples; fitting twice under one seed saves byte-identical models, and so does
    fitting with a sampling parameter changed (sampling parameters are not part of the fitted
    model); ``save_pretrained`` then ``from_pretrained`` gives identical samples and keeps the
    name; generating before fitting, fitting on no records and fitting on the wrong kind of
    records are clear one-line errors.
    """

    kind = "generators"
    per_class: ClassVar[int] = 2
    """Conditions per class the contract asks for."""
    needs_fit: ClassVar[bool] = True
    """False for a generator that may augment ``context.train`` unfitted (then generating
    before ``fit`` is not an error)."""

    def train_data(self) -> Dataset:
        """The tiny real training set the generator is fitted on."""
        raise NotImplementedError("a GeneratorContract names its training data: define train_data()")

    def conditions(self, train: Dataset) -> list[dict[str, Any]]:
        """What the contract asks the generator for: ``per_class`` conditions per class, each naming
        a real record of its class (as the default strategy does)."""
        return [{"label": c, "source_id": recs[i % len(recs)].id}
                for c, recs in train.by_class().items() if recs for i in range(self.per_class)]

    def _fit_fresh(self, **extra: Any) -> tuple[Any, Dataset, RunContext]:
        train = self.train_data()
        ctx = self.context(train)
        gen = self.build(**extra)
        gen.fit(train, ctx)
        return gen, train, ctx

    def _fitted(self) -> tuple[Any, Dataset, RunContext]:
        cache = type(self).__dict__.get("_gda_fitted")
        if cache is None:
            cache = self._fit_fresh()
            type(self)._gda_fitted = cache
        return cache

    def test_one_record_per_condition_like_the_training_records(self) -> None:
        gen, train, ctx = self._fitted()
        conds = self.conditions(train)
        out = gen.generate(conds, seed=1, context=ctx)
        RecordSpec.of(train).check(out, len(conds), f"generator {self.name}")
        for cond, rec in zip(conds, out):
            assert rec.label is None or label_key(rec.label) == label_key(cond["label"]), f"{self.name}: label not kept"
            if not isinstance(rec.data, str):
                assert np.asarray(rec.data).size, f"{self.name}: empty sample"

    def test_the_same_seed_gives_the_same_samples(self) -> None:
        gen, train, ctx = self._fitted()
        conds = self.conditions(train)
        first = gen.generate(conds, seed=3, context=ctx)
        again = gen.generate(conds, seed=3, context=ctx)
        assert all(_same(a.data, b.data) for a, b in zip(first, again)), f"{self.name}: not deterministic"

    def test_save_then_load_gives_identical_samples(self, tmp_path: Path) -> None:
        gen, train, ctx = self._fitted()
        gen.save_pretrained(tmp_path / "model")
        loaded = type(gen).from_pretrained(tmp_path / "model")
        assert loaded.name == gen.name == self.name
        conds = self.conditions(train)
        before = gen.generate(conds, seed=5, context=ctx)
        after = loaded.generate(conds, seed=5, context=ctx)
        assert all(_same(a.data, b.data) for a, b in zip(before, after)), f"{self.name}: reload changed samples"

    def _saved(self, gen: Any, folder: Path) -> Path:
        gen.save_pretrained(folder)
        return folder

    def _model_difference(self, a: Path, b: Path, sampling: frozenset[str]) -> str | None:
        """What differs between two saved model folders, leaving out the sampling parameters' values."""
        cfg = host.get(self.kind, self.name).config_name
        names = sorted({p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()}
                       | {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()})
        for rel in names:
            fa, fb = a / rel, b / rel
            if not (fa.is_file() and fb.is_file()):
                return f"{rel} is in one folder only"
            if rel == cfg:
                ja, jb = json.loads(fa.read_text()), json.loads(fb.read_text())
                for j in (ja, jb):
                    j["params"] = {k: v for k, v in j.get("params", {}).items() if k not in sampling}
                if ja != jb:
                    return f"{rel} differs beyond the sampling parameters"
            elif not filecmp.cmp(fa, fb, shallow=False):
                return f"{rel} differs"
        return None

    def test_fitting_twice_under_a_seed_saves_the_same_model(self, tmp_path: Path) -> None:
        gen, _train, _ctx = self._fitted()
        again, _, _ = self._fit_fresh()
        diff = self._model_difference(self._saved(gen, tmp_path / "a"), self._saved(again, tmp_path / "b"),
                                      frozenset())
        assert diff is None, f"{self.name}: fitting is not deterministic under a seed ({diff})"

    def test_sampling_parameters_are_not_part_of_the_fitted_model(self, tmp_path: Path) -> None:
        import pytest

        from .components import sampling_fields

        cls = host.get(self.kind, self.name)
        sampling = sampling_fields(cls.Params)
        changed = _a_changed_sampling_value(cls.Params, self.build().params, sampling)
        if changed is None:
            pytest.skip(f"{self.name} has no sampling parameter with another valid value")
        gen, _train, _ctx = self._fitted()
        other, _, _ = self._fit_fresh(**changed)
        diff = self._model_difference(self._saved(gen, tmp_path / "a"), self._saved(other, tmp_path / "b"), sampling)
        assert diff is None, f"{self.name}: changing sampling parameter {changed} changed the saved model ({diff})"

    def test_generating_before_fitting_is_a_clear_error(self) -> None:
        if not self.needs_fit:
            return
        _gen, train, ctx = self._fitted()
        try:
            self.build().generate(self.conditions(train)[:1], seed=0, context=ctx)
        except GDAError as exc:
            assert str(exc).strip(), f"{self.name}: empty error message"
        else:
            raise AssertionError(f"{self.name}: generate before fit gave samples instead of an error")

    def test_no_records_or_the_wrong_kind_is_a_clear_error(self) -> None:
        train = self.train_data()
        _one_line_errors(lambda data: self.build().fit(data, self.context(train)), self.data_kind, self.name)


def _a_changed_sampling_value(params_cls: Any, params: Any, sampling: frozenset[str]) -> dict[str, Any] | None:
    """``{field: value}`` for the first sampling field that takes a valid value other than its current one."""
    import typing

    from pydantic import ValidationError

    current = params.model_dump()
    for field in sorted(sampling):
        value = current[field]
        f = params_cls.model_fields[field]
        candidates: list[Any] = []
        if isinstance(value, bool):
            candidates = [not value]
        elif isinstance(value, int):
            candidates = [value + 1, value - 1, value * 2]
        elif isinstance(value, float):
            candidates = [value * 0.5, value + 0.1, value * 2, value - 0.1]
        candidates += [a for a in typing.get_args(f.annotation) if isinstance(a, (str, int, float)) and a != value]
        for arg in typing.get_args(f.annotation):
            candidates += [a for a in typing.get_args(arg) if isinstance(a, (str, int, float)) and a != value]
        for cand in candidates:
            try:
                params_cls.model_validate({**current, field: cand})
            except ValidationError:
                continue
            return {field: cand}
    return None


class SelectorContract(_Contract):
    """What every selector does; subclass it with ``name``, ``params`` and :meth:`planted_mix`.

    Checks: ``score`` gives one finite float per record, the same for a fresh fit under the same
    seed; ``select`` gives a boolean mask of the same length; with ``keep=0.5`` (when the selector
    takes ``keep``) it keeps the better half of a planted mix of good and bad samples (at least
    ``min_good_share`` of what it keeps is good); fitting on no records or on the wrong kind is a
    clear one-line error.
    """

    kind = "selectors"
    min_good_share: ClassVar[float] = 1.0

    def planted_mix(self) -> tuple[Dataset, list[Record], list[Record]]:
        """``(train, good, bad)``: real records, synthetic ones the selector should keep, ones it
        should drop. The default: :func:`planted_vectors`."""
        return planted_vectors(seed=self.seed)

    def _scored(self, **extra: Any) -> tuple[Any, list[Record], set[str], np.ndarray, RunContext]:
        train, good, bad = self.planted_mix()
        mix = [r for pair in zip(bad, good) for r in pair]
        ctx = self.context(train)
        sel = self.build(**extra)
        sel.fit(train, ctx)
        return sel, mix, {r.id for r in good}, np.asarray(sel.score(mix, ctx)), ctx

    def test_scores_one_float_per_record(self) -> None:
        _sel, mix, _good, scores, _ctx = self._scored()
        assert scores.shape == (len(mix),), f"{self.name}: {scores.shape} scores for {len(mix)} records"
        assert scores.dtype.kind in "fiu" and np.all(np.isfinite(scores)), f"{self.name}: non-finite scores"

    def test_the_same_seed_gives_the_same_scores(self) -> None:
        first, again = self._scored()[3], self._scored()[3]
        assert _same(first, again), f"{self.name}: scores differ between two fits under one seed"

    def test_select_returns_a_boolean_mask(self) -> None:
        sel, mix, _good, scores, ctx = self._scored()
        keep = np.asarray(sel.select(scores, mix, ctx))
        assert keep.dtype == bool and keep.shape == (len(mix),), f"{self.name}: select gave {keep.dtype} {keep.shape}"

    def test_keeps_the_better_half_of_a_planted_mix(self) -> None:
        if "keep" not in host.get(self.kind, self.name).Params.model_fields:
            return  # a selector without a keep fraction has no "half" to keep
        sel, mix, good, scores, ctx = self._scored(keep=0.5)
        kept = [r.id for r, k in zip(mix, np.asarray(sel.select(scores, mix, ctx))) if k]
        assert kept, f"{self.name}: kept nothing of the planted mix"
        share = sum(i in good for i in kept) / len(kept)
        assert share >= self.min_good_share, f"{self.name}: only {share:.0%} of what it kept is good"

    def test_no_records_or_the_wrong_kind_is_a_clear_error(self) -> None:
        train = self.planted_mix()[0]
        _one_line_errors(lambda data: self.build().fit(data, self.context(train)), self.data_kind, self.name)


class ValidatorContract(_Contract):
    """What every validator does; subclass it with ``name``, ``params`` and :meth:`inputs`.

    Checks: ``evaluate`` returns a :class:`~gda_core.ValidationResult` whose metrics are finite
    numbers, or states in its notes why it does not apply; the same inputs and seed give the same
    metrics; one that ``accepts_empty`` evaluates with no synthetic record; the wrong kind of
    records is a clear one-line error.
    """

    kind = "validators"

    def inputs(self) -> tuple[Dataset, Dataset, list[Record]]:
        """``(train, test, synthetic)``. The default: planted vectors, held-out ones, and records near
        the training records (:func:`planted_vectors`)."""
        train, good, _bad = planted_vectors(seed=self.seed)
        test = Dataset(planted_vectors(seed=self.seed)[1][::2])
        test = Dataset([Record(f"test-{r.id}", r.data, r.label) for r in test.records])
        return train, test, good

    def run_context(self, train: Dataset, test: Dataset | None = None, pool: Dataset | None = None) -> RunContext:
        """The full context validators get, with ``core.classification`` as the application."""
        ctx = super().run_context(train, test, pool)
        ctx.application = host.create("applications", "core.classification", {"model": "logreg"})
        return ctx

    def _evaluate(self, synthetic: list[Record] | None = None) -> Any:
        from .components import ValidationInputs

        train, test, syn = self.inputs()
        syn = syn if synthetic is None else synthetic
        inputs = ValidationInputs(train=train, test=test, synthetic=syn,
                                  stages=[("generated (no selection)", syn)])
        return self.build().evaluate(inputs, self.run_context(train, test))

    def test_metrics_are_finite_or_not_applicable(self) -> None:
        from .components import ValidationResult

        res = self._evaluate()
        assert isinstance(res, ValidationResult), f"{self.name}: evaluate returned {type(res).__name__}"
        bad = {k: v for k, v in res.metrics.items() if not (isinstance(v, (int, float)) and math.isfinite(v))}
        assert not bad or res.notes, f"{self.name}: metrics {bad} are not finite numbers, and no note says why"
        assert res.metrics or res.tables or res.figures or res.notes, \
            f"{self.name}: no metric, table or figure, and no note saying why it does not apply"

    def test_the_same_inputs_give_the_same_metrics(self) -> None:
        assert _same_metrics(self._evaluate().metrics, self._evaluate().metrics), f"{self.name}: not deterministic"

    def test_no_synthetic_record_where_accepted(self) -> None:
        if host.get(self.kind, self.name).accepts_empty:
            res = self._evaluate([])
            assert res.metrics or res.tables or res.notes, f"{self.name}: accepts no synthetic record, returned nothing"

    def test_tiny_and_degenerate_inputs_give_a_result(self) -> None:
        """One kept synthetic record, one class, one training record per class, one test record: a
        result, or one that says "not applicable: ..." (as the pipeline reports it), never an error."""
        from .components import ValidationInputs, ValidationResult
        from .pipeline import evaluate_validator

        train, test, syn = self.inputs()
        first = label_key(next(iter(train.records)).label)

        def one_class(recs):
            return [r for r in recs if label_key(r.label) == first]

        per_class: dict[str, Record] = {}
        for r in train.records:
            per_class.setdefault(label_key(r.label), r)
        cases = {"one kept synthetic record": (train, test, syn[:1]),
                 "one class": (train.with_records(one_class(train.records)), test.with_records(
                     one_class(test.records) or list(test.records)[:1]), one_class(syn) or syn[:1]),
                 "one training record per class": (train.with_records(list(per_class.values())), test, syn),
                 "one test record": (train, test.with_records(list(test.records)[:1]), syn)}
        for case, (tr, te, sy) in cases.items():
            inputs = ValidationInputs(train=tr, test=te, synthetic=sy, stages=[("generated (no selection)", sy)])
            val = self.build()
            val.name = self.name
            res = evaluate_validator(val, inputs, self.run_context(tr, te))
            assert isinstance(res, ValidationResult), f"{self.name}, {case}: returned {type(res).__name__}"

    def test_the_wrong_kind_is_a_clear_error(self) -> None:
        from .components import ValidationInputs

        wrong = _wrong_kind(self.data_kind)
        if wrong is None:
            return
        inputs = ValidationInputs(train=wrong, test=wrong, synthetic=list(wrong.records))
        _refuses(lambda _d: self.build().evaluate(inputs, self.run_context(wrong, wrong)), wrong, self.name)


class StrategyContract(_Contract):
    """What every strategy does; subclass it with ``name``, ``params``, :meth:`train_data`, the
    ``generator`` it drives and, for a strategy that learns from a pool, :meth:`pool_data`.

    Checks (with a :class:`~gda_core.context.FitContext`, as in a run: reading the test split
    fails): ``fit`` returns a generator whose samples are like the training records; ``conditions``
    gives as many conditions of each class as asked, the same under one seed; ``pseudo_labelled``
    is None or pool records with labels among the classes; no records is a clear error.
    """

    kind = "strategies"
    generator: ClassVar[dict[str, Any]] = {"name": "core.gmm", "params": {"n_components": 1}}
    """The generator the strategy drives (name and tiny parameters)."""
    counts_per_class: ClassVar[int] = 2

    def train_data(self) -> Dataset:
        """The tiny labelled training set. The default: :func:`planted_vectors`."""
        return planted_vectors(n=6, dim=3, seed=self.seed)[0]

    def pool_data(self) -> Dataset | None:
        """An unlabelled pool (None: the strategy needs none)."""
        return None

    def _generator(self) -> Any:
        return host.create("generators", self.generator["name"], self.generator.get("params", {}))

    def _fitted(self) -> tuple[Any, Any, Dataset, RunContext]:
        cache = type(self).__dict__.get("_gda_fitted")
        if cache is None:
            train = self.train_data()
            ctx = self.context(train, self.pool_data())
            strategy = self.build()
            cache = (strategy, strategy.fit(self._generator(), train, ctx), train, ctx)
            type(self)._gda_fitted = cache
        return cache

    def _counts(self, train: Dataset) -> dict[Any, int]:
        return {c: self.counts_per_class for c in train.by_class()}

    def test_the_fitted_generator_samples_like_the_training_records(self) -> None:
        strategy, gen, train, ctx = self._fitted()
        assert gen is not None, f"{self.name}: fit returned no generator"
        conds = strategy.conditions(self._counts(train), train, ctx)
        RecordSpec.of(train).check(gen.generate(conds, seed=0, context=ctx), len(conds), f"{self.name}'s generator")

    def test_conditions_give_the_counts_asked_the_same_under_a_seed(self) -> None:
        strategy, _gen, train, ctx = self._fitted()
        counts = self._counts(train)
        conds = strategy.conditions(counts, train, ctx)
        assert len(conds) == sum(counts.values()), f"{self.name}: {len(conds)} conditions for {counts}"
        per = {label_key(c): 0 for c in counts}
        for cond in conds:
            per[label_key(cond["label"])] += 1
        assert per == {label_key(c): n for c, n in counts.items()}, f"{self.name}: conditions per class {per}"
        assert strategy.conditions(counts, train, ctx) == conds, f"{self.name}: conditions not deterministic"

    def test_pseudo_labelled_records_come_from_the_pool(self) -> None:
        from .splits import HIDDEN_LABEL

        strategy, _gen, train, ctx = self._fitted()
        pseudo = strategy.pseudo_labelled(train, ctx)
        if pseudo is None:
            return
        pool_ids = {r.id for r in (ctx.pool.records if ctx.pool is not None else [])}
        classes = {label_key(c) for c in train.classes}
        assert all(r.id in pool_ids for r in pseudo), f"{self.name}: pseudo-labelled records not from the pool"
        assert all(label_key(r.label) in classes and HIDDEN_LABEL not in r.meta for r in pseudo), \
            f"{self.name}: pseudo-labels outside the classes, or a hidden label kept"

    def test_no_records_is_a_clear_error(self) -> None:
        train = self.train_data()
        ctx = self.context(train, self.pool_data())
        _refuses(lambda data: self.build().fit(self._generator(), data, ctx), Dataset([]), f"{self.name} on no records")


class DatasetContract(_Contract):
    """What every data-set loader does; subclass it with ``name`` and tiny ``params`` (override
    :meth:`loader_params` to write the files it reads into ``tmp_path`` first).

    Checks: ``load`` gives :class:`~gda_core.DataSplits` whose training (and test) records pass
    the pipeline's checks, a pool without labels and without test records, unique ids; the same
    seed loads the same records; ``save_samples`` writes a file for every record it names.
    """

    kind = "datasets"

    def loader_params(self, tmp_path: Path) -> dict[str, Any]:
        """The loader's parameters (``params`` unless files must be written first)."""
        return dict(self.params)

    def _load(self, tmp_path: Path) -> Any:
        from .components import DataSplits

        loader = host.create(self.kind, self.name, self.loader_params(tmp_path))
        splits = loader.load(RunContext(train=Dataset([]), seed=self.seed, quiet=True, workdir=tmp_path))
        assert isinstance(splits, DataSplits), f"{self.name}: load returned {type(splits).__name__}"
        return loader, splits

    def test_loads_splits_the_pipeline_accepts(self, tmp_path: Path) -> None:
        _loader, splits = self._load(tmp_path)
        labelled = any(r.label is not None for r in splits.train.records)
        validate_dataset(splits.train, name=f"{self.name} train", need_labels=labelled)
        ids = [r.id for r in splits.train.records]
        if splits.test is not None:
            validate_dataset(splits.test, name=f"{self.name} test", need_labels=labelled)
            ids += [r.id for r in splits.test.records]
        if splits.pool is not None:
            assert all(r.label is None for r in splits.pool.records), f"{self.name}: a pool record has a label"
            ids += [r.id for r in splits.pool.records]
        assert len(ids) == len(set(ids)), f"{self.name}: a record id repeats across the splits"

    def test_the_same_seed_loads_the_same_records(self, tmp_path: Path) -> None:
        _l, a = self._load(tmp_path)
        _l, b = self._load(tmp_path)
        for part in ("train", "test", "pool"):
            x, y = getattr(a, part), getattr(b, part)
            assert (x is None) == (y is None), f"{self.name}: {part} present in one load only"
            if x is not None:
                assert [r.id for r in x.records] == [r.id for r in y.records], f"{self.name}: {part} ids differ"
                assert all(_same(r.data, q.data) and r.label == q.label for r, q in zip(x.records, y.records))

    def test_save_samples_writes_the_files_it_names(self, tmp_path: Path) -> None:
        loader, splits = self._load(tmp_path)
        out = tmp_path / "samples"
        out.mkdir()
        import dataclasses

        # as the pipeline hands them: synthetic records (ids like its own), copies of real ones
        records = [dataclasses.replace(r, id=f"syn-00000-{i:04d}") for i, r in enumerate(splits.train.records[:2])]
        written = loader.save_samples(records, out)
        assert set(written) <= {r.id for r in records}, f"{self.name}: save_samples named other records"
        assert all(p is None or Path(p).is_file() for p in written.values()), f"{self.name}: a named file is missing"


class EmbedderContract(_Contract):
    """What every embedder does; subclass it with ``name``, ``params`` and :meth:`train_data`.

    Checks: ``embed`` gives finite ``(n, d)`` features, the same after a fresh fit under one seed
    and the same for a record embedded alone or with others (executors embed in chunks); fitting
    on no records or on the wrong kind is a clear one-line error.
    """

    kind = "embedders"

    def train_data(self) -> Dataset:
        """The records the embedder is fitted on and embeds. The default: :func:`planted_vectors`."""
        return planted_vectors(seed=self.seed)[0]

    def _features(self, records: list[Record] | None = None) -> tuple[np.ndarray, Any, RunContext, Dataset]:
        train = self.train_data()
        ctx = self.context(train)
        emb = self.build()
        emb.fit(train, ctx)
        recs = list(train.records) if records is None else records
        return np.asarray(emb.embed(recs, ctx)), emb, ctx, train

    def test_features_are_finite_n_by_d(self) -> None:
        feats, _emb, _ctx, train = self._features()
        assert feats.ndim == 2 and feats.shape[0] == len(train) and feats.shape[1] > 0, \
            f"{self.name}: features of shape {feats.shape} for {len(train)} records"
        assert feats.dtype.kind in "fiu" and np.all(np.isfinite(feats)), f"{self.name}: non-finite features"

    def test_the_same_seed_gives_the_same_features(self) -> None:
        assert _same(self._features()[0], self._features()[0]), f"{self.name}: not deterministic"

    def test_a_record_alone_gets_the_features_it_gets_with_others(self) -> None:
        feats, emb, ctx, train = self._features()
        alone = np.asarray(emb.embed(list(train.records[:1]), ctx))
        assert np.allclose(alone[0], feats[0], rtol=1e-4, atol=1e-5), f"{self.name}: features depend on the batch"

    def test_no_records_or_the_wrong_kind_is_a_clear_error(self) -> None:
        train = self.train_data()
        _one_line_errors(lambda data: self.build().fit(data, self.context(train)), self.data_kind, self.name)


class ApplicationContract(_Contract):
    """What every application does; subclass it with ``name``, ``params`` and :meth:`data`.

    Checks: ``evaluate`` returns its headline ``metric`` among finite numbers, above
    ``min_score`` on the planted (easy) task when one is given; the same seed gives the same
    scores; no records or the wrong kind is a clear one-line error.
    """

    kind = "applications"
    min_score: ClassVar[float | None] = None
    """A score the application must beat on :meth:`data` (an easy planted task); None: not checked."""

    def data(self) -> tuple[Dataset, Dataset]:
        """``(train, test)``. The default: two well separated classes of planted vectors."""
        train, good, _bad = planted_vectors(seed=self.seed)
        return train, Dataset(good)

    def _scores(self) -> dict[str, float]:
        train, test = self.data()
        return self.build().evaluate(train, test, seed=self.seed, context=self.run_context(train, test))

    def test_the_headline_metric_is_a_finite_number(self) -> None:
        scores = self._scores()
        metric = host.get(self.kind, self.name).metric
        assert metric in scores, f"{self.name}: no {metric!r} among {sorted(scores)}"
        assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in scores.values()), \
            f"{self.name}: scores {scores} are not finite numbers"
        if self.min_score is not None:
            assert scores[metric] > self.min_score, f"{self.name}: {metric} {scores[metric]:.3f} on an easy task"

    def test_the_same_seed_gives_the_same_scores(self) -> None:
        assert _same_metrics(self._scores(), self._scores()), f"{self.name}: not deterministic under a seed"

    def test_no_records_or_the_wrong_kind_is_a_clear_error(self) -> None:
        _train, test = self.data()
        _one_line_errors(lambda data: self.build().evaluate(data, test, seed=0, context=self.run_context(test)),
                         self.data_kind, self.name)

    def test_tiny_and_degenerate_training_sets_give_scores_or_not_applicable(self) -> None:
        """One record, one record per class, one class (what a downstream validator trains on when
        selection kept almost nothing): finite scores, or :class:`~gda_core.errors.NotApplicable`."""
        from .errors import NotApplicable

        train, test = self.data()
        per_class: dict[str, Record] = {}
        for r in train.records:
            per_class.setdefault(label_key(r.label), r)
        first = label_key(next(iter(train.records)).label)
        cases = {"one record": list(train.records)[:1], "one record per class": list(per_class.values()),
                 "one class": [r for r in train.records if label_key(r.label) == first]}
        metric = host.get(self.kind, self.name).metric
        for case, recs in cases.items():
            ds = train.with_records(recs)
            try:
                scores = self.build().evaluate(ds, test, seed=self.seed, context=self.run_context(ds, test))
            except NotApplicable:
                continue
            assert metric in scores and all(isinstance(v, (int, float)) and math.isfinite(v)
                                            for v in scores.values()), f"{self.name}, {case}: scores {scores}"


CONTRACTS: dict[str, type[_Contract]] = {c.kind: c for c in (
    GeneratorContract, SelectorContract, ValidatorContract, StrategyContract, DatasetContract, EmbedderContract,
    ApplicationContract)}
"""The contract class of each component kind."""


# --- the common test -----------------------------------------------------------


def _heavy_imports_of_listing(plugin: str) -> dict[str, list[str]]:
    """For each component of ``plugin``: the heavy modules a fresh process has imported once it
    listed every kind and described that component (a subprocess: imports are process-wide)."""
    code = ("import json, sys\n"
            "from gda_core.hookspecs import KIND_NAMES\n"
            "from gda_core.host import host\n"
            f"heavy = {HEAVY_MODULES!r}\n"
            "found = {k: host.components(k) for k in KIND_NAMES}\n"
            "out = {}\n"
            "for kind, infos in found.items():\n"
            "    for name, info in infos.items():\n"
            f"        if info.plugin == {plugin!r}:\n"
            "            try:\n"
            "                host.describe(kind, name)\n"
            "            except Exception as exc:\n"
            "                out[f'{kind}:{name}'] = [f'describe failed: {exc}']\n"
            "                continue\n"
            "            out[f'{kind}:{name}'] = sorted(m for m in heavy if m in sys.modules)\n"
            "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise AssertionError(f"listing the components of {plugin} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check_suite(name: str) -> None:
    """A bench suite's base config and every method's overrides resolve; its downstream models build."""
    from .bench.runner import missing_requirements
    from .config import apply_overrides, resolve

    suite = host.get("bench_suites", name)
    assert suite.summary, f"bench suite {name}: no summary"
    for m in suite.methods:
        if missing_requirements(m):
            continue
        resolve(apply_overrides(suite.config, [*m.overrides, "seed=0"]))
    for d in suite.downstream:
        host.create("applications", d.application["name"], d.application.get("params", {}))


def _contract_in_file(path: Path, name: str) -> bool:
    """Whether the test module ``path`` defines a ``Test...`` contract class (a ``...Contract``
    subclass) with ``name = "<name>"`` (read, not imported: it may need fixtures of its own)."""
    import ast

    if not path.is_file():
        return False
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test") and any(
                ast.unparse(b).endswith("Contract") for b in node.bases):
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and any(getattr(t, "id", None) == "name" for t in stmt.targets)
                        and isinstance(stmt.value, ast.Constant) and stmt.value.value == name):
                    return True
    return False


def _contracts_in(namespace: dict[str, Any]) -> set[tuple[str, str]]:
    return {(obj.kind, obj.name) for obj in namespace.values()
            if isinstance(obj, type) and issubclass(obj, _Contract) and obj.kind and obj.name}


def conformance_suite(plugin: str, namespace: dict[str, Any], skip: dict[str, str] | None = None,
                      elsewhere: dict[str, str] | None = None) -> Any:
    """The common conformance test of every component ``plugin`` registers (every kind, from
    ``host.components(kind)``), for a test module to bind to a ``test_`` name::

        test_every_component = conformance_suite("gda_example", globals(), skip={...})

    One test per component: it has a contract class in ``namespace`` (the module's
    :class:`GeneratorContract`, ... subclasses, whose checks pytest runs) or its name is in
    ``skip`` with the reason the kit cannot test it, or ``elsewhere`` names the test module (a path
    relative to the calling module's folder) that holds its contract class (one that needs that
    module's fixtures: a server, say); and, skipped or not, listing every kind and
    describing it imports none of :data:`HEAVY_MODULES`, its ``Params`` forbid unknown fields, it
    has a one-line summary and a ``device`` parameter comes from ``DeviceParams``. A bench suite
    needs no contract: its config and every method's overrides must resolve.
    """
    import pytest

    from .hookspecs import KIND_NAMES, SUITE_KIND

    skip, elsewhere = dict(skip or {}), dict(elsewhere or {})
    here = Path(namespace.get("__file__", ".")).parent
    found = [(kind, name) for kind in KIND_NAMES for name, info in host.components(kind).items()
             if info.plugin == plugin]
    stale = sorted((set(skip) | set(elsewhere)) - {name for _kind, name in found})
    heavy: dict[str, dict[str, list[str]]] = {}

    @pytest.mark.parametrize(("kind", "name"), found, ids=[f"{k}:{n}" for k, n in found])
    def test_component(kind: str, name: str) -> None:
        assert not stale, f"the skip list names components {plugin} does not register: {', '.join(stale)}"
        if plugin not in heavy:
            heavy[plugin] = _heavy_imports_of_listing(plugin)
        imported = heavy[plugin].get(f"{kind}:{name}", [])
        assert not imported, f"listing or describing {name} imports {', '.join(imported)}"
        if kind == SUITE_KIND:
            _check_suite(name)
            return
        cls = host.get(kind, name)
        assert host.describe(kind, name)["summary"], f"{name}: no docstring summary"
        assert cls.Params.model_config.get("extra") == "forbid", f"{name}: its Params accept unknown fields"
        if "device" in cls.Params.model_fields:  # by name: the framework never imports gda_core.torch
            names = {f"{c.__module__}.{c.__qualname__}" for c in cls.Params.__mro__}
            assert "gda_core.torch.accelerators.DeviceParams" in names, f"{name}: declare device through DeviceParams"
        if name in elsewhere:
            assert _contract_in_file(here / elsewhere[name], name), \
                f"{name}: {elsewhere[name]} holds no contract class naming it"
            return
        covered = (kind, name) in _contracts_in(namespace)
        if not covered and name not in skip:
            raise AssertionError(f"{kind_label(kind)} {name} has no conformance contract: add a "
                                 f"{CONTRACTS[kind].__name__} subclass with tiny params and data to this module, "
                                 "or name it in skip with the reason the kit cannot test it")
        if not covered:
            pytest.skip(f"{name}: {skip[name]}")

    return test_component
