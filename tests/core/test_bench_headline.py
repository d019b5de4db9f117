"""benchmarks/headline.py: the README's cross-suite tables come from a bench folder's results.csv,
through the bench's own statistics, and a folder of mixed commits is refused."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from gda_core.bench.report import write_csv
from gda_core.bench.runner import run_bench
from gda_core.bench.stats import paired

from .test_bench_self_train import planted_suite

ROOT = Path(__file__).resolve().parents[2]


def _headline():
    spec = importlib.util.spec_from_file_location("headline", ROOT / "benchmarks" / "headline.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("headline")
    run = run_bench([planted_suite(tmp / "data", pool_has_c=False)], tmp / "bench", quiet=True)
    write_csv(run.rows, tmp / "bench" / "results.csv")  # what gda bench writes
    return tmp / "bench"


def test_the_tables_carry_the_bench_s_own_paired_intervals(bench):
    h = _headline()
    rows = h.read_rows(bench)
    scores = {m: {r["seed"]: r["score"] for r in rows if r["method"] == m and r["model"] == "logreg"}
              for m in ("self-train", "self-train + gen")}
    want = paired(scores["self-train + gen"], scores["self-train"])
    beyond = h.beyond(rows)
    line = next(x for x in beyond.splitlines() if "| self-train + gen |" in x)
    assert want.text() in line and f"{want.wins}/{want.losses}" in line
    assert h.main_kept([r for r in rows if r["model"] == "logreg"]) == "gen (no selection)"  # no selector here
    assert "run seeds [0, 1, 2]" in h.header(rows, bench, allow_mixed=False)


def test_a_folder_of_several_commits_is_refused_unless_allowed(bench, tmp_path, capsys):
    h = _headline()
    with open(bench / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0]["commit"] = "0000000"
    rows[1]["commit"] = "1111111"
    (tmp_path / "mixed").mkdir()
    with open(tmp_path / "mixed" / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(SystemExit, match="commits"):
        h.run([str(tmp_path / "mixed")])
    assert h.run([str(tmp_path / "mixed"), "--allow-mixed", "--section", "beyond"]) == 0
    assert "| self-train + gen |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="not found"):
        h.run([str(tmp_path / "nowhere")])
