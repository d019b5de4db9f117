"""A class-conditional DDPM trained from scratch (diffusers ``UNet2DModel``), sampled with DDIM
or DPM-Solver++ and classifier-free guidance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import Generator, Params
from gda_core.errors import DataError, GDAError
from gda_core.records import Record, json_safe

from .._images import stack

STATE_FILE = "ddpm_state.json"


class DDPMParams(Params):
    block_out_channels: list[int] = Field([32, 64], min_length=1, description="UNet channels per resolution level")
    layers_per_block: int = Field(1, gt=0, description="ResNet layers per UNet block")
    norm_num_groups: int = Field(8, gt=0, description="GroupNorm groups (must divide every channel count)")
    attention: bool = Field(False, description="self-attention in the lowest-resolution block")
    sample_size: int | None = Field(None, gt=1, description="side the UNet works at (default: the data's size, "
                                    "rounded up to a multiple of 2**(levels-1)); samples are resized back")
    train_steps: int = Field(2000, gt=0, description="optimizer steps")
    batch_size: int = Field(64, gt=0, description="training batch (drawn with replacement from the real set)")
    learning_rate: float = Field(1e-3, gt=0, description="AdamW peak learning rate (warm-up, then cosine decay)")
    warmup_steps: int = Field(100, ge=0, description="linear learning-rate warm-up steps")
    num_train_timesteps: int = Field(1000, gt=1, description="diffusion steps of the DDPM noise schedule")
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = Field(
        "squaredcos_cap_v2", description="noise schedule")
    prediction_type: Literal["epsilon", "v_prediction"] = Field("epsilon", description="what the UNet predicts")
    ema_decay: float = Field(0.995, ge=0, lt=1, description="EMA decay of the weights used for sampling (0: no EMA)")
    label_dropout: float = Field(0.1, ge=0, lt=1, description="share of training labels replaced by the null "
                                 "class, for classifier-free guidance")
    scheduler: Literal["ddim", "dpm-solver++"] = Field("dpm-solver++", description="sampler")
    num_inference_steps: int = Field(25, gt=0, description="sampling steps")
    guidance_scale: float = Field(2.0, ge=0, description="classifier-free guidance scale (1: conditional only, "
                                  "0: unconditional)")
    sample_batch_size: int = Field(256, gt=0, description="images per UNet call while sampling")
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, cuda:N")
    precision: Literal["auto", "float32", "bfloat16"] = Field("auto", description="auto: bf16 autocast on CUDA, "
                                                              "float32 on CPU")

    @model_validator(mode="after")
    def _groups_divide(self) -> DDPMParams:
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"block_out_channels {bad} are not multiples of norm_num_groups={self.norm_num_groups}")
        return self


def _label_key(label: Any) -> str:
    return json.dumps(json_safe(label))


class ClassConditionalDDPMGenerator(Generator):
    """A class-conditional DDPM trained from scratch on the real images.

    A diffusers ``UNet2DModel`` with a class embedding (one extra "null" class for
    classifier-free guidance, used for ``label_dropout`` of the training labels)
    learns the DDPM noise-prediction objective; an exponential moving average of
    its weights is kept and used for sampling with DDIM or DPM-Solver++ at
    ``num_inference_steps`` and ``guidance_scale``. The fitted model is saved with
    ``save_pretrained`` (``unet/`` and ``scheduler/`` folders, safetensors).
    """

    Params = DDPMParams
    version = "1"

    # -- building ---------------------------------------------------------

    def _levels(self) -> int:
        return len(self.params.block_out_channels)

    def _build_unet(self, channels: int, sample_size: int, n_classes: int) -> Any:
        from diffusers import UNet2DModel

        p = self.params
        n = self._levels()
        down = ["DownBlock2D"] * n
        up = ["UpBlock2D"] * n
        if p.attention:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        return UNet2DModel(
            sample_size=sample_size, in_channels=channels, out_channels=channels,
            down_block_types=tuple(down), up_block_types=tuple(up),
            block_out_channels=tuple(p.block_out_channels), layers_per_block=p.layers_per_block,
            norm_num_groups=p.norm_num_groups, attention_head_dim=max(8, p.block_out_channels[-1] // 4),
            add_attention=p.attention, num_class_embeds=n_classes + 1,
        )

    def _train_scheduler(self) -> Any:
        from diffusers import DDPMScheduler

        p = self.params
        return DDPMScheduler(num_train_timesteps=p.num_train_timesteps, beta_schedule=p.beta_schedule,
                             prediction_type=p.prediction_type, clip_sample=False)

    def sampling_scheduler(self) -> Any:
        """The configured sampler, built from the training noise schedule."""
        from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

        config = self.scheduler_.config
        # "leading" spacing starts below t = T-1, where a cosine schedule's noise level is extreme
        # and a briefly trained model is poor ("linspace"/"trailing" made far worse samples here)
        if self.params.scheduler == "ddim":
            return DDIMScheduler.from_config(config, clip_sample=False, set_alpha_to_one=False,
                                             timestep_spacing="leading")
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2,
                                                       timestep_spacing="leading")

    def _setup_device(self) -> None:
        from .._torch import pick_device, pick_dtype, set_threads

        set_threads()
        self.device_ = pick_device(self.params.device)
        self.dtype_ = pick_dtype(self.device_, self.params.precision)

    # -- fitting ----------------------------------------------------------

    def fit(self, train, context) -> None:
        import copy

        import torch
        import torch.nn.functional as F
        from diffusers.optimization import get_cosine_schedule_with_warmup

        from .._images import resize_batch
        from .._torch import autocast, torch_generator

        p = self.params
        if len(train) == 0:
            raise DataError("vision.ddpm: the training set is empty")
        images = stack(train.records)  # (n, C, H, W) in [0, 1]
        n, c, h, w = images.shape
        factor = 2 ** (self._levels() - 1)
        size = p.sample_size or int(np.ceil(max(h, w) / factor) * factor)
        if size % factor:
            raise GDAError(f"generator.params.sample_size: {size} is not a multiple of {factor} "
                           f"(2**(levels-1) for {self._levels()} levels)")
        self.classes_ = list(train.classes)
        self.index_ = {_label_key(lab): i for i, lab in enumerate(self.classes_)}
        self.shape_ = [int(c), int(h), int(w)]
        self.sample_size_ = int(size)
        self._setup_device()
        torch.manual_seed(context.seed)
        unet = self._build_unet(c, size, len(self.classes_)).to(self.device_)
        self.scheduler_ = self._train_scheduler()

        x0 = torch.from_numpy(images) * 2.0 - 1.0
        x0 = resize_batch(x0, (size, size)).to(self.device_)
        null = len(self.classes_)
        y = torch.tensor([self.index_.get(_label_key(r.label), null) for r in train.records], device=self.device_)

        opt = torch.optim.AdamW(unet.parameters(), lr=p.learning_rate, weight_decay=1e-4)
        lr_sched = get_cosine_schedule_with_warmup(opt, p.warmup_steps, p.train_steps)
        ema = copy.deepcopy(unet).requires_grad_(False) if p.ema_decay > 0 else None
        g = torch_generator(context.seed)
        alphas = self.scheduler_.alphas_cumprod.to(self.device_)
        unet.train()
        self.losses_: list[float] = []
        for step in context.progress(range(p.train_steps), desc="vision.ddpm train", total=p.train_steps):
            idx = torch.randint(0, n, (p.batch_size,), generator=g).to(self.device_)
            x = x0[idx]
            labels = y[idx].clone()
            drop = torch.rand(p.batch_size, generator=g).to(self.device_) < p.label_dropout
            labels[drop] = null
            noise = torch.randn(x.shape, generator=g).to(self.device_)
            t = torch.randint(0, p.num_train_timesteps, (p.batch_size,), generator=g).to(self.device_)
            noisy = self.scheduler_.add_noise(x, noise, t)
            if p.prediction_type == "epsilon":
                target = noise
            else:
                a = alphas[t].sqrt().view(-1, 1, 1, 1)
                s = (1 - alphas[t]).sqrt().view(-1, 1, 1, 1)
                target = a * noise - s * x
            with autocast(self.device_, self.dtype_):
                pred = unet(noisy, t, class_labels=labels).sample
            loss = F.mse_loss(pred.float(), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step()
            lr_sched.step()
            if ema is not None:
                decay = min(p.ema_decay, (1 + step) / (10 + step))
                with torch.no_grad():
                    for pe, pm in zip(ema.parameters(), unet.parameters()):
                        pe.lerp_(pm, 1.0 - decay)
            self.losses_.append(float(loss.detach()))
        self.unet_ = (ema if ema is not None else unet).eval()

    # -- sampling ---------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "unet_"):
            raise GDAError("vision.ddpm has not been fitted or loaded")

    def class_index(self, label: Any) -> int:
        """The UNet's class index of ``label`` (None: the null class, unconditional)."""
        if label is None:
            return len(self.classes_)
        key = _label_key(label)
        if key not in self.index_:
            raise DataError(f"vision.ddpm was not trained on class {label!r} (classes: {self.classes_})")
        return self.index_[key]

    def sample(self, class_indices: list[int], *, seed: int, progress: Any = None) -> np.ndarray:
        """Images ``(n, C, H, W)`` in [0, 1] for the given class indices; deterministic given ``seed``."""
        import torch

        from .._images import resize_batch
        from .._torch import autocast, torch_generator

        self._check_fitted()
        p = self.params
        c, h, w = self.shape_
        s = self.sample_size_
        null = len(self.classes_)
        noise = torch.randn((len(class_indices), c, s, s), generator=torch_generator(seed))
        labels_all = torch.tensor(class_indices, dtype=torch.long)
        out = []
        guided = p.guidance_scale != 1.0
        for start in range(0, len(class_indices), p.sample_batch_size):
            x = noise[start:start + p.sample_batch_size].to(self.device_)
            labels = labels_all[start:start + p.sample_batch_size].to(self.device_)
            sched = self.sampling_scheduler()
            sched.set_timesteps(p.num_inference_steps, device=self.device_)
            x = x * sched.init_noise_sigma
            steps = sched.timesteps
            if progress is not None:
                steps = progress(steps, desc="vision.ddpm sample", total=len(steps))
            with torch.no_grad():
                for t in steps:
                    inp = sched.scale_model_input(x, t)
                    with autocast(self.device_, self.dtype_):
                        if guided:
                            both = self.unet_(torch.cat([inp, inp]), t,
                                              class_labels=torch.cat([labels, torch.full_like(labels, null)])).sample
                            cond, unc = both.float().chunk(2)
                            eps = unc + p.guidance_scale * (cond - unc)
                        else:
                            eps = self.unet_(inp, t, class_labels=labels).sample.float()
                    x = sched.step(eps, t, x).prev_sample
            x = resize_batch(x.float().cpu(), (h, w))
            out.append(((x.clamp(-1, 1) + 1) / 2).numpy().astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, c, h, w), dtype=np.float32)

    def generate(self, conditions, *, seed, context) -> list[Record]:
        self._check_fitted()
        idx = [self.class_index(cond.get("label")) for cond in conditions]
        big = len(idx) > self.params.sample_batch_size
        progress = context.progress if context is not None and big else None
        images = self.sample(idx, seed=seed, progress=progress)
        return [Record(id="", data=img, label=cond.get("label")) for img, cond in zip(images, conditions)]

    # -- persistence ------------------------------------------------------

    def save_state(self, path: Path) -> None:
        self._check_fitted()
        self.unet_.save_pretrained(path / "unet", safe_serialization=True)
        self.scheduler_.save_pretrained(path / "scheduler")
        state = {"classes": self.classes_, "shape": self.shape_, "sample_size": self.sample_size_}
        (path / STATE_FILE).write_text(json.dumps(state, indent=2))

    def load_state(self, path: Path) -> None:
        from diffusers import DDPMScheduler, UNet2DModel

        path = Path(path)
        if not (path / STATE_FILE).is_file():
            raise GDAError(f"{path} holds no vision.ddpm state ({STATE_FILE})")
        state = json.loads((path / STATE_FILE).read_text())
        self.classes_ = state["classes"]
        self.index_ = {_label_key(lab): i for i, lab in enumerate(self.classes_)}
        self.shape_ = state["shape"]
        self.sample_size_ = state["sample_size"]
        self._setup_device()
        self.unet_ = UNet2DModel.from_pretrained(path / "unet").to(self.device_).eval()
        self.scheduler_ = DDPMScheduler.from_pretrained(path / "scheduler")

