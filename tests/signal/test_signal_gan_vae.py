"""signal.timegan and signal.vae1d: fitted on a planted two-class set, their samples belong to their own
class (a classifier trained on the real series labels them right far above chance) and lie closer to
the data than noise; multivariate series; pool warm start; a fit killed part-way resumes to the same
samples; bad parameters name the field."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import ConfigError, DataError
from gda_core.records import Dataset, Record
from tests.interrupt import Killed, KillingContext, save_every_step

LENGTH = 24


def planted(n_per_class: int = 16, channels: int = 1, seed: int = 0) -> Dataset:
    """Two classes of length-24 series: a bump early (class "early") or late ("late"), with jittered
    position and height and a little noise; a second channel, when asked for, is the bump's negative."""
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH) / LENGTH
    recs = []
    for i in range(2 * n_per_class):
        c = ("early", "late")[i % 2]
        centre = (0.3 if c == "early" else 0.7) + rng.uniform(-0.04, 0.04)
        bump = rng.uniform(0.8, 1.2) * np.exp(-((t - centre) ** 2) / (2 * 0.07 ** 2))
        x = np.stack([bump, -bump][:channels]) + 0.05 * rng.standard_normal((channels, LENGTH))
        recs.append(Record(id=f"s{i:03d}", data=x.astype(np.float32), label=c))
    return Dataset(recs, modality="signal", classes=["early", "late"])


def classifier(train: Dataset):
    from sklearn.linear_model import LogisticRegression

    X = np.stack([np.asarray(r.data).ravel() for r in train.records])
    return LogisticRegression(max_iter=2000).fit(X, [r.label for r in train.records])


TIMEGAN = {"hidden_dim": 12, "num_layers": 1, "steps": 100, "embedding_steps": 100, "supervised_steps": 40,
           "batch_size": 32, "lr": 2e-3, "device": "cpu"}
VAE = {"channels": [16, 32], "latent_dim": 8, "steps": 300, "batch_size": 32, "lr": 3e-3, "device": "cpu"}
GENERATORS = {"signal.timegan": TIMEGAN, "signal.vae1d": VAE}


def _build(name: str, **extra):
    from gda_core.host import host

    return host.create("generators", name, {**GENERATORS[name], **extra})


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def fitted(request):
    train = planted()
    ctx = RunContext(train=train, seed=0, quiet=True)
    gen = _build(request.param)
    gen.fit(train, ctx)
    return request.param, gen, train, ctx


def test_samples_belong_to_their_class_and_lie_closer_to_the_data_than_noise(fitted):
    name, gen, train, ctx = fitted
    conds = [{"label": c} for c in ["early", "late"] * 20]
    out = gen.generate(conds, seed=1, context=ctx)
    assert [r.label for r in out] == [c["label"] for c in conds]
    assert all(np.asarray(r.data).shape == (1, LENGTH) and r.data.dtype == np.float32 for r in out)
    X = np.stack([np.asarray(r.data).ravel() for r in out])
    acc = float(np.mean(classifier(train).predict(X) == [r.label for r in out]))
    assert acc >= 0.8, f"{name}: a real-data classifier labels only {acc:.2f} of the samples right (chance 0.5)"
    real = np.stack([np.asarray(r.data).ravel() for r in train.records])
    rng = np.random.default_rng(0)
    noise = rng.normal(real.mean(), real.std(), X.shape)

    def nn_dist(A):
        return np.sqrt(((A[:, None, :] - real[None]) ** 2).sum(-1)).min(1).mean()

    assert nn_dist(X) < 0.5 * nn_dist(noise), f"{name}: samples are not closer to the data than noise"


