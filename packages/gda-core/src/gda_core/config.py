"""Run configuration: a YAML file validated by pydantic, components resolved by name.

Each component is given as ``{name: ..., params: {...}}`` or just its name.
Resolution builds every component (so every parameter is validated) before any
work starts and returns the config with every default filled in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .components import (
    Application,
    Component,
    DatasetLoader,
    Embedder,
    Generator,
    Selector,
    Strategy,
    Validator,
    refuse_booleans_for_numbers,
)
from .errors import ConfigError, GDAError
from .executors import ExecutorRef
from .field_errors import format_validation_error
from .host import host


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: Any) -> Any:
        return refuse_booleans_for_numbers(cls, value, info)


class ComponentRef(_Strict):
    """A component by registered name, with its parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        return value


class GenerateConfig(_Strict):
    """How many synthetic samples to make, and in what shards."""

    per_class: int | None = Field(None, gt=0, description="samples per class")
    n: int | None = Field(None, gt=0, description="samples in all, spread evenly over classes")
    ratio: float | None = Field(None, gt=0, description="per class, this many times its real count")
    shard_size: int = Field(64, gt=0, description="records per shard (the unit of resume)")

    @field_validator("per_class", mode="before")
    @classmethod
    def _count_not_switch(cls, v: Any) -> Any:
        if isinstance(v, bool):  # pydantic would take true as 1
            raise ValueError("is a number of samples per class, not true/false (the selectors' per_class "
                             "switch ranks within each class)")
        return v

    @model_validator(mode="after")
    def _one_count(self) -> GenerateConfig:
        given = [k for k in ("per_class", "n", "ratio") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of per_class, n, ratio (got {', '.join(given)})")
        if not given:
            self.ratio = 1.0
        return self


class RunConfig(_Strict):
    """A whole run: data, generator, strategy, selection, validation, application."""

    seed: int = 0
    output: str | None = Field(None, description="run folder (the CLI's --output wins)")
    test_size: float = Field(0.3, gt=0, lt=1, description="held-out share when the data set has no test split")
    dataset: ComponentRef = ComponentRef(name="core.wine")
    generator: ComponentRef = ComponentRef(name="core.gmm")
    strategy: ComponentRef = ComponentRef(name="core.train")
    generate: GenerateConfig = GenerateConfig()
    selectors: list[ComponentRef] = Field(default_factory=list)
    validators: list[ComponentRef] = Field(default_factory=list)
    baselines: list[ComponentRef] = Field(default_factory=list, description="generators to compare against")
    application: ComponentRef = ComponentRef(name="core.classification")
    embedder: ComponentRef = ComponentRef(name="core.flatten")
    embedders: list[ComponentRef] = Field(
        default_factory=list, description="more embedders, with parameters, that selectors and validators may name")
    executor: ExecutorRef = Field(
        ExecutorRef(), exclude=True, description="where shards run: local or ray (gda_core.executors); how a run is "
        "carried out, not what it makes: left out of the saved config and its hash")

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        if v < 0:
            raise ValueError("seed must be >= 0")
        return v


@dataclasses.dataclass
class ResolvedRun:
    """A validated config and the components built from it."""

    config: RunConfig
    dataset: DatasetLoader
    generator: Generator
    strategy: Strategy
    selectors: list[Selector]
    validators: list[Validator]
    baselines: list[Generator]
    application: Application
    embedder: Embedder
    embedders: list[Embedder] = dataclasses.field(default_factory=list)
    implicit_embedders: list[Embedder] = dataclasses.field(default_factory=list)
    """Embedders that selectors and validators name but the config does not list: built with
    default parameters when the config is resolved (not part of the resolved config)."""

    def named_embedders(self) -> dict[str, Embedder]:
        """Every embedder a selector or validator may name, by name (the run's own included)."""
        return {e.name: e for e in [self.embedder, *self.embedders, *self.implicit_embedders]}

    def resolved_dict(self) -> dict[str, Any]:
        """The config with every component's parameters, defaults included."""
        def ref(c: Component) -> dict[str, Any]:
            return {"name": c.name, "params": c.params.model_dump(mode="json")}

        d = self.config.model_dump(mode="json")
        d["dataset"] = ref(self.dataset)
        d["generator"] = ref(self.generator)
        d["strategy"] = ref(self.strategy)
        d["selectors"] = [ref(s) for s in self.selectors]
        d["validators"] = [ref(v) for v in self.validators]
        d["baselines"] = [ref(b) for b in self.baselines]
        d["application"] = ref(self.application)
        d["embedder"] = ref(self.embedder)
        d["embedders"] = [ref(e) for e in self.embedders]
        return d

    def step_views(self) -> dict[str, dict[str, Any]]:
        """The part of the resolved config each run step depends on (its own part only).

        ``fit``: seed, data, the generator's training parameters, the strategy (less its sampling
        parameters). ``generate``: the counts, the generator's sampling parameters
        (:meth:`~gda_core.components.Generator.sampling_params`) and the strategy's
        (:meth:`~gda_core.components.Strategy.sampling_params`: they only shape the conditions), the
        baselines. ``select``: selectors, embedders, application. ``validate``: validators.
        ``output`` is in none of them; a top-level key not named here counts for ``fit`` (a new key
        that only a later step reads belongs in that step's part).
        """
        d = self.resolved_dict()
        gen = d["generator"]
        sampling = set(self.generator.sampling_params())
        strategy_sampling = set(self.strategy.sampling_params())
        strategy = d["strategy"]
        fit_strategy = strategy
        if strategy_sampling and isinstance(strategy.get("params"), dict):
            fit_strategy = {**strategy, "params": {k: v for k, v in strategy["params"].items()
                                                   if k not in strategy_sampling}}
        named = {"output", "seed", "test_size", "dataset", "generator", "strategy", "generate", "baselines",
                 "selectors", "embedder", "embedders", "application", "validators"}
        other = {k: v for k, v in d.items() if k not in named}  # new top-level keys: on the safe side
        return {
            "fit": {**other, "seed": d["seed"], "test_size": d["test_size"], "dataset": d["dataset"],
                    "generator": {"name": gen["name"],
                                  "params": {k: v for k, v in gen["params"].items() if k not in sampling}},
                    "strategy": fit_strategy},
            "generate": {"generate": d["generate"], "baselines": d["baselines"],
                         "generator": {"params": {k: v for k, v in gen["params"].items() if k in sampling}},
                         **({"strategy": {k: v for k, v in strategy["params"].items() if k in strategy_sampling}}
                            if strategy_sampling else {})},
            "select": {"selectors": d["selectors"], "embedder": d["embedder"], "embedders": d["embedders"],
                       "application": d["application"]},
            "validate": {"validators": d["validators"]},
        }


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, stricter where YAML 1.1 surprises: a key given twice, an int with a
    leading zero (``010`` would be octal 8) and a sexagesimal int (``1:30`` would be 90) are errors."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (first on line {first.line + 1}); give it once",
                    key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(node.value).replace("_", "").lstrip("+-")
        if len(text) > 1 and text[0] == "0" and text[1] not in "xXbB":
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} has a leading zero, which YAML reads as an octal number "
                f"({super().construct_yaml_int(node)}); write it without the zero, or quote it", node.start_mark)
        if ":" in text:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} would be read as a base-60 number "
                f"({super().construct_yaml_int(node)}); quote it", node.start_mark)
        return super().construct_yaml_int(node)


