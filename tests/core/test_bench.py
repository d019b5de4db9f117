"""gda bench: suites from plugins, run seeds that redraw the split, paired intervals, resume."""

from __future__ import annotations

import csv
import json
import math

import pytest
from click.testing import CliRunner

from gda_core import hookimpl
from gda_core.bench import DownstreamModel, Method, Suite, get_suite, standard_methods, suites
from gda_core.bench import runner as bench_runner
from gda_core.bench.report import write_report
from gda_core.bench.runner import run_bench
from gda_core.bench.stats import mean_std, paired
from gda_core.cli import cli
from gda_core.components import Params, Strategy
from gda_core.host import host
from gda_core.records import Record


def tiny_suite(name: str = "tiny", **changes) -> Suite:
    """A third-party suite: 5-shot wine, a Gaussian mixture, two fast downstream models."""
    fields = dict(
        name=name, summary="a test suite",
        config={"dataset": {"name": "core.wine", "params": {"k_shot": 5}},
                "generator": {"name": "core.gmm", "params": {"n_components": 1}},
                "generate": {"per_class": 6, "shard_size": 10},
                "selectors": [{"name": "core.confidence", "params": {"threshold": 0.5}}],
                "baselines": [{"name": "core.kde", "params": {"bandwidth": 0.3}}],
                "embedder": "core.standardize"},
        downstream=[DownstreamModel("logreg", {"name": "core.classification", "params": {"model": "logreg"}}),
                    DownstreamModel("knn", {"name": "core.classification", "params": {"model": "knn"}})],
        methods=standard_methods(Method("absent", "generative", overrides=("strategy.name=nope.x",),
                                        requires=("strategies:nope.x",))),
        ratios=(1.0, 2.0), seeds=2)
    fields.update(changes)
    return Suite(**fields)


class ThirdParty:
    @hookimpl
    def register_bench_suites(self, register):
        register("tiny", tiny_suite)


@pytest.fixture
def third_party():
    host.register_plugin(ThirdParty(), "bench-third-party")
    yield
    host.unregister_plugin("bench-third-party")


def test_a_method_needing_an_unset_variable_is_listed_as_not_run(monkeypatch, tmp_path):
    served = Method("served", "generative", overrides=("generate.per_class=2",),
                    requires=("env:GDA_TEST_SERVER_URL", "strategies:nope.x"))
    suite = tiny_suite(methods=[Method("real", "real"), served])
    monkeypatch.delenv("GDA_TEST_SERVER_URL", raising=False)
    runner = bench_runner.SuiteRunner(suite, tmp_path, seeds=1, quick=False, quiet=True)
    assert [m.name for m in runner.methods] == ["real"]
    assert [(s.what, s.why) for s in runner.skipped] == [
        ("method served", "not installed: strategies:nope.x; not run: set GDA_TEST_SERVER_URL")]
    monkeypatch.setenv("GDA_TEST_SERVER_URL", "http://127.0.0.1:8000/v1")
    suite = tiny_suite(methods=[Method("real", "real"), Method("served", "generative",
                                                               requires=("env:GDA_TEST_SERVER_URL",))])
    assert [m.name for m in bench_runner.SuiteRunner(suite, tmp_path, seeds=1, quick=False, quiet=True).methods] \
        == ["real", "served"]


# --- statistics ------------------------------------------------------------------


def test_paired_interval_matches_a_hand_computation():
    scores = {0: 0.80, 1: 0.90, 2: 0.85, 3: 0.70}
    reference = {0: 0.70, 1: 0.80, 2: 0.80, 3: 0.75, 9: 0.1}  # seed 9 has no partner: ignored
    p = paired(scores, reference)
    # differences 0.10, 0.10, 0.05, -0.05: mean 0.05, sample sd 0.070711, t(0.975, 3) = 3.182446
    half = 3.182446 * 0.0707107 / 2.0
    assert p.n == 4
    assert p.mean == pytest.approx(0.05)
    assert p.low == pytest.approx(0.05 - half, abs=1e-5)
    assert p.high == pytest.approx(0.05 + half, abs=1e-5)
    assert (p.wins, p.losses) == (3, 1)
    assert not p.significant
    assert p.text() == "+5.0 [-6.3, +16.3]"


