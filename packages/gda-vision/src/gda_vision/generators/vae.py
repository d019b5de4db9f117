"""``vision.vae``: a class-conditional VAE (diffusers' AutoencoderKL encoder and decoder, with the
class as extra input planes), a KL weight, and sampling from N(0, I) or from a prior fitted to the
training images' latents (a Gaussian or a Gaussian mixture per class)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import SAMPLING

from .class_images import ClassImageGenerator, ClassImageParams, data_digest

LATENTS_FILE = "vae_latents.npz"


class VAEParams(ClassImageParams):
    block_out_channels: list[int] = Field([32, 64, 64], min_length=1, description="channels per level of the "
                                          "encoder and decoder (diffusers' DownEncoderBlock2D / UpDecoderBlock2D); "
                                          "each level after the first halves the side: 8x8 images give a 2x2 latent")
    layers_per_block: int = Field(1, gt=0, description="ResNet layers per encoder block (the decoder has one more)")
    norm_num_groups: int = Field(8, gt=0, description="GroupNorm groups (must divide every channel count)")
    latent_channels: int = Field(4, gt=0, description="channels of the latent map")
    class_channels: int = Field(4, gt=0, description="planes of the learnt class embedding given to the encoder "
                                "(beside the image) and to the decoder (beside the latent)")
    attention: bool = Field(False, description="self-attention in the encoder's and decoder's middle blocks")
    kl_weight: float = Field(0.5, ge=0, description="weight of the KL term against the reconstruction error "
                             "(summed squared error in [-1, 1]); lower: sharper, less regular latents")
    learning_rate: float = Field(1e-3, gt=0, description="AdamW peak learning rate (warm-up, then cosine decay)")
    warmup_steps: int = Field(100, ge=0, description="linear learning-rate warm-up steps")
    ema_decay: float = Field(0.0, ge=0, lt=1, description="EMA decay of the weights that sample (0: none)")
    prior: Literal["standard", "class-gaussian", "class-gmm"] = Field(
        "class-gaussian", description="where sampling draws latents: standard (N(0, I)); class-gaussian (per "
        "class, a diagonal Gaussian matched to the training latents: their means' mean and spread plus the "
        "mean posterior variance); class-gmm (per class, a diagonal Gaussian mixture of prior_components over "
        "the latents' means, widened by the mean posterior variance)", json_schema_extra=SAMPLING)
    prior_components: int = Field(3, gt=0, description="class-gmm: mixture components per class (at most the "
                                   "class's training images)", json_schema_extra=SAMPLING)
    temperature: float = Field(1.0, gt=0, description="scales the prior's spread around its means",
                               json_schema_extra=SAMPLING)

    @model_validator(mode="after")
    def _groups_divide(self) -> VAEParams:
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"block_out_channels {bad} are not multiples of norm_num_groups={self.norm_num_groups}")
        return self


def build_vae(channels: int, n_embed: int, p: VAEParams) -> Any:
    """The class-conditional VAE: diffusers' ``Encoder`` (image + class planes -> mean and log-variance
    maps) and ``Decoder`` (latent + class planes -> image), the AutoencoderKL building blocks."""
    import torch
    import torch.nn as nn
    from diffusers.models.autoencoders.vae import Decoder, Encoder

    levels = len(p.block_out_channels)

    class ConditionalVAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.classes = nn.Embedding(n_embed, p.class_channels)
            self.encoder = Encoder(in_channels=channels + p.class_channels, out_channels=p.latent_channels,
                                   down_block_types=("DownEncoderBlock2D",) * levels,
                                   block_out_channels=tuple(p.block_out_channels), layers_per_block=p.layers_per_block,
                                   norm_num_groups=p.norm_num_groups, double_z=True,
                                   mid_block_add_attention=p.attention)
            self.decoder = Decoder(in_channels=p.latent_channels + p.class_channels, out_channels=channels,
                                   up_block_types=("UpDecoderBlock2D",) * levels,
                                   block_out_channels=tuple(p.block_out_channels), layers_per_block=p.layers_per_block,
                                   norm_num_groups=p.norm_num_groups, mid_block_add_attention=p.attention)

        def _planes(self, y, like):
            e = self.classes(y)[:, :, None, None]
            return e.expand(-1, -1, like.shape[2], like.shape[3])

        def encode(self, x, y):
            moments = self.encoder(torch.cat([x, self._planes(y, x)], dim=1))
            mean, logvar = moments.chunk(2, dim=1)
            return mean, logvar.clamp(-30.0, 20.0)

        def decode(self, z, y):
            return self.decoder(torch.cat([z, self._planes(y, z)], dim=1))

    return ConditionalVAE()


def vae_losses(model: Any, x: Any, y: Any, eps: Any) -> tuple[Any, Any]:
    """Per-image reconstruction error (summed squared error) and KL divergence to N(0, I), with the
    reparameterisation noise ``eps``."""
    import torch

    mean, logvar = model.encode(x, y)
    z = mean + torch.exp(0.5 * logvar) * eps
    recon = ((model.decode(z, y).float() - x) ** 2).sum(dim=(1, 2, 3))
    kl = 0.5 * (mean.float() ** 2 + logvar.float().exp() - 1.0 - logvar.float()).sum(dim=(1, 2, 3))
    return recon, kl


class ClassConditionalVAEGenerator(ClassImageGenerator):
    """A class-conditional VAE trained from scratch (diffusers' AutoencoderKL encoder and decoder).

    The encoder sees the image and the class (learnt embedding planes), the decoder the latent and
    the class; the loss is the summed squared reconstruction error plus ``kl_weight`` times the KL
    divergence to N(0, I) (AdamW, warm-up then cosine decay, on ``gda_core.torch.training``).
    Sampling decodes latents drawn from ``prior``: N(0, I), or a per-class Gaussian or Gaussian
    mixture fitted to the training images' encoded latents, which stay in the class's region of
    latent space where N(0, I) often falls between classes. ``checkpoint: heldout-loss`` keeps the
    weights with the lowest loss on held-out training images, ``copy-share`` those whose samples
    copy no more than held-out images do. Saves ``vae_state.json``, ``vae.safetensors`` and the
    training latents (``vae_latents.npz``) the fitted priors are drawn from.
    """

    Params = VAEParams
    version = "1"
    who = "vision.vae"
    state_file = "vae_state.json"
    weights_file = "vae.safetensors"
    module_names = ("vae",)

    def _side_multiple(self) -> int:
        return 2 ** (len(self.params.block_out_channels) - 1)

    def _build(self) -> dict[str, Any]:
        return {"vae": build_vae(self.shape_[0], len(self.classes_) + 1, self.params).to(self.device_)}

    def _train(self, x, y, steps, context, desc, select) -> None:
        import torch

        from gda_core.torch.accelerators import torch_generator
        from gda_core.torch.training import EMA, Optim, Schedule, TrainingLoop

        p = self.params
        dev = self.device_
        chooser = None
        x_all, y_all = x, y  # every image it learns from (held-out ones included) feeds the fitted priors
        if select and p.checkpoint != "last":

            def heldout_loss(model, xh, yh):  # the loss on held-out images at fixed noise
                eps = torch.randn((len(xh), *self._latent_shape()), generator=torch_generator(context.seed + 3))
                recon, kl = vae_losses(model, xh.to(dev), yh.to(dev), eps.to(dev))
                return float((recon + p.kl_weight * kl).mean())

            x, y, chooser = self._holdout(x, y, context.seed, heldout_loss=heldout_loss,
                                          sample=lambda m, labels: self._draw(
                                              m, labels, context.seed, self._encode(m, x_all, y_all)))
        x, y = x.to(dev), y.to(dev)
        n = len(x)

        def step(s):
            idx = torch.randint(0, n, (p.batch_size,), generator=s.generator).to(dev)
            eps = torch.randn((p.batch_size, *self._latent_shape()), generator=s.generator).to(dev)
            with s.autocast():
                recon, kl = vae_losses(s.modules["vae"], x[idx], y[idx], eps)
            loss = (recon + p.kl_weight * kl).mean()
            return {"loss": loss, "reconstruction": recon.mean().detach(), "kl": kl.mean().detach()}

        sched = Schedule(warmup=min(p.warmup_steps, steps // 2), decay="cosine")
        loop = TrainingLoop(self.nets_, step, {"vae": Optim("vae", lr=p.learning_rate, weight_decay=1e-4,
                                                             schedule=sched)},
                            steps=steps, seed=context.seed, device=dev,
                            ema={"vae": EMA(p.ema_decay)} if p.ema_decay > 0 else None, chooser=chooser,
                            choose="vae", context=context, desc=desc, key={"data": data_digest(x, y)})
        result = loop.run()
        self.nets_ = {"vae": result.modules["vae"].eval()}
        self.losses_ = result.losses
        self.checkpoints_, self.checkpoint_step_ = result.checkpoints, result.checkpoint_step
        self.latents_ = self._encode(self.nets_["vae"], x_all, y_all)

    def _latent_shape(self) -> tuple[int, int, int]:
        side = self.sample_size_ // self._side_multiple()
        return (self.params.latent_channels, side, side)

    def _encode(self, model: Any, x: Any, y: Any) -> dict[str, np.ndarray]:
        """Posterior means and variances ``(n, d)`` of images ``x`` and their classes ``y``."""
        import torch

        means, variances = [], []
        with torch.no_grad():
            for i in range(0, len(x), self.params.sample_batch_size):
                m, lv = model.encode(x[i:i + self.params.sample_batch_size].to(self.device_),
                                     y[i:i + self.params.sample_batch_size].to(self.device_))
                means.append(m.float().flatten(1).cpu().numpy())
                variances.append(lv.float().exp().flatten(1).cpu().numpy())
        return {"means": np.concatenate(means).astype(np.float64), "variances": np.concatenate(variances),
                "labels": y.cpu().numpy().astype(np.int64)}

    def _prior(self, latents: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """The configured prior over the training latents (``gda_core.torch.vae.fit_latent_prior``, the
        medical and signal VAEs' too): None for N(0, I), else per class a diagonal Gaussian
        (``class-gaussian``) or mixture of ``prior_components`` (``class-gmm``) over the latents' means,
        widened by their mean posterior variance; a class it never saw gets N(0, I)."""
        from gda_core.torch.vae import fit_latent_prior

        p = self.params
        if p.prior == "standard":
            return None
        components = 1 if p.prior == "class-gaussian" else p.prior_components
        return fit_latent_prior(latents["means"], latents["labels"], len(self.classes_), components, 0,
                                posterior_variances=latents["variances"])

    def _draw(self, model: Any, labels: Any, seed: int, latents: dict[str, np.ndarray]) -> Any:
        import torch

        from gda_core.torch.vae import sample_latents

        ys = labels.numpy()
        z = sample_latents(ys.tolist(), int(np.prod(self._latent_shape())), seed, prior=self._prior(latents),
                           temperature=self.params.temperature)
        z_t = torch.from_numpy(z).view(len(ys), *self._latent_shape())
        was = model.training
        model.eval()
        out = []
        bs = self.params.sample_batch_size
        with torch.no_grad():
            for i in range(0, len(ys), bs):
                out.append(model.decode(z_t[i:i + bs].to(self.device_), labels[i:i + bs].to(self.device_))
                           .float().cpu())
        model.train(was)
        return torch.cat(out) if out else torch.zeros((0, self.shape_[0], self.sample_size_, self.sample_size_))

    def _sample(self, labels, seed):
        return self._draw(self.nets_["vae"], labels, seed, self.latents_)

    def _reset(self) -> None:
        super()._reset()
        self.__dict__.pop("latents_", None)

    def save_state(self, path: Path) -> None:
        super().save_state(path)
        self.save_arrays(path, self.latents_, LATENTS_FILE)

    def load_state(self, path: Path) -> None:
        super().load_state(path)
        self.latents_ = self.load_arrays(path, LATENTS_FILE)

