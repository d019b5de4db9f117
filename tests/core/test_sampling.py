"""gda_core.torch.sampling: the one reverse-diffusion loop (seeded noise, guidance, part-way starts,
inversion) over diffusers' and MONAI's schedulers."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from gda_core.torch.sampling import (  # noqa: E402
    BatchNoise,
    DiffusersScheduler,
    MonaiScheduler,
    Noise,
    invert,
    sample,
)

SHAPE = (2, 6)


def _ddim():
    return diffusers.DDIMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2", clip_sample=False)


def _oracle(point):
    """The exact noise prediction for data that is the single ``point``: DDIM then recovers it."""
    alphas = _ddim().alphas_cumprod

    def call(x, t, labels, **extras):
        a = alphas[int(t)]
        return (x - a.sqrt() * point) / (1 - a).sqrt()
    return call


def _linear(x, t, labels, **extras):
    """A stand-in network whose prediction depends on the label (0.1 x per class index)."""
    return x * 0.1 * (1 + labels.float()).view(-1, 1, 1)


def test_the_same_seed_gives_the_same_samples_whatever_the_batch_size():
    kw = dict(num_inference_steps=8, device="cpu", labels=[0, 1, 1, 0, 1])
    a = sample(_linear, DiffusersScheduler(_ddim), SHAPE, 5, noise=3, batch_size=5, **kw)
    b = sample(_linear, DiffusersScheduler(_ddim), SHAPE, 5, noise=Noise(3), batch_size=2, **kw)
    c = sample(_linear, DiffusersScheduler(_ddim), SHAPE, 5, noise=4, batch_size=5, **kw)
    assert a.shape == (5, *SHAPE) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_sampling_matches_a_plain_diffusers_loop():
    noise = torch.randn((3, *SHAPE), generator=torch.Generator().manual_seed(11))
    sched = _ddim()
    sched.set_timesteps(10)
    x = noise * sched.init_noise_sigma
    for t in sched.timesteps:
        x = sched.step(_linear(sched.scale_model_input(x, t), t, torch.tensor([0, 1, 0])), t, x).prev_sample
    ours = sample(_linear, DiffusersScheduler(_ddim), SHAPE, 3, noise=11, batch_size=2, num_inference_steps=10,
                  labels=[0, 1, 0])
    assert torch.equal(ours, x)


def test_guidance_mixes_conditional_and_unconditional_predictions():
    seen = []

    def call(x, t, labels, **extras):
        seen.append(labels.tolist())
        return _linear(x, t, labels)

    null = 4
    guided = sample(call, DiffusersScheduler(_ddim), SHAPE, 2, noise=0, batch_size=2, num_inference_steps=3,
                    labels=[1, 2], null_label=null, guidance_scale=3.0)
    assert seen[0] == [1, 2, null, null]  # one call on the doubled batch

    def mixed(x, t, labels, **extras):  # what guidance should amount to
        cond, unc = _linear(x, t, labels), _linear(x, t, torch.full_like(labels, null))
        return unc + 3.0 * (cond - unc)

    by_hand = sample(mixed, DiffusersScheduler(_ddim), SHAPE, 2, noise=0, batch_size=2, num_inference_steps=3,
                     labels=[1, 2])
    assert torch.allclose(guided, by_hand, atol=1e-6)
    with pytest.raises(ValueError, match="null_label"):
        sample(_linear, DiffusersScheduler(_ddim), SHAPE, 1, noise=0, batch_size=1, num_inference_steps=2,
               labels=[0], guidance_scale=2.0)


def test_strength_starts_part_way_from_the_noised_source():
    init = torch.full((2, *SHAPE), 0.5)
    calls = []

    def call(x, t, labels, **extras):
        calls.append(int(t))
        return torch.zeros_like(x)

    sample(call, DiffusersScheduler(_ddim), SHAPE, 2, noise=1, batch_size=2, num_inference_steps=10,
           strength=0.3, init=init)
    full = _ddim()
    full.set_timesteps(10)
    assert calls == [int(t) for t in full.timesteps[7:]]  # 3 of the 10 steps, the least noisy ones
    point = torch.linspace(-1, 1, 12).reshape(SHAPE)
    near = sample(_oracle(point), DiffusersScheduler(_ddim), SHAPE, 2, noise=1, batch_size=2, num_inference_steps=10,
                  strength=0.3, init=point.expand(2, *SHAPE))
    assert torch.allclose(near, point.expand(2, *SHAPE), atol=1e-3)
    with pytest.raises(ValueError, match="init or latents"):
        sample(call, DiffusersScheduler(_ddim), SHAPE, 1, noise=0, batch_size=1, num_inference_steps=2, strength=0.5)


def test_extras_are_sliced_with_each_batch():
    extras = {"mask": torch.arange(5.0).view(5, 1, 1).expand(5, *SHAPE)}
    seen = []

    def call(x, t, labels, mask):
        seen.append(mask[:, 0, 0].tolist())
        return torch.zeros_like(x)

    sample(call, DiffusersScheduler(_ddim), SHAPE, 5, noise=0, batch_size=3, num_inference_steps=1, extras=extras)
    assert seen == [[0.0, 1.0, 2.0], [3.0, 4.0]]


def test_inversion_then_sampling_gives_the_source_back():
    point = torch.linspace(-1, 1, 12).reshape(SHAPE)
    x0 = point.expand(3, *SHAPE).clone()
    call = _oracle(point)
    alphas = _ddim().alphas_cumprod
    for strength in (1.0, 0.5):
        z = invert(call, DiffusersScheduler(_ddim), x0, num_inference_steps=10, strength=strength,
                   alphas_cumprod=alphas, prediction_type="epsilon", batch_size=2)
        back = sample(call, DiffusersScheduler(_ddim), SHAPE, 3, noise=0, batch_size=2, num_inference_steps=10,
                      strength=strength, latents=z)
        assert torch.allclose(back, x0, atol=1e-3)


def test_monai_schedulers_run_through_the_same_loop():
    pytest.importorskip("monai")
    from monai.networks.schedulers import DDIMScheduler, DDPMScheduler

    def call(x, t, labels, **extras):
        return 0.1 * x

    make = lambda: DDIMScheduler(num_train_timesteps=100, schedule="scaled_linear_beta", clip_sample=True)  # noqa: E731
    noise = torch.randn((2, *SHAPE), generator=torch.Generator().manual_seed(5))
    sched = make()
    sched.set_timesteps(10)
    x = noise
    for t in sched.timesteps:
        x, _ = sched.step(call(x, t, None), t, x)
    ours = sample(call, MonaiScheduler(make), SHAPE, 2, noise=5, batch_size=2, num_inference_steps=10)
    assert torch.equal(ours, x)
    ddpm = lambda: DDPMScheduler(num_train_timesteps=100, schedule="scaled_linear_beta")  # noqa: E731
    a = sample(call, MonaiScheduler(ddpm), SHAPE, 3, noise=BatchNoise(2), batch_size=2, num_inference_steps=5)
    b = sample(call, MonaiScheduler(ddpm), SHAPE, 3, noise=BatchNoise(2), batch_size=2, num_inference_steps=5)
    assert torch.equal(a, b)  # the stochastic steps are seeded too
    z = invert(call, MonaiScheduler(make), noise, num_inference_steps=10, strength=0.5,
               alphas_cumprod=make().alphas_cumprod, prediction_type="epsilon", batch_size=2)
    assert z.shape == noise.shape and torch.isfinite(z).all()