def test_a_consistent_gain_is_significant_and_an_unpaired_method_is_none():
    p = paired({0: 0.9, 1: 0.91, 2: 0.92}, {0: 0.8, 1: 0.8, 2: 0.83})
    assert p.significant and p.low > 0 and (p.wins, p.losses) == (3, 0)
    assert paired({0: 0.9}, {1: 0.8}) is None
    one = paired({0: 0.9}, {0: 0.8})
    assert one.n == 1 and one.low == one.high == pytest.approx(0.1) and not one.significant
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))


# --- suites ----------------------------------------------------------------------


def test_the_core_suite_is_listed_and_a_third_party_suite_shows_up(third_party):
    found = suites()
    assert {"core", "tiny"} <= set(found)
    assert found["tiny"].plugin == "bench-third-party"
    out = CliRunner().invoke(cli, ["bench", "--list"])
    assert out.exit_code == 0, out.output
    assert "tiny  (bench-third-party)  a test suite" in out.output
    assert "core  (gda_core)" in out.output


def test_suites_are_a_kind_of_the_plugin_host(third_party):
    from gda_core.errors import PluginError

    assert host.components("bench_suites")["tiny"].plugin == "bench-third-party"
    assert host.describe("bench_suites", "tiny")["methods"][0] == "real"
    out = CliRunner().invoke(cli, ["list", "bench_suites"])
    assert out.exit_code == 0 and "tiny  (bench-third-party)  a test suite" in out.output

    class Clash:
        @hookimpl
        def register_bench_suites(self, register):
            register("tiny", tiny_suite)

    host.register_plugin(Clash(), "bench-clash")
    try:
        with pytest.raises(PluginError, match="bench suite 'tiny' is registered by two plugins") as err:
            suites()
        assert "'bench-third-party'" in str(err.value) and "'bench-clash'" in str(err.value)
    finally:
        host.unregister_plugin("bench-clash")


def test_a_badly_named_or_broken_suite_fails_its_plugin_only(third_party):
    class BadName:
        @hookimpl
        def register_bench_suites(self, register):
            register("Not A Name", tiny_suite)

    class NotASuite:
        @hookimpl
        def register_bench_suites(self, register):
            register("broken", lambda: {"name": "broken"})

    host.register_plugin(BadName(), "bench-bad-name")
    host.register_plugin(NotASuite(), "bench-not-a-suite")
    try:
        found = suites()
        assert "tiny" in found and "core" in found and "broken" not in found
        assert "names are lower case" in host.failures["bench-bad-name"].error
        assert "is not a gda_core.bench.Suite" in host.failures["bench-not-a-suite"].error
        out = CliRunner().invoke(cli, ["plugins"])
        assert "bench-not-a-suite" in out.output and "is not a gda_core.bench.Suite" in out.output
    finally:
        host.unregister_plugin("bench-bad-name")
        host.unregister_plugin("bench-not-a-suite")


def test_an_unknown_suite_is_an_error_naming_the_installed_ones():
    out = CliRunner().invoke(cli, ["bench", "nope"])
    assert out.exit_code != 0
    assert "unknown bench suite 'nope'" in out.output and "core" in out.output


def test_a_bad_method_is_refused():
    with pytest.raises(Exception, match="kind 'magic'"):
        Method("x", "magic")


# --- runs ------------------------------------------------------------------------


def test_run_seeds_redraw_the_split_and_pairs_share_it(tmp_path):
    run = run_bench([tiny_suite()], tmp_path, quiet=True)
    splits = {}
    for r in run.rows:
        splits.setdefault(r["seed"], set()).add(r["split"])
    assert set(splits) == {0, 1}
    assert all(len(s) == 1 for s in splits.values())  # every method of a seed saw the same split
    assert splits[0] != splits[1]  # a run seed redraws the test split and the k shots
    methods = {r["method"] for r in run.rows}
    # the "no selection" row exists even with a single selector
    assert {"real", "classical", "gen (no selection)", "gen (after core.confidence)", "gen+classical",
            "self-train", "ratio 1", "ratio 2"} <= methods
    assert any(s.what == "method absent" and "nope.x" in s.why for s in run.skipped)
    real = [r for r in run.rows if r["method"] == "real"]
    assert len(real) == 2 * 2  # seeds x models
    gen = [r for r in run.rows if r["method"] == "gen (no selection)"]
    assert all(r["n_synthetic"] == 18 and 0 <= r["near_copy_share"] <= 1 for r in gen)
    assert all(r["generate_s"] >= 0 and r["peak_rss_mb"] > 0 for r in gen)
    st = [r for r in run.rows if r["method"] == "self-train"]
    assert all(0.5 < r["pseudo_label_accuracy"] <= 1 for r in st)


