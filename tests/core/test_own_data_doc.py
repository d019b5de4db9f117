"""docs/own-data.md: the core.table config resolves, its quick check generates less, and it runs
end to end (with its quick check) on a CSV written here."""

from __future__ import annotations

import csv

from sklearn.datasets import load_wine

from tests.own_data_doc import check, run_tiny


def test_the_table_config_resolves_and_its_quick_check_is_shorter():
    check("core.table")


def test_the_table_config_runs_on_a_csv(tmp_path):
    bunch = load_wine()
    path = tmp_path / "patients.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*bunch.feature_names, "diagnosis"])
        for x, y in zip(bunch.data, bunch.target):
            w.writerow([*x, f"class_{y}"])
    result = run_tiny("core.table", path, tmp_path / "run", "validators.0.params.seeds=1")
    assert result.test is not None and len(result.test) > 0
    assert {str(r.label) for r in result.train} == {"class_0", "class_1", "class_2"}
    assert len(result.stages[0][1]) == 30  # generated: the quick check's 10 per class
    assert (tmp_path / "run" / "report.html").is_file()
    assert "near-copy share, kept synthetic" in (tmp_path / "run" / "report.md").read_text()
