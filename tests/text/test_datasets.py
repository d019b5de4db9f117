"""text.builtin and text.table."""

from __future__ import annotations

import json

import pytest
from text_helpers import context

from gda_core.errors import DataError
from gda_core.host import host
from gda_core.records import Dataset
from gda_text.datasets import SupportTicketsDataset, TextTableDataset


def _load(cls, **params):
    return cls(**params).load(context(Dataset([])))


def test_builtin_set_has_fixed_split_four_classes_and_strings():
    splits = _load(SupportTicketsDataset)
    train, test = splits.train, splits.test
    assert (len(train), len(test)) == (100, 200)
    assert train.classes == test.classes == ["account", "billing", "shipping", "technical"]
    assert all(isinstance(r.data, str) and r.data.strip() for r in [*train, *test])
    assert {len(v) for v in train.by_class().values()} == {25}
    assert {len(v) for v in test.by_class().values()} == {50}
    assert not set(train.texts()) & set(test.texts())  # no leakage
    assert len(set(train.texts()) | set(test.texts())) == 300
    assert train.modality == "text"
    again = _load(SupportTicketsDataset)
    assert again.train.texts() == train.texts()  # fixed, not re-drawn


def test_builtin_k_shot_is_seeded():
    a = SupportTicketsDataset(k_shot=5).load(context(Dataset([]), seed=1)).train
    b = SupportTicketsDataset(k_shot=5).load(context(Dataset([]), seed=1)).train
    c = SupportTicketsDataset(k_shot=5).load(context(Dataset([]), seed=2)).train
    assert len(a) == 20 and a.texts() == b.texts() and a.texts() != c.texts()


def test_table_csv_and_jsonl_with_custom_columns(tmp_path):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('msg,intent\n"hello, there",greet\nbye now,leave\nhi again,greet\n', encoding="utf-8")
    ds = _load(TextTableDataset, path=str(csv_path), text_column="msg", label_column="intent").train
    assert ds.texts() == ["hello, there", "bye now", "hi again"]
    assert ds.classes == ["greet", "leave"]
    jl = tmp_path / "t.jsonl"
    jl.write_text("\n".join(json.dumps({"body": t, "y": y}) for t, y in [("good day", "greet"), ("see ya", "leave")]))
    with pytest.raises(DataError, match="no text column 'msg'"):
        _load(TextTableDataset, path=str(jl), text_column="msg", label_column="y")
    ok = _load(TextTableDataset, path=str(jl), text_column="body", label_column="y").train
    assert ok.texts() == ["good day", "see ya"]


def test_table_errors_name_the_column_or_row(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("text,label\nfine text,a\n   ,b\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 3 has an empty text in column 'text'"):
        _load(TextTableDataset, path=str(p))
    p.write_text("text,cls\nfine,a\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"no label column 'label' \(columns: text, cls\)"):
        _load(TextTableDataset, path=str(p))
    with pytest.raises(DataError, match="dataset.params.path"):
        _load(TextTableDataset, path=str(tmp_path / "missing.csv"))
    bad = tmp_path / "d.jsonl"
    bad.write_text('{"text": "a", "label": "x"}\nnot json\n')
    with pytest.raises(DataError, match=r"d.jsonl:2: not valid JSON"):
        _load(TextTableDataset, path=str(bad))


def test_table_test_split_with_unseen_label_is_an_error(tmp_path):
    tr, te = tmp_path / "tr.csv", tmp_path / "te.csv"
    tr.write_text("text,label\na a,x\nb b,y\n")
    te.write_text("text,label\nc c,z\n")
    with pytest.raises(DataError, match="'z' never occur"):
        _load(TextTableDataset, path=str(tr), test_path=str(te))
    te.write_text("text,label\nc c,y\n")
    assert _load(TextTableDataset, path=str(tr), test_path=str(te)).test.classes == ["x", "y"]


def test_cli_reports_bad_text_file_in_one_line_with_exit_code_2(tmp_path):
    import os
    import subprocess
    import sys

    p = tmp_path / "d.csv"
    p.write_text("text,label\nfine,a\n,b\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"dataset: {{name: text.table, params: {{path: {p}}}}}\ngenerator: text.nlpaug\n"
                   "embedder: text.tfidf\napplication: text.classifier\n")
    env = {**os.environ, "GDA_LOAD_PLUGINS": "gda-text"}
    out = subprocess.run([sys.executable, "-m", "gda_core.cli", "run", str(cfg), "-o", str(tmp_path / "run")],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2, out.stderr
    assert "empty text in column 'text'" in out.stderr


def test_sample_writer_writes_utf8_txt(tmp_path):
    from gda_core.records import Record

    loader = host.get("datasets", "text.builtin")()
    out = loader.save_sample(Record(id="x", data="naïve café ✓", label="a"), tmp_path / "x")
    assert out.suffix == ".txt" and out.read_text(encoding="utf-8").strip() == "naïve café ✓"