def test_self_training_reuses_the_pool_strategys_pseudo_labels(tmp_path, monkeypatch):
    """With a pool strategy as the base, self-train is real + the very records that strategy's
    labeller keeps (same classifier, same share), so what generation adds is isolated."""
    from gda_core.builtin import pool

    calls = []
    labeller = pool.pseudo_label

    def spy(labelled, unlabelled, context, params, **kwargs):
        kept, summary = labeller(labelled, unlabelled, context, params, **kwargs)
        calls.append((params, len(unlabelled), kept))
        return kept, summary

    monkeypatch.setattr(pool, "pseudo_label", spy)
    params = {"classifier": "label-spreading", "features": "raw", "keep": 0.6}
    suite = tiny_suite(config={**tiny_suite().config, "strategy": {"name": "core.pseudo-label", "params": params}},
                       methods=standard_methods(), ratios=(), seeds=1)
    run = run_bench([suite], tmp_path, quiet=True, methods=["self-train"])
    st = [r for r in run.rows if r["method"] == "self-train"]
    assert len(st) == 2 and all(0.5 < r["pseudo_label_accuracy"] <= 1 for r in st)
    # the pool was labelled once, by the generator's fit with the strategy's params; self-train
    # took those very records from the strategy (Strategy.pseudo_labelled)
    assert len(calls) == 1 and calls[0][0].classifier == "label-spreading" and calls[0][0].keep == 0.6
    _, n_pool, kept = calls[0]
    assert len(kept) == round(0.6 * n_pool)
    assert {r["n_synthetic"] for r in st} == {len(kept)}


def test_a_suites_labeller_labels_the_pool_once_for_self_train_and_self_train_plus_gen(tmp_path, monkeypatch):
    """A suite whose strategy pseudo-labels nothing names a labeller strategy: self-train is real +
    its pseudo-labelled records, self-train + gen those + the kept synthetic set, labelled once."""
    from gda_core.bench import self_train_gen_method
    from gda_core.builtin import pool

    calls = []
    labeller = pool.pseudo_label

    def spy(labelled, unlabelled, context, params, **kwargs):
        kept, summary = labeller(labelled, unlabelled, context, params, **kwargs)
        calls.append((params, kept))
        return kept, summary

    monkeypatch.setattr(pool, "pseudo_label", spy)
    suite = tiny_suite(methods=standard_methods(self_train_gen_method()), ratios=(), seeds=1,
                       labeller={"name": "core.pseudo-label", "params": {"classifier": "label-spreading",
                                                                          "features": "raw", "keep": 0.4}})
    run = run_bench([suite], tmp_path, quiet=True, methods=["self-train*", "gen"])
    # labelled once for self-train and self-train + gen, once more for self-train x2 (+ gen): 2 rounds
    assert [c[0].rounds for c in calls] == [1, 2]
    assert all(c[0].keep == 0.4 for c in calls)  # the labeller's params, not SELF_TRAIN_LABELLER's
    n_pseudo = len(calls[0][1])
    by = {}
    for r in run.rows:
        by.setdefault(r["method"], set()).add(r["n_synthetic"])
    assert by["self-train"] == {n_pseudo}
    assert by["self-train + gen"] == {n_pseudo + next(iter(by["gen (after core.confidence)"]))}
    both = [r for r in run.rows if r["method"] == "self-train + gen"]
    assert all(0.5 < r["pseudo_label_accuracy"] <= 1 for r in both)
    with pytest.raises(Exception, match="self_train"):
        Method("x", "real", self_train=True)


class FirstOfPool(Strategy):
    """A labeller that iterates itself (as medical.pseudo-mask does): labels the first ``rounds``
    pool records with the first labelled class."""

    class Params(Params):
        rounds: int = 1

    def pseudo_labelled(self, train, context):
        return [Record(id=r.id, data=r.data, label=train.records[0].label)
                for r in context.pool.records[:self.params.rounds]]


@pytest.fixture
def first_of_pool():
    class Plugin:
        @hookimpl
        def register_strategies(self, register):
            register("test.first-of-pool", FirstOfPool)

    host.register_plugin(Plugin(), "first-of-pool")
    yield
    host.unregister_plugin("first-of-pool")


