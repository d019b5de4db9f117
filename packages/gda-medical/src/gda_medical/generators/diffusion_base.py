"""What the 3-D diffusion generators share: network parameters, the training loop, sampling.

``medical.ddpm3d``, ``medical.mask2image`` and ``medical.ldm3d`` subclass
:class:`DiffusionGenerator`; each one decides what the network sees (image and
label channels, a mask to condition on, or an autoencoder's latents).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import SAMPLING, Generator
from gda_core.errors import ConfigError, DataError
from gda_core.torch.accelerators import (
    PrecisionParams,
    apply_thread_setting,
    autocast,
    legacy_mixed_precision,
    pick_device,
)
from gda_core.torch.diffusion import CheckpointedGenerator, CheckpointParams

from ..volumes import (
    affine_of,
    check_channels,
    check_divisible,
    num_label_classes,
    read_config,
    save_module,
    volume_shape,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.components import Params
    from gda_core.records import Record


class DiffusionParams(CheckpointParams, PrecisionParams):
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
    scheduler: Literal["ddpm", "ddim"] = Field("ddim", description="sampler: DDPM (stochastic) or DDIM",
                                               json_schema_extra=SAMPLING)
    prediction_type: Literal["epsilon", "sample", "v_prediction"] = Field(
        "v_prediction", description="what the network predicts: the noise, the clean volume, or the velocity")
    inference_steps: int = Field(50, ge=1, description="denoising steps when sampling", json_schema_extra=SAMPLING)
    steps: int = Field(1500, ge=1, description="training iterations")
    batch_size: int = Field(4, ge=1, description="volumes per training iteration")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate (cosine decay)")
    sample_batch_size: int = Field(4, ge=1, description="volumes denoised together when sampling",
                                   json_schema_extra=SAMPLING)
    strength: float = Field(
        1.0, gt=0, le=1, description="real-guided variation (SDEdit / DA-Fusion): noise the condition's real "
        "volume (source_id, from train or pool) to this level and denoise it; 1: plain sampling from noise",
                            json_schema_extra=SAMPLING)
    augment: list[Literal["flip", "rot90"]] = Field(
        [], description="non-leaking augmentation in training (ADA / EDM style): flips along each axis and "
        "90-degree rotations in the last two axes, each with probability augment_p; the network gets the "
        "transform as a class embedding and sampling asks for the identity")
    augment_p: float = Field(0.5, ge=0, le=1, description="probability of each augmentation per training volume")

    @model_validator(mode="before")
    @classmethod
    def _old_mixed_precision(cls, data: object) -> object:
        return legacy_mixed_precision(data)

    @model_validator(mode="after")
    def _check_net(self):
        check_channels(self.channels, self.norm_num_groups)
        if self.attention_levels is not None and len(self.attention_levels) != len(self.channels):
            raise ValueError(f"attention_levels: needs one entry per level ({len(self.channels)}), "
                             f"got {len(self.attention_levels)}")
        if self.inference_steps > self.num_train_timesteps:
            raise ValueError("inference_steps: cannot exceed num_train_timesteps")
        if len(set(self.augment)) != len(self.augment):
            raise ValueError(f"augment: repeated entries in {self.augment}")
        return self


def augment_ids(augment: list[str]) -> int:
    """How many distinct transforms ``augment`` describes (the identity is id 0)."""
    return (8 if "flip" in augment else 1) * (4 if "rot90" in augment else 1)


def augment_batch(x: Any, cond: Any, augment: list[str], p: float, generator: Generator) -> Any:
    """Apply random flips / in-plane 90-degree rotations to volumes ``x`` (B, C, D, H, W) and, identically,
    to their conditioning ``cond``; returns ``(x, cond, ids)`` with ``ids`` (B,) naming each transform."""
    import torch

    b = x.shape[0]
    ids = torch.zeros(b, dtype=torch.long)
    xs, cs = [], []
    for i in range(b):
        xi, ci = x[i], None if cond is None else cond[i]
        code, mult = 0, 1
        if "flip" in augment:
            for axis in range(3):
                if float(torch.rand(1, generator=generator)) < p:
                    xi = torch.flip(xi, dims=[axis + 1])
                    ci = None if ci is None else torch.flip(ci, dims=[axis + 1])
                    code += 1 << axis
            mult = 8
        if "rot90" in augment:
            k = 0
            if float(torch.rand(1, generator=generator)) < p:
                k = int(torch.randint(1, 4, (1,), generator=generator))
                xi = torch.rot90(xi, k, dims=(2, 3))
                ci = None if ci is None else torch.rot90(ci, k, dims=(2, 3))
            code += mult * k
        ids[i] = code
        xs.append(xi)
        cs.append(ci)
    return torch.stack(xs), None if cond is None else torch.stack(cs), ids


def image_label_volumes(records: Sequence[Record], k: int) -> Any:
    """``(N, C[+1], D, H, W)`` model-range volumes of ``records``; with ``k`` label classes the label
    volume (divided by ``k - 1``) as one more channel, background where a record has none (a pool volume)."""
    import torch

    from ..volumes import stack_images, to_model_range

    x = to_model_range(torch.from_numpy(stack_images(records)))
    if not k:
        return x
    lab = torch.zeros((len(records), 1, *x.shape[2:]))
    for i, r in enumerate(records):
        if r.target is not None:
            t = np.asarray(r.target)
            lab[i] = torch.from_numpy((t[None] if t.ndim == 3 else t).astype(np.float32)) / (k - 1)
    return torch.cat([x, to_model_range(lab)], dim=1)


def unet_config(p: DiffusionParams, in_channels: int, out_channels: int) -> dict[str, Any]:
    """Constructor arguments of the ``DiffusionModelUNet`` described by ``p``."""
    levels = len(p.channels)
    att = p.attention_levels if p.attention_levels is not None else [i == levels - 1 and levels > 1
                                                                     for i in range(levels)]
    cfg = {"spatial_dims": 3, "in_channels": in_channels, "out_channels": out_channels,
           "channels": list(p.channels), "attention_levels": list(att), "num_res_blocks": p.num_res_blocks,
           "norm_num_groups": p.norm_num_groups, "num_head_channels": p.num_head_channels}
    if p.augment:
        cfg["num_class_embeds"] = augment_ids(p.augment)
    return cfg


def build_unet(config: dict[str, Any]) -> Any:
    from monai.networks.nets import DiffusionModelUNet

    return DiffusionModelUNet(**config)


def make_scheduler(p: DiffusionParams, kind: str | None = None) -> Any:
    from monai.networks.schedulers import DDIMScheduler, DDPMScheduler

    kind = kind or p.scheduler
    if kind == "ddim":
        sch = DDIMScheduler(num_train_timesteps=p.num_train_timesteps, schedule=p.schedule, clip_sample=True,
                            prediction_type=p.prediction_type)
    else:
        sch = DDPMScheduler(num_train_timesteps=p.num_train_timesteps, schedule=p.schedule, clip_sample=True,
                            prediction_type=p.prediction_type)
    return sch


def _tensor(values):
    import torch

    return torch.tensor(values, dtype=torch.float32)


def _denoising_step(gen: DiffusionGenerator, x, cond, sched, channel_weights: list[float] | None):
    """The training step of the 3-D generators: a batch of ``x`` (and ``cond``), augmented as
    ``augment`` says, noised at random timesteps; the (channel-weighted) error of the prediction."""
    import torch

    p, dev = gen.params, gen.device
    weights = None
    if channel_weights is not None:
        weights = _tensor(channel_weights).to(dev).view(1, -1, *([1] * (x.dim() - 2)))
    n = x.shape[0]

    def step(s):
        g = s.generator
        idx = torch.randint(0, n, (min(p.batch_size, n),), generator=g)
        xb, cb = x[idx], None if cond is None else cond[idx]
        ids = None
        if p.augment:
            xb, cb, ids = augment_batch(xb, cb, p.augment, p.augment_p, g)
            ids = ids.to(dev)
        xb = xb.to(dev)
        noise = torch.randn(xb.shape, generator=g).to(dev)
        t = torch.randint(0, p.num_train_timesteps, (xb.shape[0],), generator=g).to(dev)
        with s.autocast():
            noisy = sched.add_noise(original_samples=xb, noise=noise, timesteps=t)
            if cb is not None:  # as MONAI's DiffusionInferer in "concat" mode
                noisy = torch.cat([noisy, cb.to(dev)], dim=1)
            pred = s.modules["unet"](noisy, timesteps=t, class_labels=ids)
            err = (pred.float() - gen._target(sched, xb, noise, t).float()) ** 2
            return err.mean() if weights is None else (err * weights).sum() / (weights.sum() * err[:, :1].numel())

    return step


class DiffusionGenerator(CheckpointedGenerator, Generator):
    """Base of the MONAI diffusion generators: train a ``DiffusionModelUNet`` to predict noise,
    sample through ``DiffusionInferer`` with DDPM or DDIM, save weights as safetensors.

    ``checkpoint`` other than 'last' holds out a seeded share of the training volumes (or latents)
    and keeps the weights a held-out criterion prefers (:class:`gda_core.torch.diffusion.CheckpointChooser`);
    ``checkpoints_`` and ``info["checkpoint_step"]`` record the choice."""

    Params = DiffusionParams
    version: ClassVar[str] = "1"
    who: ClassVar[str] = "medical diffusion"
    """The registered name, for messages when the component was built directly (not by the host)."""

    def __init__(self, params: Params | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.unet = None
        self.info: dict[str, Any] = {}

    # -- what the network sees (subclasses override) -------------------------

    def _network_channels(self, image_channels: int, k: int) -> tuple[int, int]:
        """The UNet's input and output channels for volumes of ``image_channels`` and ``k`` label classes."""
        raise NotImplementedError

    def _setup(self, records, k: int) -> None:
        """Check the volumes fit the network (sizes divisible by its levels, square slices for rot90)
        and record the UNet's configuration, the shape, ``k`` and the first volume's affine in ``info``."""
        p = self.params
        shape = volume_shape(records)
        check_divisible(shape[1:], len(p.channels), self.name or self.who)
        if "rot90" in p.augment and shape[2] != shape[3]:
            raise DataError(f"generator.params.augment: rot90 needs square slices, volumes are {shape[1:]}")
        cfg = unet_config(p, *self._network_channels(shape[0], k))
        self.info = {"unet_config": cfg, "shape": list(shape), "label_classes": k,
                     "affine": np.asarray(records[0].meta.get("affine", np.eye(4))).tolist()}

    # -- helpers --------------------------------------------------------------

    @property
    def device(self) -> Any:
        apply_thread_setting()  # once per process
        return pick_device(self.params.device)

    def _fit_unet(self, x, cond, context, *, desc: str = "train diffusion", steps: int | None = None,
                  channel_weights: list[float] | None = None, seed_offset: int = 0, select: bool = True) -> None:
        """Train ``self.unet`` (as it stands: fresh, or pretrained for a fine-tune) to undo the noise
        added to ``x`` (N, C, ...), in model range, through GDA's training loop; ``cond`` (N, K, ...) is
        concatenated to the noisy input when given. ``channel_weights`` (one per channel of ``x``)
        weigh the loss, so that a channel the data lacks (a pool volume's label) teaches nothing.
        With ``select`` and a ``checkpoint`` other than 'last', ``holdout`` of ``x`` is held out to
        pick the weights."""
        from gda_core.torch.training import Optim, Schedule, TrainingLoop, fit_key

        p, dev = self.params, self.device
        steps = p.steps if steps is None else steps
        chooser = None
        self.checkpoints_: list[dict[str, float]] = []
        self.info.pop("checkpoint_step", None)
        if select and p.checkpoint != "last":
            x, cond, chooser = self._chooser(x, cond, context.seed + seed_offset)
        step = _denoising_step(self, x, cond, make_scheduler(p, "ddpm"), channel_weights)
        key = fit_key(self, x, cond, None if channel_weights is None else np.asarray(channel_weights))
        # linear warm-up from the first step, then cosine decay to 5%
        optim = Optim("unet", lr=p.lr, weight_decay=1e-4,
                      schedule=Schedule(warmup=max(1, steps // 20), decay="cosine", floor=0.05, warmup_shift=1))
        result = TrainingLoop({"unet": self.unet}, step, {"unet": optim}, steps=steps,
                              seed=context.seed * 7919 + 17 + seed_offset, device=dev, precision=p.precision,
                              chooser=chooser, context=context, desc=desc,
                              key=key).run()
        self.unet = result.modules["unet"]
        if chooser is not None:
            self.checkpoints_ = result.checkpoints
            self.info["checkpoint_step"] = result.checkpoint_step
        self.info["final_loss"] = result.tail_loss()

    def _target(self, sched, x0, noise, t):
        """What the network learns to predict (``prediction_type``) for ``x0`` noised with ``noise`` at ``t``."""
        p = self.params
        if p.prediction_type == "epsilon":
            return noise
        if p.prediction_type == "sample":
            return x0
        return sched.get_velocity(x0, noise, t)

    def _chooser(self, x, cond, seed: int):
        """Hold out ``holdout`` of ``x`` (and ``cond``); returns the rest and the checkpoint chooser that
        scores on the held-out volumes: the loss at fixed noise, or the near-copy share of as many samples
        as kept volumes (at most 32), conditioned on kept volumes' ``cond``."""
        import torch

        from gda_core.torch.diffusion import heldout_chooser

        p, dev = self.params, self.device
        sched = make_scheduler(p, "ddpm")

        def loss(unet, held, t, noise):
            xh, ch = held
            xb, t, noise = xh.to(dev), t.to(dev), noise.to(dev)
            noisy = sched.add_noise(original_samples=xb, noise=noise, timesteps=t)
            if ch is not None:
                noisy = torch.cat([noisy, ch.to(dev)], dim=1)
            ids = torch.zeros(len(xb), dtype=torch.long, device=dev) if p.augment else None
            with autocast(dev, p.precision):
                pred = unet(noisy, timesteps=t, class_labels=ids)
            return ((pred.float() - self._target(sched, xb, noise, t).float()) ** 2).flatten(1).mean(1)

        def samples(unet, picked) -> np.ndarray:
            xk, ck = picked
            return self._sample((len(xk), *xk.shape[1:]), seed, cond=ck).numpy()

        (x, cond), chooser = heldout_chooser(p, (x, cond), seed=seed, who=self.name or type(self).__name__,
                                             num_train_timesteps=p.num_train_timesteps, loss=loss, sample=samples,
                                             draws=32, batch=p.sample_batch_size, samples=32)
        return x, cond, chooser

    def _call(self, unet):
        """The network as :func:`gda_core.torch.sampling.sample` calls it: ``cond`` concatenated to the
        input as in MONAI's ``DiffusionInferer`` ("concat"), the identity transform's class with ``augment``."""
        import torch

        augment = bool(self.params.augment)

        def call(x, t, labels, cond=None):
            ids = torch.zeros(len(x), dtype=torch.long, device=x.device) if augment else None
            inp = x if cond is None else torch.cat([x, cond], dim=1)
            return unet(inp, timesteps=torch.as_tensor(t).reshape(1).float().to(x.device), context=None,
                        class_labels=ids)
        return call

    def _sampler(self, kind: str | None = None):
        from gda_core.torch.sampling import MonaiScheduler

        return MonaiScheduler(lambda: make_scheduler(self.params, kind))

    def _sample(self, shape: tuple[int, ...], seed: int, cond=None, context=None, init=None, decode=None,
                latents=None):
        """Denoise ``shape[0]`` volumes (batches of ``sample_batch_size``); CPU float32.

        From seeded noise, or with ``strength`` < 1 from ``init`` (N, ...) in model range, noised to that
        level with the same seeded noise (SDEdit), or with DDIM from ``latents`` (N, ...), states at the
        strength level from :meth:`_invert`. ``cond`` is concatenated to the input as in MONAI's
        ``DiffusionInferer``; ``decode`` maps each denoised batch (latents) to volumes.
        """
        from gda_core.torch.sampling import BatchNoise, sample

        self._require_fitted("unet")
        p, dev = self.params, self.device
        unet = self.unet.to(dev).eval()
        return sample(self._call(unet), self._sampler("ddim" if latents is not None else None), shape[1:], shape[0],
                      num_inference_steps=p.inference_steps, noise=BatchNoise(seed), batch_size=p.sample_batch_size,
                      device=dev, precision=p.precision, strength=p.strength, init=init, latents=latents,
                      extras=None if cond is None else {"cond": cond}, decode=decode,
                      progress=context.progress if context is not None else None, desc="sample")

    def _invert(self, x0, cond=None):
        """Deterministic DDIM inversion of volumes ``x0`` (N, C, ...) in model range (with their ``cond``)
        to the noise level where sampling at ``strength`` starts: the ``latents`` :meth:`_sample`
        decodes back to about ``x0`` (the path mirrors MONAI's DDIM steps)."""
        from gda_core.torch.sampling import invert

        self._require_fitted("unet")
        p, dev = self.params, self.device
        unet = self.unet.to(dev).eval()
        return invert(self._call(unet), self._sampler("ddim"), x0, num_inference_steps=p.inference_steps,
                      strength=p.strength, alphas_cumprod=make_scheduler(p, "ddim").alphas_cumprod,
                      prediction_type=p.prediction_type, batch_size=p.sample_batch_size, device=dev,
                      precision=p.precision, extras=None if cond is None else {"cond": cond})

    def _interpolation_latents(self, xa, xb, seed: int):
        """``(latents, weights)``: the DDIM inversions of ``xa`` and ``xb`` (model range), interpolated
        spherically with seeded weights in ``interpolation_weights`` (the partner's share)."""
        import torch

        from gda_core.torch.diffusion import interpolation_weights, slerp

        w = interpolation_weights(seed, len(xa), self.params.interpolation_weights)
        return torch.from_numpy(slerp(self._invert(xa).numpy(), self._invert(xb).numpy(), w)), w

    def _partners(self, conditions, sources: list, seed: int, context) -> list:
        """For latent interpolation: a seeded random training record of each condition's class, another
        than its source where the class has several."""
        from gda_core.records import label_key

        train = list(context.train.records) if getattr(context, "train", None) is not None else []
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
        out = []
        for c, src in zip(conditions, sources):
            same = [r for r in train if label_key(r.label) == label_key(c.get("label"))] or train or [src]
            others = [r for r in same if r.id != src.id] or same
            out.append(others[int(rng.integers(len(others)))])
        return out

    def _check_fine_tune(self, train, lora_rank: int, who: str, *, labels: bool = False) -> int:
        """Refuse a fine-tune that cannot continue the pretrained model (no LoRA here, nothing pretrained,
        volumes or labels that do not fit it); returns its label classes. ``labels``: every record needs
        a label volume even when the model has no label channel."""
        if lora_rank:
            raise ConfigError(f"strategy.params.lora_rank: {who} fine-tunes every weight; set it to 0")
        if self.unet is None or getattr(self, "autoencoder", True) is None:
            raise DataError(f"{who}: fine_tune needs a pretrained model (call pretrain first)")
        k = int(self.info.get("label_classes", 0))
        missing = [r.id for r in train.records if r.target is None]
        if (k or labels) and missing:
            raise DataError(f"{who}: fine-tuning with labels needs a label volume on every record; {missing[0]!r} "
                            "has none")
        if k and num_label_classes(train.records) > k:
            raise DataError(f"{who}: the labels have {num_label_classes(train.records)} classes, the pretrained "
                            f"model {k} (pretrain with label_classes)")
        if list(volume_shape(train.records)) != self.info["shape"]:
            raise DataError(f"{who}: volumes of shape {list(volume_shape(train.records))}, the pretrained model "
                            f"{self.info['shape']}")
        return k

    def _sources(self, conditions, seed: int, context) -> list:
        """The real record each condition names (``source_id``, looked up in the run's train and pool),
        or a seeded random training record; for ``strength`` < 1."""
        known = {}
        for ds in (getattr(context, "train", None), getattr(context, "pool", None)):
            for r in ds.records if ds is not None else []:
                known.setdefault(r.id, r)
        train = list(context.train.records) if getattr(context, "train", None) is not None else []
        if not train:
            raise DataError(f"{self.name or type(self).__name__}: strength < 1 and interpolate need the real "
                            "volumes in the run context")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 3]))
        out = []
        for c in conditions:
            sid = c.get("source_id")
            if sid is None:
                out.append(train[int(rng.integers(len(train)))])
            elif sid not in known:
                raise DataError(f"{self.name or type(self).__name__}: source_id {sid!r} is in neither the "
                                "training set nor the pool")
            else:
                out.append(known[sid])
        return out

    def _reference(self, condition: dict[str, Any], context) -> Any:
        """The real record a condition names (``source_id``), if the run context holds it."""
        sid = condition.get("source_id")
        if context is None or sid is None:
            return None
        for ds in (context.train, getattr(context, "pool", None)):
            hit = next((r for r in ds.records if r.id == sid), None) if ds is not None else None
            if hit is not None:
                return hit
        return None

    def _affine_for(self, condition: dict[str, Any], context) -> list:
        ref = self._reference(condition, context)
        if ref is not None:
            return affine_of(ref).tolist()
        return self.info.get("affine", np.eye(4).tolist())

    # -- persistence ------------------------------------------------------------

    def save_state(self, path: Path) -> None:
        self._require_fitted("unet", action="save")
        save_module(self.unet, self.info["unet_config"], Path(path) / "unet", extra={"info": self.info})

    def load_state(self, path: Path) -> None:
        from ..volumes import load_weights

        folder = Path(path) / "unet"
        cfg = read_config(folder)
        self.info = dict(cfg.get("info", {}))
        self.unet = build_unet(cfg["init"])
        load_weights(self.unet, folder)
        self.unet.eval()