def test_multivariate_series_are_generated_jointly():
    train = planted(8, channels=2)
    ctx = RunContext(train=train, seed=0, quiet=True)
    for name in GENERATORS:
        gen = _build(name, steps=3, embedding_steps=3, supervised_steps=3) if name == "signal.timegan" else \
            _build(name, steps=3)
        gen.fit(train, ctx)
        out = gen.generate([{"label": "early"}, {"label": "late"}], seed=0, context=ctx)
        assert [np.asarray(r.data).shape for r in out] == [(2, LENGTH)] * 2, name
        with pytest.raises(DataError, match="not fitted on class"):
            gen.generate([{"label": "middle"}], seed=0, context=ctx)


def test_pretrain_on_a_pool_then_fine_tune_keeps_the_pretrained_weights():
    train = planted(4)
    pool = Dataset([Record(f"p{i}", r.data, None) for i, r in enumerate(planted(8, seed=3).records)],
                   modality="signal", classes=["early", "late"])
    ctx = RunContext(train=train, seed=0, quiet=True)
    for name in GENERATORS:
        short = {"steps": 4, "embedding_steps": 4, "supervised_steps": 4} if name == "signal.timegan" else \
            {"steps": 4}
        gen = _build(name, **short)
        gen.pretrain(pool, ctx, steps=2)
        before = {k: v.clone() for k, v in gen.model_.state_dict().items()}
        gen.fine_tune(train, ctx, steps=2)
        after = gen.model_.state_dict()
        assert gen.classes_ == ["early", "late"]
        assert any(not np.allclose(before[k].numpy(), after[k].numpy()) for k in before), name
        assert len(gen.generate([{"label": "late"}], seed=0, context=ctx)) == 1
        with pytest.raises(ConfigError, match="lora_rank"):
            gen.fine_tune(train, ctx, lora_rank=4)


@pytest.mark.parametrize("name,phase", [("signal.timegan", "(joint)"), ("signal.vae1d", "fit")])
def test_a_fit_killed_part_way_resumes_to_the_same_samples(tmp_path, monkeypatch, name, phase):
    """The loop saves its state after every step here (not every 60 s): the fit resumes from step 3 and
    ends where an uninterrupted fit does, so every draw of the step came from the loop's generator."""
    save_every_step(monkeypatch)
    train = planted(6)
    short = {"steps": 6, "embedding_steps": 4, "supervised_steps": 4} if name == "signal.timegan" else {"steps": 8}
    whole = _build(name, **short)
    whole.fit(train, RunContext(train=train, seed=0, quiet=True))
    ctx = KillingContext(train=train, seed=0, quiet=True, workdir=tmp_path)
    ctx.kill_after, ctx.phase = 3, phase
    gen = _build(name, **short)
    gen.name = name
    with pytest.raises(Killed):
        gen.fit(train, ctx)
    assert list((tmp_path / "model.partial").iterdir()), "no resumable state was written"
    ctx.kill_after = None
    resumed = _build(name, **short)
    resumed.fit(train, ctx)
    conds = [{"label": "early"}, {"label": "late"}]
    a = [r.data for r in whole.generate(conds, seed=2, context=ctx)]
    b = [r.data for r in resumed.generate(conds, seed=2, context=ctx)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b)), f"{name}: the resumed fit differs"


def test_bad_parameters_name_the_field():
    from gda_core.host import host

    with pytest.raises(Exception, match="checkpoint"):
        host.create("generators", "signal.timegan", {"checkpoint": "heldout-loss"})
    with pytest.raises(Exception, match="strides"):
        host.create("generators", "signal.vae1d", {"channels": [8, 8], "strides": [2]})


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_fitting_is_deterministic_under_a_seed(name):
    train = planted(4)
    short = {"steps": 3, "embedding_steps": 3, "supervised_steps": 3} if name == "signal.timegan" else {"steps": 3}
    conds = [{"label": "early"}, {"label": "late"}]
    runs = []
    for seed in (0, 0, 1):
        gen = _build(name, **short)
        ctx = RunContext(train=train, seed=seed, quiet=True)
        gen.fit(train, ctx)
        runs.append(np.stack([r.data for r in gen.generate(conds, seed=0, context=ctx)]))
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])