def test_a_labeller_with_its_own_rounds_runs_iterated_self_training_by_its_rule(tmp_path, first_of_pool):
    suite = tiny_suite(methods=standard_methods(), ratios=(), seeds=1,
                       labeller={"name": "test.first-of-pool", "params": {}})
    run = run_bench([suite], tmp_path, quiet=True, methods=["self-train*", "gen"])
    by = {r["method"]: r["n_synthetic"] for r in run.rows}
    assert by["self-train"] == 1 and by["self-train x2"] == 2  # its own rounds: 1, then 2 records
    assert by["self-train x2 + gen"] == 2 + by["gen (after core.confidence)"]
    assert not any("has no rounds" in s.why for s in run.skipped)


def test_stage_both_reports_the_generated_and_the_kept_set(tmp_path):
    methods = standard_methods(Method("gen four", "generative", overrides=("generate.per_class=4",), stage="both"),
                               self_train=False)
    config = {**tiny_suite().config, "selectors": [{"name": "core.confidence", "params": {"threshold": 0.5}},
                                                   {"name": "core.dedup", "params": {}}]}
    run = run_bench([tiny_suite(config=config, methods=methods, ratios=(), seeds=1)], tmp_path, quiet=True)
    four = {r["method"]: r["n_synthetic"] for r in run.rows if r["method"].startswith("gen four")}
    assert set(four) == {"gen four (no selection)", "gen four (after core.dedup)"}  # not the middle stage
    assert four["gen four (no selection)"] == 12 >= four["gen four (after core.dedup)"]


def test_a_suite_too_big_for_the_machine_is_listed_not_dropped(tmp_path):
    run = run_bench([tiny_suite(memory_gb=1e6)], tmp_path, quiet=True)
    assert run.rows == []
    assert run.skipped[0].what == "whole suite" and "GiB" in run.skipped[0].why
    md = write_report(run, tmp_path, {"command": "test"}).read_text()
    assert "## Not run" in md and "whole suite" in md


def test_resume_skips_finished_cells_and_gives_identical_results(tmp_path, monkeypatch):
    suite = tiny_suite(methods=standard_methods(self_train=False), seeds=3, ratios=(1.0,))
    calls = []
    original = bench_runner.SuiteRunner._run

    def crashing(self, config, folder):
        calls.append(f"{'sweep' if not config['selectors'] else 'base'}-seed{config['seed']}")
        if len(calls) == 4:  # killed after the base cells of the 3 seeds (they run first), in a sweep
            raise KeyboardInterrupt
        return original(self, config, folder)

    monkeypatch.setattr(bench_runner.SuiteRunner, "_run", crashing)
    with pytest.raises(KeyboardInterrupt):
        run_bench([suite], tmp_path, quiet=True)
    finished = sorted(p.name for p in (tmp_path / "cells" / "tiny").iterdir() if p.suffix == ".json")
    assert finished == ["base-seed0.json", "base-seed1.json", "base-seed2.json"]
    assert not list((tmp_path / "cells" / "tiny").glob(".*tmp"))  # no half-written cell

    calls.clear()
    resumed = run_bench([suite], tmp_path, quiet=True)
    assert calls == ["sweep-seed0", "sweep-seed1", "sweep-seed2"]  # finished cells were read back

    monkeypatch.setattr(bench_runner.SuiteRunner, "_run", original)
    fresh = run_bench([suite], tmp_path / "fresh", quiet=True)

    def key(rows):
        return sorted((r["method"], r["seed"], r["model"], r["score"], r["split"], r["n_synthetic"]) for r in rows)

    assert key(resumed.rows) == key(fresh.rows)


def test_a_changed_protocol_recomputes_its_cells(tmp_path, monkeypatch):
    run_bench([tiny_suite(seeds=1, ratios=())], tmp_path, quiet=True)
    calls = []
    original = bench_runner.SuiteRunner._run
    monkeypatch.setattr(bench_runner.SuiteRunner, "_run",
                        lambda self, c, f: calls.append(c["seed"]) or original(self, c, f))
    changed = tiny_suite(seeds=1, ratios=())
    changed.config["generate"]["per_class"] = 4
    run_bench([changed], tmp_path, quiet=True)
    assert calls == [0]


