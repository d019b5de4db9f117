"""``vision.gan``: a class-conditional GAN built for small image sets: spectral normalisation and a
projection discriminator (Miyato & Koyama 2018), hinge loss, an EMA of the generator, and
differentiable augmentation of real and fake images before the discriminator (DiffAugment,
Zhao et al. 2020), which can be turned off."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import SAMPLING
from gda_core.errors import ConfigError

from .class_images import ClassImageGenerator, ClassImageParams, data_digest

Policy = Literal["color", "translation", "cutout"]


class GANParams(ClassImageParams):
    latent_dim: int = Field(64, gt=0, description="size of the generator's noise vector")
    width: int = Field(64, gt=0, description="channels at the full resolution; each lower level doubles them")
    base_size: int | None = Field(None, gt=0, description="side the generator starts from (default: 2 for "
                                  "images up to 8 pixels, else 4); every level doubles it up to sample_size")
    learning_rate: float = Field(2e-4, gt=0, description="Adam learning rate of both networks")
    discriminator_learning_rate: float | None = Field(None, gt=0, description="the discriminator's own learning "
                                                      "rate (default: learning_rate)")
    betas: tuple[float, float] = Field((0.5, 0.999), description="Adam betas of both networks")
    d_steps: int = Field(1, gt=0, description="discriminator updates per generator update")
    ema_decay: float = Field(0.999, ge=0, lt=1, description="EMA decay of the generator weights that sample "
                             "(0: the trained weights)")
    diffaugment: list[Policy] = Field(
        ["color", "translation", "cutout"], description="DiffAugment policies applied to real and generated "
        "images before the discriminator, in both networks' updates (colour: brightness, saturation, contrast; "
        "translation by up to 1/8 of the side; cutout of a square half the side); [] turns augmentation off")
    temperature: float = Field(1.0, gt=0, description="scales the sampling noise (below 1: the truncation "
                               "trick's fidelity for diversity)", json_schema_extra=SAMPLING)

    @model_validator(mode="after")
    def _checkpoint_without_a_loss(self) -> GANParams:
        if self.checkpoint == "heldout-loss":
            raise ValueError("checkpoint: a GAN has no held-out likelihood; use 'last' or 'copy-share'")
        return self


def diff_augment(x: Any, policy: list[str] | tuple[str, ...], g: Any) -> Any:
    """DiffAugment (Zhao et al. 2020) of a batch ``(B, C, H, W)`` in [-1, 1], differentiable in ``x``:
    ``color`` (brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]), ``translation`` (by up to
    1/8 of each side, zero fill) and ``cutout`` (a zeroed square of half the side), each image with
    its own draw from the CPU generator ``g``; the official code's recipe."""
    import torch
    import torch.nn.functional as F

    b, _c, h, w = x.shape
    dev = x.device

    def rand(*shape: int) -> Any:
        return torch.rand(shape, generator=g).to(dev)

    for p in policy:
        if p == "color":
            x = x + (rand(b, 1, 1, 1) - 0.5)
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * (rand(b, 1, 1, 1) * 2) + mean
            mean = x.mean(dim=[1, 2, 3], keepdim=True)
            x = (x - mean) * (rand(b, 1, 1, 1) + 0.5) + mean
        elif p == "translation":  # integer shifts, zero fill: nearest sampling at shifted pixel centres is exact
            sx, sy = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
            tx = torch.randint(-sx, sx + 1, (b,), generator=g).float()
            ty = torch.randint(-sy, sy + 1, (b,), generator=g).float()
            theta = torch.zeros(b, 2, 3)
            theta[:, 0, 0] = theta[:, 1, 1] = 1.0
            theta[:, 0, 2], theta[:, 1, 2] = -2.0 * ty / w, -2.0 * tx / h
            grid = F.affine_grid(theta.to(dev, x.dtype), list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        elif p == "cutout":  # a zeroed square of half the side, centred anywhere (clipped at the border)
            ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
            ox = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=g) - ch // 2
            oy = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=g) - cw // 2
            rows, cols = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
            inside = (rows >= ox) & (rows < ox + ch) & (cols >= oy) & (cols < oy + cw)
            x = x * (~inside).unsqueeze(1).to(dev, x.dtype)
        else:
            raise ValueError(f"unknown DiffAugment policy {p!r}")
    return x


