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

from gda_core.components import SAMPLING, Generator
from gda_core.errors import ConfigError, DataError
from gda_core.torch.accelerators import (
    PrecisionParams,
    apply_thread_setting,
    autocast,
    legacy_mixed_precision,
    pick_device,
    seeded,
    torch_generator,
)
from gda_core.torch.diffusion import CheckpointedGenerator, CheckpointParams, start_index

from ..volumes import affine_of, check_channels, num_label_classes, read_config, save_module, volume_shape


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


def augment_batch(x, cond, augment: list[str], p: float, generator):
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


def image_label_volumes(records, k: int):
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


class DiffusionGenerator(CheckpointedGenerator, Generator):
    """Base of the MONAI diffusion generators: train a ``DiffusionModelUNet`` to predict noise,
    sample through ``DiffusionInferer`` with DDPM or DDIM, save weights as safetensors.

    ``checkpoint`` other than 'last' holds out a seeded share of the training volumes (or latents)
    and keeps the weights a held-out criterion prefers (:class:`gda_core.torch.diffusion.CheckpointChooser`);
    ``checkpoints_`` and ``info["checkpoint_step"]`` record the choice."""

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
        apply_thread_setting()  # once per process
        return pick_device(self.params.device)

    def _fit_unet(self, x, cond, context, *, desc: str = "train diffusion", steps: int | None = None,
                  channel_weights: list[float] | None = None, seed_offset: int = 0, select: bool = True) -> None:
        """Train ``self.unet`` (as it stands: fresh, or pretrained for a fine-tune) to undo the noise
        added to ``x`` (N, C, ...), in model range; ``cond`` (N, K, ...) is concatenated to the noisy
        input when given. ``channel_weights`` (one per channel of ``x``) weigh the loss, so that a
        channel the data lacks (a pool volume's label) teaches nothing. With ``select`` and a
        ``checkpoint`` other than 'last', ``holdout`` of ``x`` is held out to pick the weights."""
        import torch

        p, dev = self.params, self.device
        steps = p.steps if steps is None else steps
        chooser = None
        self.checkpoints_: list[dict[str, float]] = []
        self.info.pop("checkpoint_step", None)
        if select and p.checkpoint != "last":
            x, cond, chooser = self._chooser(x, cond, context.seed + seed_offset)
        unet = self.unet.to(dev).train()
        sched = make_scheduler(p, "ddpm")
        opt = torch.optim.AdamW(unet.parameters(), lr=p.lr, weight_decay=1e-4)
        warm = max(1, steps // 20)

        def lr_at(i: int) -> float:  # linear warm-up, then cosine decay to 5%
            if i < warm:
                return (i + 1) / warm
            return 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * (i - warm) / max(1, steps - warm)))

        lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
        g = torch_generator(context.seed * 7919 + 17 + seed_offset)
        weights = None
        if channel_weights is not None:
            weights = torch.tensor(channel_weights, dtype=torch.float32, device=dev).view(1, -1, *([1] * (x.dim() - 2)))
        n = x.shape[0]
        losses = []
        bar = context.progress(range(steps), desc=desc, total=steps)
        for step in bar:
            idx = torch.randint(0, n, (min(p.batch_size, n),), generator=g)
            xb, cb = x[idx], None if cond is None else cond[idx]
            ids = None
            if p.augment:
                xb, cb, ids = augment_batch(xb, cb, p.augment, p.augment_p, g)
                ids = ids.to(dev)
            xb = xb.to(dev)
            noise = torch.randn(xb.shape, generator=g).to(dev)
            t = torch.randint(0, p.num_train_timesteps, (xb.shape[0],), generator=g).to(dev)
            with autocast(dev, p.precision):
                noisy = sched.add_noise(original_samples=xb, noise=noise, timesteps=t)
                if cb is not None:  # as MONAI's DiffusionInferer in "concat" mode
                    noisy = torch.cat([noisy, cb.to(dev)], dim=1)
                pred = unet(noisy, timesteps=t, class_labels=ids)
                err = (pred.float() - self._target(sched, xb, noise, t).float()) ** 2
                loss = err.mean() if weights is None else (err * weights).sum() / (weights.sum() * err[:, :1].numel())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step()
            lr_sched.step()
            losses.append(float(loss.detach()))
            if chooser is not None:
                chooser.after_step(step + 1, steps, unet)
        if chooser is not None:
            chooser.restore(unet)
            self.checkpoints_ = chooser.history
            self.info["checkpoint_step"] = chooser.best_step
        unet.eval()
        self.info["final_loss"] = float(np.mean(losses[-max(1, len(losses) // 10):]))

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

        from gda_core.torch.diffusion import CheckpointChooser, heldout_draws, holdout_split, mean_loss

        p, dev = self.params, self.device
        keep, held = holdout_split(len(x), p.holdout, seed, who=self.name or type(self).__name__)
        xh, ch = x[held], None if cond is None else cond[held]
        x, cond = x[keep], None if cond is None else cond[keep]
        draws = heldout_draws(len(held), x.shape[1:], p.num_train_timesteps, seed, total=32)
        sched = make_scheduler(p, "ddpm")

        def heldout_loss(unet) -> float:
            def per_sample(i, t, noise):
                xb, t, noise = xh[i].to(dev), t.to(dev), noise.to(dev)
                noisy = sched.add_noise(original_samples=xb, noise=noise, timesteps=t)
                if ch is not None:
                    noisy = torch.cat([noisy, ch[i].to(dev)], dim=1)
                ids = torch.zeros(len(xb), dtype=torch.long, device=dev) if p.augment else None
                with autocast(dev, p.precision):
                    pred = unet(noisy, timesteps=t, class_labels=ids)
                return ((pred.float() - self._target(sched, xb, noise, t).float()) ** 2).flatten(1).mean(1)
            return mean_loss(per_sample, draws, p.sample_batch_size)

        pick = torch.randperm(len(x), generator=torch_generator(seed))[:32]

        def samples(unet) -> np.ndarray:
            return self._sample((len(pick), *x.shape[1:]), seed, cond=None if cond is None else cond[pick]).numpy()

        return x, cond, CheckpointChooser(p, train=x.numpy(), held=xh.numpy(), heldout_loss=heldout_loss,
                                          sample=samples)

    def _sample(self, shape: tuple[int, ...], seed: int, cond=None, context=None, init=None, decode=None,
                latents=None):
        """Denoise ``shape[0]`` volumes (batches of ``sample_batch_size``); CPU float32.

        From seeded noise, or with ``strength`` < 1 from ``init`` (N, ...) in model range, noised to that
        level with the same seeded noise (SDEdit), or with DDIM from ``latents`` (N, ...), states at the
        strength level from :meth:`_invert`. ``cond`` is concatenated to the input as in MONAI's
        ``DiffusionInferer``; ``decode`` maps each denoised batch (latents) to volumes.
        """
        import torch

        self._require_fitted("unet")
        p, dev = self.params, self.device
        unet = self.unet.to(dev).eval()
        n = shape[0]
        out = []
        starts = list(range(0, n, p.sample_batch_size))
        it = context.progress(starts, desc="sample", total=len(starts)) if context is not None else starts
        for b in it:
            m = min(p.sample_batch_size, n - b)
            sched = make_scheduler(p, "ddim" if latents is not None else None)
            sched.set_timesteps(p.inference_steps)
            steps = sched.timesteps
            x = torch.randn((m, *shape[1:]), generator=torch_generator(seed * 1_000_003 + b)).to(dev)
            if latents is not None:
                steps = steps[start_index(p.inference_steps, p.strength):]
                x = latents[b:b + m].to(dev)
            elif init is not None and p.strength < 1.0:
                steps = steps[start_index(p.inference_steps, p.strength):]
                x = sched.add_noise(original_samples=init[b:b + m].to(dev), noise=x,
                                    timesteps=steps[:1].repeat(m).to(dev))
            ids = torch.zeros(m, dtype=torch.long, device=dev) if p.augment else None  # the identity transform
            c = None if cond is None else cond[b:b + m].to(dev)
            with torch.no_grad(), seeded(seed + b, dev), autocast(dev, p.precision):
                for t in steps:
                    inp = x if c is None else torch.cat([x, c], dim=1)
                    pred = unet(inp, timesteps=torch.Tensor((t,)).to(dev), context=None, class_labels=ids)
                    x, _ = sched.step(pred, t, x)
                if decode is not None:
                    x = decode(x)
            out.append(x.float().cpu())
        return torch.cat(out)

    def _invert(self, x0, cond=None):
        """Deterministic DDIM inversion of volumes ``x0`` (N, C, ...) in model range (with their ``cond``)
        to the noise level where sampling at ``strength`` starts: the ``latents`` :meth:`_sample`
        decodes back to about ``x0``. The path mirrors MONAI's DDIM steps (each from ``t`` to
        ``t - num_train_timesteps // inference_steps``, the last to a clean sample)."""
        import torch

        from gda_core.torch.diffusion import ddim_invert, eps_from_output

        self._require_fitted("unet")
        p, dev = self.params, self.device
        unet = self.unet.to(dev).eval()
        sched = make_scheduler(p, "ddim")
        sched.set_timesteps(p.inference_steps)
        alphas, jump = sched.alphas_cumprod, p.num_train_timesteps // p.inference_steps
        path = []
        for t in [int(t) for t in sched.timesteps[start_index(p.inference_steps, p.strength):]][::-1]:
            a_from = float(alphas[t - jump]) if t - jump >= 0 else float(sched.final_alpha_cumprod)
            path.append((max(t - jump, 0), a_from, float(alphas[t])))
        out = []
        for b in range(0, len(x0), p.sample_batch_size):
            c = None if cond is None else cond[b:b + p.sample_batch_size].to(dev)

            def eps(x, t, c=c):
                ids = torch.zeros(len(x), dtype=torch.long, device=dev) if p.augment else None
                with autocast(dev, p.precision):
                    pred = unet(x if c is None else torch.cat([x, c], dim=1), timesteps=torch.Tensor((t,)).to(dev),
                                context=None, class_labels=ids)
                return eps_from_output(pred.float(), x, float(alphas[t]), p.prediction_type)

            with torch.no_grad():
                out.append(ddim_invert(x0[b:b + p.sample_batch_size].float().to(dev), path, eps).float().cpu())
        return torch.cat(out)

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
