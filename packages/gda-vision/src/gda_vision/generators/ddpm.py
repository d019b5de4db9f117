"""A class-conditional DDPM trained from scratch (diffusers ``UNet2DModel``), sampled with DDIM
or DPM-Solver++ and classifier-free guidance; real-guided variation (``strength``), latent
interpolation, non-leaking augmentation, held-out checkpoint choice, and the warm-start API of
``gda_core.builtin.pool`` (``pretrain`` on an unlabelled pool, ``fine_tune`` fully or with LoRA)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import SAMPLING, Generator
from gda_core.errors import DataError, GDAError
from gda_core.records import Record, label_key
from gda_core.torch.accelerators import PrecisionParams
from gda_core.torch.diffusion import CheckpointedGenerator, CheckpointParams
from gda_core.torch.weights import safe_kwargs

from .._images import stack

STATE_FILE = "ddpm_state.json"


class DDPMParams(CheckpointParams, PrecisionParams):
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
    scheduler: Literal["ddim", "dpm-solver++"] = Field("dpm-solver++", description="sampler",
                                                       json_schema_extra=SAMPLING)
    num_inference_steps: int = Field(25, gt=0, description="sampling steps", json_schema_extra=SAMPLING)
    guidance_scale: float = Field(2.0, ge=0, description="classifier-free guidance scale (1: conditional only, "
                                  "0: unconditional)", json_schema_extra=SAMPLING)
    sample_batch_size: int = Field(256, gt=0, description="images per UNet call while sampling",
                                   json_schema_extra=SAMPLING)
    strength: float = Field(1.0, gt=0, le=1, description="real-guided variation (SDEdit / DA-Fusion): noise the "
                            "condition's real image (source_id, from the training set or the pool) to this level "
                            "and denoise it with class conditioning; 1: plain sampling from noise",
                            json_schema_extra=SAMPLING)
    interpolate: bool = Field(False, description="latent interpolation: DDIM-invert the condition's real image and "
                              "a random real image of the same class (to the strength level, the whole way at "
                              "strength 1), interpolate the two latents spherically, decode with DDIM",
                              json_schema_extra=SAMPLING)
    augment: float = Field(0.0, ge=0, le=1, description="probability that a training image is augmented (flip, "
                           "shift, rotation, zoom); the augmentation's parameters are a conditioning input and "
                           "sampling passes none (non-leaking, as in ADA / EDM)")

    @model_validator(mode="after")
    def _groups_divide(self) -> DDPMParams:
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"block_out_channels {bad} are not multiples of norm_num_groups={self.norm_num_groups}")
        return self


AUG_DIMS = 5
"""Augmentation parameters fed to the UNet: flip, rotation, log-zoom, shift x, shift y (all 0: none)."""


def _class_aug_embedding(n_embeds: int, dim: int, n_aug: int) -> Any:
    """A class embedding plus a bias-free linear embedding of augmentation parameters: the UNet's
    ``class_labels`` become ``(B, 1 + n_aug)`` (class index, then the parameters); all-zero
    parameters, as in sampling, add nothing."""
    import torch

    class ClassAugEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.classes = torch.nn.Embedding(n_embeds, dim)
            self.aug = torch.nn.Linear(n_aug, dim, bias=False)
            torch.nn.init.zeros_(self.aug.weight)

        def forward(self, labels: Any) -> Any:
            return self.classes(labels[:, 0].long()) + self.aug(labels[:, 1:].to(self.aug.weight.dtype))

    return ClassAugEmbedding()


def _augment_batch(x: Any, prob: float, g: Any) -> tuple[Any, Any]:
    """Randomly flip / rotate / zoom / shift a batch ``(B, C, S, S)`` in [-1, 1] (each image with
    probability ``prob``); returns the batch and its ``(B, AUG_DIMS)`` parameters (0 where untouched)."""
    import torch
    import torch.nn.functional as F

    b = x.shape[0]
    on = (torch.rand(b, generator=g) < prob).float()
    flip = (torch.rand(b, generator=g) < 0.5).float() * on
    angle = (torch.rand(b, generator=g) * 2 - 1) * on  # x 15 degrees
    zoom = (torch.rand(b, generator=g) * 2 - 1) * on  # log-zoom x 0.1
    shift = (torch.rand(b, 2, generator=g) * 2 - 1) * on[:, None]  # x 0.125 of the side
    rad = angle * (15.0 * np.pi / 180.0)
    scale = torch.exp(-zoom * 0.1)
    sx = scale * (1 - 2 * flip)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = sx * torch.cos(rad), -scale * torch.sin(rad)
    theta[:, 1, 0], theta[:, 1, 1] = sx * torch.sin(rad), scale * torch.cos(rad)
    theta[:, :, 2] = shift * 0.25  # normalised coordinates span 2: 0.25 is 1/8 of the side
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    out = F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
    out = torch.where(on.view(-1, 1, 1, 1).to(x.device) > 0, out, x)
    params = torch.stack([flip, angle, zoom, shift[:, 0], shift[:, 1]], dim=1)
    return out, params.to(x.device)


class ClassConditionalDDPMGenerator(CheckpointedGenerator, Generator):
    """A class-conditional DDPM trained from scratch on the real images.

    A diffusers ``UNet2DModel`` with a class embedding (one extra "null" class for
    classifier-free guidance, used for ``label_dropout`` of the training labels)
    learns the DDPM noise-prediction objective; an exponential moving average of
    its weights is kept and used for sampling with DDIM or DPM-Solver++ at
    ``num_inference_steps`` and ``guidance_scale``. The fitted model is saved with
    ``save_pretrained`` (``unet/`` and ``scheduler/`` folders, safetensors).

    Beyond plain sampling: ``strength`` < 1 starts from the condition's real image
    (``source_id``) noised part-way (SDEdit / DA-Fusion); ``interpolate`` decodes a
    spherical interpolation of two DDIM-inverted real images of the class; ``augment``
    trains on augmented images with the augmentation as a conditioning input that
    sampling leaves at zero; ``checkpoint`` keeps the weights a held-out criterion
    prefers (:mod:`gda_core.torch.diffusion`, shared with the other diffusion generators).
    ``pretrain`` (unlabelled pool, null class) and ``fine_tune`` (labelled records, fully
    or with LoRA adapters through peft) implement the warm-start API of
    :mod:`gda_core.builtin.pool`.
    """

    Params = DDPMParams
    version = "2"

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
        unet = UNet2DModel(
            sample_size=sample_size, in_channels=channels, out_channels=channels,
            down_block_types=tuple(down), up_block_types=tuple(up),
            block_out_channels=tuple(p.block_out_channels), layers_per_block=p.layers_per_block,
            norm_num_groups=p.norm_num_groups, attention_head_dim=max(8, p.block_out_channels[-1] // 4),
            add_attention=p.attention, num_class_embeds=n_classes + 1,
        )
        if self.aug_dims_:
            self._swap_embedding(unet)
        return unet

    def _swap_embedding(self, unet: Any) -> None:
        emb = unet.class_embedding
        unet.class_embedding = _class_aug_embedding(emb.num_embeddings, emb.embedding_dim, self.aug_dims_)

    def _train_scheduler(self) -> Any:
        from diffusers import DDPMScheduler

        p = self.params
        return DDPMScheduler(num_train_timesteps=p.num_train_timesteps, beta_schedule=p.beta_schedule,
                             prediction_type=p.prediction_type, clip_sample=False)

    def sampling_scheduler(self, kind: str | None = None) -> Any:
        """The configured sampler (or ``kind``), built from the training noise schedule."""
        from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

        config = self.scheduler_.config
        # "leading" spacing starts below t = T-1, where a cosine schedule's noise level is extreme
        # and a briefly trained model is poor ("linspace"/"trailing" made far worse samples here)
        if (kind or self.params.scheduler) == "ddim":
            return DDIMScheduler.from_config(config, clip_sample=False, set_alpha_to_one=False,
                                             timestep_spacing="leading")
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2,
                                                       timestep_spacing="leading")

    def _setup_device(self) -> None:
        from gda_core.torch.accelerators import apply_thread_setting, pick_device, pick_dtype

        apply_thread_setting()
        self.device_ = pick_device(self.params.device)
        self.dtype_ = pick_dtype(self.device_, self.params.precision)

    def _cond(self, labels: Any, aug: Any = None) -> Any:
        """The UNet's ``class_labels``: class indices, packed with augmentation parameters
        (zeros when ``aug`` is None) when the model was trained with ``augment``."""
        import torch

        if not self.aug_dims_:
            return labels
        if aug is None:
            aug = torch.zeros(len(labels), self.aug_dims_, device=labels.device)
        return torch.cat([labels.float()[:, None], aug.float()], dim=1)

    def _prepare(self, data, classes: list[Any]) -> tuple[Any, Any]:
        """Images ``(n, C, S, S)`` in [-1, 1] and class indices of ``data`` (null for label None);
        sets the shapes and class list the first time."""
        import torch

        from .._images import resize_batch

        p = self.params
        if len(data) == 0:
            raise DataError("vision.ddpm: the training set is empty")
        images = stack(data.records)  # (n, C, H, W) in [0, 1]
        n, c, h, w = images.shape
        if not hasattr(self, "classes_"):
            factor = 2 ** (self._levels() - 1)
            size = p.sample_size or int(np.ceil(max(h, w) / factor) * factor)
            if size % factor:
                raise GDAError(f"generator.params.sample_size: {size} is not a multiple of {factor} "
                               f"(2**(levels-1) for {self._levels()} levels)")
            self.classes_ = list(classes)
            self.index_ = {label_key(lab): i for i, lab in enumerate(self.classes_)}
            self.shape_ = [int(c), int(h), int(w)]
            self.sample_size_ = int(size)
            self.aug_dims_ = AUG_DIMS if p.augment > 0 else 0
            self._setup_device()
        elif [int(c), int(h), int(w)] != self.shape_:
            raise DataError(f"vision.ddpm: images of shape {[c, h, w]} do not match the model's {self.shape_}")
        x0 = resize_batch(torch.from_numpy(images) * 2.0 - 1.0, (self.sample_size_, self.sample_size_))
        null = len(self.classes_)
        y = []
        for r in data.records:
            key = label_key(r.label)
            if r.label is not None and key not in self.index_:
                raise DataError(f"vision.ddpm: class {r.label!r} was not among the classes {self.classes_}")
            y.append(self.index_.get(key, null) if r.label is not None else null)
        return x0.to(self.device_), torch.tensor(y, device=self.device_)

    # -- fitting ----------------------------------------------------------

    def fit(self, train, context) -> None:
        import torch

        for attr in ("classes_", "unet_"):
            self.__dict__.pop(attr, None)
        x0, y = self._prepare(train, list(train.classes))
        torch.manual_seed(context.seed)
        unet = self._build_unet(self.shape_[0], self.sample_size_, len(self.classes_)).to(self.device_)
        self.scheduler_ = self._train_scheduler()
        self.unet_ = self._train(unet, x0, y, self.params.train_steps, context, "vision.ddpm train")

    def pretrain(self, pool, context, *, steps: int | None = None) -> None:
        """Warm-start API: train on the unlabelled ``pool`` as the null class (every label None is
        the null class; ``pool.classes`` sizes the class embedding for :meth:`fine_tune`)."""
        import torch

        if not list(pool.classes):
            raise DataError("vision.ddpm.pretrain: the pool names no classes; fine-tuning needs the class list")
        for attr in ("classes_", "unet_"):
            self.__dict__.pop(attr, None)
        x0, _ = self._prepare(pool, list(pool.classes))
        y = torch.full((len(x0),), len(self.classes_), device=self.device_)
        torch.manual_seed(context.seed)
        unet = self._build_unet(self.shape_[0], self.sample_size_, len(self.classes_)).to(self.device_)
        self.scheduler_ = self._train_scheduler()
        self.unet_ = self._train(unet, x0, y, steps or self.params.train_steps, context, "vision.ddpm pretrain",
                                 select=False)
        self.pretrained_ = True

    def fine_tune(self, train, context, *, steps: int | None = None, lora_rank: int = 0) -> None:
        """Warm-start API: continue from the current (pretrained) weights on labelled ``train``,
        class-conditionally; ``lora_rank`` > 0 trains LoRA adapters (peft) on the UNet's convolutions,
        projections and attention plus the class embedding, then merges them into the weights."""
        import copy

        self._check_fitted()
        x0, y = self._prepare(train, self.classes_)
        unet = copy.deepcopy(self.unet_).train().requires_grad_(True)
        if lora_rank:
            from peft import LoraConfig, LoraModel

            unet.requires_grad_(False)
            config = LoraConfig(r=lora_rank, lora_alpha=lora_rank, init_lora_weights="gaussian",
                                target_modules=["conv1", "conv2", "time_emb_proj", "to_q", "to_k", "to_v"])
            unet = LoraModel(unet, config, "default")
            for prm in unet.model.class_embedding.parameters():
                prm.requires_grad_(True)
        tuned = self._train(unet, x0, y, steps or self.params.train_steps, context, "vision.ddpm fine-tune")
        if lora_rank:
            tuned = tuned.merge_and_unload()
        self.unet_ = tuned.eval()
        self.lora_rank_ = int(lora_rank)

    def _train(self, unet, x0, y, steps: int, context, desc: str, select: bool = True) -> Any:
        """Train ``unet`` on ``(x0, y)`` for ``steps``; returns the EMA weights (or the held-out
        criterion's checkpoint of them), in eval mode. Losses go to ``losses_``."""
        import copy

        import torch
        import torch.nn.functional as F
        from diffusers.optimization import get_cosine_schedule_with_warmup

        from gda_core.torch.accelerators import autocast, torch_generator

        p = self.params
        g = torch_generator(context.seed)
        chooser = None
        if select and p.checkpoint != "last":
            x0, y, chooser = self._holdout(x0, y, context.seed)
        n, null = len(x0), len(self.classes_)
        params = [q for q in unet.parameters() if q.requires_grad]
        opt = torch.optim.AdamW(params, lr=p.learning_rate, weight_decay=1e-4)
        lr_sched = get_cosine_schedule_with_warmup(opt, min(p.warmup_steps, steps // 2), steps)
        ema = copy.deepcopy(unet).requires_grad_(False) if p.ema_decay > 0 else None
        alphas = self.scheduler_.alphas_cumprod.to(self.device_)
        unet.train()
        self.losses_: list[float] = []
        self.checkpoints_: list[dict[str, float]] = []
        for step in context.progress(range(steps), desc=desc, total=steps):
            idx = torch.randint(0, n, (p.batch_size,), generator=g).to(self.device_)
            x = x0[idx]
            aug = None
            if self.aug_dims_:
                x, aug = _augment_batch(x, p.augment, g)
            labels = y[idx].clone()
            drop = torch.rand(p.batch_size, generator=g).to(self.device_) < p.label_dropout
            labels[drop] = null
            noise = torch.randn(x.shape, generator=g).to(self.device_)
            t = torch.randint(0, p.num_train_timesteps, (p.batch_size,), generator=g).to(self.device_)
            noisy = self.scheduler_.add_noise(x, noise, t)
            with autocast(self.device_, self.dtype_):
                pred = unet(noisy, t, class_labels=self._cond(labels, aug)).sample
            loss = F.mse_loss(pred.float(), self._target(x, noise, t, alphas))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            lr_sched.step()
            if ema is not None:
                decay = min(p.ema_decay, (1 + step) / (10 + step))
                with torch.no_grad():
                    for pe, pm in zip(ema.parameters(), unet.parameters()):
                        pe.lerp_(pm, 1.0 - decay)
            self.losses_.append(float(loss.detach()))
            if chooser is not None:
                chooser.after_step(step + 1, steps, ema if ema is not None else unet)
        final = (ema if ema is not None else unet).eval()
        if chooser is not None:
            chooser.restore(final)
            self.checkpoints_, self.checkpoint_step_ = chooser.history, chooser.best_step
        return final

    def _target(self, x, noise, t, alphas) -> Any:
        """The UNet's training target (``prediction_type``) for images ``x`` noised with ``noise`` at ``t``."""
        if self.params.prediction_type == "epsilon":
            return noise
        return alphas[t].sqrt().view(-1, 1, 1, 1) * noise - (1 - alphas[t]).sqrt().view(-1, 1, 1, 1) * x

    def _holdout(self, x0, y, seed: int) -> tuple[Any, Any, Any]:
        """Hold out ``holdout`` of the images; returns the rest, their labels and the checkpoint chooser
        (:class:`gda_core.torch.diffusion.CheckpointChooser`) scoring on the held-out ones: the loss at fixed
        noise, or the near-copy share of samples (at most 200, at the UNet's resolution)."""
        import torch

        from gda_core.torch.accelerators import torch_generator
        from gda_core.torch.diffusion import CheckpointChooser, heldout_draws, holdout_split, mean_loss

        p = self.params
        dev = x0.device
        keep, out = (i.to(dev) for i in holdout_split(len(x0), p.holdout, seed, who="vision.ddpm"))
        xh, yh, xt, yt = x0[out], y[out], x0[keep], y[keep]
        draws = heldout_draws(len(out), xh.shape[1:], p.num_train_timesteps, seed)
        alphas = self.scheduler_.alphas_cumprod.to(dev)

        def heldout_loss(model) -> float:
            def per_sample(i, t, noise):
                i, t, noise = i.to(dev), t.to(dev), noise.to(dev)
                noisy = self.scheduler_.add_noise(xh[i], noise, t)
                pred = model(noisy, t, class_labels=self._cond(yh[i])).sample.float()
                return ((pred - self._target(xh[i], noise, t, alphas)) ** 2).mean(dim=(1, 2, 3))
            return mean_loss(per_sample, draws, 256)

        labels = [int(v) for v in yt[torch.randperm(len(yt), generator=torch_generator(seed))[:200]].tolist()]

        def samples(model) -> np.ndarray:
            self.unet_ = model
            return self.sample(labels, seed=seed, size_only=True)

        chooser = CheckpointChooser(p, train=xt.flatten(1).cpu().numpy(), held=xh.flatten(1).cpu().numpy(),
                                    heldout_loss=heldout_loss, sample=samples)
        return xt, yt, chooser

    # -- sampling ---------------------------------------------------------

    def _check_fitted(self) -> None:
        self._require_fitted("unet_")

    def class_index(self, label: Any) -> int:
        """The UNet's class index of ``label`` (None: the null class, unconditional)."""
        if label is None:
            return len(self.classes_)
        key = label_key(label)
        if key not in self.index_:
            raise DataError(f"vision.ddpm was not trained on class {label!r} (classes: {self.classes_})")
        return self.index_[key]

    def _eps(self, x, t, labels, guidance: float) -> Any:
        import torch

        from gda_core.torch.accelerators import autocast

        null = len(self.classes_)
        with autocast(self.device_, self.dtype_):
            if guidance != 1.0:
                both = self.unet_(torch.cat([x, x]), t,
                                  class_labels=self._cond(torch.cat([labels, torch.full_like(labels, null)]))).sample
                cond, unc = both.float().chunk(2)
                return unc + guidance * (cond - unc)
            return self.unet_(x, t, class_labels=self._cond(labels)).sample.float()

    def _start(self, sched) -> int:
        """Index into ``sched.timesteps`` where denoising at ``strength`` starts (0 at strength 1;
        at least one step is always left, as in diffusers' img2img)."""
        from gda_core.torch.diffusion import start_index

        return start_index(self.params.num_inference_steps, self.params.strength)

    def sample(self, class_indices: list[int], *, seed: int, progress: Any = None, init: np.ndarray | None = None,
               latents: Any = None, size_only: bool = False) -> np.ndarray:
        """Images ``(n, C, H, W)`` in [0, 1] for the given class indices; deterministic given ``seed``.

        ``init`` (n, C, H, W) in [0, 1]: real images noised to ``strength`` and denoised from there
        (with strength 1 they are ignored: plain sampling). ``latents`` (n, C, S, S): states at the
        strength level from :meth:`invert`, decoded with DDIM. ``size_only`` returns the UNet's
        resolution in [-1, 1] (internal use).
        """
        import torch

        from gda_core.torch.accelerators import torch_generator

        from .._images import resize_batch

        self._check_fitted()
        p = self.params
        c, h, w = self.shape_
        s = self.sample_size_
        noise = torch.randn((len(class_indices), c, s, s), generator=torch_generator(seed))
        labels_all = torch.tensor(class_indices, dtype=torch.long)
        varied = latents is not None or (init is not None and p.strength < 1.0)
        if init is not None and varied:
            init_t = resize_batch(torch.from_numpy(np.asarray(init, dtype=np.float32)) * 2.0 - 1.0, (s, s))
        out = []
        for start in range(0, len(class_indices), p.sample_batch_size):
            sl = slice(start, start + p.sample_batch_size)
            x = noise[sl].to(self.device_)
            labels = labels_all[sl].to(self.device_)
            sched = self.sampling_scheduler("ddim" if latents is not None else None)
            sched.set_timesteps(p.num_inference_steps, device=self.device_)
            steps = sched.timesteps
            if varied:
                t0 = self._start(sched)
                steps = steps[t0 * sched.order:]
                if hasattr(sched, "set_begin_index"):
                    sched.set_begin_index(t0 * sched.order)
                if latents is not None:
                    x = latents[sl].to(self.device_)
                else:
                    x = sched.add_noise(init_t[sl].to(self.device_), x, steps[:1].repeat(len(x)))
            else:
                x = x * sched.init_noise_sigma
            if progress is not None:
                steps = progress(steps, desc="vision.ddpm sample", total=len(steps))
            with torch.no_grad():
                for t in steps:
                    inp = sched.scale_model_input(x, t)
                    x = sched.step(self._eps(inp, t, labels, p.guidance_scale), t, x).prev_sample
            if size_only:
                out.append(x.float().cpu().numpy())
                continue
            x = resize_batch(x.float().cpu(), (h, w))
            out.append(((x.clamp(-1, 1) + 1) / 2).numpy().astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, c, h, w), dtype=np.float32)

    def invert(self, images: np.ndarray, class_indices: list[int]) -> Any:
        """Deterministic DDIM inversion of real ``images`` (n, C, H, W) in [0, 1], conditioned on their
        classes, up to the step where sampling at ``strength`` starts: the latents :meth:`sample` decodes
        (with ``latents=``) back to about the same images."""
        import torch

        from gda_core.torch.diffusion import ddim_invert, ddim_path, eps_from_output

        from .._images import resize_batch

        self._check_fitted()
        p = self.params
        s = self.sample_size_
        sched = self.sampling_scheduler("ddim")
        sched.set_timesteps(p.num_inference_steps)
        alphas = self.scheduler_.alphas_cumprod
        path = ddim_path(sched.timesteps, self._start(sched), alphas)
        x_all = resize_batch(torch.from_numpy(np.asarray(images, dtype=np.float32)) * 2.0 - 1.0, (s, s))
        out = []
        with torch.no_grad():
            for i in range(0, len(x_all), p.sample_batch_size):
                x = x_all[i:i + p.sample_batch_size].to(self.device_)
                lab = torch.tensor(class_indices[i:i + p.sample_batch_size], dtype=torch.long, device=self.device_)

                def eps(xt, t, lab=lab):
                    pred = self._eps(xt, torch.tensor(t, device=self.device_), lab, 1.0)
                    return eps_from_output(pred, xt, float(alphas[t]), p.prediction_type)

                out.append(ddim_invert(x, path, eps).float().cpu())
        return torch.cat(out) if out else torch.zeros((0, self.shape_[0], s, s))

    def _sources(self, conditions, context) -> dict[str, Any]:
        """Real images by record id: the run's training records and its unlabelled pool."""
        found: dict[str, Any] = {}
        for ds in (getattr(context, "train", None), getattr(context, "pool", None)):
            for r in (ds.records if ds is not None else []):
                found[r.id] = r
        missing = [c.get("source_id") for c in conditions if c.get("source_id") not in found]
        if missing:
            raise DataError(f"vision.ddpm: strength < 1 and interpolate need each condition's source_id among the "
                            f"run's training or pool records (missing: {missing[0]!r})")
        return found

    def generate(self, conditions, *, seed, context) -> list[Record]:
        import torch

        from gda_core.torch.diffusion import slerp

        self._check_fitted()
        p = self.params
        idx = [self.class_index(cond.get("label")) for cond in conditions]
        big = len(idx) > p.sample_batch_size
        progress = context.progress if context is not None and big else None
        metas: list[dict[str, Any]] = [{} for _ in conditions]
        if p.interpolate or p.strength < 1.0:
            found = self._sources(conditions, context)
            srcs = [found[c["source_id"]] for c in conditions]
            for m, r in zip(metas, srcs):
                m["source_id"] = r.id
            init = np.stack([np.asarray(r.data, dtype=np.float32) for r in srcs])
        if p.interpolate:
            rng = np.random.default_rng(seed)
            same: dict[str, list[Record]] = {}
            for r in getattr(context, "train", None) or []:
                same.setdefault(label_key(r.label), []).append(r)
            partners = []
            for cond, m, r in zip(conditions, metas, srcs):
                options = [o for o in same.get(label_key(cond.get("label")), []) if o.id != r.id] or [r]
                partner = options[int(rng.integers(len(options)))]
                partners.append(partner)
                m["partner_id"] = partner.id
            weights = rng.uniform(0.2, 0.8, size=len(conditions))
            for m, wgt in zip(metas, weights):
                m["weight"] = float(wgt)
            za = self.invert(init, idx)
            zb = self.invert(np.stack([np.asarray(r.data, dtype=np.float32) for r in partners]), idx)
            images = self.sample(idx, seed=seed, progress=progress,
                                 latents=torch.from_numpy(slerp(za.numpy(), zb.numpy(), weights)))
        elif p.strength < 1.0:
            images = self.sample(idx, seed=seed, progress=progress, init=init)
        else:
            images = self.sample(idx, seed=seed, progress=progress)
        return [Record(id="", data=img, label=cond.get("label"), meta=m)
                for img, cond, m in zip(images, conditions, metas)]

    # -- persistence ------------------------------------------------------

    def save_state(self, path: Path) -> None:
        self._check_fitted()
        self.unet_.save_pretrained(path / "unet", safe_serialization=True)
        self.scheduler_.save_pretrained(path / "scheduler")
        state = {"classes": self.classes_, "shape": self.shape_, "sample_size": self.sample_size_,
                 "augment_dims": self.aug_dims_}
        (path / STATE_FILE).write_text(json.dumps(state, indent=2))

    def load_state(self, path: Path) -> None:
        from diffusers import DDPMScheduler, UNet2DModel

        path = Path(path)
        if not (path / STATE_FILE).is_file():
            raise GDAError(f"{path} holds no vision.ddpm state ({STATE_FILE})")
        state = json.loads((path / STATE_FILE).read_text())
        self.classes_ = state["classes"]
        self.index_ = {label_key(lab): i for i, lab in enumerate(self.classes_)}
        self.shape_ = state["shape"]
        self.sample_size_ = state["sample_size"]
        self.aug_dims_ = int(state.get("augment_dims", 0))
        self._setup_device()
        if self.aug_dims_:
            from safetensors.torch import load_file

            unet = UNet2DModel.from_config(UNet2DModel.load_config(path / "unet"))
            self._swap_embedding(unet)
            unet.load_state_dict(load_file(path / "unet" / "diffusion_pytorch_model.safetensors"))
        else:
            unet = UNet2DModel.from_pretrained(path / "unet", **safe_kwargs())
        self.unet_ = unet.to(self.device_).eval()
        self.scheduler_ = DDPMScheduler.from_pretrained(path / "scheduler")
