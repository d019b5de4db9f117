"""Base classes of the components that plugins register.

Every component is a plain class with a nested pydantic ``Params`` model that
declares its parameters (``extra="forbid"``, so a misspelt parameter is an error
before any work starts). Build one with ``Cls.from_params({...})`` or
``Cls(param=value)``.

Heavy libraries (torch, diffusers, MONAI, transformers) must be imported inside
methods, never at module import, so that ``gda list`` stays fast.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import DataError, GDAError, RunFolderError
from .hookspecs import COMPONENT_KINDS
from .records import Dataset, Record, label_key

if TYPE_CHECKING:
    from .context import RunContext


def _numeric(annotation: Any) -> bool:
    """True when ``annotation`` takes numbers (int, float, Literal of numbers) but not true/false."""
    import typing

    leaves: list[Any] = []
    todo = [annotation]
    while todo:
        a = todo.pop()
        origin = typing.get_origin(a)
        if origin is typing.Literal:
            leaves.extend(type(v) for v in typing.get_args(a))
        elif origin is typing.Union or type(a).__name__ == "UnionType":
            todo.extend(typing.get_args(a))
        elif origin is typing.Annotated:
            todo.append(typing.get_args(a)[0])
        else:
            leaves.append(a)
    return any(t in (int, float) for t in leaves) and not any(t in (bool, Any, object) for t in leaves)


def refuse_booleans_for_numbers(cls: type[BaseModel], value: Any, info: Any) -> Any:
    """A pydantic before-validator: ``true``/``false`` given for a number (pydantic would take true as 1),
    also inside a list of numbers, is an error naming the field."""
    import typing

    field = cls.model_fields.get(info.field_name) if info.field_name else None
    if field is None:
        return value
    annotation = field.annotation
    if isinstance(value, bool) and _numeric(annotation):
        raise ValueError(f"is a number, not {str(value).lower()}")
    if isinstance(value, (list, tuple)) and any(isinstance(v, bool) for v in value):
        args = [a for a in [annotation, *typing.get_args(annotation)] if typing.get_origin(a) in (list, tuple)]
        if args and all(_numeric(x) for a in args for x in typing.get_args(a) if x is not Ellipsis):
            raise ValueError(f"holds numbers, not {str(next(v for v in value if isinstance(v, bool))).lower()}")
    return value


class Params(BaseModel):
    """Base of every component's parameter model: unknown fields are errors, and so are true/false
    for a number and infinite or NaN floats."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: Any) -> Any:
        return refuse_booleans_for_numbers(cls, value, info)


SAMPLING: dict[str, Any] = {"sampling": True}
"""Marks a generator parameter as a *sampling* parameter (diffusers' call arguments: inference steps,
scheduler, guidance scale, strength, sampling batch, temperature), declared on the ``Params`` field::

    num_inference_steps: int = Field(50, gt=0, description="...", json_schema_extra=SAMPLING)

Sampling parameters are not part of the fitted model: the fit hash of a run folder leaves them out
and the generate hash holds them, so ``gda generate RUN --set generator.params.num_inference_steps=10``
reuses the fitted model and only generates again. A model loaded from a folder
(:meth:`Generator.from_pretrained`) takes them from the config, the rest from the folder."""


def sampling_fields(params_cls: type[BaseModel]) -> frozenset[str]:
    """The names of the fields of ``params_cls`` marked with :data:`SAMPLING`; every field when the
    class itself is (``model_config = ConfigDict(json_schema_extra=SAMPLING)``, for generators whose
    ``fit`` only stores the real records, such as classical augmentation)."""
    extra = params_cls.model_config.get("json_schema_extra")
    if isinstance(extra, dict) and extra.get("sampling"):
        return frozenset(params_cls.model_fields)
    return frozenset(name for name, f in params_cls.model_fields.items()
                     if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("sampling"))


DATA_KINDS = ("arrays", "texts", "any")
"""What records a component takes (:attr:`Component.data_kind`)."""


