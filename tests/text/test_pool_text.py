"""Unlabelled pools of text.builtin (the training texts beyond k_shot) and text.table (rows with an
empty label, a pool table): no labels, never a test text, errors naming the file."""

from __future__ import annotations

import json

import pytest
from text_helpers import context

from gda_core.errors import DataError
from gda_core.records import Dataset
from gda_core.splits import HIDDEN_LABEL
from gda_text.datasets import SupportTicketsDataset, TextTableDataset


def _load(cls, seed: int = 0, **params):
    return cls(**params).load(context(Dataset([]), seed=seed))


def _clean_pool(splits, n: int) -> None:
    pool = splits.pool
    assert pool is not None and len(pool) == n and all(r.label is None for r in pool)
    others = [*splits.train, *(splits.test or [])]
    assert not {r.id for r in pool} & {r.id for r in others}
    assert not set(pool.texts()) & set(splits.test.texts() if splits.test is not None else [])


@pytest.mark.parametrize("seed", [0, 4])
def test_support_set_pool_is_the_rest_of_the_training_texts(seed):
    splits = _load(SupportTicketsDataset, seed, k_shot=5)
    assert len(splits.train) == 20
    _clean_pool(splits, 100 - 20)
    assert {r.meta[HIDDEN_LABEL] for r in splits.pool} == {"account", "billing", "shipping", "technical"}
    plain = _load(SupportTicketsDataset, seed, k_shot=5, pool=False)
    assert plain.pool is None and plain.train.texts() == splits.train.texts()
    assert _load(SupportTicketsDataset, seed).pool is None


def test_table_rows_without_label_and_a_pool_table_form_the_pool(tmp_path):
    tr = tmp_path / "tr.csv"
    tr.write_text("text,label\nhello there,greet\nbye now,leave\nhi again,greet\nsee you,leave\n"
                  "what is this,\nno idea,  \n", encoding="utf-8")
    te = tmp_path / "te.csv"
    te.write_text("text,label\ngood morning,greet\nfarewell,leave\n", encoding="utf-8")
    extra = tmp_path / "extra.jsonl"
    extra.write_text("\n".join(json.dumps({"text": t}) for t in ("more words", "other words")), encoding="utf-8")
    splits = _load(TextTableDataset, path=str(tr), test_path=str(te), pool_path=str(extra))
    assert splits.train.classes == ["greet", "leave"] and len(splits.train) == 4
    _clean_pool(splits, 4)
    assert sorted(splits.pool.texts()) == ["more words", "no idea", "other words", "what is this"]
    shot = _load(TextTableDataset, path=str(tr), test_path=str(te), k_shot=1)
    assert len(shot.train) == 2
    _clean_pool(shot, 2 + 2)


def test_table_pool_errors_name_the_file(tmp_path):
    tr = tmp_path / "tr.csv"
    tr.write_text("text,label\nhello there,greet\nbye now,leave\nfarewell,\n", encoding="utf-8")
    te = tmp_path / "te.csv"
    te.write_text("text,label\nfarewell,leave\n", encoding="utf-8")
    with pytest.raises(DataError, match="tr.csv: the unlabelled text 'farewell' is the test text"):
        _load(TextTableDataset, path=str(tr), test_path=str(te))
    with pytest.raises(DataError, match="pool_path: .*missing.csv does not exist"):
        _load(TextTableDataset, path=str(tr), pool_path=str(tmp_path / "missing.csv"))
    te.write_text("text,label\nsalut,greet\nciao,\n", encoding="utf-8")
    with pytest.raises(DataError, match="te.csv: row 3 has no label"):
        _load(TextTableDataset, path=str(tr), test_path=str(te))
    none = tmp_path / "none.csv"
    none.write_text("text,label\na,\nb,\n", encoding="utf-8")
    with pytest.raises(DataError, match="none.csv: no row has a label"):
        _load(TextTableDataset, path=str(none))
