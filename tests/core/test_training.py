"""gda_core.torch.training: the one training loop (schedules, EMA, held-out checkpoint choice,
resumable state, threads, progress) and the GAN and VAE step shapes it carries."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gda_core.torch.diffusion import CheckpointChooser, CheckpointParams, heldout_chooser  # noqa: E402
from gda_core.torch.training import EMA, Optim, Schedule, TrainingLoop  # noqa: E402


def _mlp(seed: int, dropout: float = 0.0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Dropout(dropout),
                               torch.nn.Linear(16, 1))


DATA = torch.linspace(-1, 1, 64).reshape(32, 2)
TARGET = (DATA[:, :1] * 2 - DATA[:, 1:]) ** 2


def _regression_step(step):
    idx = torch.randint(0, len(DATA), (8,), generator=step.generator)
    x = DATA[idx] + 0.01 * torch.randn((8, 2), generator=step.generator)
    return {"loss": ((step.modules["net"](x) - TARGET[idx]) ** 2).mean()}


def _loop(net, steps=20, **kw):
    kw.setdefault("optimizers", {"net": Optim("net", lr=1e-2, weight_decay=1e-4,
                                              schedule=Schedule(warmup=3, decay="cosine", floor=0.05))})
    return TrainingLoop({"net": net}, kw.pop("step", _regression_step), kw.pop("optimizers"), steps=steps,
                        seed=kw.pop("seed", 5), **kw)


# -- schedules ----------------------------------------------------------------------


def test_the_schedules_of_the_three_diffusion_families_are_expressible():
    steps = 60
    warm = max(1, steps // 20)
    medical = Schedule(warmup=warm, decay="cosine", floor=0.05, warmup_shift=1)
    for i in range(steps):  # linear warm-up from the first step, cosine to 5%: gda-medical's
        old = (i + 1) / warm if i < warm else 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * (i - warm) / (steps - warm)))
        assert medical.factor(i, steps) == old
    signal = Schedule(decay="cosine", floor=0.1)
    for i in range(steps):
        assert signal.factor(i, steps) == 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * i / steps))
    def diffusers(i, warmup=10):  # diffusers.optimization.get_cosine_schedule_with_warmup's lr_lambda
        if i < warmup:
            return float(i) / float(max(1, warmup))
        progress = float(i - warmup) / float(max(1, steps - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))

    vision = Schedule(warmup=10, decay="cosine")
    assert [vision.factor(i, steps) for i in range(steps)] == pytest.approx([diffusers(i) for i in range(steps)],
                                                                            rel=0, abs=1e-15)
    assert Schedule(decay="linear", floor=0.5).factor(5, 10) == 0.75
    assert Schedule().factor(7, 10) == 1.0


def test_the_loop_applies_the_schedule_to_the_learning_rate():
    seen = []

    def step(s):
        seen.append(s.optimizers["net"].param_groups[0]["lr"])
        return _regression_step(s)

    sched = Schedule(warmup=4, decay="cosine", floor=0.1, warmup_shift=1)
    _loop(_mlp(0), steps=12, step=step, optimizers={"net": Optim("net", lr=0.5, schedule=sched)}).run()
    assert seen == pytest.approx([0.5 * sched.factor(i, 12) for i in range(12)], rel=1e-12)


# -- EMA ----------------------------------------------------------------------------


def test_ema_is_the_warmed_up_average_of_the_trained_weights():
    net = _mlp(1)
    history = []
    avg = [p.detach().clone() for p in net.parameters()]

    def step(s):
        out = _regression_step(s)
        return out

    loop = _loop(net, steps=15, step=step, ema={"net": EMA(0.9)})
    orig = loop._one_step

    def spy(i):
        orig(i)
        history.append([p.detach().clone() for p in net.parameters()])

    loop._one_step = spy
    result = loop.run()
    for i, weights in enumerate(history):
        decay = min(0.9, (1 + i) / (10 + i))
        avg = [a + (w - a) * (1 - decay) for a, w in zip(avg, weights)]
    assert result.modules["net"] is not result.trained["net"]
    for a, p in zip(avg, result.modules["net"].parameters()):
        assert torch.allclose(a, p, atol=1e-6)
    assert not result.modules["net"].training
    # a fine-tune of the averaged weights trains what the module trained
    assert [p.requires_grad for p in result.modules["net"].parameters()] == [True] * 4


# -- held-out checkpoint choice ---------------------------------------------------------


class _Scalar(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))


def test_the_held_out_choice_keeps_the_best_checkpoint_of_a_planted_run():
    """Training pulls w from 0 towards 10; held-out records say 3 is best: the kept weights are the
    checkpoint nearest 3, not the last."""
    params = CheckpointParams(checkpoint="heldout-loss", eval_every=1)
    chooser = CheckpointChooser(params, train=np.zeros((4, 1)), held=np.zeros((2, 1)),
                                heldout_loss=lambda m: float((m.w - 3.0) ** 2), sample=lambda m: np.zeros((1, 1)))
    net = _Scalar()
    loop = TrainingLoop({"net": net}, lambda s: (s.modules["net"].w - 10.0) ** 2,
                        {"net": Optim("net", lr=0.5, clip=None)}, steps=30, seed=0, chooser=chooser)
    result = loop.run()
    scores = [h["heldout_loss"] for h in result.checkpoints]
    assert len(scores) == 30 and result.checkpoint_step == 1 + int(np.argmin(scores))
    assert 1 < result.checkpoint_step < 30
    assert abs(float(result.modules["net"].w.detach()) - 3.0) == pytest.approx(math.sqrt(min(scores)))
    assert result.losses["loss"][-1] < 4  # training went on towards 10; the kept weights did not


def test_heldout_chooser_holds_out_a_seeded_share_of_the_training_records():
    x = torch.arange(40, dtype=torch.float32).reshape(20, 2)
    y = np.arange(20)
    seen = {}

    def loss(model, held, t, noise):
        seen["held"] = held
        return held[0].sum(1) * 0 + float(model)

    def sample(model, picked):
        seen["picked"] = picked
        return picked[0].numpy()

    kept, chooser = heldout_chooser(CheckpointParams(checkpoint="heldout-loss", holdout=0.25), (x, y, None),
                                    seed=1, who="test", num_train_timesteps=10, loss=loss, sample=sample,
                                    draws=8, batch=4, samples=3)
    assert len(kept[0]) == 15 and len(kept[1]) == 15 and kept[2] is None
    held_rows = set(range(20)) - {int(v) for v in kept[1]}
    assert len(held_rows) == 5
    assert chooser._loss(2.0) == 2.0
    assert {int(r) for r in seen["held"][1]} <= held_rows  # the loss sees held-out records only
    assert set(seen["held"][0][:, 0].div(2).int().tolist()) <= held_rows
    chooser._sample(None)
    assert len(seen["picked"][0]) == 3 and {int(v) for v in seen["picked"][1]} <= set(kept[1].tolist())


# -- resumable state ---------------------------------------------------------------------


def _resumable(scratch, fail_at=None, lr=1e-2, save_every=3):
    net = _mlp(2, dropout=0.2)  # dropout: the global generator matters too

    def step(s):
        if s.index == fail_at:
            raise RuntimeError(f"killed at {s.index}")
        return _regression_step(s)

    params = CheckpointParams(checkpoint="heldout-loss", eval_every=4)
    probe = torch.linspace(0, 1, 8).reshape(4, 2)
    chooser = CheckpointChooser(params, train=np.zeros((4, 1)), held=np.zeros((2, 1)),
                                heldout_loss=lambda m: float(m(probe).pow(2).mean()), sample=lambda m: None)
    optim = {"net": Optim("net", lr=lr, weight_decay=1e-4, schedule=Schedule(warmup=3, decay="cosine"))}
    return TrainingLoop({"net": net}, step, optim, steps=14, seed=9, ema={"net": 0.8}, chooser=chooser,
                        scratch=scratch, save_every=save_every, save_seconds=None)


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


def test_a_fit_killed_part_way_resumes_to_the_same_weights(tmp_path):
    torch.manual_seed(123)
    whole = _resumable(None).run()
    torch.manual_seed(123)
    with pytest.raises(RuntimeError, match="killed at 8"):
        _resumable(tmp_path, fail_at=8).run()
    assert (tmp_path / "training-state.pt").is_file()
    torch.manual_seed(999)  # a new process: other global random state, which the saved one replaces
    resumed = _resumable(tmp_path).run()
    assert resumed.resumed_from == 6  # the last save before the kill
    assert _same(whole.trained["net"].state_dict(), resumed.trained["net"].state_dict())
    assert _same(whole.modules["net"].state_dict(), resumed.modules["net"].state_dict())
    assert whole.losses == resumed.losses
    assert whole.checkpoints == resumed.checkpoints and whole.checkpoint_step == resumed.checkpoint_step
    again = _resumable(tmp_path).run()  # the finished state: nothing left to train
    assert again.resumed_from == 14 and _same(again.modules["net"].state_dict(), whole.modules["net"].state_dict())


def test_a_saved_state_of_another_fit_is_not_resumed(tmp_path):
    with pytest.raises(RuntimeError):
        _resumable(tmp_path, fail_at=8).run()
    other = _resumable(tmp_path, lr=5e-3).run()
    assert other.resumed_from is None
    assert len(other.losses["loss"]) == 14


def test_the_context_gives_the_scratch_folder_inside_the_run_folder(tmp_path):
    from gda_core.context import RunContext
    from gda_core.records import Dataset

    ctx = RunContext(train=Dataset([]), workdir=tmp_path, quiet=True)
    loop = _loop(_mlp(0), steps=3, context=ctx, desc="demo.gen train")
    loop.run()
    assert (tmp_path / "model.partial" / "demo.gen-train" / "training-state.pt").is_file()
    assert RunContext(train=Dataset([])).scratch_dir("x") is None
    assert _loop(_mlp(0), steps=3, context=ctx, resume=False).scratch is None


# -- threads and progress -----------------------------------------------------------------


def test_every_fit_reasserts_gda_s_thread_count(monkeypatch):
    monkeypatch.delenv("GDA_TORCH_THREADS", raising=False)
    before = torch.get_num_threads()
    seen = []

    def step(s):
        seen.append(torch.get_num_threads())
        return _regression_step(s)

    try:
        torch.set_num_threads(2)  # as aeon's numba layer did between two fits
        _loop(_mlp(0), steps=2, step=step).run()
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1]


def test_progress_goes_through_the_context():
    calls = []

    class Ctx:
        def progress(self, iterable, desc="", total=None):
            calls.append((desc, total))
            return iterable

    _loop(_mlp(0), steps=5, context=Ctx(), desc="x.gen fit").run()
    assert calls == [("x.gen fit", 5)]


def test_bad_configurations_name_the_problem():
    with pytest.raises(ValueError, match="unknown module"):
        TrainingLoop({"net": _mlp(0)}, _regression_step, {"net": Optim("other", lr=1)}, steps=1, seed=0)
    two = {"a": Optim("net", lr=1e-3), "b": Optim("net", lr=1e-3)}
    with pytest.raises(RuntimeError, match="step.update"):
        TrainingLoop({"net": _mlp(0)}, _regression_step, two, steps=1, seed=0).run()


# -- the GAN and VAE shapes -----------------------------------------------------------


def test_a_tiny_gan_trains_with_two_optimizers_alternating_and_an_ema_generator():
    real = 3.0 + 0.5 * torch.randn(512, 1, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    gen = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    disc = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.LeakyReLU(0.2), torch.nn.Linear(16, 1))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    order = []

    def step(s):
        g, d = s.modules["generator"], s.modules["discriminator"]
        x = real[torch.randint(0, len(real), (64,), generator=s.generator)]
        fake = g(torch.randn(64, 4, generator=s.generator))
        d_loss = bce(d(x), torch.ones(64, 1)) + bce(d(fake.detach()), torch.zeros(64, 1))
        s.update("discriminator", d_loss)
        g_loss = bce(d(fake), torch.ones(64, 1))
        s.update("generator", g_loss)
        order.append(tuple(s.updated))
        return {"discriminator": d_loss, "generator": g_loss}

    with torch.no_grad():
        start = float(gen(torch.randn(2000, 4)).mean())
    optim = {n: Optim(n, lr=5e-3, betas=(0.5, 0.999)) for n in ("generator", "discriminator")}
    result = TrainingLoop({"generator": gen, "discriminator": disc}, step, optim, steps=400, seed=1,
                          ema={"generator": EMA(0.98)}).run()
    assert set(order) == {("discriminator", "generator")} and len(order) == 400
    assert len(result.losses["generator"]) == len(result.losses["discriminator"]) == 400
    assert result.modules["generator"] is not result.trained["generator"]  # the EMA copy
    assert result.modules["discriminator"] is result.trained["discriminator"]  # no EMA of the discriminator
    with torch.no_grad():
        samples = result.modules["generator"](torch.randn(2000, 4, generator=torch.Generator().manual_seed(5)))
    assert abs(float(samples.mean()) - 3.0) < 0.5 < abs(start - 3.0)


class _VAE(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = torch.nn.Linear(2, 4)  # mean and log-variance of a 2-d latent
        self.dec = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))


def _vae_fit(kl_weight: float):
    torch.manual_seed(0)
    vae = _VAE()
    data = torch.randn(256, 2, generator=torch.Generator().manual_seed(1)) @ torch.tensor([[1.0, 0.8], [0.0, 0.3]])

    def step(s):
        x = data[torch.randint(0, len(data), (32,), generator=s.generator)]
        mu, logvar = s.modules["vae"].enc(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=s.generator)
        rec = ((s.modules["vae"].dec(z) - x) ** 2).sum(1).mean()
        kl = (0.5 * (mu ** 2 + logvar.exp() - logvar - 1)).sum(1).mean()
        return {"loss": rec + kl_weight * kl, "reconstruction": rec, "kl": kl}

    return TrainingLoop({"vae": vae}, step, {"vae": Optim("vae", lr=1e-2)}, steps=300, seed=2).run()


def test_a_tiny_vae_trains_on_a_kl_weighted_loss():
    low, high = _vae_fit(0.01), _vae_fit(1.0)
    assert set(low.losses) == {"loss", "reconstruction", "kl"}
    assert low.tail_loss("reconstruction") < 0.5 * np.mean(low.losses["reconstruction"][:10])
    assert high.tail_loss("kl") < low.tail_loss("kl")  # the weight shapes what is learnt
    assert low.tail_loss("reconstruction") < high.tail_loss("reconstruction")


def test_fit_key_follows_the_fitted_parameters_and_the_data_not_sampling():
    from gda_core.builtin.generators.gmm import GaussianMixtureGenerator
    from gda_core.torch.training import fit_key

    x = np.arange(6.0).reshape(3, 2)
    gen = GaussianMixtureGenerator()
    key = fit_key(gen, x, torch.ones(2))
    assert fit_key(GaussianMixtureGenerator(), x, torch.ones(2)) == key
    assert fit_key(gen, x + 1, torch.ones(2)) != key
    assert fit_key(GaussianMixtureGenerator(n_components=3), x, torch.ones(2)) != key
    assert fit_key(GaussianMixtureGenerator(temperature=0.5), x, torch.ones(2)) == key  # a sampling parameter