ConfigLoader.add_constructor("tag:yaml.org,2002:int", ConfigLoader.construct_yaml_int)

MAX_DEPTH = 64
MAX_NODES = 200_000


def yaml_value(text: str) -> Any:
    """YAML text as data with :class:`ConfigLoader`; errors are ``yaml.YAMLError``, and so are input
    nested deeper than :data:`MAX_DEPTH` or larger than :data:`MAX_NODES` values (aliases counted)."""
    try:
        data = yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError as exc:
        raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep") from exc
    check_size(data)
    return data


def check_size(data: Any) -> None:
    """Raise ``yaml.YAMLError`` for data nested deeper than :data:`MAX_DEPTH` or holding more than
    :data:`MAX_NODES` values (a value reached twice through aliases counts twice)."""
    todo, n = [(data, 1)], 0
    while todo:
        value, depth = todo.pop()
        n += 1
        if depth > MAX_DEPTH:
            raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep")
        if n > MAX_NODES:
            raise yaml.YAMLError(f"holds more than {MAX_NODES:,} values (through aliases, perhaps)")
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for v in [*value.keys(), *value.values()])
        elif isinstance(value, (list, tuple)):
            todo.extend((v, depth + 1) for v in value)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml_value(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {_yaml_problem(exc)}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, not {type(data).__name__}")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: the problem and where it is."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def _format(exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = RunConfig) -> str:
    return format_validation_error(exc, model, prefix)


def parse(data: dict[str, Any] | RunConfig) -> RunConfig:
    if isinstance(data, RunConfig):
        return data
    try:
        check_size(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid config: {exc}") from exc
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid config: {_format(exc)}") from exc


def _home_paths(value: Any, where: str) -> None:
    """A string starting ``~user/`` for a user this machine does not know is an error naming the field
    (``pathlib`` would raise when the path is used)."""
    import os
    import re

    if isinstance(value, str):
        m = re.match(r"~[^/\s]*(?=/|$)", value)
        if m and os.path.expanduser(m.group(0)) == m.group(0):
            raise ConfigError(f"{where}: {value}: cannot expand {m.group(0)!r} (no such user, or no home folder)")
    elif isinstance(value, dict):
        for k, v in value.items():
            _home_paths(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _home_paths(v, f"{where}[{i}]")


def build(kind: str, ref: ComponentRef, where: str) -> Any:
    """Build the component ``ref`` names; errors name the config field ``where``."""
    _home_paths(ref.params, f"{where}.params")
    try:
        return host.create(kind, ref.name, ref.params)
    except ValidationError as exc:
        raise ConfigError(f"{where} ({ref.name}): {_format(exc, 'params', host.get(kind, ref.name).Params)}") from exc
    except GDAError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _named_embedders(resolved: ResolvedRun) -> list[Embedder]:
    """Build, with default parameters, every embedder a selector or validator names in its
    ``embedder`` parameter that the config does not build already (an unknown name is an error
    naming the field)."""
    have = {resolved.embedder.name, *(e.name for e in resolved.embedders)}
    out: list[Embedder] = []
    users = [("selectors", resolved.selectors), ("validators", resolved.validators)]
    for field, components in users:
        for i, component in enumerate(components):
            name = getattr(component.params, "embedder", None)
            if isinstance(name, str) and name not in have:
                out.append(build("embedders", ComponentRef(name=name), f"{field}[{i}].params.embedder"))
                have.add(name)
    return out


def resolve(data: dict[str, Any] | RunConfig) -> ResolvedRun:
    """Validate the config and build every component; raise :class:`ConfigError`."""
    cfg = parse(data)
    resolved = ResolvedRun(
        config=cfg,
        dataset=build("datasets", cfg.dataset, "dataset"),
        generator=build("generators", cfg.generator, "generator"),
        strategy=build("strategies", cfg.strategy, "strategy"),
        selectors=[build("selectors", r, f"selectors[{i}]") for i, r in enumerate(cfg.selectors)],
        validators=[build("validators", r, f"validators[{i}]") for i, r in enumerate(_with_near_copies(cfg))],
        baselines=[build("generators", r, f"baselines[{i}]") for i, r in enumerate(cfg.baselines)],
        application=build("applications", cfg.application, "application"),
        embedder=build("embedders", cfg.embedder, "embedder"),
        embedders=[build("embedders", r, f"embedders[{i}]") for i, r in enumerate(cfg.embedders)],
    )
    resolved.implicit_embedders = _named_embedders(resolved)
    _no_two_of_one_name(resolved)
    for i, sel in enumerate(resolved.selectors):
        try:
            sel.check_chain(resolved.selectors[:i])
        except ValueError as exc:
            raise ConfigError(f"selectors[{i}] ({sel.name}): {exc}") from exc
    return resolved


def _no_two_of_one_name(resolved: ResolvedRun) -> None:
    """Baselines, validators and embedders are kept by name (results, shards, features): two of one
    name would collapse into one, so the second is an error naming both places."""
    groups = [("baselines", resolved.baselines), ("validators", resolved.validators),
              ("embedders", [resolved.embedder, *resolved.embedders])]
    for field, components in groups:
        first: dict[str, int] = {}
        for i, c in enumerate(components):
            if c.name in first:
                where = "embedder" if field == "embedders" and first[c.name] == 0 else \
                    f"{field}[{first[c.name] - (1 if field == 'embedders' else 0)}]"
                here = f"{field}[{i - (1 if field == 'embedders' else 0)}]"
                raise ConfigError(f"{here}: {c.name} is listed already ({where}); their results would collapse "
                                  "into one: give each name once")
            first[c.name] = i


NEAR_COPY_VALIDATOR = "core.memorization"


def _with_near_copies(cfg: RunConfig) -> list[ComponentRef]:
    """The config's validators, plus ``core.memorization`` when it lists none: every run measures
    near-copies of the generator's training data."""
    if any(r.name == NEAR_COPY_VALIDATOR for r in cfg.validators):
        return list(cfg.validators)
    return [*cfg.validators, ComponentRef(name=NEAR_COPY_VALIDATOR)]


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``dotted.path=value`` overrides (list items by index; values parsed as YAML)."""
    import copy

    data = copy.deepcopy(data)
    for item in overrides:
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"--set {item!r}: expected dotted.path=value")
        try:
            value = yaml_value(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: value is not valid YAML: {_yaml_problem(exc)}") from exc
        node: Any = data
        parts = path.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {item!r}: {'.'.join(parts[:i])} has no item {part}")
                idx = int(part)
                if isinstance(node[idx], str) and not last:  # "core.prdc" shorthand
                    node[idx] = {"name": node[idx]}
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if isinstance(node.get(part), str):
                        node[part] = {"name": node[part]}
                    node = node.setdefault(part, {})
            else:
                raise ConfigError(f"--set {item!r}: {'.'.join(parts[:i])} is not a mapping or list")
    return data


def dump_yaml(d: dict[str, Any]) -> str:
    return yaml.safe_dump(d, sort_keys=False, default_flow_style=False)
