import numpy as np

from gda_vision.generators.classical import ClassicalAugmentationGenerator

from .helpers import make_context, toy_bars


def _fit(**params):
    train = toy_bars(4, seed=1)
    gen = ClassicalAugmentationGenerator(**params)
    gen.fit(train, make_context(train))
    return gen, train


def _digits(**params):
    from gda_core.records import Dataset
    from gda_vision.datasets import DigitsDataset

    train = DigitsDataset(k_shot=4, classes=[0, 1]).load(make_context(Dataset([]))).train
    gen = ClassicalAugmentationGenerator(**params)
    gen.fit(train, make_context(train))
    return gen, train


def test_each_sample_is_a_changed_copy_of_its_source():
    gen, train = _digits(hflip=0.0)
    conds = [{"label": r.label, "source_id": r.id} for r in train.records]
    recs = gen.generate(conds, seed=0, context=None)
    assert len(recs) == len(conds)
    for rec, src in zip(recs, train.records):
        assert rec.label == src.label and rec.meta["source_id"] == src.id
        assert rec.data.shape == src.data.shape and rec.data.dtype == np.float32
        assert 0 <= rec.data.min() and rec.data.max() <= 1
        assert not np.allclose(rec.data, src.data)
        # still more like its source than like any image of the other class
        corr = [np.corrcoef(rec.data.ravel(), r.data.ravel())[0, 1] for r in train.records]
        own = corr[train.records.index(src)]
        assert own > max(c for c, r in zip(corr, train.records) if r.label != src.label)


def test_flip_only_is_an_exact_flip_and_generation_is_seeded():
    gen, train = _fit(hflip=1.0, rotate=0, translate=0, scale=0, noise=0)
    src = train.records[0]
    rec = gen.generate([{"label": src.label, "source_id": src.id}], seed=0, context=None)[0]
    assert np.allclose(rec.data, src.data[:, :, ::-1], atol=1e-6)
    gen, train = _fit()
    conds = [{"label": "h"}] * 5
    a = [r.data for r in gen.generate(conds, seed=5, context=None)]
    b = [r.data for r in gen.generate(conds, seed=5, context=None)]
    c = [r.data for r in gen.generate(conds, seed=6, context=None)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.allclose(x, y) for x, y in zip(a, c))


def test_round_trip(tmp_path):
    gen, train = _fit()
    gen.save_pretrained(tmp_path)
    loaded = ClassicalAugmentationGenerator.from_pretrained(tmp_path)
    conds = [{"label": r.label, "source_id": r.id} for r in train.records]
    a = [r.data for r in gen.generate(conds, seed=1, context=None)]
    b = [r.data for r in loaded.generate(conds, seed=1, context=None)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
