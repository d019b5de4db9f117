"""Loading Stable Diffusion pipelines (diffusers) from a local folder or a hub id."""

from __future__ import annotations

from typing import Any

from gda_core.errors import ConfigError
from gda_core.torch.weights import local_or_hub, safe_kwargs


def load_text2img(model: str, device: Any, dtype: Any, field: str) -> Any:
    """A ``StableDiffusionPipeline`` from ``model`` on ``device``; a failure names ``field``."""
    from diffusers import StableDiffusionPipeline

    try:
        pipe = StableDiffusionPipeline.from_pretrained(local_or_hub(model), dtype=dtype, safety_checker=None,
                                                       requires_safety_checker=False, **safe_kwargs())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{field}: cannot load a Stable Diffusion pipeline from {model!r}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def set_scheduler(pipe: Any, name: str) -> None:
    """Swap the pipeline's scheduler for DDIM or DPM-Solver++ (``default`` keeps the saved one)."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    if name == "ddim":
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    elif name == "dpm-solver++":
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, algorithm_type="dpmsolver++")


def default_resolution(pipe: Any) -> int:
    """The side the checkpoint was trained at: UNet sample size times the VAE's scale factor."""
    return int(pipe.unet.config.sample_size) * int(getattr(pipe, "vae_scale_factor", 8))
