"""gda bench: cells keyed by the code that computed them.

A changed component source recomputes (and refits) its cells, an unchanged or unrelated one does
not; a report over cells of mixed code is refused unless asked, then each row names its code; cells
from before code keys are recomputed or listed, never mixed in; every row carries the code.
"""

from __future__ import annotations

import csv
import importlib
import json
import sys

import pytest
from click.testing import CliRunner

from gda_core import hookimpl
from gda_core.bench import code as bench_code
from gda_core.bench import runner as bench_runner
from gda_core.bench import standard_methods
from gda_core.bench.report import write_report
from gda_core.bench.runner import run_bench
from gda_core.cli import cli
from gda_core.errors import GDAError
from gda_core.host import host

from .test_bench import tiny_suite

PACKAGE = '''
"""A planted plugin package: a generator whose source the test edits."""
from gda_core.builtin.generators.kde import KernelDensityGenerator


class Planted(KernelDensityGenerator):
    """core.kde under another name."""
'''


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """Two plugin packages on the path, ``gdaplant_a`` (the suite's generator) and ``gdaplant_b``
    (unused by it), registered as ``planta.kde`` and ``plantb.kde``; yields their folders."""
    root = tmp_path / "src"
    folders = {}
    for name in ("gdaplant_a", "gdaplant_b"):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text(PACKAGE)
        folders[name] = root / name
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    a, b = importlib.import_module("gdaplant_a"), importlib.import_module("gdaplant_b")

    class Plugin:
        @hookimpl
        def register_generators(self, register):
            register("planta.kde", a.Planted)
            register("plantb.kde", b.Planted)

    host.register_plugin(Plugin(), "bench-planted")
    yield folders
    host.unregister_plugin("bench-planted")
    for name in ("gdaplant_a", "gdaplant_b"):
        sys.modules.pop(name, None)


def suite(**changes):
    config = {**tiny_suite().config, "generator": {"name": "planta.kde", "params": {"bandwidth": 0.5}}}
    fields = {"config": config, "methods": standard_methods(self_train=False), "ratios": (), "seeds": 1, **changes}
    return tiny_suite(**fields)


@pytest.fixture
def computed(monkeypatch):
    """The cells computed (not read back) by each run_bench call: a list the test clears."""
    calls = []
    original = bench_runner.SuiteRunner._run

    def spy(self, config, folder):
        calls.append(folder.name)
        return original(self, config, folder)

    monkeypatch.setattr(bench_runner.SuiteRunner, "_run", spy)
    return calls


def edit(folder, comment="# edited\n"):
    path = folder / "__init__.py"
    path.write_text(path.read_text() + comment)


def test_a_changed_component_source_invalidates_its_cells_and_an_unchanged_one_does_not(tmp_path, planted,
                                                                                         computed):
    first = run_bench([suite()], tmp_path / "b", quiet=True)
    assert computed and {r["code"] for r in first.rows} and all(r["code"] for r in first.rows)
    packages = next(iter(first.codes.values())).packages
    assert set(packages) == {"gda_core", "gdaplant_a"}  # what the cell's config names, not gdaplant_b
    folders = set(computed)

    computed.clear()
    again = run_bench([suite()], tmp_path / "b", quiet=True)
    assert computed == []  # the same code: every cell read back
    assert again.rows == first.rows

    edit(planted["gdaplant_b"])  # a package the cells do not use
    assert run_bench([suite()], tmp_path / "b", quiet=True).rows == first.rows and computed == []

    edit(planted["gdaplant_a"])  # the suite's generator: its cells are recomputed, its model refitted
    changed = run_bench([suite()], tmp_path / "b", quiet=True)
    assert computed and set(computed).isdisjoint(folders)  # a new run folder: the generator is refitted
    assert {r["code"] for r in changed.rows}.isdisjoint({r["code"] for r in first.rows})
    assert [r["score"] for r in changed.rows] == [r["score"] for r in first.rows]  # a comment changes no number


def test_presentation_modules_and_caches_are_left_out_of_a_digest(planted, monkeypatch):
    folder = planted["gdaplant_a"]
    bench_code.refresh()
    before = bench_code.source_digest("gdaplant_a")
    (folder / "__pycache__").mkdir(exist_ok=True)
    (folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"compiled")
    (folder / "tables.py").write_text("# formats results\n")
    monkeypatch.setattr(bench_code, "PRESENTATION", ("gdaplant_a/tables.py",))
    bench_code.refresh()
    assert bench_code.source_digest("gdaplant_a") == before
    (folder / "model.py").write_text("# computes results\n")
    bench_code.refresh()
    assert bench_code.source_digest("gdaplant_a") != before


