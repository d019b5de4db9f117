"""signal.embedder, signal.classifier and the TimeGAN validators on planted data."""

import numpy as np
import pytest

from gda_core.components import ValidationInputs
from gda_core.records import Record


@pytest.mark.parametrize("model", ["minirocket", "cnn"])
def test_embedder_separates_classes(model, sines, ctx):
    from gda_signal.embedders.signal_embedder import SignalEmbedder

    emb = SignalEmbedder(model=model, n_kernels=84, epochs=15, width=8, device="cpu")
    emb.fit(sines, ctx)
    test = ctx.test
    F, Ft = emb.embed(sines.records, ctx), emb.embed(test.records, ctx)
    assert F.shape[0] == len(sines) and F.shape[1] == Ft.shape[1] and np.all(np.isfinite(F))
    # nearest class mean in feature space tells the classes apart
    y, yt = sines.labels(), test.labels()
    mu = np.stack([F[y == c].mean(0) for c in (0, 1)])
    sd = F.std(0) + 1e-8
    pred = np.argmin((((Ft[:, None, :] - mu[None]) / sd) ** 2).sum(-1), axis=1)
    assert np.mean(pred == yt) >= 0.9


@pytest.mark.parametrize("model", ["minirocket", "rocket", "cnn"])
def test_classifier_application(model, sines, ctx):
    from gda_signal.applications.classifier import SignalClassifier

    app = SignalClassifier(model=model, n_kernels=168, epochs=20, width=8, device="cpu")
    res = app.evaluate(sines, ctx.test, seed=0, context=ctx)
    assert res["accuracy"] >= 0.9 and set(res) == {"accuracy", "macro_f1"}
    # labels shuffled: no better than chance on average
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(sines))
    shuffled = sines.with_records([Record(id=r.id, data=r.data, label=sines[int(j)].label)
                                   for r, j in zip(sines.records, perm)])
    assert app.evaluate(shuffled, ctx.test, seed=0, context=ctx)["accuracy"] < 0.8


def _inputs(train, test, synthetic, baselines=None):
    return ValidationInputs(train=train, test=test, synthetic=synthetic, baselines=baselines or {})


def test_discriminative_score_tells_noise_from_real_like(sine_factory, ctx):
    from gda_signal.validators.discriminative import DiscriminativeValidator

    train = ctx.train
    real_like = sine_factory(32, seed=5).records
    rng = np.random.default_rng(0)
    # a poor generator: shifted, squashed series
    noise = [Record(id=f"n{i}", data=(0.6 + 0.3 * rng.uniform(-1, 1, (1, 64))).astype(np.float32), label=i % 2)
             for i in range(64)]
    val = DiscriminativeValidator(iterations=300, batch_size=64, repeats=1, device="cpu")
    res = val.evaluate(_inputs(train, ctx.test, real_like, {"noise": noise}), ctx)
    assert res.metrics["discriminative_score.noise"] >= 0.35
    assert res.metrics["discriminative_score"] <= 0.2
    assert res.tables and len(res.tables[0].rows) == 2


def test_predictive_score_prefers_faithful_training_series(sine_factory, ctx):
    from gda_signal.validators.predictive import PredictiveValidator

    real_like = sine_factory(32, seed=5).records
    rng = np.random.default_rng(0)
    noise = [Record(id=f"n{i}", data=rng.uniform(-1, 1, (1, 64)).astype(np.float32), label=i % 2)
             for i in range(64)]
    val = PredictiveValidator(iterations=300, batch_size=64, repeats=1, device="cpu")
    res = val.evaluate(_inputs(ctx.train, ctx.test, real_like, {"noise": noise}), ctx)
    m = res.metrics
    assert m["predictive_score"] < m["predictive_score.noise"]
    assert abs(m["predictive_score"] - m["predictive_score.real"]) < 0.05


def test_timegan_shapes_follow_reference():
    """Hidden size max(1, D // 2); multivariate: the last channel is predicted from the others."""
    from gda_signal._nets import GRUClassifier
    from gda_signal._timegan import _predict_io

    X = np.zeros((4, 10, 6), dtype=np.float32)
    xi, yi = _predict_io(X)
    assert xi.shape == (4, 9, 5) and yi.shape == (4, 9, 1)
    xi, yi = _predict_io(X[..., :1])
    assert xi.shape == (4, 9, 1) and yi.shape == (4, 9, 1)
    assert GRUClassifier(6, max(1, 6 // 2)).gru.hidden_size == 3
