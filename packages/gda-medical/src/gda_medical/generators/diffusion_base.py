"""What the 3-D diffusion generators share: network parameters, the training loop, sampling.

``medical.ddpm3d``, ``medical.mask2image`` and ``medical.ldm3d`` subclass
:class:`DiffusionGenerator`; each one decides what the network sees (image and
label channels, a mask to condition on, or an autoencoder's latents).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import Generator, Params
from gda_core.errors import GDAError

from ..volumes import (
    affine_of,
    autocast,
    check_channels,
    pick_device,
    read_config,
    save_module,
    seeded,
    torch_generator,
)


class DiffusionParams(Params):
    """Parameters of a MONAI ``DiffusionModelUNet`` (spatial_dims=3) and its noise schedule."""

    channels: list[int] = Field([16, 32, 32], min_length=1, description="feature channels per resolution level")
    attention_levels: list[bool] | None = Field(
        None, description="self-attention per level (default: the lowest-resolution level only)")
    num_res_blocks: int = Field(1, ge=1, description="residual blocks per level")
    norm_num_groups: int = Field(8, ge=1, description="group-norm groups; every channel count must be a multiple")
    num_head_channels: int = Field(8, ge=1, description="channels per attention head")
    num_train_timesteps: int = Field(1000, ge=2, description="length of the noise schedule")
    schedule: Literal["linear_beta", "scaled_linear_beta", "cosine"] = Field(
        "scaled_linear_beta", description="MONAI noise schedule")
    scheduler: Literal["ddpm", "ddim"] = Field("ddim", description="sampler: DDPM (stochastic) or DDIM")
    prediction_type: Literal["epsilon", "sample", "v_prediction"] = Field(
        "v_prediction", description="what the network predicts: the noise, the clean volume, or the velocity")
    inference_steps: int = Field(50, ge=1, description="denoising steps when sampling")
    steps: int = Field(1500, ge=1, description="training iterations")
    batch_size: int = Field(4, ge=1, description="volumes per training iteration")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate (cosine decay)")
    sample_batch_size: int = Field(4, ge=1, description="volumes denoised together when sampling")
    device: str = Field("auto", description="'auto' (CUDA when available, else CPU), 'cpu' or 'cuda[:i]'")
    mixed_precision: bool = Field(True, description="bf16 autocast on CUDA (CPU runs float32)")

    @model_validator(mode="after")
    def _check_net(self):
        check_channels(self.channels, self.norm_num_groups)
        if self.attention_levels is not None and len(self.attention_levels) != len(self.channels):
            raise ValueError(f"attention_levels: needs one entry per level ({len(self.channels)}), "
                             f"got {len(self.attention_levels)}")
        if self.inference_steps > self.num_train_timesteps:
            raise ValueError("inference_steps: cannot exceed num_train_timesteps")
        return self


def unet_config(p: DiffusionParams, in_channels: int, out_channels: int) -> dict[str, Any]:
    """Constructor arguments of the ``DiffusionModelUNet`` described by ``p``."""
    levels = len(p.channels)
    att = p.attention_levels if p.attention_levels is not None else [i == levels - 1 and levels > 1
                                                                     for i in range(levels)]
    return {"spatial_dims": 3, "in_channels": in_channels, "out_channels": out_channels,
            "channels": list(p.channels), "attention_levels": list(att), "num_res_blocks": p.num_res_blocks,
            "norm_num_groups": p.norm_num_groups, "num_head_channels": p.num_head_channels}


def build_unet(config: dict[str, Any]):
    from monai.networks.nets import DiffusionModelUNet

    return DiffusionModelUNet(**config)


def make_scheduler(p: DiffusionParams, kind: str | None = None):
    from monai.networks.schedulers import DDIMScheduler, DDPMScheduler

    kind = kind or p.scheduler
    if kind == "ddim":
        sch = DDIMScheduler(num_train_timesteps=p.num_train_timesteps, schedule=p.schedule, clip_sample=True,
                            prediction_type=p.prediction_type)
    else:
        sch = DDPMScheduler(num_train_timesteps=p.num_train_timesteps, schedule=p.schedule, clip_sample=True,
                            prediction_type=p.prediction_type)
    return sch


class DiffusionGenerator(Generator):
    """Base of the MONAI diffusion generators: train a ``DiffusionModelUNet`` to predict noise,
    sample through ``DiffusionInferer`` with DDPM or DDIM, save weights as safetensors."""

    Params = DiffusionParams
    version: ClassVar[str] = "1"

    def __init__(self, params=None, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.unet = None
        self.info: dict[str, Any] = {}

    # -- what the network sees (subclasses override) -------------------------

    def _network_channels(self, info: dict[str, Any]) -> tuple[int, int]:
        raise NotImplementedError

    # -- helpers --------------------------------------------------------------

    @property
    def device(self):
        return pick_device(self.params.device)

    def _fit_unet(self, x, cond, context, *, desc: str = "train diffusion") -> None:
        """Train ``self.unet`` to undo the noise added to ``x`` (N, C, ...), in model range;
        ``cond`` (N, K, ...) is concatenated to the noisy input when given."""
        import torch
        from monai.inferers import DiffusionInferer

        p, dev = self.params, self.device
        unet = self.unet.to(dev).train()
        sched = make_scheduler(p, "ddpm")
        inferer = DiffusionInferer(sched)
        opt = torch.optim.AdamW(unet.parameters(), lr=p.lr, weight_decay=1e-4)
        warm = max(1, p.steps // 20)

        def lr_at(i: int) -> float:  # linear warm-up, then cosine decay to 5%
            if i < warm:
                return (i + 1) / warm
            return 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * (i - warm) / max(1, p.steps - warm)))

        lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
        g = torch_generator(context.seed * 7919 + 17)
        n = x.shape[0]
        losses = []
        bar = context.progress(range(p.steps), desc=desc, total=p.steps)
        for _ in bar:
            idx = torch.randint(0, n, (min(p.batch_size, n),), generator=g)
            xb = x[idx].to(dev)
            noise = torch.randn(xb.shape, generator=g).to(dev)
            t = torch.randint(0, p.num_train_timesteps, (xb.shape[0],), generator=g).to(dev)
            with autocast(dev, p.mixed_precision):
                if cond is None:
                    pred = inferer(inputs=xb, diffusion_model=unet, noise=noise, timesteps=t)
                else:
                    pred = inferer(inputs=xb, diffusion_model=unet, noise=noise, timesteps=t,
                                   condition=cond[idx].to(dev), mode="concat")
                if p.prediction_type == "epsilon":
                    goal = noise
                elif p.prediction_type == "sample":
                    goal = xb
                else:
                    goal = sched.get_velocity(xb, noise, t)
                loss = torch.nn.functional.mse_loss(pred.float(), goal.float())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step()
            lr_sched.step()
            losses.append(float(loss.detach()))
        unet.eval()
        self.info["final_loss"] = float(np.mean(losses[-max(1, len(losses) // 10):]))

    def _sample(self, shape: tuple[int, ...], seed: int, cond=None, context=None):
        """Denoise ``shape[0]`` volumes from seeded noise (batches of ``sample_batch_size``); CPU float32."""
        import torch
        from monai.inferers import DiffusionInferer

        if self.unet is None:
            raise GDAError(f"{self.name or type(self).__name__}: generate called before fit (or load)")
        p, dev = self.params, self.device
        unet = self.unet.to(dev).eval()
        n = shape[0]
        out = []
        starts = list(range(0, n, p.sample_batch_size))
        it = context.progress(starts, desc="sample", total=len(starts)) if context is not None else starts
        for b in it:
            m = min(p.sample_batch_size, n - b)
            sched = make_scheduler(p)
            sched.set_timesteps(p.inference_steps)
            inferer = DiffusionInferer(sched)
            noise = torch.randn((m, *shape[1:]), generator=torch_generator(seed * 1_000_003 + b)).to(dev)
            with seeded(seed + b, dev), autocast(dev, p.mixed_precision):
                if cond is None:
                    img = inferer.sample(input_noise=noise, diffusion_model=unet, scheduler=sched, verbose=False)
                else:
                    img = inferer.sample(input_noise=noise, diffusion_model=unet, scheduler=sched, verbose=False,
                                         conditioning=cond[b:b + m].to(dev), mode="concat")
            out.append(img.float().cpu())
        return torch.cat(out)

    def _reference(self, condition: dict[str, Any], context) -> Any:
        """The real record a condition names (``source_id``), if the run context holds it."""
        sid = condition.get("source_id")
        if context is None or sid is None:
            return None
        return next((r for r in context.train.records if r.id == sid), None)

    def _affine_for(self, condition: dict[str, Any], context) -> list:
        ref = self._reference(condition, context)
        if ref is not None:
            return affine_of(ref).tolist()
        return self.info.get("affine", np.eye(4).tolist())

    # -- persistence ------------------------------------------------------------

    def save_state(self, path: Path) -> None:
        if self.unet is None:
            raise GDAError(f"{self.name or type(self).__name__}: nothing to save before fit")
        save_module(self.unet, self.info["unet_config"], Path(path) / "unet", extra={"info": self.info})

    def load_state(self, path: Path) -> None:
        from ..volumes import load_weights

        folder = Path(path) / "unet"
        cfg = read_config(folder)
        self.info = dict(cfg.get("info", {}))
        self.unet = build_unet(cfg["init"])
        load_weights(self.unet, folder)
        self.unet.eval()
