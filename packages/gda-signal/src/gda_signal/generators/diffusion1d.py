"""signal.diffusion1d: a class-conditional 1-D diffusion model trained from scratch."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import SAMPLING, Generator
from gda_core.errors import DataError
from gda_core.records import Record
from gda_core.torch.accelerators import DeviceParams, apply_thread_setting, pick_device
from gda_core.torch.diffusion import CheckpointedGenerator, CheckpointParams, InterpolationParams
from gda_core.torch.weights import safe_kwargs

from .._diffusion import DiffusionTrainingParams
from .._util import seed_all, stack

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Dataset


class Diffusion1DParams(DiffusionTrainingParams, InterpolationParams, CheckpointParams, DeviceParams):
    base_channels: int = Field(32, gt=0, description="channels of the first U-Net level")
    channel_mults: list[int] = Field([1, 2, 2], min_length=1, description="channel multiplier per U-Net level")
    attention: bool = Field(True, description="self-attention at the lowest resolution")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout inside residual blocks")
    steps: int = Field(3000, gt=0, description="training steps (batches)")
    batch_size: int = Field(32, gt=0, description="training batch size")
    normalize: Literal["minmax", "standard"] = Field(
        "minmax", description="per-channel scaling fitted on train: to [-1, 1], or zero mean unit variance")
    sample_batch_size: int = Field(256, gt=0, description="samples denoised together", json_schema_extra=SAMPLING)
    strength: float = Field(
        1.0, gt=0, le=1, description="real-guided variation (SDEdit / DA-Fusion): noise the condition's real "
        "source (source_id, from train or pool) to this level and denoise it with its class; 1: plain sampling",
                            json_schema_extra=SAMPLING)
    augment: list[Literal["shift", "scale", "negate", "reverse"]] = Field(
        [], description="non-leaking augmentation in training (ADA / EDM style): each training series is "
        "circularly shifted, rescaled, negated or time-reversed with probability augment_p, and the "
        "network is told which; sampling asks for none")
    augment_p: float = Field(0.5, ge=0, le=1, description="probability of each augmentation per training series")
    augment_shift: float = Field(0.1, gt=0, le=0.5, description="largest circular shift (fraction of length)")
    augment_scale: float = Field(0.2, gt=0, le=1, description="largest log amplitude factor of 'scale'")

    @model_validator(mode="after")
    def _check_variation(self):
        if len(set(self.augment)) != len(self.augment):
            raise ValueError(f"augment: repeated entries in {self.augment}")
        return self


class Diffusion1DGenerator(CheckpointedGenerator, Generator):
    """A DDPM-trained class-conditional 1-D U-Net over (channels, length) series.

    Our own compact denoiser (diffusers' ``UNet1DModel`` has no class embedding) with
    timestep and label embeddings; sampled with diffusers' DDIM or DPM-Solver++
    schedulers, optionally with classifier-free guidance. Multivariate series are
    denoised jointly (channels are the convolution's input channels). Saves as
    ``denoiser/`` (safetensors), ``scheduler/`` and ``signal_meta.json``. ``checkpoint`` keeps the
    weights a held-out criterion prefers (:mod:`gda_core.torch.diffusion`); ``checkpoints_`` and
    ``checkpoint_step_`` record the choice.
    """

    data_kind = "arrays"
    Params = Diffusion1DParams
    version = "1"

    # -- fitting -----------------------------------------------------------

    def _build(self, in_channels: int, num_classes: int):
        from .._nets import Denoiser1D

        p = self.params
        return Denoiser1D(in_channels=in_channels, num_classes=num_classes, base_channels=p.base_channels,
                                 channel_mults=tuple(p.channel_mults), attention=p.attention, dropout=p.dropout,
                                 num_augment=len(p.augment))

    def fit(self, train: Dataset, context: RunContext) -> None:
        X = stack(train.records)
        if len(X) == 0:
            raise DataError("signal.diffusion1d: the training set is empty")
        self.classes_ = list(train.classes)
        self.shape_ = list(X.shape[1:])
        self._fit_scaling(X)
        self._train(X, self._label_indices(train), context, steps=self.params.steps, fresh=True,
                    desc="signal.diffusion1d fit")

    # -- warm start (the optional API of gda_core.builtin.pool) -------------------

    def pretrain(self, pool: Dataset, context: RunContext, *, steps: int | None = None) -> None:
        """Fit on unlabelled series (every label None) as the model's "no class", sizing the class
        embedding for ``pool.classes``; the scaling is fitted on the pool. ``steps`` overrides ``steps``."""
        X = stack(pool.records)
        if len(X) == 0:
            raise DataError("signal.diffusion1d: the pool to pretrain on is empty")
        self.classes_ = list(pool.classes)
        if not self.classes_:
            raise DataError("signal.diffusion1d: pretrain needs pool.classes, the classes fine-tuning will ask for")
        self.shape_ = list(X.shape[1:])
        self._fit_scaling(X)
        y = np.full(len(X), len(self.classes_))
        self._train(X, y, context, steps=steps or self.params.steps, fresh=True, desc="signal.diffusion1d pretrain",
                    select=False)
        self.pretrain_losses_ = self.losses_

    def fine_tune(self, train: Dataset, context: RunContext, *, steps: int | None = None, lora_rank: int = 0) -> None:
        """Continue training the pretrained denoiser class-conditionally on ``train`` (its weights,
        scaling and classes are kept; label dropout keeps the "no class" learnt). No LoRA here."""
        from gda_core.errors import ConfigError

        if lora_rank:
            raise ConfigError("strategy.params.lora_rank: signal.diffusion1d fine-tunes every weight; set it to 0")
        if getattr(self, "model_", None) is None:
            raise DataError("signal.diffusion1d: fine_tune needs a pretrained model (call pretrain first)")
        X = stack(train.records)
        if len(X) == 0:
            raise DataError("signal.diffusion1d: the training set is empty")
        if list(X.shape[1:]) != self.shape_:
            raise DataError(f"signal.diffusion1d: fine-tuning series have shape {list(X.shape[1:])}, "
                            f"the pretrained model {self.shape_}")
        self._train(X, self._label_indices(train), context, steps=steps or self.params.steps, fresh=False,
                    desc="signal.diffusion1d fine-tune")

    def _label_indices(self, train) -> np.ndarray:
        keys = [str(c) for c in self.classes_]
        missing = sorted({str(r.label) for r in train.records} - set(keys))
        if missing:
            raise DataError(f"signal.diffusion1d: records of class(es) {', '.join(missing)} outside the "
                            f"model's classes ({', '.join(keys)})")
        return np.asarray([keys.index(str(r.label)) for r in train.records])

    def _train(self, X: np.ndarray, y: np.ndarray, context, *, steps: int, fresh: bool, desc: str,
               select: bool = True) -> None:
        """Train (a fresh or the current denoiser) on ``X`` in data units; with ``select`` and a
        ``checkpoint`` other than 'last', a seeded share of ``X`` is held out to pick the weights."""
        from gda_core.torch.training import fit_key

        from .._diffusion import make_train_scheduler, train_denoiser

        p = self.params
        apply_thread_setting()
        seed_all(context.seed)
        if fresh:
            self.scheduler_ = make_train_scheduler(p.num_train_timesteps, p.beta_schedule)
            model = self._build(X.shape[1], len(self.classes_))
        else:
            model = self.model_.train()
        Z, y, chooser = self._scale(X), np.asarray(y), None
        if select and p.checkpoint != "last":
            Z, y, chooser = self._chooser(Z, y, context.seed)
        self.model_, self.losses_ = train_denoiser(
            model, _call, Z, y, len(self.classes_), self.scheduler_,
            steps=steps, batch_size=p.batch_size, lr=p.lr, ema=p.ema, label_dropout=p.label_dropout,
            seed=context.seed + (0 if fresh else 1), device=pick_device(p.device), context=context, desc=desc,
            augment=self._augment if p.augment else None, chooser=chooser, key=fit_key(self, Z, y, fresh))
        self.checkpoints_ = list(chooser.history) if chooser is not None else []
        self.checkpoint_step_ = chooser.best_step if chooser is not None else None

    def _chooser(self, Z: np.ndarray, y: np.ndarray, seed: int):
        """Hold out ``holdout`` of the scaled series ``Z``; returns the rest, their labels and the
        :func:`~gda_core.torch.diffusion.heldout_chooser`'s chooser scoring on the held-out ones."""
        import torch

        from gda_core.torch.diffusion import heldout_chooser

        from .._diffusion import sample

        p = self.params
        dev = pick_device(p.device)
        alphas = self.scheduler_.alphas_cumprod.to(dev)

        def loss(model, held, t, noise):
            zh, yh = held
            t, noise = t.to(dev), noise.to(dev)
            a = alphas[t].view(-1, *([1] * (zh.dim() - 1)))
            xt = a.sqrt() * zh + (1 - a).sqrt() * noise
            return ((_call(model, xt, t, yh).float() - noise) ** 2).flatten(1).mean(1)

        def samples(model, picked) -> np.ndarray:
            return sample(model, _call, self.scheduler_, tuple(self.shape_), picked[1].tolist(), len(self.classes_),
                          seed=seed, sampler=p.sampler, num_inference_steps=p.num_inference_steps,
                          guidance_scale=p.guidance_scale, batch_size=p.sample_batch_size)

        data = (torch.from_numpy(Z).to(dev), torch.from_numpy(y).long().to(dev))
        (zk, yk), chooser = heldout_chooser(p, data, seed=seed, who="signal.diffusion1d",
                                            num_train_timesteps=p.num_train_timesteps, loss=loss, sample=samples,
                                            batch=p.sample_batch_size)
        return zk.cpu().numpy(), yk.cpu().numpy(), chooser

    def _augment(self, x, gen):
        """Augment a clean batch (B, C, L) as ``augment`` lists; returns it and the (B, A) parameters."""
        import torch

        p = self.params
        b, _, n = x.shape
        aug = torch.zeros((b, len(p.augment)))
        x = x.clone()
        for j, kind in enumerate(p.augment):
            on = torch.rand(b, generator=gen) < p.augment_p
            u = torch.rand(b, generator=gen) * 2 - 1  # uniform in [-1, 1]
            if not bool(on.any()):
                continue
            rows = torch.nonzero(on).flatten()
            if kind == "shift":
                shift = torch.round(u * p.augment_shift * n).long()
                for r in rows.tolist():
                    x[r] = torch.roll(x[r], int(shift[r]), dims=-1)
                aug[on, j] = shift[on].float() / n
            elif kind == "scale":
                x[rows] = x[rows] * torch.exp(u[on] * p.augment_scale).to(x.device)[:, None, None]
                aug[on, j] = u[on] * p.augment_scale
            elif kind == "negate":
                x[rows] = -x[rows]
                aug[on, j] = 1.0
            else:  # reverse
                x[rows] = torch.flip(x[rows], dims=[-1])
                aug[on, j] = 1.0
        return x, aug

    def _fit_scaling(self, X: np.ndarray) -> None:
        if self.params.normalize == "minmax":
            lo, hi = X.min(axis=(0, 2)), X.max(axis=(0, 2))
            self.center_ = ((hi + lo) / 2).astype(np.float32)
            self.scale_ = np.maximum((hi - lo) / 2, 1e-6).astype(np.float32)
        else:
            self.center_ = X.mean(axis=(0, 2)).astype(np.float32)
            self.scale_ = np.maximum(X.std(axis=(0, 2)), 1e-6).astype(np.float32)

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.center_[:, None]) / self.scale_[:, None]).astype(np.float32)

    def _unscale(self, Z: np.ndarray) -> np.ndarray:
        return (Z * self.scale_[:, None] + self.center_[:, None]).astype(np.float32)

    # -- sampling ------------------------------------------------------------

    def _label_index(self, label) -> int:
        keys = [str(c) for c in self.classes_]
        if label is None:
            return len(keys)
        if str(label) not in keys:
            raise DataError(f"signal.diffusion1d was not fitted on class {label!r} (classes: {', '.join(keys)})")
        return keys.index(str(label))

    def sample_arrays(self, labels: list[int], seed: int, context: RunContext = None, *,
                      init: np.ndarray | None = None, latents: np.ndarray | None = None) -> np.ndarray:
        """Denoise ``len(labels)`` series of the given class indices; returns (n, C, L) in data units.

        ``init`` (real series in data units) starts each one part-way at ``strength``;
        ``latents`` (model units, from :meth:`invert`) start it from an inverted state with DDIM.
        """
        from .._diffusion import sample

        p = self.params
        z = sample(self.model_, _call, self.scheduler_, tuple(self.shape_), labels, len(self.classes_), seed=seed,
                   sampler="ddim" if latents is not None else p.sampler, num_inference_steps=p.num_inference_steps,
                   guidance_scale=p.guidance_scale, batch_size=p.sample_batch_size, context=context,
                   desc="signal.diffusion1d sample", strength=p.strength,
                   init=None if init is None else self._scale(init), latents=latents)
        if p.normalize == "minmax":
            z = np.clip(z, -1.0, 1.0)
        return self._unscale(z)

    def invert(self, series: np.ndarray, labels: list[int]) -> np.ndarray:
        """DDIM inversion of real ``series`` (n, C, L, data units) with their class indices, to the
        noise level where sampling at ``strength`` starts (model units)."""
        from .._diffusion import ddim_invert

        p = self.params
        return ddim_invert(self.model_, _call, self.scheduler_, self._scale(np.asarray(series, dtype=np.float32)),
                           labels, num_inference_steps=p.num_inference_steps, strength=p.strength,
                           batch_size=p.sample_batch_size)

    def _sources(self, conditions, seed: int, context, partners: bool = False) -> list[Record]:
        """The real record behind each condition: its ``source_id`` (looked up in the run's train and
        pool), or a seeded random training record of its class; with ``partners``, a second random
        training record of the same class, another one where the class has several."""
        known: dict[str, Record] = {}
        for ds in (getattr(context, "train", None), getattr(context, "pool", None)):
            for r in ds.records if ds is not None else []:
                known.setdefault(r.id, r)
        train = list(context.train.records) if getattr(context, "train", None) is not None else []
        if not train and not known:
            raise DataError("signal.diffusion1d: strength < 1 and interpolate need the real series in the run context")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7 if partners else 3]))
        out = []
        for c in conditions:
            same = [r for r in train if str(r.label) == str(c.get("label"))] or train
            sid = c.get("source_id")
            if partners:
                others = [r for r in same if r.id != sid] or same
                out.append(others[int(rng.integers(len(others)))])
            elif sid is not None:
                if sid not in known:
                    raise DataError(f"signal.diffusion1d: source_id {sid!r} is in neither the training set "
                                    "nor the pool")
                out.append(known[sid])
            else:
                out.append(same[int(rng.integers(len(same)))])
        return out

    def _interpolated(self, conditions, idx: list[int], seed: int, context) -> np.ndarray:
        from gda_core.torch.diffusion import interpolation_weights, slerp

        src = self._sources(conditions, seed, context)
        partner = self._sources(conditions, seed, context, partners=True)
        # invert each distinct (record, class) once
        keys = sorted({(r.id, i) for rs in (src, partner) for r, i in zip(rs, idx)})
        by_key = {(r.id, i): r for rs in (src, partner) for r, i in zip(rs, idx)}
        z = self.invert(stack([by_key[k] for k in keys]), [k[1] for k in keys]) if keys else None
        pos = {k: j for j, k in enumerate(keys)}
        za = np.stack([z[pos[(r.id, i)]] for r, i in zip(src, idx)])
        zb = np.stack([z[pos[(r.id, i)]] for r, i in zip(partner, idx)])
        w = interpolation_weights(seed, len(idx), self.params.interpolation_weights)
        return self.sample_arrays(idx, seed, context, latents=slerp(za, zb, w))

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        self._require_fitted("model_")
        idx = [self._label_index(c.get("label")) for c in conditions]
        p = self.params
        if not conditions:
            arrays = np.zeros((0, *self.shape_), dtype=np.float32)
        elif p.interpolate:
            arrays = self._interpolated(conditions, idx, seed, context)
        elif p.strength < 1.0:
            arrays = self.sample_arrays(idx, seed, context, init=stack(self._sources(conditions, seed, context)))
        else:
            arrays = self.sample_arrays(idx, seed, context)
        return [Record(id="", data=a, label=c.get("label")) for a, c in zip(arrays, conditions)]

    # -- persistence ---------------------------------------------------------

    def save_state(self, path: Path) -> None:
        self.model_.save_pretrained(path / "denoiser", safe_serialization=True)
        self.scheduler_.save_pretrained(path / "scheduler")
        meta = {"classes": self.classes_, "shape": self.shape_, "center": self.center_.tolist(),
                "scale": self.scale_.tolist()}
        (path / "signal_meta.json").write_text(json.dumps(meta, indent=2))

    def load_state(self, path: Path) -> None:
        from diffusers import DDPMScheduler

        from .._nets import Denoiser1D

        meta = json.loads((path / "signal_meta.json").read_text())
        self.classes_, self.shape_ = meta["classes"], meta["shape"]
        self.center_ = np.asarray(meta["center"], dtype=np.float32)
        self.scale_ = np.asarray(meta["scale"], dtype=np.float32)
        self.model_ = Denoiser1D.from_pretrained(path / "denoiser", **safe_kwargs())
        self.model_ = self.model_.to(pick_device(self.params.device)).eval()
        self.scheduler_ = DDPMScheduler.from_pretrained(path / "scheduler")


def _call(model, x, t, labels, aug=None):
    return model(x, t, labels, aug=aug)
