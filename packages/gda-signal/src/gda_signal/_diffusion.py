"""What signal.diffusion1d and signal.specdiff share: their parameters, the DDPM training step they
give GDA's training loop (:mod:`gda_core.torch.training`) and the diffusers samplers they give GDA's
sampler (:mod:`gda_core.torch.sampling`).

``call(model, x, t, labels)`` adapts a denoiser's forward to return the predicted noise.
Label ``n_classes`` means "no class" (classifier-free guidance).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import Field

from gda_core.components import SAMPLING, Params


class DiffusionTrainingParams(Params):
    """Training and sampling parameters shared by signal.diffusion1d and signal.specdiff."""

    lr: float = Field(1e-3, gt=0, description="AdamW learning rate (cosine decay to 10%)")
    ema: float = Field(0.995, ge=0, lt=1, description="exponential moving average of the weights (0: none)")
    num_train_timesteps: int = Field(1000, gt=1, description="diffusion steps of the noise schedule")
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = Field(
        "squaredcos_cap_v2", description="noise schedule")
    sampler: Literal["ddim", "dpm-solver", "ddpm"] = Field("ddim", description="sampling scheduler (diffusers)",
                                                           json_schema_extra=SAMPLING)
    num_inference_steps: int = Field(50, gt=0, description="sampling steps", json_schema_extra=SAMPLING)
    guidance_scale: float = Field(1.0, ge=0, description="classifier-free guidance (1: plain conditional)",
                                  json_schema_extra=SAMPLING)
    label_dropout: float = Field(0.1, ge=0, lt=1, description="share of training labels replaced by 'no class'")


def make_train_scheduler(num_train_timesteps: int, beta_schedule: str):
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule,
                         prediction_type="epsilon", clip_sample=False)


def make_sampler(train_scheduler, sampler: str):
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    cfg = train_scheduler.config
    if sampler == "ddim":
        return DDIMScheduler.from_config(cfg)
    if sampler == "dpm-solver":
        return DPMSolverMultistepScheduler.from_config(cfg, algorithm_type="dpmsolver++")
    return DDPMScheduler.from_config(cfg)


def train_denoiser(model, call: Callable, data: np.ndarray, labels: np.ndarray, n_classes: int, scheduler, *,
                   steps: int, batch_size: int, lr: float, ema: float, label_dropout: float, seed: int,
                   device: str, context: Any, desc: str, augment: Callable | None = None,
                   chooser: Any = None, key: Any = None) -> tuple[Any, list[float]]:
    """Train ``model`` to predict the noise added to ``data`` (N, ...) through GDA's training loop
    (AdamW, cosine decay to 10%, EMA); returns (model or its EMA, losses).

    ``chooser`` (a :class:`gda_core.torch.diffusion.CheckpointChooser`), when given, scores the weights
    used for sampling (the EMA's) as training goes and the returned model holds the checkpoint it kept.

    ``augment(x0, generator) -> (x0_augmented, aug)``, when given, augments each clean batch
    before noising and ``aug`` (B, A) reaches the network as ``call(..., aug=aug)``: the
    non-leaking augmentation of ADA / EDM, where sampling passes no augmentation.
    """
    import torch

    from gda_core.torch.training import EMA, Optim, Schedule, TrainingLoop

    x_all = torch.as_tensor(np.ascontiguousarray(data, dtype=np.float32)).to(device)
    y_all = torch.as_tensor(np.asarray(labels)).long().to(device)
    alphas = scheduler.alphas_cumprod.to(device)
    n_t = scheduler.config.num_train_timesteps
    extra = (1,) * (x_all.dim() - 1)

    def step(s) -> Any:
        gen = s.generator
        idx = torch.randint(0, len(x_all), (min(batch_size, len(x_all)),), generator=gen).to(device)
        x0, lab = x_all[idx], y_all[idx].clone()
        kwargs = {}
        if augment is not None:
            x0, aug = augment(x0, gen)
            kwargs["aug"] = aug.to(device)
        lab[(torch.rand(len(lab), generator=gen) < label_dropout).to(device)] = n_classes
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, n_t, (len(x0),), generator=gen).to(device)
        xt = alphas[t].sqrt().view(-1, *extra) * x0 + (1 - alphas[t]).sqrt().view(-1, *extra) * noise
        with s.autocast():
            pred = call(s.modules["denoiser"], xt, t, lab, **kwargs)
        return torch.nn.functional.mse_loss(pred.float(), noise)

    optim = Optim("denoiser", lr=lr, weight_decay=1e-4, schedule=Schedule(decay="cosine", floor=0.1))
    result = TrainingLoop({"denoiser": model}, step, {"denoiser": optim}, steps=steps, seed=seed, device=device,
                          precision="auto", ema={"denoiser": EMA(ema)}, chooser=chooser, context=context, desc=desc,
                          key=key).run()
    return result.modules["denoiser"], result.losses.get("loss", [])


def _sampler(train_scheduler, sampler: str) -> Any:
    from gda_core.torch.sampling import DiffusersScheduler

    return DiffusersScheduler(lambda: make_sampler(train_scheduler, sampler))


def sample(model, call: Callable, train_scheduler, shape: tuple[int, ...], labels: list[int], n_classes: int, *,
           seed: int, sampler: str, num_inference_steps: int, guidance_scale: float, batch_size: int,
           context: Any = None, desc: str = "sample", strength: float = 1.0, init: np.ndarray | None = None,
           latents: np.ndarray | None = None) -> np.ndarray:
    """Denoise ``len(labels)`` samples of ``shape`` through :func:`gda_core.torch.sampling.sample`;
    deterministic given ``seed``.

    With ``strength`` 1 (default) every sample starts from Gaussian noise. Below 1 denoising starts
    part-way (SDEdit / DA-Fusion): from ``init`` (n, *shape), clean samples noised to that level with
    the seeded noise, or from ``latents`` (n, *shape), samples already at that level (a DDIM
    inversion). The seeded noise is drawn the same way in every case.
    """
    import torch

    from gda_core.torch.sampling import sample as denoise

    def tensor(a):
        return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float32))

    x = denoise(lambda x, t, lab: call(model, x, t, lab), _sampler(train_scheduler, sampler), shape, len(labels),
                num_inference_steps=num_inference_steps, noise=seed, batch_size=batch_size,
                device=next(model.parameters()).device, labels=labels, null_label=n_classes,
                guidance_scale=guidance_scale, strength=strength, init=tensor(init), latents=tensor(latents),
                progress=context.progress if context is not None else None, desc=desc)
    return x.numpy()


def ddim_invert(model, call: Callable, train_scheduler, x0: np.ndarray, labels: list[int], *,
                num_inference_steps: int, strength: float, batch_size: int) -> np.ndarray:
    """Deterministic DDIM inversion of clean samples ``x0`` (n, ...) with their class ``labels``, up to
    the timestep where :func:`sample` with the same ``num_inference_steps`` and ``strength`` starts
    (so ``sample(..., sampler="ddim", latents=ddim_invert(...))`` approximately reconstructs ``x0``)."""
    import torch

    from gda_core.torch.sampling import invert

    x = torch.from_numpy(np.asarray(x0, dtype=np.float32))
    return invert(lambda x, t, lab: call(model, x, t, lab), _sampler(train_scheduler, "ddim"), x,
                  num_inference_steps=num_inference_steps, strength=strength,
                  alphas_cumprod=train_scheduler.alphas_cumprod, prediction_type="epsilon", batch_size=batch_size,
                  device=next(model.parameters()).device, labels=labels).numpy()