def test_the_cli_writes_csv_markdown_and_a_plot(tmp_path, third_party):
    out = CliRunner().invoke(cli, ["bench", "tiny", "--seeds", "2", "-o", str(tmp_path), "-q"])
    assert out.exit_code == 0, out.output
    with (tmp_path / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["seed"] for r in rows} == {"0", "1"}
    assert {r["model"] for r in rows} == {"logreg", "knn"}
    md = (tmp_path / "results.md").read_text()
    assert "| classical |" in md and "vs real [95% CI]" in md and "ratio sweep" in md
    # the suite has a pool: every method is also compared with self-training without a generator
    assert "vs self-train [95% CI]" in md
    assert "![tiny](tiny.png)" in md
    assert (tmp_path / "tiny.png").read_bytes()[:4] == b"\x89PNG"
    cell = json.loads((tmp_path / "cells" / "tiny" / "base-seed0.json").read_text())
    assert cell["protocol"] and cell["code"]["key"] and cell["rows"]


def test_get_suite_returns_the_registered_protocol():
    core = get_suite("core")
    assert core.plugin == "gda_core" and len(core.downstream) >= 2
    assert any(d.strong for d in core.downstream)


def test_method_filter_and_report_only(tmp_path):
    suite = tiny_suite(seeds=1, ratios=())
    run = run_bench([suite], tmp_path, quiet=True, methods=["gen*"])
    methods = {r["method"] for r in run.rows}
    assert "self-train" not in methods and {"real", "classical", "gen (no selection)"} <= methods
    assert any(s.why == "not selected (--method)" for s in run.skipped)
    again = run_bench([tiny_suite(seeds=2, ratios=())], tmp_path, quiet=True, methods=["gen*"], compute=False)
    assert {r["seed"] for r in again.rows} == {0}  # seed 1 was never computed: listed, not run
    assert any(s.what.startswith("seed 1") and "not computed" in s.why for s in again.skipped)


def test_the_split_digest_sees_regenerated_data_under_the_same_ids():
    import numpy as np

    from gda_core.bench.runner import split_digest
    from gda_core.records import Dataset, Record

    def ds(v):
        return Dataset([Record(id="a", data=np.full(3, v), label=0), Record(id="b", data="text", label=1)])

    assert split_digest(ds(1.0), ds(2.0)) == split_digest(ds(1.0), ds(2.0))
    assert split_digest(ds(1.0), ds(2.0)) != split_digest(ds(1.5), ds(2.0))  # same ids, new data


NOISY_BENCH = """
import sys, warnings
from gda_core import hookimpl
from gda_core.builtin.generators.gmm import GaussianMixtureGenerator
from gda_core.cli import cli
from gda_core.components import Params, Strategy
from gda_core.host import host
from gda_core.records import Record
from tests.core.test_bench import tiny_suite


class Noisy(GaussianMixtureGenerator):
    def fit(self, train, context):
        warnings.warn("noise from a library", UserWarning)  # what transformers or diffusers do
        return super().fit(train, context)


class Plugin:
    @hookimpl
    def register_generators(self, register):
        register("test.noisy", Noisy)

    @hookimpl
    def register_bench_suites(self, register):
        suite = tiny_suite("noisy", ratios=(1.0,), downstream=tiny_suite().downstream[:1])
        suite.config["generator"] = {"name": "test.noisy", "params": {"n_components": 1}}
        register("noisy", lambda: suite)


host.register_plugin(Plugin(), "noisy")
cli(sys.argv[1:], prog_name="gda")
"""


def test_a_bench_shows_no_warning_of_gdas_own_and_library_noise_only_with_verbose(tmp_path):
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]

    def bench(*more: str) -> str:
        out = subprocess.run([sys.executable, "-c", NOISY_BENCH, "bench", "noisy", "--seeds", "1", "--method", "gen",
                              "-o", str(tmp_path / "_".join(more or ("plain",))), *more],
                             capture_output=True, text=True, cwd=root, timeout=600)
        assert out.returncode == 0, out.stderr
        return out.stderr

    quiet = bench()
    assert "noise from a library" not in quiet and "Warning" not in quiet
    verbose = bench("--verbose")
    assert "noise from a library" in verbose  # --verbose shows the libraries' warnings
    warned_from = re.findall(r"^(\S+):\d+: \w*Warning", verbose, re.M)  # each warning's file
    assert "<string>" in warned_from  # the planted one, from the -c script
    assert not [f for f in warned_from if re.search(r"gda_(core|vision|text|signal|medical)/", f)], verbose


