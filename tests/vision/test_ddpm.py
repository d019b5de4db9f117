import numpy as np
import pytest

from gda_core.config import resolve
from gda_core.errors import ConfigError, DataError
from gda_vision.generators.ddpm import ClassConditionalDDPMGenerator

from .helpers import make_context, toy_bars

PARAMS = dict(block_out_channels=[16, 32], train_steps=400, batch_size=32, learning_rate=2e-3, warmup_steps=20,
              num_inference_steps=15, guidance_scale=2.0, scheduler="ddim", device="cpu")


@pytest.fixture(scope="module")
def trained():
    train = toy_bars(24, seed=0)
    gen = ClassConditionalDDPMGenerator(**PARAMS)
    gen.fit(train, make_context(train))
    return gen, train


def _conditions(n=20):
    return [{"label": lab} for lab in ("h", "v") for _ in range(n)]


def test_samples_belong_to_their_intended_class(trained):
    from sklearn.svm import SVC

    gen, train = trained
    clf = SVC().fit(train.features(), train.labels())  # bars anywhere: a linear model is too weak
    assert (clf.predict(toy_bars(10, seed=9).features()) == toy_bars(10, seed=9).labels()).mean() >= 0.9
    recs = gen.generate(_conditions(), seed=3, context=make_context(train))
    assert len(recs) == 40 and [r.label for r in recs] == [c["label"] for c in _conditions()]
    x = np.stack([r.data for r in recs])
    assert x.shape == (40, 1, 8, 8) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    accuracy = float((clf.predict(x.reshape(40, -1)) == np.array([r.label for r in recs])).mean())
    assert accuracy >= 0.8, accuracy  # chance is 0.5


def test_samples_are_closer_to_the_data_than_noise(trained):
    gen, train = trained
    real = train.features()
    fake = np.stack([r.data.reshape(-1) for r in gen.generate(_conditions(10), seed=4, context=None)])
    noise = np.random.default_rng(0).uniform(0, 1, size=fake.shape)

    def nearest(a):
        return np.sqrt(((a[:, None] - real[None]) ** 2).sum(-1)).min(1).mean()

    assert nearest(fake) < 0.5 * nearest(noise)
    assert np.mean(gen.losses_[-40:]) < 0.5 * np.mean(gen.losses_[:40])


def test_sampling_is_deterministic_given_the_seed(trained):
    gen, train = trained
    conds = _conditions(3)
    a = np.stack([r.data for r in gen.generate(conds, seed=7, context=None)])
    b = np.stack([r.data for r in gen.generate(conds, seed=7, context=None)])
    c = np.stack([r.data for r in gen.generate(conds, seed=8, context=None)])
    assert np.array_equal(a, b) and not np.allclose(a, c)
    # the batch size of sampling does not change the samples
    gen.params.sample_batch_size = 2
    try:
        d = np.stack([r.data for r in gen.generate(conds, seed=7, context=None)])
    finally:
        gen.params.sample_batch_size = PARAMS.get("sample_batch_size", 256)
    assert np.allclose(a, d, atol=1e-5)


@pytest.mark.parametrize("scheduler", ["ddim", "dpm-solver++"])
def test_save_pretrained_round_trip_gives_identical_samples(trained, tmp_path, scheduler):
    gen, _ = trained
    gen.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (tmp_path / "model" / "unet" / "config.json").is_file()
    conds = _conditions(2)
    loaded = ClassConditionalDDPMGenerator.from_pretrained(tmp_path / "model", scheduler=scheduler)
    assert loaded.params.scheduler == scheduler and loaded.classes_ == ["h", "v"]
    a = np.stack([r.data for r in loaded.generate(conds, seed=11, context=None)])
    if scheduler == gen.params.scheduler:
        assert np.array_equal(a, np.stack([r.data for r in gen.generate(conds, seed=11, context=None)]))
    loaded.save_pretrained(tmp_path / "again")
    again = ClassConditionalDDPMGenerator.from_pretrained(tmp_path / "again")
    assert again.params.scheduler == scheduler
    assert np.array_equal(a, np.stack([r.data for r in again.generate(conds, seed=11, context=None)]))


def test_unconditional_and_unknown_labels(trained):
    gen, _ = trained
    recs = gen.generate([{"label": None}], seed=0, context=None)
    assert recs[0].data.shape == (1, 8, 8)
    with pytest.raises(DataError, match="class 'x'"):
        gen.generate([{"label": "x"}], seed=0, context=None)


def test_bad_params_are_config_errors_naming_the_field():
    base = {"dataset": {"name": "vision.digits", "params": {"k_shot": 2}}}
    with pytest.raises(ConfigError, match="generator .*block_out_channels.*norm_num_groups"):
        resolve({**base, "generator": {"name": "vision.ddpm", "params": {"block_out_channels": [12, 32]}}})
    with pytest.raises(ConfigError, match=r"generator \(vision.ddpm\): params.scheduler"):
        resolve({**base, "generator": {"name": "vision.ddpm", "params": {"scheduler": "euler"}}})
    with pytest.raises(ConfigError, match="params.train_step"):
        resolve({**base, "generator": {"name": "vision.ddpm", "params": {"train_step": 3}}})
