"""A class-conditional DDPM trained from scratch (diffusers ``UNet2DModel``), sampled with DDIM
or DPM-Solver++ and classifier-free guidance; real-guided variation (``strength``), latent
interpolation, non-leaking augmentation, held-out checkpoint choice, and the warm-start API of
``gda_core.builtin.pool`` (``pretrain`` on an unlabelled pool, ``fine_tune`` fully or with LoRA)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import SAMPLING, Generator
from gda_core.errors import DataError, GDAError
from gda_core.records import Record, label_key
from gda_core.torch.accelerators import PrecisionParams
from gda_core.torch.diffusion import CheckpointedGenerator, CheckpointParams
from gda_core.torch.weights import safe_kwargs

from .._images import stack

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset

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

    data_kind = "arrays"
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

    def fit(self, train: Dataset, context: RunContext) -> None:
        import torch

        for attr in ("classes_", "unet_"):
            self.__dict__.pop(attr, None)
        x0, y = self._prepare(train, list(train.classes))
        torch.manual_seed(context.seed)
        unet = self._build_unet(self.shape_[0], self.sample_size_, len(self.classes_)).to(self.device_)
        self.scheduler_ = self._train_scheduler()
        self.unet_ = self._train(unet, x0, y, self.params.train_steps, context, "vision.ddpm train")

    def pretrain(self, pool: Dataset, context: RunContext, *, steps: int | None = None) -> None:
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

    def fine_tune(self, train: Dataset, context: RunContext, *, steps: int | None = None, lora_rank: int = 0) -> None:
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
        """Train ``unet`` on ``(x0, y)`` for ``steps`` through GDA's training loop; returns the EMA
        weights (or the held-out criterion's checkpoint of them), in eval mode. Losses go to ``losses_``."""
        import torch
        import torch.nn.functional as F

        from gda_core.torch.training import EMA, Optim, Schedule, TrainingLoop, fit_key

        p = self.params
        chooser = None
        if select and p.checkpoint != "last":
            x0, y, chooser = self._holdout(x0, y, context.seed)
        n, null, dev = len(x0), len(self.classes_), self.device_
        alphas = self.scheduler_.alphas_cumprod.to(dev)

        def step(s) -> Any:
            g = s.generator
            idx = torch.randint(0, n, (p.batch_size,), generator=g).to(dev)
            x, aug = x0[idx], None
            if self.aug_dims_:
                x, aug = _augment_batch(x, p.augment, g)
            labels = y[idx].clone()
            labels[(torch.rand(p.batch_size, generator=g) < p.label_dropout).to(dev)] = null
            noise = torch.randn(x.shape, generator=g).to(dev)
            t = torch.randint(0, p.num_train_timesteps, (p.batch_size,), generator=g).to(dev)
            noisy = self.scheduler_.add_noise(x, noise, t)
            with s.autocast():
                pred = s.modules["unet"](noisy, t, class_labels=self._cond(labels, aug)).sample
            return F.mse_loss(pred.float(), self._target(x, noise, t, alphas))

        # diffusers' cosine schedule with warm-up (the first step at factor 0)
        optim = Optim("unet", lr=p.learning_rate, weight_decay=1e-4,
                      schedule=Schedule(warmup=min(p.warmup_steps, steps // 2), decay="cosine"))
        result = TrainingLoop({"unet": unet}, step, {"unet": optim}, steps=steps, seed=context.seed, device=dev,
                              precision=self.dtype_, ema={"unet": EMA(p.ema_decay)}, chooser=chooser,
                              context=context, desc=desc, key=fit_key(self, x0, y)).run()
        self.losses_ = result.losses.get("loss", [])
        self.checkpoints_, self.checkpoint_step_ = result.checkpoints, result.checkpoint_step
        return result.modules["unet"]

    def _target(self, x, noise, t, alphas) -> Any:
        """The UNet's training target (``prediction_type``) for images ``x`` noised with ``noise`` at ``t``."""
        if self.params.prediction_type == "epsilon":
            return noise
        return alphas[t].sqrt().view(-1, 1, 1, 1) * noise - (1 - alphas[t]).sqrt().view(-1, 1, 1, 1) * x

    def _holdout(self, x0, y, seed: int) -> tuple[Any, Any, Any]:
        """Hold out ``holdout`` of the images; returns the rest, their labels and the checkpoint chooser
        (:func:`gda_core.torch.diffusion.heldout_chooser`) scoring on the held-out ones: the loss at
        fixed noise, or the near-copy share of samples (at most 200, at the UNet's resolution)."""
        from gda_core.torch.diffusion import heldout_chooser

        alphas = self.scheduler_.alphas_cumprod.to(x0.device)

        def loss(model, held, t, noise) -> Any:
            xh, yh = held
            t, noise = t.to(xh.device), noise.to(xh.device)
            pred = model(self.scheduler_.add_noise(xh, noise, t), t, class_labels=self._cond(yh)).sample.float()
            return ((pred - self._target(xh, noise, t, alphas)) ** 2).mean(dim=(1, 2, 3))

        def samples(model, picked) -> np.ndarray:
            self.unet_ = model
            return self.sample([int(v) for v in picked[1].tolist()], seed=seed, size_only=True)

        (xt, yt), chooser = heldout_chooser(self.params, (x0, y), seed=seed, who="vision.ddpm",
                                            num_train_timesteps=self.params.num_train_timesteps, loss=loss,
                                            sample=samples)
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

    def _call(self) -> Any:
        """The UNet as :func:`gda_core.torch.sampling.sample` calls it."""
        def call(x, t, labels) -> Any:
            return self.unet_(x, t, class_labels=self._cond(labels)).sample
        return call

    def _sampler(self, kind: str | None = None) -> Any:
        from gda_core.torch.sampling import DiffusersScheduler

        return DiffusersScheduler(lambda: self.sampling_scheduler(kind))

    def sample(self, class_indices: list[int], *, seed: int, progress: Any = None, init: np.ndarray | None = None,
               latents: Any = None, size_only: bool = False) -> np.ndarray:
        """Images ``(n, C, H, W)`` in [0, 1] for the given class indices; deterministic given ``seed``.

        ``init`` (n, C, H, W) in [0, 1]: real images noised to ``strength`` and denoised from there
        (with strength 1 they are ignored: plain sampling). ``latents`` (n, C, S, S): states at the
        strength level from :meth:`invert`, decoded with DDIM. ``size_only`` returns the UNet's
        resolution in [-1, 1] (internal use).
        """
        import torch

        from gda_core.torch.sampling import sample

        from .._images import resize_batch

        self._check_fitted()
        p = self.params
        c, h, w = self.shape_
        s = self.sample_size_
        init_t = None
        if init is not None and latents is None and p.strength < 1.0:
            init_t = resize_batch(torch.from_numpy(np.asarray(init, dtype=np.float32)) * 2.0 - 1.0, (s, s))
        x = sample(self._call(), self._sampler("ddim" if latents is not None else None), (c, s, s), len(class_indices),
                   num_inference_steps=p.num_inference_steps, noise=seed, batch_size=p.sample_batch_size,
                   device=self.device_, precision=self.dtype_, labels=class_indices, null_label=len(self.classes_),
                   guidance_scale=p.guidance_scale, strength=p.strength, init=init_t, latents=latents,
                   progress=progress, desc="vision.ddpm sample")
        if size_only:
            return x.numpy()
        if not len(x):
            return np.zeros((0, c, h, w), dtype=np.float32)
        return ((resize_batch(x, (h, w)).clamp(-1, 1) + 1) / 2).numpy().astype(np.float32)

    def invert(self, images: np.ndarray, class_indices: list[int]) -> Any:
        """Deterministic DDIM inversion of real ``images`` (n, C, H, W) in [0, 1], conditioned on their
        classes, up to the step where sampling at ``strength`` starts: the latents :meth:`sample` decodes
        (with ``latents=``) back to about the same images."""
        import torch

        from gda_core.torch.sampling import invert

        from .._images import resize_batch

        self._check_fitted()
        p = self.params
        s = self.sample_size_
        x = resize_batch(torch.from_numpy(np.asarray(images, dtype=np.float32)) * 2.0 - 1.0, (s, s))
        return invert(self._call(), self._sampler("ddim"), x, num_inference_steps=p.num_inference_steps,
                      strength=p.strength, alphas_cumprod=self.scheduler_.alphas_cumprod,
                      prediction_type=p.prediction_type, batch_size=p.sample_batch_size, device=self.device_,
                      precision=self.dtype_, labels=class_indices)

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        import torch

        from gda_core.torch.diffusion import slerp

        self._check_fitted()
        p = self.params
        idx = [self.class_index(cond.get("label")) for cond in conditions]
        big = len(idx) > p.sample_batch_size
        progress = context.progress if context is not None and big else None
        metas: list[dict[str, Any]] = [{} for _ in conditions]
        if p.interpolate or p.strength < 1.0:
            found = self.condition_sources(conditions, context, "vision.ddpm: strength < 1 and interpolate need")
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