def test_the_header_names_the_code_a_clone_by_commit_and_always_the_package_versions(tmp_path, monkeypatch):
    import shutil
    import subprocess
    from importlib.metadata import version
    from pathlib import Path

    from gda_core.bench import cli as bench_cli
    from gda_core.bench import code as bench_code

    bench_code.refresh()
    here = bench_cli.code_versions()
    assert f"gda-core {version('gda-core')}" in here["packages"]
    module = Path(bench_code.__file__).resolve()
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", module.name], cwd=module.parent,
                             capture_output=True).returncode == 0  # sources in a clone, not an installed copy
    assert ("commit" in here) == tracked and here.get("commit") != "unknown"
    outside = tmp_path / "code.py"  # the same module in a folder no git repository tracks
    shutil.copy(bench_code.__file__, outside)
    assert bench_code._git_commit(outside) is None
    monkeypatch.setattr(bench_code, "__file__", str(outside))
    bench_code.refresh()
    away = bench_cli.code_versions()
    assert "commit" not in away and away["packages"] == here["packages"]
    bench_code.refresh()


# --- generator families and their own ratio sweeps -----------------------------------


def test_family_methods_get_a_family_table_and_their_own_ratio_sweep(tmp_path):
    from gda_core.bench import family_method

    kde = family_method("gen kde", "kde", {"name": "core.kde", "params": {"bandwidth": 0.5}},
                        quick={"bandwidth": 0.2})
    methods = standard_methods(kde, self_train=False, family="gmm")
    run = run_bench([tiny_suite(methods=methods, ratios=(1.0, 2.0), seeds=2)], tmp_path, quiet=True)
    fam = {(r["method"], r["family"]) for r in run.rows if r.get("family") and r["kind"] != "sweep"}
    assert ("gen kde (no selection)", "kde") in fam and ("gen (no selection)", "gmm") in fam
    assert not any(r.get("family") for r in run.rows if r["method"].startswith("gen+classical"))
    sweeps = {(r["sweep"], r["ratio"]) for r in run.rows if r["kind"] == "sweep"}
    assert sweeps == {("gen", 1.0), ("gen", 2.0), ("gen kde", 1.0), ("gen kde", 2.0)}
    kde_sweep = [r for r in run.rows if r.get("sweep") == "gen kde"]
    assert {r["family"] for r in kde_sweep} == {"kde"}
    # the kde sweep is nested: real + the first ratio x n_c of one generation at the largest ratio
    assert sorted({r["n_synthetic"] for r in kde_sweep}) == [15, 30]
    md = write_report(run, tmp_path, {"command": "test"}).read_text()
    assert "### Generator families" in md and "| kde | gen kde (after core.confidence) |" in md
    assert "Sweep of `gen kde` (kde):" in md and "Sweep of the suite's generator (`gen`, gmm):" in md
    assert (tmp_path / "tiny.png").is_file()


def test_a_family_methods_quick_overrides_apply_only_with_quick(tmp_path, monkeypatch):
    from gda_core.bench import family_method

    seen = []
    original = bench_runner.SuiteRunner._run

    def spy(self, config, folder):
        seen.append((self.quick, json.dumps(config["generator"], sort_keys=True)))
        return original(self, config, folder)

    monkeypatch.setattr(bench_runner.SuiteRunner, "_run", spy)
    kde = family_method("gen kde", "kde", {"name": "core.kde", "params": {"bandwidth": 0.5}},
                        quick={"bandwidth": 0.2}, sweep=False)
    suite = tiny_suite(methods=standard_methods(kde, self_train=False), ratios=(), seeds=1)
    run_bench([suite], tmp_path / "full", quiet=True)
    run_bench([suite], tmp_path / "quick", quiet=True, quick=True)
    kde_runs = {(quick, g) for quick, g in seen if "core.kde" in g}
    assert kde_runs == {(False, '{"name": "core.kde", "params": {"bandwidth": 0.5}}'),
                        (True, '{"name": "core.kde", "params": {"bandwidth": 0.2}}')}


def test_a_method_needing_a_missing_library_is_listed_as_not_run(tmp_path):
    from gda_core.bench import family_method

    absent = family_method("gen absent", "gan", {"name": "core.gmm"}, requires=("import:no_such_module_gda",))
    run = run_bench([tiny_suite(methods=standard_methods(absent, self_train=False), ratios=(), seeds=1)],
                    tmp_path, quiet=True)
    assert any(s.what == "method gen absent" and "no_such_module_gda" in s.why for s in run.skipped)
    assert not any(r["method"].startswith("gen absent") for r in run.rows)


def test_a_bad_family_is_refused():
    from gda_core.errors import ConfigError

    with pytest.raises(ConfigError, match="family 'transformer'"):
        Method("x", "generative", family="transformer")
    with pytest.raises(ConfigError, match="generative methods"):
        Method("x", "real", sweep=True)