def test_results_csv_rows_carry_the_code_key_commit_and_versions(tmp_path, planted):
    run = run_bench([suite()], tmp_path, quiet=True)
    write_report(run, tmp_path, {"command": "test"})
    with (tmp_path / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    key = bench_code.code_key(["gda_core", "gdaplant_a"])
    assert {r["code"] for r in rows} == {key.key}
    assert {r["commit"] for r in rows} == {key.commit or ""}
    assert all("gda-core" in r["versions"] and "numpy" in r["versions"] for r in rows)
    md = (tmp_path / "results.md").read_text()
    assert "## Code" in md and key.key in md and "Every cell was computed by the code below" in md


def _plant_other_code(path):
    """Rewrite a cell file as if another gda_core had computed it."""
    saved = json.loads(path.read_text())
    saved["code"]["packages"]["gda_core"] = "0" * 16
    saved["code"]["key"] = "f" * 16
    for r in saved["rows"]:
        r["code"] = "f" * 16
    path.write_text(json.dumps(saved))


def test_a_report_over_cells_of_mixed_code_refuses_unless_allowed_then_marks_each_row(tmp_path, planted,
                                                                                     computed):
    out = tmp_path / "b"
    run_bench([suite(seeds=2)], out, quiet=True)
    _plant_other_code(out / "cells" / "tiny" / "base-seed1.json")
    with pytest.raises(GDAError, match=r"different code: package gda_core \(2 versions\).*--allow-mixed-code"):
        run_bench([suite(seeds=2)], out, quiet=True, compute=False)
    mixed = run_bench([suite(seeds=2)], out, quiet=True, compute=False, allow_mixed_code=True)
    assert {r["code"] for r in mixed.rows if r["seed"] == 1} == {"f" * 16}
    md = write_report(mixed, tmp_path, {"command": "test"}).read_text()
    assert "**The cells were computed by different code**" in md and "| code |" in md and "f" * 16 in md

    computed.clear()  # computing: the stale cell is recomputed, the others read back
    fixed = run_bench([suite(seeds=2)], out, quiet=True)
    assert len(computed) == 1 and len({r["code"] for r in fixed.rows}) == 1


def test_cells_from_before_code_keys_are_listed_or_recomputed_never_mixed(tmp_path, planted, computed):
    out = tmp_path / "b"
    run_bench([suite()], out, quiet=True)
    path = out / "cells" / "tiny" / "base-seed0.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({"key": "0123456789abcdef", "rows": saved["rows"]}))  # the old format
    report = run_bench([suite()], out, quiet=True, compute=False)
    assert not any(r["cell"] == "base-seed0" for r in report.rows)
    assert any(s.what == "seed 0 base" and "before cells were keyed by the code" in s.why for s in report.skipped)
    computed.clear()
    again = run_bench([suite()], out, quiet=True)
    assert len(computed) == 1 and {r["cell"] for r in again.rows} >= {"base-seed0"}
    assert "protocol" in json.loads(path.read_text())


def test_the_cli_reports_a_mix_in_one_line_and_the_header_names_the_cells_code(tmp_path, planted):
    class Suites:
        @hookimpl
        def register_bench_suites(self, register):
            register("planted", lambda: suite(name="planted", seeds=2))

    host.register_plugin(Suites(), "bench-planted-suite")
    try:
        out = tmp_path / "b"
        res = CliRunner().invoke(cli, ["bench", "planted", "-o", str(out), "-q"])
        assert res.exit_code == 0, res.output
        md = (out / "results.md").read_text()
        assert "- cells computed at commit:" in md and "- cells' code keys: 1 (" in md
        _plant_other_code(out / "cells" / "planted" / "base-seed1.json")
        res = CliRunner().invoke(cli, ["bench", "planted", "-o", str(out), "-q", "--report"])
        assert res.exit_code != 0 and "different code" in res.output and "Traceback" not in res.output
        res = CliRunner().invoke(cli, ["bench", "planted", "-o", str(out), "-q", "--report", "--allow-mixed-code"])
        assert res.exit_code == 0, res.output
    finally:
        host.unregister_plugin("bench-planted-suite")


def test_the_worker_check_names_code_that_differs(planted):
    bench_code.refresh()
    bench_code.source_digest("gdaplant_a")
    expected = bench_code.snapshot()
    assert bench_code.differences(expected) == []
    edit(planted["gdaplant_a"])
    bench_code.refresh()
    assert [d.split(" (")[0] for d in bench_code.differences(expected)] == ["package gdaplant_a"]
