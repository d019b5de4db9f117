"""Fitting, generating and selecting cannot see the test split or the pool's hidden labels, and a
generator's output is checked before anything reads it (gda_core.context.FitContext, RecordSpec)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import gda_core
from gda_core import hookimpl
from gda_core.builtin.generators.gmm import GaussianMixtureGenerator
from gda_core.cli import cli
from gda_core.components import Selector
from gda_core.errors import GDAError
from gda_core.host import host
from gda_core.records import Record
from gda_core.splits import HIDDEN_LABEL

from .helpers import small_config

SEEN: dict[str, list] = {}


class PeeksAtTest(GaussianMixtureGenerator):
    """A Gaussian mixture that reads the test split while fitting."""

    def fit(self, train, context):
        n = len(context.test)
        SEEN["test"] = [n]
        super().fit(train, context)


class LooksForHiddenLabels(GaussianMixtureGenerator):
    """A Gaussian mixture that notes, while fitting and generating, which pool records carry a hidden label."""

    def fit(self, train, context):
        SEEN.setdefault("fit", []).append([HIDDEN_LABEL in r.meta for r in context.pool.records])
        super().fit(train, context)

    def generate(self, conditions, *, seed, context):
        SEEN.setdefault("generate", []).append([HIDDEN_LABEL in r.meta for r in context.pool.records])
        return super().generate(conditions, seed=seed, context=context)


class ScoresOnTest(Selector):
    """Scores synthetic records by reading the test split."""

    def score(self, synthetic, context):
        return np.full(len(synthetic), float(len(context.test)))


def returns(what):
    """A Gaussian mixture whose ``generate`` output is ``what(records)``."""

    class Broken(GaussianMixtureGenerator):
        def generate(self, conditions, *, seed, context):
            return what(super().generate(conditions, seed=seed, context=context))

    return Broken


BROKEN = {
    "test.one-feature": returns(lambda recs: [Record(r.id, r.data[:1], r.label) for r in recs]),
    "test.texts": returns(lambda recs: [Record(r.id, "a text", r.label) for r in recs]),
    "test.too-few": returns(lambda recs: recs[:-1]),
    "test.nan": returns(lambda recs: [Record(r.id, np.full_like(r.data, np.nan), r.label) for r in recs]),
    "test.strings": returns(lambda recs: [Record(r.id, np.asarray(["x"] * len(r.data)), r.label) for r in recs]),
    "test.alien-label": returns(lambda recs: [Record(r.id, r.data, "alien") for r in recs]),
    "test.not-records": returns(lambda recs: [r.data for r in recs]),
}


class Plugin:
    @hookimpl
    def register_generators(self, register):
        register("test.peeks-at-test", PeeksAtTest)
        register("test.hidden-labels", LooksForHiddenLabels)
        for name, cls in BROKEN.items():
            register(name, cls)

    @hookimpl
    def register_selectors(self, register):
        register("test.scores-on-test", ScoresOnTest)


@pytest.fixture(autouse=True)
def planted():
    SEEN.clear()
    host.register_plugin(Plugin(), "leaky")
    yield
    host.unregister_plugin("leaky")


def _config(**overrides):
    cfg = small_config(validators=["core.downstream"], **overrides)
    cfg["dataset"] = {"name": "core.wine", "params": {"k_shot": 8}}  # the rows beyond the k shots are a pool
    return cfg


def test_a_generator_reading_the_test_split_while_fitting_stops_the_run_with_one_line(tmp_path):
    cfg = tmp_path / "peek.yaml"
    cfg.write_text(yaml.safe_dump(_config(generator="test.peeks-at-test")))
    out = CliRunner().invoke(cli, ["run", str(cfg), "-o", str(tmp_path / "run")])
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: generator test.peeks-at-test (fitted by strategy "
                                                   "core.train) read context.test while fitting"), out.output
    assert "test" not in SEEN  # it never got the split


def test_a_selector_reading_the_test_split_is_stopped_and_validators_keep_it(tmp_path):
    with pytest.raises(GDAError, match=r"^selector test.scores-on-test read context.test"):
        gda_core.run(_config(selectors=["test.scores-on-test"]), tmp_path / "run", quiet=True)
    res = gda_core.run(_config(), tmp_path / "ok", quiet=True)  # core.downstream scores on the test split
    assert res.metrics["core.downstream"]["real.accuracy.mean"] > 0.5


def test_pool_records_carry_no_hidden_label_while_fitting_and_generating(tmp_path):
    res = gda_core.run(_config(generator="test.hidden-labels", strategy="core.pseudo-label"), tmp_path / "run",
                       quiet=True)
    assert SEEN["fit"] and SEEN["generate"]
    assert not any(any(flags) for flags in SEEN["fit"] + SEEN["generate"])  # the pool was there, no label on it
    assert len(SEEN["fit"][0]) == len(res.pool) > 0
    # the pipeline kept them aside and scored the strategy's pseudo-labels with them, for the report only
    summary = json.loads((tmp_path / "run" / "pool_strategy.json").read_text())
    assert 0.8 < summary["accuracy_vs_hidden_labels"] <= 1
    assert res.pseudo_labels["accuracy_vs_hidden_labels"] == summary["accuracy_vs_hidden_labels"]
    assert "right against the pool's hidden labels" in (tmp_path / "run" / "report.md").read_text()


@pytest.mark.parametrize(("name", "problem"), [
    ("test.one-feature", r"record 0 has shape \(1,\), the training records \(13,\)"),
    ("test.texts", "record 0 is a text, and the training records are arrays"),
    ("test.too-few", "9 records for 10 conditions"),
    ("test.nan", "record 0 holds NaN or infinite values"),
    ("test.strings", "record 0 has data of dtype <U1, not numbers"),
    ("test.alien-label", "record 0 has label 'alien', not one of the training classes"),
    ("test.not-records", "record 0 is a ndarray, not a gda_core.Record"),
])
def test_a_generator_returning_records_unlike_its_training_data_stops_the_run_naming_it(tmp_path, name, problem):
    with pytest.raises(GDAError, match=rf"^generator {name} returned.*{problem}") as err:
        gda_core.run(_config(generator=name), tmp_path / "run", quiet=True)
    assert "\n" not in str(err.value)
