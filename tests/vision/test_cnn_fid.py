import numpy as np
import pytest

from gda_core.components import ValidationInputs
from gda_core.records import Dataset, Record
from gda_vision.applications.cnn import CNNClassificationApplication
from gda_vision.datasets import DigitsDataset
from gda_vision.embedders.cnn import CNNEmbedder
from gda_vision.validators.fid import FIDValidator, frechet_distance

from .helpers import make_context


@pytest.fixture(scope="module")
def digits():
    splits = DigitsDataset(k_shot=10, classes=[0, 1, 2]).load(make_context(Dataset([])))
    test = splits.test.subset(range(0, len(splits.test), 2))
    return splits.train, test


def test_cnn_application_learns_and_is_deterministic(digits):
    train, test = digits
    app = CNNClassificationApplication(steps=80, device="cpu")
    ctx = make_context(train, test)
    a = app.evaluate(train, test, seed=0, context=ctx)
    b = app.evaluate(train, test, seed=0, context=ctx)
    assert set(a) == {"accuracy", "macro_f1"}
    assert a == b
    assert a["accuracy"] > 0.8  # chance is 1/3


def test_cnn_embedder_features_separate_the_classes(digits):
    train, test = digits
    emb = CNNEmbedder(steps=80, feature_dim=16, device="cpu")
    ctx = make_context(train, test)
    emb.fit(train, ctx)
    feats = emb.embed(test.records, ctx)
    assert feats.shape == (len(test), 16) and np.isfinite(feats).all()
    y = test.labels()
    centroids = np.stack([feats[y == c].mean(0) for c in train.classes])
    nearest = np.argmin(((feats[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (np.asarray(train.classes)[nearest] == y).mean() > 0.8


def test_frechet_distance_is_zero_for_one_gaussian_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 4))
    assert frechet_distance(a, a) < 1e-6
    near = frechet_distance(a, rng.normal(size=(400, 4)))
    far = frechet_distance(a, rng.normal(size=(400, 4)) + 2.0)
    assert near < 0.2 and abs(far - 16.0) < 2.0  # the mean term: 4 dims * 2**2


def test_fid_validator_ranks_the_closer_set_first(digits):
    train, test = digits
    rng = np.random.default_rng(0)
    close = [Record(id=f"c{i}", data=np.clip(r.data + rng.normal(0, 0.05, r.data.shape), 0, 1).astype(np.float32),
                    label=r.label) for i, r in enumerate(train.records)]
    noise = [Record(id=f"n{i}", data=rng.uniform(0, 1, r.data.shape).astype(np.float32), label=r.label)
             for i, r in enumerate(train.records)]
    ctx = make_context(train, test)
    ctx.embedder = __import__("gda_core.builtin.embedders", fromlist=["PCAEmbedder"]).PCAEmbedder(n_components=8)
    val = FIDValidator()
    res = val.evaluate(ValidationInputs(train=train, test=test, synthetic=close,
                                        stages=[("generated", noise + close), ("after x", close)],
                                        baselines={"noise": noise}), ctx)
    assert res.metrics["fid"] < res.metrics["fid.noise"]
    assert "fid.reference" in res.metrics and res.metrics["fid.reference"] < res.metrics["fid.noise"]
    assert [row[0] for row in res.tables[0].rows][:2] == ["synthetic (kept)", "generated"]
