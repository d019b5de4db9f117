"""signal.diffusion1d: a class-conditional 1-D diffusion model trained from scratch."""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
from pydantic import Field

from gda_core.components import Generator
from gda_core.errors import DataError
from gda_core.records import Record

from .._diffusion import DiffusionTrainingParams
from .._util import device as pick_device
from .._util import seed_all, stack


class Diffusion1DParams(DiffusionTrainingParams):
    base_channels: int = Field(32, gt=0, description="channels of the first U-Net level")
    channel_mults: list[int] = Field([1, 2, 2], min_length=1, description="channel multiplier per U-Net level")
    attention: bool = Field(True, description="self-attention at the lowest resolution")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout inside residual blocks")
    steps: int = Field(3000, gt=0, description="training steps (batches)")
    batch_size: int = Field(32, gt=0, description="training batch size")
    normalize: Literal["minmax", "standard"] = Field(
        "minmax", description="per-channel scaling fitted on train: to [-1, 1], or zero mean unit variance")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="cuda when available unless told otherwise")
    sample_batch_size: int = Field(256, gt=0, description="samples denoised together")


class Diffusion1DGenerator(Generator):
    """A DDPM-trained class-conditional 1-D U-Net over (channels, length) series.

    Our own compact denoiser (diffusers' ``UNet1DModel`` has no class embedding) with
    timestep and label embeddings; sampled with diffusers' DDIM or DPM-Solver++
    schedulers, optionally with classifier-free guidance. Multivariate series are
    denoised jointly (channels are the convolution's input channels). Saves as
    ``denoiser/`` (safetensors), ``scheduler/`` and ``signal_meta.json``.
    """

    Params = Diffusion1DParams
    version = "1"

    # -- fitting -----------------------------------------------------------

    def _build(self, in_channels: int, num_classes: int):
        from .._nets import nets

        p = self.params
        return nets().Denoiser1D(in_channels=in_channels, num_classes=num_classes, base_channels=p.base_channels,
                                 channel_mults=tuple(p.channel_mults), attention=p.attention, dropout=p.dropout)

    def fit(self, train, context) -> None:
        from .._diffusion import make_train_scheduler, train_denoiser

        p = self.params
        X = stack(train.records)
        if len(X) == 0:
            raise DataError("signal.diffusion1d: the training set is empty")
        self.classes_ = list(train.classes)
        keys = [str(c) for c in self.classes_]
        y = np.asarray([keys.index(str(r.label)) for r in train.records])
        self.shape_ = list(X.shape[1:])
        self._fit_scaling(X)
        seed_all(context.seed)
        self.scheduler_ = make_train_scheduler(p.num_train_timesteps, p.beta_schedule)
        self.model_, self.losses_ = train_denoiser(
            self._build(X.shape[1], len(keys)), _call, self._scale(X), y, len(keys), self.scheduler_,
            steps=p.steps, batch_size=p.batch_size, lr=p.lr, ema=p.ema, label_dropout=p.label_dropout,
            seed=context.seed, device=pick_device(p.device), context=context, desc="signal.diffusion1d fit")

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

    def sample_arrays(self, labels: list[int], seed: int, context=None) -> np.ndarray:
        """Denoise ``len(labels)`` series of the given class indices; returns (n, C, L) in data units."""
        from .._diffusion import sample

        p = self.params
        z = sample(self.model_, _call, self.scheduler_, tuple(self.shape_), labels, len(self.classes_), seed=seed,
                   sampler=p.sampler, num_inference_steps=p.num_inference_steps, guidance_scale=p.guidance_scale,
                   batch_size=p.sample_batch_size, context=context, desc="signal.diffusion1d sample")
        if p.normalize == "minmax":
            z = np.clip(z, -1.0, 1.0)
        return self._unscale(z)

    def generate(self, conditions, *, seed, context) -> list[Record]:
        if not hasattr(self, "model_"):
            raise DataError("signal.diffusion1d: fit or load the generator before generating")
        idx = [self._label_index(c.get("label")) for c in conditions]
        arrays = self.sample_arrays(idx, seed, context)
        return [Record(id="", data=a, label=c.get("label")) for a, c in zip(arrays, conditions)]

    # -- persistence ---------------------------------------------------------

    def save_state(self, path) -> None:
        self.model_.save_pretrained(path / "denoiser", safe_serialization=True)
        self.scheduler_.save_pretrained(path / "scheduler")
        meta = {"classes": self.classes_, "shape": self.shape_, "center": self.center_.tolist(),
                "scale": self.scale_.tolist()}
        (path / "signal_meta.json").write_text(json.dumps(meta, indent=2))

    def load_state(self, path) -> None:
        from diffusers import DDPMScheduler

        from .._nets import nets

        meta = json.loads((path / "signal_meta.json").read_text())
        self.classes_, self.shape_ = meta["classes"], meta["shape"]
        self.center_ = np.asarray(meta["center"], dtype=np.float32)
        self.scale_ = np.asarray(meta["scale"], dtype=np.float32)
        self.model_ = nets().Denoiser1D.from_pretrained(path / "denoiser").to(pick_device(self.params.device)).eval()
        self.scheduler_ = DDPMScheduler.from_pretrained(path / "scheduler")


def _call(model, x, t, labels):
    return model(x, t, labels)
