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

from gda_core.components import Params


class DiffusionTrainingParams(Params):
    """Training and sampling parameters shared by signal.diffusion1d and signal.specdiff."""

    lr: float = Field(1e-3, gt=0, description="AdamW learning rate (cosine decay to 10%)")
    ema: float = Field(0.995, ge=0, lt=1, description="exponential moving average of the weights (0: none)")
    num_train_timesteps: int = Field(1000, gt=1, description="diffusion steps of the noise schedule")
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = Field(
        "squaredcos_cap_v2", description="noise schedule")
    sampler: Literal["ddim", "dpm-solver", "ddpm"] = Field("ddim", description="sampling scheduler (diffusers)")
    num_inference_steps: int = Field(50, gt=0, description="sampling steps")
    guidance_scale: float = Field(1.0, ge=0, description="classifier-free guidance (1: plain conditional)")
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
                   device: str, context: Any, desc: str) -> tuple[Any, list[float]]:
    """Train ``model`` to predict the noise added to ``data`` (N, ...); returns (model or its EMA, losses)."""
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
    use_bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    extra = (1,) * (x_all.dim() - 1)
    model.train()
    losses: list[float] = []
    for step in context.progress(range(steps), desc=desc, total=steps):
        idx = torch.randint(0, len(x_all), (min(batch_size, len(x_all)),), generator=gen).to(device)
        x0, lab = x_all[idx], y_all[idx].clone()
        drop = (torch.rand(len(lab), generator=gen) < label_dropout).to(device)
        lab[drop] = n_classes
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, n_t, (len(x0),), generator=gen).to(device)
        xt = alphas[t].sqrt().view(-1, *extra) * x0 + (1 - alphas[t]).sqrt().view(-1, *extra) * noise
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_bf16):
            pred = call(model, xt, t, lab)
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
    model = ema_model if ema_model is not None else model
    return model.eval(), losses


def sample(model, call: Callable, train_scheduler, shape: tuple[int, ...], labels: list[int], n_classes: int, *,
           seed: int, sampler: str, num_inference_steps: int, guidance_scale: float, batch_size: int,
           context: Any = None, desc: str = "sample") -> np.ndarray:
    """Denoise ``len(labels)`` samples of ``shape`` from Gaussian noise; deterministic given ``seed``."""
    import torch

    dev = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    out = []
    for i in range(0, len(labels), batch_size):
        chunk = labels[i:i + batch_size]
        sch = make_sampler(train_scheduler, sampler)
        sch.set_timesteps(num_inference_steps)
        x = torch.randn((len(chunk), *shape), generator=gen).to(dev)
        lab = torch.tensor(chunk, dtype=torch.long, device=dev)
        null = torch.full_like(lab, n_classes)
        steps = sch.timesteps
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