def check_records(component: Component, records: Any, method: str, *, allow_empty: bool = False) -> None:
    """Raise :class:`DataError` (one line naming ``component``) when ``records`` (a :class:`Dataset`,
    a sequence of records, or :class:`ValidationInputs`, whose training set is checked) is empty
    and ``method`` needs records, or holds records of another kind than its :attr:`~Component.data_kind`."""
    if isinstance(records, ValidationInputs):
        records = records.train
    recs = records.records if isinstance(records, Dataset) else records
    who = f"{component.kind_label} {component.name or type(component).__name__}"
    if not allow_empty and len(recs) == 0:
        raise DataError(f"{who}: {method} got no records")
    kind = component.data_kind
    if kind == "arrays" and any(isinstance(r.data, str) for r in recs):
        raise DataError(f"{who} takes arrays of numbers, and these records are texts (use a text component)")
    if kind == "texts" and any(not isinstance(r.data, str) for r in recs):
        raise DataError(f"{who} takes texts, and these records are arrays")


def _checked(fn: Any, method: str, arg: str, position: int, allow_empty: bool) -> Any:
    """``fn`` (a component method) with its records argument checked by :func:`check_records` first."""
    import functools

    @functools.wraps(fn)
    def checked(self: Component, *args: Any, **kwargs: Any) -> Any:
        records = args[position] if len(args) > position else kwargs.get(arg)
        if records is not None:
            check_records(self, records, method, allow_empty=allow_empty)
        return fn(self, *args, **kwargs)

    checked._gda_checked = True  # type: ignore[attr-defined]
    return checked


