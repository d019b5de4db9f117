"""The core loaders' unlabelled pools: never a test record, never a label, errors name the file."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import DataError
from gda_core.host import host
from gda_core.pipeline import Pipeline
from gda_core.records import Dataset
from gda_core.splits import HIDDEN_LABEL

from .helpers import small_config


def load(name: str, seed: int = 0, **params):
    loader = host.get("datasets", name).from_params(params)
    return loader.load(RunContext(train=Dataset([]), seed=seed, quiet=True))


def assert_clean_pool(splits, n_pool: int | None = None) -> None:
    pool = splits.pool
    assert pool is not None and all(r.label is None for r in pool)
    if n_pool is not None:
        assert len(pool) == n_pool
    train_ids = {r.id for r in splits.train}
    test_ids = {r.id for r in splits.test} if splits.test is not None else set()
    pool_ids = [r.id for r in pool]
    assert len(set(pool_ids)) == len(pool_ids) and not set(pool_ids) & (train_ids | test_ids)
    if splits.test is not None:  # nor the same sample under another id
        test_rows = {np.asarray(r.data).tobytes() for r in splits.test}
        assert not any(np.asarray(r.data).tobytes() in test_rows for r in pool)


@pytest.mark.parametrize("name", ["core.wine", "core.breast-cancer"])
@pytest.mark.parametrize("seed", [0, 3])
def test_sklearn_sets_offer_the_training_split_beyond_k_shot(name, seed):
    full = load(name, seed)
    splits = load(name, seed, k_shot=5)
    assert len(splits.train) == 5 * len(splits.train.classes)
    assert_clean_pool(splits, len(full.train) - len(splits.train))
    assert all(HIDDEN_LABEL in r.meta for r in splits.pool)
    assert load(name, seed, k_shot=5, pool=False).pool is None


def _write(path, rows, header="a,b,label"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_table_rows_with_an_empty_label_become_the_pool(tmp_path):
    rows = [(i, i * 2, "x" if i % 2 else "y") for i in range(10)] + [(100 + i, 1, "") for i in range(4)]
    csv = _write(tmp_path / "t.csv", rows)
    extra = _write(tmp_path / "extra.csv", [(7, 7), (8, 8)], header="a,b")
    splits = load("core.table", path=str(csv), pool_path=str(extra))
    assert len(splits.train) == 10 and splits.train.classes == ["x", "y"]
    assert_clean_pool(splits, 6)
    assert sorted(r.data[0] for r in splits.pool) == [7, 8, 100, 101, 102, 103]


def test_table_pool_never_reaches_the_test_split(tmp_path):
    rows = [(i, i % 3, i % 2) for i in range(30)] + [(200 + i, 0, "") for i in range(8)]
    cfg = small_config(dataset={"name": "core.table", "params": {"path": str(_write(tmp_path / "t.csv", rows))}})
    from gda_core.config import resolve

    ctx = Pipeline(resolve(cfg), tmp_path / "run").load_data()
    assert len(ctx.pool) == 8 and all(r.data[0] >= 200 for r in ctx.pool)
    assert not any(r.data[0] >= 200 for r in [*ctx.train, *ctx.test])


def test_the_report_says_an_empty_label_pool_exists_and_which_strategies_use_it(tmp_path):
    import gda_core

    rows = [(i, i % 3, i % 2) for i in range(60)] + [(200 + i, 0, "") for i in range(6)]
    data = {"name": "core.table", "params": {"path": str(_write(tmp_path / "t.csv", rows))}}
    gda_core.run(small_config(dataset=data, validators=["core.memorization"]), tmp_path / "plain", quiet=True)
    md = (tmp_path / "plain" / "report.md").read_text()
    assert ("unlabelled pool: 6 records, unused: strategy `core.train` does not learn from it (strategies that "
            "do: `core.pretrain-finetune`, `core.pseudo-label`") in md
    assert "quantile of their leave-one-out distances" in md  # training data sets tau, never the pool
    gda_core.run(small_config(dataset=data, strategy="core.pseudo-label", validators=["core.memorization"]),
                 tmp_path / "pseudo", quiet=True)
    assert ("unlabelled pool: 6 records, which strategy `core.pseudo-label` learnt from"
            in (tmp_path / "pseudo" / "report.md").read_text())


def test_table_pool_errors_name_the_file(tmp_path):
    csv = _write(tmp_path / "t.csv", [(1, 2, "x"), (2, 3, "y")])
    with pytest.raises(DataError, match="pool_path: .*missing.csv"):
        load("core.table", path=str(csv), pool_path=str(tmp_path / "missing.csv"))
    bad = _write(tmp_path / "bad.csv", [(1,)], header="a")
    with pytest.raises(DataError, match=r"bad.csv: no feature column\(s\) 'b'"):
        load("core.table", path=str(csv), pool_path=str(bad))
    unlabelled_test = _write(tmp_path / "test.csv", [(1, 2, "x"), (1, 2, "")])
    with pytest.raises(DataError, match="test_path: .*test.csv: 1 row"):
        load("core.table", path=str(csv), test_path=str(unlabelled_test))
    none = _write(tmp_path / "none.csv", [(1, 2, ""), (2, 3, "")])
    with pytest.raises(DataError, match="none.csv: every row"):
        load("core.table", path=str(none))