def hinge_d_loss(real_logits: Any, fake_logits: Any) -> Any:
    """The discriminator's hinge loss: mean relu(1 - D(real)) + mean relu(1 + D(fake))."""
    import torch.nn.functional as F

    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: Any) -> Any:
    """The generator's hinge loss: -mean D(fake)."""
    return -fake_logits.mean()


def build_networks(channels: int, sample_size: int, base: int, n_embed: int, latent_dim: int, width: int
                   ) -> tuple[Any, Any]:
    """``(generator, discriminator)``: a DCGAN-shaped generator with class-conditional batch norm
    (noise -> ``base`` x ``base`` -> doubling to ``sample_size``, tanh) and a spectrally normalised
    convolutional discriminator with a projection head, ``D(x, y) = psi(phi(x)) + <e_y, phi(x)>``."""
    import torch
    import torch.nn as nn
    from torch.nn.utils.parametrizations import spectral_norm as sn

    levels = (sample_size // base).bit_length() - 1
    widths = [width * 2 ** (levels - i) for i in range(levels + 1)]  # low resolution -> full resolution

    class ConditionalBatchNorm(nn.Module):
        def __init__(self, ch: int) -> None:
            super().__init__()
            self.bn = nn.BatchNorm2d(ch, affine=False)
            self.gain = nn.Embedding(n_embed, ch)
            self.bias = nn.Embedding(n_embed, ch)
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

        def forward(self, x, y):
            return self.bn(x) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]

    class Generator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(latent_dim, widths[0] * base * base)
            self.norms = nn.ModuleList([ConditionalBatchNorm(c) for c in widths])
            self.convs = nn.ModuleList([nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths[:-1], widths[1:])])
            self.out = nn.Conv2d(widths[-1], channels, 3, padding=1)

        def forward(self, z, y):
            x = self.fc(z).view(len(z), widths[0], base, base)
            x = torch.relu(self.norms[0](x, y))
            for conv, norm in zip(self.convs, self.norms[1:]):
                x = torch.relu(norm(conv(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")), y))
            return torch.tanh(self.out(x))

    class Discriminator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            rev = widths[::-1]  # full resolution -> low resolution
            layers: list[nn.Module] = [sn(nn.Conv2d(channels, rev[0], 3, padding=1)), nn.LeakyReLU(0.1)]
            for a, b in zip(rev[:-1], rev[1:]):
                layers += [sn(nn.Conv2d(a, b, 4, stride=2, padding=1)), nn.LeakyReLU(0.1),
                           sn(nn.Conv2d(b, b, 3, padding=1)), nn.LeakyReLU(0.1)]
            self.body = nn.Sequential(*layers)
            self.psi = sn(nn.Linear(rev[-1], 1))
            self.embed = sn(nn.Embedding(n_embed, rev[-1]))

        def forward(self, x, y):
            phi = self.body(x).sum(dim=(2, 3))
            return self.psi(phi).squeeze(1) + (self.embed(y) * phi).sum(dim=1)

    return Generator(), Discriminator()


class ClassConditionalGANGenerator(ClassImageGenerator):
    """A class-conditional GAN trained from scratch, for small image sets.

    The generator maps noise and a class through class-conditional batch norm to an image; the
    discriminator is spectrally normalised with a projection head (the class enters as an inner
    product with its features); both train with the hinge loss, alternating (``d_steps``
    discriminator updates per generator update) on ``gda_core.torch.training.TrainingLoop``, and
    an EMA of the generator samples. ``diffaugment`` augments real and generated images alike
    before the discriminator, which keeps it from memorising a few hundred images (off: ``[]``).
    ``checkpoint: copy-share`` keeps the latest weights whose samples copy training images no more
    than held-out images do. Saves ``gan_state.json`` and ``gan.safetensors``.
    """

    Params = GANParams
    version = "1"
    who = "vision.gan"
    state_file = "gan_state.json"
    weights_file = "gan.safetensors"
    module_names = ("generator", "discriminator")

    def _base(self, side: int | None = None) -> int:
        """The side the generator starts from (saved with the model)."""
        saved = getattr(self, "base_size_", None) or self.params.base_size
        if saved:
            return saved
        return 2 if (side or self.sample_size_) <= 8 else 4

    def _side_multiple(self) -> int:
        return self.params.base_size or 2

    def _reset(self) -> None:
        super()._reset()
        self.__dict__.pop("base_size_", None)

    def _default_side(self, side: int) -> int:
        base = self._base(side)
        self.base_size_ = base
        return base * 2 ** max(0, int(np.ceil(np.log2(side / base))))

    def _build(self) -> dict[str, Any]:
        p = self.params
        base = self._base()
        size = self.sample_size_
        if size % base or (size // base) & (size // base - 1):
            raise ConfigError(f"generator.params.sample_size: {size} must be {base} times a power of two "
                              "(vision.gan doubles the side from base_size)")
        gen, disc = build_networks(self.shape_[0], size, base, len(self.classes_) + 1, p.latent_dim, p.width)
        return {"generator": gen.to(self.device_), "discriminator": disc.to(self.device_)}

    def _train(self, x, y, steps, context, desc, select) -> None:
        import torch

        from gda_core.torch.training import EMA, Optim, TrainingLoop

        p = self.params
        chooser = None
        if select and p.checkpoint != "last":
            x, y, chooser = self._holdout(x, y, context.seed, heldout_loss=None,
                                          sample=lambda m, labels: self._draw(m, labels, context.seed))
        dev = self.device_
        x, y = x.to(dev), y.to(dev)
        n = len(x)

        def step(s):
            gen, disc = s.modules["generator"], s.modules["discriminator"]
            g = s.generator
            for _ in range(p.d_steps):
                idx = torch.randint(0, n, (p.batch_size,), generator=g).to(dev)
                yf = y[torch.randint(0, n, (p.batch_size,), generator=g).to(dev)]
                z = torch.randn((p.batch_size, p.latent_dim), generator=g).to(dev)
                with torch.no_grad():
                    fake = gen(z, yf)
                with s.autocast():
                    d_loss = hinge_d_loss(disc(diff_augment(x[idx], p.diffaugment, g), y[idx]),
                                          disc(diff_augment(fake, p.diffaugment, g), yf))
                s.update("discriminator", d_loss)
            yf = y[torch.randint(0, n, (p.batch_size,), generator=g).to(dev)]
            z = torch.randn((p.batch_size, p.latent_dim), generator=g).to(dev)
            with s.autocast():
                g_loss = hinge_g_loss(disc(diff_augment(gen(z, yf), p.diffaugment, g), yf))
            s.update("generator", g_loss)
            return {"discriminator": d_loss, "generator": g_loss}

        betas = tuple(p.betas)
        optims = {"generator": Optim("generator", lr=p.learning_rate, betas=betas, clip=None),
                  "discriminator": Optim("discriminator", lr=p.discriminator_learning_rate or p.learning_rate,
                                         betas=betas, clip=None)}
        loop = TrainingLoop(self.nets_, step, optims, steps=steps, seed=context.seed, device=dev,
                            ema={"generator": EMA(p.ema_decay)} if p.ema_decay > 0 else None,
                            chooser=chooser, choose="generator", context=context, desc=desc,
                            key={"data": data_digest(x, y)})
        result = loop.run()
        # sample with the EMA (or chosen) generator; keep training the trained discriminator on fine-tuning
        self.nets_ = {"generator": result.modules["generator"].eval(),
                      "discriminator": result.trained["discriminator"].eval()}
        self.losses_ = result.losses
        self.checkpoints_, self.checkpoint_step_ = result.checkpoints, result.checkpoint_step

    def _draw(self, gen: Any, labels: Any, seed: int) -> Any:
        import torch

        from gda_core.torch.accelerators import torch_generator

        p = self.params
        z = torch.randn((len(labels), p.latent_dim), generator=torch_generator(seed)) * p.temperature
        was = gen.training
        gen.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(labels), p.sample_batch_size):
                out.append(gen(z[i:i + p.sample_batch_size].to(self.device_),
                               labels[i:i + p.sample_batch_size].to(self.device_)).float().cpu())
        gen.train(was)
        return torch.cat(out)

    def _sample(self, labels, seed):
        return self._draw(self.nets_["generator"], labels, seed)

    def _extra_state(self) -> dict[str, Any]:
        return {"base_size": self._base()}

    def _load_extra(self, state: dict[str, Any]) -> None:
        self.base_size_ = state["base_size"]

