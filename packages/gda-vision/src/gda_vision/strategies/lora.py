"""LoRA fine-tuning of a Stable Diffusion UNet on the real images (peft), then generation
with the adapter."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from gda_core.components import Params, Strategy
from gda_core.errors import ConfigError, DataError

if TYPE_CHECKING:
    from gda_core.components import Generator
    from gda_core.context import RunContext
    from gda_core.records import Dataset


class LoRAParams(Params):
    rank: int = Field(4, gt=0, description="LoRA rank")
    alpha: float | None = Field(None, gt=0, description="LoRA alpha (default: the rank)")
    target_modules: list[str] = Field(["to_q", "to_k", "to_v", "to_out.0"],
                                      min_length=1, description="UNet attention projections that get adapters")
    steps: int = Field(200, gt=0, description="optimizer steps")
    batch_size: int = Field(4, gt=0, description="images per step (drawn with replacement)")
    learning_rate: float = Field(1e-4, gt=0, description="AdamW learning rate")
    caption_dropout: float = Field(0.1, ge=0, lt=1, description="share of prompts replaced by the empty prompt, "
                                   "so classifier-free guidance keeps working")
    resolution: int | None = Field(None, gt=7, description="training side in pixels (default: the generator's)")
    output: str | None = Field(None, description="folder for the adapter (default: <run folder>/lora)")
    seed: int | None = Field(None, description="training seed (default: the run seed)")


class LoRAFineTune(Strategy):
    """Fine-tune ``vision.sd``'s UNet with LoRA adapters (peft) on the real images, each
    captioned with its class prompt, with the usual noise-prediction loss on VAE latents.
    The adapter is saved on its own (``save_lora_weights``, safetensors) and loaded into
    the generator's pipeline for sampling."""

    data_kind = "arrays"
    Params = LoRAParams

    def fit(self, generator: Generator, train: Dataset, context: RunContext) -> Any:
        """Train a LoRA adapter of ``generator``'s UNet on ``train``, save it, and load it into the generator."""
        import torch

        from gda_core.torch.accelerators import apply_thread_setting, pick_device, pick_dtype

        from ..generators.sd import StableDiffusionGenerator

        if not isinstance(generator, StableDiffusionGenerator):
            raise ConfigError(f"strategy vision.lora needs generator vision.sd, not {generator.name or generator}")
        if len(train) == 0:
            raise DataError("vision.lora: the training set is empty")
        p, gp = self.params, generator.params
        generator.fit(train, context)
        apply_thread_setting()
        device = pick_device(gp.device)
        dtype = pick_dtype(device, gp.precision)
        seed = context.seed if p.seed is None else p.seed
        torch.manual_seed(seed)
        pipe, unet = self._pipeline_with_adapter(gp, device)
        latents, cond, empty = self._encode(pipe, train, gp, device)
        self.losses_ = self._train(unet, pipe.scheduler.config, latents, cond, empty, device, dtype, seed, context)
        out = self._save(unet, gp, context)
        del pipe, unet
        generator.set_lora(out)
        return generator

    def _pipeline_with_adapter(self, gp: Any, device: Any) -> tuple[Any, Any]:
        """The base text-to-image pipeline, frozen, its UNet given fresh LoRA adapters: ``(pipe, unet)``."""
        import torch
        from peft import LoraConfig

        from .._sd import load_text2img

        p = self.params
        pipe = load_text2img(gp.model, device, torch.float32, "generator.params.model")
        for m in (pipe.unet, pipe.vae, pipe.text_encoder):
            m.requires_grad_(False)
        pipe.unet.add_adapter(LoraConfig(r=p.rank, lora_alpha=p.alpha or p.rank, init_lora_weights="gaussian",
                                         target_modules=list(p.target_modules)))
        return pipe, pipe.unet

    def _encode(self, pipe: Any, train: Any, gp: Any, device: Any) -> tuple[Any, Any, Any]:
        """VAE latents of the training images, their class prompts' text embeddings and the empty
        prompt's (for caption dropout): ``(latents, cond, empty)``."""
        import torch

        from .._clip import class_prompt
        from .._images import resize_batch, set_channels, stack
        from .._sd import default_resolution

        vae, text_encoder, tokenizer = pipe.vae, pipe.text_encoder, pipe.tokenizer
        side = self.params.resolution or gp.resolution or default_resolution(pipe)
        with torch.no_grad():
            x = torch.from_numpy(stack(train.records))
            x = resize_batch(set_channels(x, 3), (side, side)) * 2.0 - 1.0
            latents = []
            for s in range(0, len(x), 16):
                dist = vae.encode(x[s:s + 16].to(device)).latent_dist
                latents.append(dist.mean * vae.config.scaling_factor)
            prompts = [class_prompt(gp.prompt, r.label, gp.class_names) for r in train.records]
            tok = tokenizer(prompts + [""], padding="max_length", max_length=tokenizer.model_max_length,
                            truncation=True, return_tensors="pt")
            emb = text_encoder(tok.input_ids.to(device))[0]
        return torch.cat(latents), emb[:-1], emb[-1:]

    def _train(self, unet: Any, scheduler_config: Any, latents: Any, cond: Any, empty: Any, device: Any,
               dtype: Any, seed: int, context: Any) -> list[float]:
        """``steps`` AdamW steps of the noise-prediction (or v-prediction) loss on random batches of
        the latents, a ``caption_dropout`` share of prompts emptied; the loss of each step."""
        import torch
        import torch.nn.functional as F
        from diffusers import DDPMScheduler

        from gda_core.torch.accelerators import autocast, torch_generator

        p = self.params
        noise_sched = DDPMScheduler.from_config(scheduler_config)
        opt = torch.optim.AdamW([q for q in unet.parameters() if q.requires_grad], lr=p.learning_rate,
                                weight_decay=1e-2)
        g = torch_generator(seed)
        unet.train()
        losses: list[float] = []
        n = len(latents)
        for _ in context.progress(range(p.steps), desc="vision.lora train", total=p.steps):
            idx = torch.randint(0, n, (p.batch_size,), generator=g)
            lat = latents[idx.to(device)]
            hidden = cond[idx.to(device)].clone()
            drop = torch.rand(p.batch_size, generator=g) < p.caption_dropout
            hidden[drop.to(device)] = empty
            noise = torch.randn(lat.shape, generator=g).to(device)
            t = torch.randint(0, noise_sched.config.num_train_timesteps, (p.batch_size,), generator=g).to(device)
            noisy = noise_sched.add_noise(lat, noise, t)
            if noise_sched.config.prediction_type == "v_prediction":
                target = noise_sched.get_velocity(lat, noise, t)
            else:
                target = noise
            with autocast(device, dtype):
                pred = unet(noisy, t, encoder_hidden_states=hidden).sample
            loss = F.mse_loss(pred.float(), target.float())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return losses

    def _save(self, unet: Any, gp: Any, context: Any) -> Path:
        """Write the adapter (diffusers' LoRA safetensors) and ``gda_lora.json``; its folder."""
        import numpy as np
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        p = self.params
        out = self._output_dir(context)
        state = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
        info = {"base_model": gp.model, "rank": p.rank, "alpha": p.alpha or p.rank, "steps": p.steps,
                "final_loss": float(np.mean(self.losses_[-10:])), "target_modules": list(p.target_modules)}

        def save(folder: Path) -> None:
            StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=state, safe_serialization=True)
            (folder / "gda_lora.json").write_text(json.dumps(info, indent=2))

        if out.parent == Path(getattr(context, "workdir", None) or "") and out.name == "lora":
            from gda_core import runfolder

            with runfolder.atomic_dir(out) as tmp:  # in the run folder: whole or absent, listed as gda's
                save(tmp)
        else:
            out.mkdir(parents=True, exist_ok=True)
            save(out)
        return out

    def _output_dir(self, context) -> Path:
        if self.params.output:
            out = Path(self.params.output).expanduser()
        elif context is not None and context.workdir is not None:
            out = Path(context.workdir) / "lora"
        else:
            out = Path(tempfile.mkdtemp(prefix="gda-lora-"))
        return out
