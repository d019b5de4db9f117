"""The DDPM training loop and the DDIM / DPM-Solver sampling loop shared by signal.diffusion1d and signal.specdiff.

``call(model, x, t, labels)`` adapts a denoiser's forward to return the predicted noise.
Label ``n_classes`` means "no class" (classifier-free guidance).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import Field

from gda_core.components import SAMPLING, Params
from gda_core.torch.diffusion import start_index


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
                   chooser: Any = None) -> tuple[Any, list[float]]:
    """Train ``model`` to predict the noise added to ``data`` (N, ...); returns (model or its EMA, losses).

    ``chooser`` (a :class:`gda_core.torch.diffusion.CheckpointChooser`), when given, scores the weights
    used for sampling (the EMA's) as training goes and the returned model holds the checkpoint it kept.

    ``augment(x0, generator) -> (x0_augmented, aug)``, when given, augments each clean batch
    before noising and ``aug`` (B, A) reaches the network as ``call(..., aug=aug)``: the
    non-leaking augmentation of ADA / EDM, where sampling passes no augmentation.
    """
    import torch

    model = model.to(device)
    ema_model = copy.deepcopy(model).eval() if ema > 0 else None
    x_all = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).to(device)
    y_all = torch.from_numpy(np.asarray(labels)).long().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    alphas = scheduler.alphas_cumprod.to(device)
    n_t = scheduler.config.num_train_timesteps
    use_bf16 = torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported()
    extra = (1,) * (x_all.dim() - 1)
    model.train()
    losses: list[float] = []
    for step in context.progress(range(steps), desc=desc, total=steps):
        idx = torch.randint(0, len(x_all), (min(batch_size, len(x_all)),), generator=gen).to(device)
        x0, lab = x_all[idx], y_all[idx].clone()
        kwargs = {}
        if augment is not None:
            x0, aug = augment(x0, gen)
            kwargs["aug"] = aug.to(device)
        drop = (torch.rand(len(lab), generator=gen) < label_dropout).to(device)
        lab[drop] = n_classes
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, n_t, (len(x0),), generator=gen).to(device)
        xt = alphas[t].sqrt().view(-1, *extra) * x0 + (1 - alphas[t]).sqrt().view(-1, *extra) * noise
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_bf16):
            pred = call(model, xt, t, lab, **kwargs)
        loss = torch.nn.functional.mse_loss(pred.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        lr_sched.step()
        if ema_model is not None:
            decay = min(ema, (1 + step) / (10 + step))  # warm-up: early weights fade fast
            with torch.no_grad():
                for pe, pm in zip(ema_model.parameters(), model.parameters()):
                    pe.lerp_(pm, 1 - decay)
        losses.append(float(loss.detach()))
        if chooser is not None:
            chooser.after_step(step + 1, steps, ema_model if ema_model is not None else model)
    model = ema_model if ema_model is not None else model
    if chooser is not None:
        chooser.restore(model)
    return model.eval(), losses


def sample(model, call: Callable, train_scheduler, shape: tuple[int, ...], labels: list[int], n_classes: int, *,
           seed: int, sampler: str, num_inference_steps: int, guidance_scale: float, batch_size: int,
           context: Any = None, desc: str = "sample", strength: float = 1.0, init: np.ndarray | None = None,
           latents: np.ndarray | None = None) -> np.ndarray:
    """Denoise ``len(labels)`` samples of ``shape``; deterministic given ``seed``.

    With ``strength`` 1 (default) every sample starts from Gaussian noise. Below 1 denoising starts
    part-way (SDEdit / DA-Fusion): from ``init`` (n, *shape), clean samples noised to that level with
    the seeded noise, or from ``latents`` (n, *shape), samples already at that level (a DDIM
    inversion). The seeded noise is drawn the same way in every case.
    """
    import torch

    if strength < 1.0 and init is None and latents is None:
        raise ValueError("sample: strength below 1 needs init or latents")
    dev = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    out = []
    for i in range(0, len(labels), batch_size):
        chunk = labels[i:i + batch_size]
        sch = make_sampler(train_scheduler, sampler)
        sch.set_timesteps(num_inference_steps)
        x = torch.randn((len(chunk), *shape), generator=gen).to(dev)
        steps = sch.timesteps
        if strength < 1.0 or latents is not None:
            t0 = start_index(num_inference_steps, strength)
            steps = steps[t0:]
            if hasattr(sch, "set_begin_index"):
                sch.set_begin_index(t0 * getattr(sch, "order", 1))
            if latents is not None:
                x = torch.from_numpy(np.asarray(latents[i:i + batch_size], dtype=np.float32)).to(dev)
            else:
                x0 = torch.from_numpy(np.asarray(init[i:i + batch_size], dtype=np.float32)).to(dev)
                x = sch.add_noise(x0, x, steps[:1].repeat(len(chunk)))
        lab = torch.tensor(chunk, dtype=torch.long, device=dev)
        null = torch.full_like(lab, n_classes)
        it = context.progress(steps, desc=desc) if context is not None else steps
        with torch.no_grad():
            for t in it:
                if guidance_scale != 1.0:
                    cond, unc = call(model, torch.cat([x, x]), t, torch.cat([lab, null])).float().chunk(2)
                    eps = unc + guidance_scale * (cond - unc)
                else:
                    eps = call(model, x, t, lab).float()
                x = sch.step(eps, t, x, generator=gen).prev_sample
        out.append(x.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, *shape), dtype=np.float32)


def ddim_invert(model, call: Callable, train_scheduler, x0: np.ndarray, labels: list[int], *,
                num_inference_steps: int, strength: float, batch_size: int) -> np.ndarray:
    """Deterministic DDIM inversion of clean samples ``x0`` (n, ...) with their class ``labels``, up to
    the timestep where :func:`sample` with the same ``num_inference_steps`` and ``strength`` starts
    (so ``sample(..., sampler="ddim", latents=ddim_invert(...))`` approximately reconstructs ``x0``)."""
    import torch

    from gda_core.torch.diffusion import ddim_invert as core_ddim_invert
    from gda_core.torch.diffusion import ddim_path

    sch = make_sampler(train_scheduler, "ddim")
    sch.set_timesteps(num_inference_steps)
    path = ddim_path(sch.timesteps, start_index(num_inference_steps, strength), train_scheduler.alphas_cumprod)
    dev = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(x0), batch_size):
            x = torch.from_numpy(np.asarray(x0[i:i + batch_size], dtype=np.float32)).to(dev)
            lab = torch.tensor(labels[i:i + batch_size], dtype=torch.long, device=dev)
            x = core_ddim_invert(x, path,
                                 lambda xt, t, lab=lab: call(model, xt, torch.tensor(t, device=dev), lab).float())
            out.append(x.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, *np.asarray(x0).shape[1:]), dtype=np.float32)
