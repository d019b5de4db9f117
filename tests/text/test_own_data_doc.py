"""docs/own-data.md's text.table config: it resolves, its quick check generates less, and it runs
end to end on a CSV of texts written here."""

import csv

from tests.own_data_doc import check, run_tiny


def test_own_data_config_resolves_and_its_quick_check_is_shorter():
    check("text.table")


def test_own_data_config_runs_on_a_csv(tmp_path):
    texts = {"billing": ["my invoice shows a double charge", "refund the fee on my card", "why was I billed twice",
                         "the payment failed but money left", "change my billing address please",
                         "I was charged after cancelling"],
             "shipping": ["the parcel never arrived", "where is my delivery today", "tracking shows no update",
                          "the box came damaged", "can you ship to another address", "the courier left it outside"]}
    with open(tmp_path / "tickets.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for label, rows in texts.items():
            w.writerows([t, label] for t in rows)
    res = run_tiny("text.table", tmp_path / "tickets.csv", tmp_path / "run", "generate.per_class=2",
                   "validators.0.params.seeds=1")
    assert {str(r.label) for r in res.train} == {"billing", "shipping"}
    assert (tmp_path / "run" / "samples" / "kept.csv").is_file()
    assert (tmp_path / "run" / "report.html").is_file()
