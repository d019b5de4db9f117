"""The docs keep up with the code: every hook spec, core component, parameter and command."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from gda_core import hookspecs, testing
from gda_core.components import KINDS
from gda_core.host import TRACE_ENV, host
from gda_core.torch import accelerators

REPO = Path(__file__).resolve().parents[2]
WRITING_PLUGINS = REPO / "docs" / "writing-plugins.md"
CORE_DOC = REPO / "docs" / "core.md"
TEMPLATE = REPO / "templates" / "gda-plugin"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def hook_specs() -> list:
    """Every hook spec in gda_core.hookspecs, found by pluggy's ``gda_spec`` marker."""
    marker = f"{hookspecs.hookspec.project_name}_spec"
    return [f for _name, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, marker)]


def blocks(text: str, lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(text) if kind == lang]


def section(text: str, title: str) -> str:
    """The text under the heading whose title is ``title`` (backticks optional), up to the next heading."""
    lines = text.splitlines()
    head = re.compile(rf"^(#+)\s+`?{re.escape(title)}`?\s*$")
    for i, line in enumerate(lines):
        m = head.match(line)
        if m:
            level = len(m.group(1))
            end = next((j for j in range(i + 1, len(lines))
                        if re.match(rf"^#{{1,{level}}}\s", lines[j])), len(lines))
            return "\n".join(lines[i + 1:end])
    raise AssertionError(f"no heading {title!r}")


def test_the_hook_specs_are_found():
    names = {f.__name__ for f in hook_specs()}
    assert {"register_generators", "register_strategies", "register_selectors", "register_validators",
            "register_applications", "register_datasets", "register_embedders", "register_commands"} <= names
    assert names == {n for n in vars(hookspecs) if n.startswith("register_")}


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda f: f.__name__)
def test_every_hook_spec_is_documented_with_its_signature_and_an_example(spec):
    text = WRITING_PLUGINS.read_text(encoding="utf-8")
    name = spec.__name__
    signature = f"{name}({', '.join(inspect.signature(spec).parameters)})"  # the names (the hints are in the code)
    assert signature in text, f"docs/writing-plugins.md lacks the signature {signature}"
    body = section(text, name)
    assert signature in body, f"the section {name} lacks the signature {signature}"
    examples = [b for b in blocks(body, "python") if f"def {name}(" in b]
    assert examples, f"the section {name} has no ```python example defining {name}"
    assert any("@hookimpl" in b for b in examples)


@pytest.mark.parametrize("doc", [WRITING_PLUGINS, CORE_DOC], ids=lambda p: p.name)
def test_python_examples_are_valid_python(doc):
    for body in blocks(doc.read_text(encoding="utf-8"), "python"):
        ast.parse(body)


def test_the_step_by_step_example_quotes_the_template_verbatim():
    text = WRITING_PLUGINS.read_text(encoding="utf-8")
    quoted = {}
    for lang, body in FENCE.findall(text):
        first, _, rest = body.partition("\n")
        if lang in ("python", "toml") and first.startswith("# ") and (TEMPLATE / first[2:]).is_file():
            quoted[first[2:]] = rest
    assert {"pyproject.toml", "src/gda_example/plugin.py", "src/gda_example/generators/jitter.py"} <= set(quoted)
    for rel, body in quoted.items():
        assert body == (TEMPLATE / rel).read_text(encoding="utf-8"), f"docs quote an outdated {rel}"


def _core_components() -> list[tuple[str, str]]:
    """(kind, name) of every built-in, straight from the core's hooks (no plugin loading at collection)."""
    from gda_core.builtin import plugin as core_plugin

    found: list[tuple[str, str]] = []
    for kind in KINDS:
        getattr(core_plugin, f"register_{kind}")(lambda name, _target, kind=kind: found.append((kind, name)))
    return found


def test_core_doc_covers_every_core_component():
    assert len(_core_components()) >= 20


@pytest.mark.parametrize(("kind", "name"), _core_components(), ids=lambda v: v)
def test_core_doc_documents_each_component_and_its_parameters(kind, name):
    body = section(CORE_DOC.read_text(encoding="utf-8"), name)
    for param in host.describe(kind, name)["params"]:
        assert f"`{param['name']}`" in body, f"docs/core.md: {name} lacks parameter {param['name']}"


def test_core_doc_documents_the_config_schema():
    from gda_core.config import GenerateConfig, RunConfig

    body = section(CORE_DOC.read_text(encoding="utf-8"), "The config file")
    for field in [*RunConfig.model_fields, *GenerateConfig.model_fields]:
        assert f"`{field}`" in body, f"docs/core.md: config field {field} is not documented"


def test_core_doc_documents_every_command_and_option():
    import click

    from gda_core.cli import cli

    text = CORE_DOC.read_text(encoding="utf-8")
    assert "gda --version" in text
    for name, command in cli.commands.items():
        body = section(text, f"gda {name}")
        for param in command.params:
            if isinstance(param, click.Option):
                assert any(opt in body for opt in param.opts), f"docs/core.md: gda {name} lacks {param.opts}"


