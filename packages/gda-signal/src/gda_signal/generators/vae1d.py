"""signal.vae1d: a class-conditional 1-D variational autoencoder (MONAI ``VarAutoEncoder``)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import SAMPLING
from gda_core.torch.accelerators import DeviceParams
from gda_core.torch.diffusion import CheckpointedGenerator, CheckpointParams

from .._series import ScalingParams, SeriesGenerator


class VAE1DParams(ScalingParams, CheckpointParams, DeviceParams):
    latent_dim: int = Field(16, gt=0, description="size of the latent code")
    channels: list[int] = Field([32, 64, 64], min_length=1, description="encoder channels per level (MONAI "
                                "VarAutoEncoder; the decoder mirrors them)")
    strides: list[int] | None = Field(None, description="stride per level (default 2 each); series are padded "
                                      "to a multiple of their product")
    num_res_units: int = Field(1, ge=0, description="residual units per level")
    norm: Literal["batch", "instance", "none"] = Field(
        "batch", description="feature normalisation (instance norm removes each series' level and scale "
        "inside the encoder)")
    kl_weight: float = Field(0.05, ge=0, description="weight of the KL term against the mean squared error per "
                             "value of the scaled series (beta; 1 is a Gaussian decoder of variance 1/2)")
    kl_warmup: float = Field(0.2, ge=0, le=1, description="share of the steps over which the KL weight ramps "
                             "up from 0")
    steps: int = Field(2000, gt=0, description="training steps (batches)")
    batch_size: int = Field(32, gt=0, description="training batch size")
    lr: float = Field(3e-3, gt=0, description="AdamW learning rate")
    prior: Literal["standard", "fitted"] = Field(
        "fitted", description="where codes are drawn: N(0, I), or a per-class diagonal Gaussian mixture fitted "
        "to the training series' posterior means (ex-post density estimation)", json_schema_extra=SAMPLING)
    prior_components: int = Field(3, gt=0, description="components of the fitted prior per class (at most half "
                                  "the class's records)")
    temperature: float = Field(1.0, gt=0, description="scale of the prior's standard deviations when sampling",
                               json_schema_extra=SAMPLING)
    sample_batch_size: int = Field(256, gt=0, description="codes decoded together", json_schema_extra=SAMPLING)

    @model_validator(mode="after")
    def _check(self):
        if self.strides is not None and len(self.strides) != len(self.channels):
            raise ValueError(f"strides: needs one entry per level of channels ({len(self.channels)}), "
                             f"got {len(self.strides)}")
        return self


class VAE1DGenerator(CheckpointedGenerator, SeriesGenerator):
    """A conditional VAE over (channels, length) series: MONAI's ``VarAutoEncoder`` (spatial_dims=1) with the
    class as one-hot input planes of the encoder and a one-hot beside the code at the decoder
    (:mod:`gda_core.torch.vae`). Trained on the scaled series with a squared error and a warmed-up KL term;
    samples decode codes drawn from N(0, I) or from a Gaussian mixture fitted per class to the training
    codes (``prior``). ``pretrain`` on an unlabelled pool learns the "no class", ``fine_tune`` continues
    class-conditionally (``core.pretrain-finetune``). ``checkpoint: heldout-loss`` keeps the weights with
    the lowest negative ELBO on held-out training series. Multivariate series are encoded jointly."""

    Params = VAE1DParams
    version = "1"
    who = "signal.vae1d"
    min_class_size = 1

    def _config(self) -> dict:
        return self.config_

    def _build(self, config):
        from gda_core.torch.vae import build_cvae

        self.config_ = dict(config)
        return build_cvae(config)

    def _new_config(self, Z: np.ndarray) -> dict:
        from gda_core.torch.vae import cvae_config

        p = self.params
        return cvae_config(spatial_dims=1, in_channels=Z.shape[1], out_channels=Z.shape[1], spatial_shape=[Z.shape[2]],
                           latent_size=p.latent_dim, channels=p.channels, strides=p.strides or [2] * len(p.channels),
                           num_res_units=p.num_res_units, num_classes=len(self.classes_),
                           norm=None if p.norm == "none" else p.norm.upper())

    # -- training ---------------------------------------------------------------------

    def _terms(self, model, x, y, noise):
        """Per-series ``(reconstruction, kl)`` (B,): the mean squared error per value and the KL divided
        by the values, so that ``reconstruction + kl_weight * kl`` is the (scaled) negative ELBO."""
        from gda_core.torch.vae import kl_divergence

        out, mu, logvar = model(x, y, noise)
        return ((out.float() - x) ** 2).flatten(1).mean(1), kl_divergence(mu.float(), logvar.float()) / x[0].numel()

    def _train(self, Z, y, context, *, steps, fresh, desc, select) -> None:
        import torch

        from gda_core.torch.accelerators import seeded
        from gda_core.torch.training import Optim, TrainingLoop, fit_key
        from gda_core.torch.vae import kl_weight_at

        p = self.params
        steps = steps or p.steps
        if fresh:
            with seeded(context.seed):
                self.model_ = self._build(self._new_config(Z))
        chooser, y = None, np.asarray(y)
        if select and p.checkpoint != "last":
            Z, y, chooser = self._chooser(Z, y, context.seed)
        x_all, y_all = torch.from_numpy(Z), torch.from_numpy(y).long()

        def step(s):
            idx = torch.randint(0, len(x_all), (min(p.batch_size, len(x_all)),), generator=s.generator)
            noise = torch.randn((len(idx), p.latent_dim), generator=s.generator)
            with s.autocast():
                rec, kl = self._terms(s.modules["vae"], x_all[idx].to(s.device), y_all[idx].to(s.device), noise)
            w = kl_weight_at(s.index, s.steps, p.kl_weight, p.kl_warmup)
            return {"loss": (rec + w * kl).mean(), "reconstruction": rec.mean(), "kl": kl.mean()}

        result = TrainingLoop({"vae": self.model_}, step, {"vae": Optim("vae", lr=p.lr, weight_decay=1e-4)},
                              steps=steps, seed=context.seed * 7919 + (0 if fresh else 1), device=p.device,
                              chooser=chooser, context=context, desc=desc, key=fit_key(self, Z, y)).run()
        self.model_ = result.modules["vae"]
        self.losses_ = result.losses["loss"]
        self.checkpoints_, self.checkpoint_step_ = result.checkpoints, result.checkpoint_step
        self.prior_ = self._fit_prior(self.model_, Z, y, context.seed)

    def _fit_prior(self, model, Z: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        from gda_core.torch.vae import fit_latent_prior, posterior_means

        codes = posterior_means(model, Z, y, self.params.sample_batch_size)
        return fit_latent_prior(codes, y, len(self.classes_), self.params.prior_components, seed)

    def _chooser(self, Z: np.ndarray, y: np.ndarray, seed: int):
        """Hold out ``holdout`` of ``Z``; the chooser scores the negative ELBO on the held-out series (at
        fixed noise) or the near-copy share of samples for the kept series' classes."""
        import torch

        from gda_core.torch.accelerators import torch_generator
        from gda_core.torch.diffusion import CheckpointChooser, holdout_split

        p = self.params
        keep, held = (i.numpy() for i in holdout_split(len(Z), p.holdout, seed, who=self.who))
        zh, yh = torch.from_numpy(Z[held]), torch.from_numpy(y[held]).long()
        noise = torch.randn((len(held), p.latent_dim), generator=torch_generator(seed + 2))
        labels = y[keep][np.random.default_rng(seed).permutation(len(keep))[:200]].tolist()

        def heldout_loss(model) -> float:
            dev = next(model.parameters()).device
            rec, kl = self._terms(model, zh.to(dev), yh.to(dev), noise)
            return float((rec + p.kl_weight * kl).mean())

        def samples(model) -> np.ndarray:
            prior = self._fit_prior(model, Z[keep], y[keep], seed) if p.prior == "fitted" else None
            return self._decode(model, labels, seed, prior)

        chooser = CheckpointChooser(p, train=Z[keep], held=Z[held], heldout_loss=heldout_loss, sample=samples)
        return Z[keep], y[keep], chooser

    # -- sampling ---------------------------------------------------------------------

    def _decode(self, model, idx: list[int], seed: int, prior, context=None) -> np.ndarray:
        from gda_core.torch.vae import decode_codes, sample_latents

        p = self.params
        z = sample_latents(idx, p.latent_dim, seed, prior=prior, temperature=p.temperature)
        progress = None if context is None else (lambda it: context.progress(it, desc=f"{self.who} sample"))
        return decode_codes(model, z, idx, p.sample_batch_size, progress).numpy()

    def _sample(self, idx, seed, context) -> np.ndarray:
        prior = self.prior_ if self.params.prior == "fitted" else None
        return self._decode(self.model_, idx, seed, prior, context)

    def _extra_state(self):
        return {f"prior_{k}": v for k, v in self.prior_.items()}

    def _load_extra_state(self, arrays) -> None:
        self.prior_ = {k.removeprefix("prior_"): v for k, v in arrays.items() if k.startswith("prior_")}