class Component:
    """Base of every registered component.

    ``name`` is set on the instance to the dotted name it was built under
    (:meth:`gda_core.host.PluginHost.create`, or the config); classes are never
    changed. ``Params`` declares the accepted parameters and their defaults.

    ``data_kind`` says what records the component takes: ``"arrays"`` (numbers, any shape),
    ``"texts"``, or ``"any"`` (the default: it works on an embedder's features, or on both). The
    methods its kind lists in ``checked_inputs`` (a generator's ``fit``, a selector's ``fit`` and
    ``score``, ...) get their records checked before they run: no records where some are needed,
    or records of the other kind, is one :class:`DataError` naming the component, never a
    traceback from deep inside a library.
    """

    name: str = ""
    Params: ClassVar[type[Params]] = Params
    data_kind: ClassVar[str] = "any"
    kind_label: ClassVar[str] = "component"
    checked_inputs: ClassVar[dict[str, tuple[str, int, bool]]] = {}
    """``method: (records argument, its position after self, whether no records is fine)``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.data_kind not in DATA_KINDS:
            raise TypeError(f"{cls.__qualname__}.data_kind is {cls.data_kind!r}, not one of {', '.join(DATA_KINDS)}")
        for method, (arg, position, allow_empty) in cls.checked_inputs.items():
            fn = cls.__dict__.get(method)
            if fn is not None and not getattr(fn, "_gda_checked", False):
                setattr(cls, method, _checked(fn, method, arg, position, allow_empty))

    def __init__(self, params: Params | None = None, **kwargs: Any) -> None:
        if params is not None and kwargs:
            raise TypeError("pass either a Params instance or keyword parameters, not both")
        self.params = params if params is not None else self.Params(**kwargs)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None = None) -> Component:
        """Validate ``params`` against ``Params`` and build the component."""
        return cls(cls.Params.model_validate(params or {}))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    def sampling_params(self) -> dict[str, Any]:
        """This component's sampling parameters (fields marked :data:`SAMPLING`) and their values:
        a generator's call arguments, a strategy's condition-only parameters (``core.pseudo-label``'s
        ``uncertain_conditions``). A run folder's fit hash leaves them out, so changing one reuses
        the fitted generator."""
        names = sampling_fields(type(self.params))
        return {k: v for k, v in self.params.model_dump(mode="json").items() if k in names}

    @staticmethod
    def condition_sources(conditions: Sequence[dict[str, Any]], context: Any, who: str) -> dict[str, Record]:
        """The real record each condition names (``source_id``), from the run's training records
        and its pool, by id; a :class:`~gda_core.errors.DataError` naming ``who`` (the component, the
        parameter and its verb: ``"core.kde: from_source needs"``) when one is missing."""
        from .errors import DataError

        found: dict[str, Record] = {}
        for ds in (getattr(context, "train", None), getattr(context, "pool", None)):
            for r in (ds.records if ds is not None else []):
                found[r.id] = r
        missing = [c.get("source_id") for c in conditions if c.get("source_id") not in found]
        if missing:
            raise DataError(f"{who} each condition's source_id among the run's training or pool records "
                            f"(missing: {missing[0]!r})")
        return found

    def _require_fitted(self, *attributes: str, action: str = "generate") -> None:
        """Raise :class:`~gda_core.errors.GDAError` naming the component unless every fitted
        attribute (``"model_"``, ...) is set: "vision.ddpm: generate called before fit (or load)"."""
        missing = [a for a in attributes if getattr(self, a, None) is None]
        if missing:
            raise GDAError(f"{self.name or type(self).__name__}: {action} called before fit (or load)")


# --------------------------------------------------------------------------
# 1. generative model selection
# --------------------------------------------------------------------------


class Generator(Component):
    """A generative model: ``fit`` on real records, ``generate`` synthetic ones.

    ``generate`` returns one record per condition, in order. A condition is a dict
    with at least ``label`` (None for unconditional data) and whatever the
    strategy adds (``source_id`` of a real record, ``prompt``, ...). The pipeline
    fills in ids and provenance.

    Generators save and load like diffusers models: ``save_pretrained(path)``
    writes ``gda_generator.json`` (name and params) plus whatever
    ``save_state`` writes; ``from_pretrained(path)`` reads them back.
    """

    kind_label = "generator"
    checked_inputs = {"fit": ("train", 0, False)}
    version: ClassVar[str] = "0"
    config_name: ClassVar[str] = "gda_generator.json"
    min_class_size: ClassVar[int] = 1
    """The fewest training records of one class that ``fit`` can learn from (checked before a run starts)."""

    def check_train(self, train: Dataset) -> None:
        """Raise :class:`~gda_core.errors.DataError` when ``fit`` cannot learn from ``train``.

        Called before the run folder is touched. The default asks each class for
        ``min_class_size`` records; override it for other limits.
        """
        for label, recs in train.by_class().items():
            if 0 < len(recs) < self.min_class_size:
                raise DataError(f"class {label!r} has {len(recs)} training record(s); generator {self.name} "
                                f"needs at least {self.min_class_size} per class (use more data, a larger "
                                "k_shot, or another generator)")

    def fit(self, train: Dataset, context: RunContext) -> None:
        raise NotImplementedError

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        raise NotImplementedError

    def report_tables(self, folder: Path, records: Sequence[Record]) -> list[Table]:
        """Tables for the run report about how ``records`` (this run's synthetic set) were made, read
        from the run folder ``folder`` (requests sent to a server, tokens, cost, rejections...). Called
        when the report is written, possibly in another process than the one that generated; the
        default adds none."""
        return []

    def save_state(self, path: Path) -> None:
        """Write fitted state (weights) into the folder ``path``."""

    def load_state(self, path: Path) -> None:
        """Read fitted state written by :meth:`save_state` from ``path``."""

    state_arrays: ClassVar[str] = "state.npz"
    """The file :meth:`save_arrays` writes inside a saved generator's folder."""

    def save_arrays(self, path: Path, arrays: dict[str, np.ndarray], filename: str | None = None) -> None:
        """Write named numpy arrays (fitted state) into the folder ``path``, without pickles."""
        np.savez(Path(path) / (filename or self.state_arrays), **{k: np.asarray(v) for k, v in arrays.items()})

    def load_arrays(self, path: Path, filename: str | None = None) -> dict[str, np.ndarray]:
        """Read the arrays :meth:`save_arrays` wrote; a missing file is a :class:`GDAError` naming it."""
        file = Path(path) / (filename or self.state_arrays)
        if not file.is_file():
            raise GDAError(f"{self.name or type(self).__name__}: {file} is missing (not a saved generator folder)")
        with np.load(file, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def save_pretrained(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = {"name": self.name, "class": f"{type(self).__module__}:{type(self).__qualname__}",
                  "version": self.version, "params": self.params.model_dump(mode="json")}
        (path / self.config_name).write_text(json.dumps(config, indent=2, sort_keys=True))
        self.save_state(path)

    @classmethod
    def pretrained_config(cls, path: str | os.PathLike[str], **overrides: Any) -> tuple[dict[str, Any], Params]:
        """Read and check the ``gda_generator.json`` of a folder written by :meth:`save_pretrained`:
        ``(config, params)`` with ``overrides`` applied. Loads no weights; a missing, damaged or
        foreign folder is one :class:`~gda_core.errors.RunFolderError` naming it."""
        from pydantic import ValidationError

        path = Path(path)
        cfg_file = path / cls.config_name
        if not cfg_file.is_file():
            raise RunFolderError(f"{path} is not a saved generator (no {cls.config_name})")
        try:
            config = json.loads(cfg_file.read_text())
            if not isinstance(config, dict) or not isinstance(config.get("params", {}), dict):
                raise ValueError("not a saved generator's config")
        except (OSError, ValueError) as exc:
            raise RunFolderError(f"{cfg_file} is damaged ({exc})") from exc
        mine = f"{cls.__module__}:{cls.__qualname__}"
        saved = str(config.get("class") or mine)
        if saved.rpartition(":")[2] != cls.__qualname__:  # the module may move between versions
            raise RunFolderError(f"{path} holds a model of {config.get('name') or config.get('class')} "
                                 f"({config.get('class')}), not of {mine}")
        try:
            params = cls.Params.model_validate({**config.get("params", {}), **overrides})
        except ValidationError as exc:
            from .field_errors import format_validation_error

            raise RunFolderError(f"{cfg_file}: the saved params do not fit {mine} "
                                 f"({format_validation_error(exc, cls.Params)})") from exc
        return config, params

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], **overrides: Any) -> Generator:
        """Load a generator saved by :meth:`save_pretrained`; ``overrides`` replace saved parameters
        (the pipeline passes the config's sampling parameters). A missing, damaged or foreign folder
        is one :class:`~gda_core.errors.RunFolderError` naming it."""
        config, params = cls.pretrained_config(path, **overrides)
        path = Path(path)
        gen = cls(params)
        gen.name = config.get("name") or gen.name
        try:
            gen.load_state(path)
        except Exception as exc:  # truncated weights, missing files: any library's error
            raise RunFolderError(f"model folder {path} is damaged or incomplete ({type(exc).__name__}: {exc})") from exc
        return gen  # type: ignore[return-value]


# --------------------------------------------------------------------------
# 2. model utilization
# --------------------------------------------------------------------------


class Strategy(Component):
    """How a generator is driven: how it is fitted and which conditions it gets.

    The default fits the generator from scratch and asks for ``counts[label]``
    samples of each class, each condition naming a real record of that class
    (``source_id``) in turn, for generators that start from a real sample.
    """

    kind_label = "strategy"
    checked_inputs = {"fit": ("train", 1, False)}

    def uses_pool(self) -> bool:
        """Whether this strategy (with its parameters) learns from the data set's unlabelled pool
        (``context.pool``). The pipeline refuses a run that would need one when the loader offers
        none, naming the loader's :attr:`DatasetLoader.pool_hint`; the report says which strategies
        use a pool the data set offers. The default uses none."""
        return False

    def check(self, generator: Generator, train: Dataset) -> None:
        """Raise a :class:`~gda_core.errors.GDAError` when this strategy cannot drive ``generator`` on
        ``train``; called before the run folder is touched. The default asks the generator
        (:meth:`Generator.check_train`)."""
        generator.check_train(train)

    def fit(self, generator: Generator, train: Dataset, context: RunContext) -> Generator:
        """Fit ``generator`` on ``train`` and return the generator to sample from."""
        generator.fit(train, context)
        return generator

    def pseudo_labelled(self, train: Dataset, context: RunContext) -> list[Record] | None:
        """The unlabelled pool's records this strategy pseudo-labelled and fitted the generator on
        (each carrying its predicted label), or None for a strategy that uses no pseudo-labels
        (the default).

        ``gda bench``'s ``self-train`` method trains on exactly these (so the comparison isolates
        what generation adds to the same pseudo-labels), and the pipeline scores them against the
        pool's hidden labels for the report. Called after :meth:`fit`, or on a strategy whose
        generator was loaded from a run folder instead of fitted: then it labels the pool again,
        so its labeller must be deterministic under ``context.seed``.
        """
        return None

    def conditions(self, counts: dict[Any, int], train: Dataset, context: RunContext) -> list[dict[str, Any]]:
        """One condition per sample to generate: ``counts[label]`` of each class, each naming a
        real record of that class (``source_id``) in turn."""
        by_class = train.by_class()
        out: list[dict[str, Any]] = []
        for label, n in counts.items():
            sources = by_class.get(label) or list(train.records)
            for i in range(n):
                out.append({"label": label, "source_id": sources[i % len(sources)].id})
        return out


# --------------------------------------------------------------------------
# 3. data selection
# --------------------------------------------------------------------------


def chain_keys(selectors: Sequence[Selector]) -> list[str]:
    """The keys the pipeline gives ``selectors``' scores, in order: ``name``, or ``name#2`` for a
    second selector of one name (what a ``by`` parameter names)."""
    keys: list[str] = []
    seen: dict[str, int] = {}
    for sel in selectors:
        seen[sel.name] = seen.get(sel.name, 0) + 1
        keys.append(sel.name if seen[sel.name] == 1 else f"{sel.name}#{seen[sel.name]}")
    return keys


def class_groups(records: Sequence[Record], per_class: bool = True) -> list[np.ndarray]:
    """Indices of ``records`` grouped by label (one group of all when not ``per_class``)."""
    groups: dict[Any, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(label_key(r.label) if per_class else None, []).append(i)
    return [np.asarray(idx) for idx in groups.values()]


class SelectorParams(Params):
    """How a score becomes a keep/drop decision (shared by score-based selectors)."""

    keep: float | None = Field(None, gt=0, le=1, description="fraction of samples to keep (by rank)")
    threshold: float | None = Field(None, description="keep samples scoring at least this")
    per_class: bool = Field(True, description="rank and keep within each intended class (a switch; "
                            "generate.per_class is a count)")


class Selector(Component):
    """Scores synthetic records and keeps some of them.

    ``score`` returns one float per record (higher is better unless
    ``higher_is_better`` is False); ``select`` turns scores into a boolean keep
    mask. The default ``select`` applies ``keep`` (a fraction, by rank) and
    ``threshold`` from :class:`SelectorParams`, within each class when
    ``per_class``; with neither set it keeps everything it scored.
    """

    Params = SelectorParams
    kind_label = "selector"
    checked_inputs = {"fit": ("train", 0, False), "score": ("synthetic", 0, True)}
    higher_is_better: ClassVar[bool] = True
    per_sample: ClassVar[bool] = False
    """True when ``score`` of any chunk of records gives the whole set's scores of those records
    and leaves nothing that ``select`` needs: the pipeline then scores chunks through the run's
    executor (on Ray workers, each fitting its own copy once)."""

    def check_chain(self, earlier: Sequence[Selector]) -> None:
        """Raise ``ValueError`` when this selector cannot follow ``earlier`` (the selectors before it in
        the chain); called when the config is resolved. The default accepts any chain."""

    def fit(self, train: Dataset, context: RunContext) -> None:
        """Learn whatever the score needs from the real training records."""

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        raise NotImplementedError

    def select(self, scores: np.ndarray, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        p = self.params
        s = np.asarray(scores, dtype=float)
        signed = s if self.higher_is_better else -s
        keep = np.ones(len(s), dtype=bool)
        threshold = getattr(p, "threshold", None)
        if threshold is not None:
            keep &= s >= threshold if self.higher_is_better else s <= threshold
        fraction = getattr(p, "keep", None)
        if fraction is not None:
            ranked = np.zeros(len(s), dtype=bool)
            for idx in class_groups(synthetic, getattr(p, "per_class", True)):
                k = max(1, int(round(fraction * len(idx))))
                ranked[idx[np.argsort(-signed[idx], kind="stable")[:k]]] = True
            keep &= ranked
        return keep


# --------------------------------------------------------------------------
# 4. validation
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Table:
    """A small table for the report."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclasses.dataclass
class Figure:
    """A PNG figure for the report."""

    title: str
    filename: str
    png: bytes


@dataclasses.dataclass
class ValidationResult:
    """What a validator found: headline numbers, tables, figures and notes."""

    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    tables: list[Table] = dataclasses.field(default_factory=list)
    figures: list[Figure] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ValidationInputs:
    """Everything a validator may compare.

    ``synthetic`` are the kept synthetic records; ``stages`` lists the synthetic
    set before selection and after each selector, in order (the last stage is
    ``synthetic``); ``baselines`` maps a baseline generator's name to its records.
    ``self_training`` are the pool records self-training adds to ``train`` with no generator
    (the strategy's pseudo-labelled records, else the pool labelled by
    :data:`~gda_core.builtin.pool.SELF_TRAIN_LABELLER`); None without a pool or a way to label it.
    """

    train: Dataset
    test: Dataset
    synthetic: list[Record]
    stages: list[tuple[str, list[Record]]] = dataclasses.field(default_factory=list)
    baselines: dict[str, list[Record]] = dataclasses.field(default_factory=dict)
    self_training: list[Record] | None = None


class Validator(Component):
    """Measures whether the synthetic data is faithful and whether it helps.

    ``accepts_empty``: True when :meth:`evaluate` is meaningful with no kept synthetic
    sample (a downstream baseline); otherwise the pipeline skips it with a note.
    """

    accepts_empty: ClassVar[bool] = False
    kind_label = "validator"
    checked_inputs = {"evaluate": ("inputs", 0, False)}

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
        raise NotImplementedError


# --------------------------------------------------------------------------
# 5. applications
# --------------------------------------------------------------------------


class Application(Component):
    """A downstream task: trains its model on some records and scores it on others.

    ``evaluate`` returns metrics with ``metric`` (the headline, higher is better)
    among them.
    """

    metric: ClassVar[str] = "accuracy"
    kind_label = "application"
    checked_inputs = {"evaluate": ("train", 0, False)}

    def evaluate(self, train: Dataset, test: Dataset, *, seed: int, context: RunContext) -> dict[str, float]:
        raise NotImplementedError


# --------------------------------------------------------------------------
# data sets and embedders
# --------------------------------------------------------------------------


@dataclasses.dataclass
class DataSplits:
    """A loader's output: training records, a test split when the source has one, and an
    unlabelled pool when the loader offers one.

    ``pool`` holds real records without labels (``label`` None) that strategies may learn from
    (pretraining, pseudo-labelling); it never holds a test record. Build it with
    :func:`gda_core.splits.k_shot_with_pool` or :func:`gda_core.splits.as_pool`.
    """

    train: Dataset
    test: Dataset | None = None
    pool: Dataset | None = None


class DatasetLoader(Component):
    """Loads real records, and writes samples back in the modality's native format."""

    kind_label = "dataset"

    pool_hint: ClassVar[str] = "it has no way to offer one"
    """How this loader is made to offer an unlabelled pool (``DataSplits.pool``), as a hint for the
    error a pool strategy gets when there is none: "set dataset.params.k_shot ...". Name the
    parameters; the default says the loader cannot offer one."""

    def load(self, context: RunContext) -> DataSplits:
        raise NotImplementedError

    def save_samples(self, records: Sequence[Record], folder: Path) -> dict[str, Path | None]:
        """Write kept synthetic records into ``folder``; return each record's file.

        The default calls :meth:`save_sample` once per record; loaders whose native
        format holds many samples in one file (a table) override this instead.
        """
        return {r.id: self.save_sample(r, folder / r.id) for r in records}

    def save_sample(self, record: Record, stem: Path) -> Path | None:
        """Write one sample next to ``stem`` (a path without suffix); return the file.

        The default writes arrays as ``.npy`` (and a paired target as
        ``_target.npy``) and texts as ``.txt``.
        """
        if isinstance(record.data, str):
            out = stem.with_suffix(".txt")
            out.write_text(record.data, encoding="utf-8")
            return out
        out = stem.with_suffix(".npy")
        np.save(out, np.asarray(record.data), allow_pickle=False)
        if record.target is not None:
            np.save(stem.parent / f"{stem.name}_target.npy", np.asarray(record.target), allow_pickle=False)
        return out

    def preview(self, real: dict[str, list[Record]], kept: dict[str, list[Record]]) -> Figure | Table | None:
        """The report's samples figure: a few real and kept synthetic samples of each class.

        ``real`` and ``kept`` map a class key (:func:`~gda_core.records.label_key`) to a few
        records each. Return a :class:`Figure` (real beside kept synthetic, one row per class:
        :func:`gda_core.previews.sample_grid` lays it out), a :class:`Table` of examples
        (:func:`gda_core.previews.sample_table`), or None (the default: no preview).
        """
        return None


class Embedder(Component):
    """Turns records into feature vectors for selectors and validators."""

    kind_label = "embedder"
    checked_inputs = {"fit": ("train", 0, False), "embed": ("records", 0, True)}

    def fit(self, train: Dataset, context: RunContext) -> None:
        """Learn from the real training records (a no-op for fixed embedders)."""

    def embed(self, records: Sequence[Record], context: RunContext) -> np.ndarray:
        raise NotImplementedError


KINDS: dict[str, type[Component]] = dict(zip(
    COMPONENT_KINDS, (Generator, Strategy, Selector, Validator, Application, DatasetLoader, Embedder), strict=True))
"""Each component kind's base class, by kind name (:data:`gda_core.hookspecs.COMPONENT_KINDS`)."""

for _base in KINDS.values():  # the bases' own methods (a selector that keeps the no-op fit) are checked too
    for _method, (_arg, _position, _empty) in _base.checked_inputs.items():
        if _method in vars(_base):
            setattr(_base, _method, _checked(vars(_base)[_method], _method, _arg, _position, _empty))