def _example_namespace() -> dict:
    """Execute every ```python block of writing-plugins.md (defining, not running, its code)."""
    merged: dict = {}
    for body in blocks(WRITING_PLUGINS.read_text(encoding="utf-8"), "python"):
        ns: dict = {"__name__": "docs_example"}
        exec(compile(body, "docs/writing-plugins.md", "exec"), ns)  # imports must resolve
        merged.update({k: v for k, v in ns.items() if isinstance(v, type)})
    return merged


def test_hook_reference_examples_run(tmp_path):
    import numpy as np

    from gda_core import Dataset, RunContext, ValidationInputs
    from gda_core.builtin.datasets import WineDataset
    from gda_core.builtin.generators.gmm import GaussianMixtureGenerator
    from gda_core.errors import DataError

    ns = _example_namespace()
    ctx = RunContext(train=Dataset([]), seed=0, quiet=True)
    splits = WineDataset(k_shot=6).load(ctx)
    ctx.train, ctx.test = splits.train, splits.test

    conditions = ns["HardestFirst"]().conditions({0: 4, 1: 4, 2: 4}, ctx.train, ctx)
    assert [c["label"] for c in conditions] == [0] * 4 + [1] * 4 + [2] * 4
    gen = GaussianMixtureGenerator()
    gen.fit(ctx.train, ctx)
    synthetic = gen.generate(conditions, seed=0, context=ctx)
    for i, r in enumerate(synthetic):
        r.id = f"syn-{i}"

    result = ns["MeanGapValidator"]().evaluate(ValidationInputs(ctx.train, ctx.test, synthetic), ctx)
    assert result.metrics["mean_gap"] > 0 and len(result.tables[0].rows) == 3
    assert ns["NearestCentroid"]().evaluate(ctx.train, ctx.test, seed=0, context=ctx)["accuracy"] > 0.6
    assert ns["RowStatsEmbedder"]().embed(synthetic, ctx).shape == (12, 4)

    for label in (0, 1):
        np.savetxt(tmp_path / f"{label}.csv", ctx.train.features()[ctx.train.labels() == label], delimiter=",")
    loaded = ns["CsvFolderDataset"](path=str(tmp_path)).load(ctx).train
    assert len(loaded) == 12 and loaded.classes == ["0", "1"]
    with pytest.raises(DataError, match="dataset.params.path"):
        ns["CsvFolderDataset"](path=str(tmp_path / "missing")).load(ctx)


def test_writing_plugins_shows_the_plugin_host_tracing_and_the_torch_helpers():
    text = WRITING_PLUGINS.read_text(encoding="utf-8")
    assert f"{TRACE_ENV}=1" in text and "gda_core.host" in text
    torch_section = section(text, "Torch-based components")
    public = [n for n, v in vars(accelerators).items()
              if not n.startswith("_") and callable(v) and getattr(v, "__module__", "") == accelerators.__name__]
    for name in public:
        assert f"`{name}" in torch_section, f"docs/writing-plugins.md: Torch-based components lacks {name}"
    assert "GDA_TORCH_THREADS" in torch_section and "once per process" in torch_section


def test_writing_plugins_documents_the_conformance_kit():
    text = WRITING_PLUGINS.read_text(encoding="utf-8")
    contracts = [n for n, v in vars(testing).items()
                 if isinstance(v, type) and n.endswith("Contract") and not n.startswith("_")]
    assert {"GeneratorContract", "SelectorContract"} <= set(contracts)
    for name in contracts:
        checks = [m for m in vars(getattr(testing, name)) if m.startswith("test_")]
        assert name in text and checks, name
    ns = _example_namespace()
    assert issubclass(ns["TestJitterContract"], testing.GeneratorContract)


def test_the_template_runs_the_conformance_kit():
    tests = (TEMPLATE / "tests" / "test_plugin.py").read_text(encoding="utf-8")
    assert "(GeneratorContract)" in tests and "(SelectorContract)" in tests
    assert "test_every_component = conformance_suite(\"gda_example\", globals(), skip=SKIP)" in tests


def test_the_torch_generator_example_trains_and_samples_its_classes(tmp_path):
    """docs/writing-plugins.md, "Torch generators": the example generator is real (loop + sampler)."""
    pytest.importorskip("diffusers")
    import numpy as np

    from gda_core import Dataset, RunContext
    from gda_core.builtin.datasets import WineDataset

    cls = _example_namespace()["TinyDiffusionGenerator"]
    ctx = RunContext(train=Dataset([]), seed=0, quiet=True)
    train = WineDataset(k_shot=10).load(ctx).train
    ctx.train = train
    gen = cls(steps=400)
    gen.fit(train, ctx)
    conditions = [{"label": c} for c in train.classes for _ in range(20)]
    samples = gen.generate(conditions, seed=3, context=ctx)
    X, y = train.features(), train.labels()
    mu, sd = X.mean(0), X.std(0) + 1e-9
    means = {c: ((X[y == c] - mu) / sd).mean(0) for c in train.classes}
    right = [min(means, key=lambda c: np.linalg.norm((r.data - mu) / sd - means[c])) == r.label for r in samples]
    assert np.mean(right) > 0.8  # samples of a class lie nearest that class
    gen.save_pretrained(tmp_path / "m")
    again = type(gen).from_pretrained(tmp_path / "m").generate(conditions, seed=3, context=ctx)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(samples, again))
