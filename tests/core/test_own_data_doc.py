"""docs/own-data.md: the core.table config runs end to end on a CSV written here."""

from __future__ import annotations

import csv

from sklearn.datasets import load_wine

import gda_core
from tests.own_data_doc import own_data_configs


def test_the_table_config_runs_on_a_csv(tmp_path):
    bunch = load_wine()
    path = tmp_path / "patients.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*bunch.feature_names, "diagnosis"])
        for x, y in zip(bunch.data, bunch.target):
            w.writerow([*x, f"class_{y}"])
    cfg = own_data_configs()["core.table"]
    cfg["dataset"]["params"]["path"] = str(path)
    cfg["generate"]["per_class"] = 10
    cfg["validators"] = [{"name": "core.downstream", "params": {"seeds": 1}}, "core.memorization"]
    result = gda_core.run(cfg, tmp_path / "run", quiet=True)
    assert result.test is not None and len(result.test) > 0
    assert {str(r.label) for r in result.train} == {"class_0", "class_1", "class_2"}
    assert (tmp_path / "run" / "report.html").is_file()
    assert "near-copy share, kept synthetic" in (tmp_path / "run" / "report.md").read_text()
