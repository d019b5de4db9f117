"""The framework's split helpers: a k-shot draw with its unlabelled pool, and the pipeline's pool checks."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.errors import DataError
from gda_core.records import Dataset, Record
from gda_core.splits import HIDDEN_LABEL, k_shot_with_pool, split_train_test


def _ds(n_per_class: int = 6) -> Dataset:
    recs = [Record(id=f"r{c}{i}", data=np.full(3, c + i / 10, dtype=np.float32), label=c)
            for c in range(3) for i in range(n_per_class)]
    return Dataset(recs)


def test_k_shot_pool_holds_every_other_training_record_without_labels():
    train, test = split_train_test(_ds(), 0.3, seed=0)
    labelled, pool = k_shot_with_pool(train, 2, seed=1)
    assert len(labelled) == 6 and len(pool) == len(train) - 6
    assert all(r.label is None for r in pool) and all(HIDDEN_LABEL in r.meta for r in pool)
    ids = {r.id for r in labelled} | {r.id for r in pool}
    assert ids == {r.id for r in train}
    assert not ids & {r.id for r in test}  # a pool never holds a test record


def test_a_class_of_one_record_stays_in_training(tmp_path):
    """A plain split (a class of one record) keeps every class in training: the generator is never
    asked for a class it was not fitted on (issue 23's fuzz: 'core.gmm was not fitted on class -1')."""
    recs = [Record(id=f"r{i}", data=np.full(2, float(i)), label=lab) for i, lab in enumerate([-1, 0, 0, 1, 1, 1])]
    for seed in range(20):
        for size in (0.2, 0.5, 0.9):
            train, test = split_train_test(Dataset(recs), size, seed=seed)
            assert {r.label for r in train} == {-1, 0, 1} and len(test) >= 1
            assert not {r.id for r in train} & {r.id for r in test}
    recs = [Record(id=f"q{i}", data=np.full(2, float(i)), label=lab) for i, lab in enumerate([0, 0, 1, 1, 2, 2, 2, 2])]
    for seed in range(20):  # a test split smaller than the classes: no class may lose both its records
        train, test = split_train_test(Dataset(recs), 0.2, seed=seed)
        assert {r.label for r in train} == {0, 1, 2} and len(test) == 2
    recs = [Record(id=f"r{i}", data=np.full(2, float(i)), label=lab) for i, lab in enumerate([-1, 0, 0, 1, 1, 1])]
    with pytest.raises(DataError, match="one per class: none is left to hold out"):
        split_train_test(Dataset(recs[:2] + recs[3:4]), 0.3, seed=0)
    import gda_core

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(3, 2)) * 1e6, y=np.array([-1, 0, 0]))
    cfg = {"seed": 1, "test_size": 0.2, "dataset": {"name": "core.arrays", "params": {"path": str(tmp_path / "d.npz")}},
           "generator": "core.kde", "generate": {"n": 3}, "selectors": [], "validators": ["core.prdc"]}
    res = gda_core.run(cfg, tmp_path / "run", quiet=True)
    assert {r.label for r in res.synthetic} == {-1, 0}


def test_k_shot_depends_on_the_seed():
    a, _ = k_shot_with_pool(_ds(), 2, seed=0)
    b, _ = k_shot_with_pool(_ds(), 2, seed=3)
    assert {r.id for r in a} != {r.id for r in b}


def test_a_pool_that_leaks_test_records_is_refused(tmp_path):
    from gda_core.components import DatasetLoader, DataSplits
    from gda_core.config import resolve
    from gda_core.pipeline import Pipeline

    full = _ds()

    class Leaky(DatasetLoader):
        def load(self, context):
            train, test = full.subset(range(0, 18, 2)), full.subset(range(1, 18, 2))
            pool = Dataset([Record(id=test.records[0].id, data=test.records[0].data, label=None)])
            return DataSplits(train, test, pool)

    resolved = resolve({"dataset": "core.wine"})
    resolved.dataset = Leaky()
    resolved.dataset.name = "test.leaky"
    with pytest.raises(DataError, match="pool record.*test record"):
        Pipeline(resolved, tmp_path / "run").load_data()
