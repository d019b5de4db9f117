"""text.format drops replacement and control characters; kept texts also go into one CSV; the
preview is a table of examples."""

from __future__ import annotations

import csv

from gda_core.components import Table
from gda_core.records import Dataset, Record

from .text_helpers import context

REAL = Dataset([Record("r1", "my invoice shows a double charge this month", "billing"),
                Record("r2", "the parcel never arrived at my address", "shipping")],
               modality="text", classes=["billing", "shipping"])


def test_format_drops_replacement_and_control_characters():
    from gda_text.selectors.format import FormatSelector, bad_chars

    sel = FormatSelector(max_nonword=1.0)
    sel.fit(REAL, context(REAL))
    texts = ["my invoice shows a wrong charge again",       # clean: kept
             "my invoice shows a wrong \ufffd charge again",  # broken decoding
             "my invoice shows a wrong\tcharge again",        # a tab
             "my invoice shows a wrong charge\x00 again",     # NUL
             "my invoice shows a wrong charge\nagain"]        # a newline
    recs = [Record(f"s{i}", t, "billing") for i, t in enumerate(texts)]
    keep = sel.select(sel.score(recs, context(REAL)), recs, context(REAL))
    assert keep.tolist() == [True, False, False, False, False]
    assert "bad_chars" in sel.violations(texts[1])
    assert bad_chars("café, naïve – ok") == []
    off = FormatSelector(max_nonword=1.0, drop_bad_chars=False)
    off.fit(REAL, context(REAL))
    assert "bad_chars" not in off.violations(texts[2])


def test_kept_texts_are_also_one_csv(tmp_path):
    from gda_text.datasets import KEPT_CSV, SupportTicketsDataset

    recs = [Record("s-1", 'a text, with "quotes" and a comma', "billing"), Record("s-2", "ünïcode text", "shipping")]
    files = SupportTicketsDataset().save_samples(recs, tmp_path)
    assert files["s-1"].read_text(encoding="utf-8").strip() == recs[0].data
    with open(tmp_path / KEPT_CSV, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["text"], r["label"], r["id"]) for r in rows] == [(r.data, r.label, r.id) for r in recs]


def test_preview_is_a_table_of_examples():
    from gda_text.datasets import SupportTicketsDataset

    t = SupportTicketsDataset().preview({"billing": [REAL[0]]}, {"billing": [Record("s", "a new text", "billing")]})
    assert isinstance(t, Table) and t.columns == ["class", "real", "kept synthetic"]
    assert t.rows == [["billing", REAL[0].data, "a new text"]]
