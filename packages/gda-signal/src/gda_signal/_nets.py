"""Torch modules of the package, as module-level classes.

This module imports torch and diffusers when it is imported: only the methods that build or load a
network import it (``from .._nets import Denoiser1D``), so importing gda_signal, listing and
describing its components stay light.

- ``Denoiser1D``: a compact class-conditional 1-D U-Net (diffusers ``ModelMixin`` +
  ``ConfigMixin``, so it saves and loads with ``save_pretrained``/``from_pretrained``
  as safetensors). diffusers' ``UNet1DModel`` has no class embedding, hence our own.
- ``CNN1D``: a small 1-D convolutional classifier (features = global-pooled last block).
- ``GRUClassifier`` / ``GRUPredictor``: the post-hoc networks of TimeGAN's scores.
"""

from __future__ import annotations

import math
import sys
import types

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import get_timestep_embedding
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn import functional as F


def _groups(channels: int, want: int = 8) -> int:
    return math.gcd(channels, want) or 1


class ResBlock1D(nn.Module):
    """Two convolutions with GroupNorm; the embedding modulates the second (scale, shift)."""

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv1d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(cout, cout, 3, padding=1)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(e)[..., None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.drop(F.silu(h)))
        return h + self.skip(x)


class Attention1D(nn.Module):
    def __init__(self, ch: int, heads: int = 4) -> None:
        super().__init__()
        heads = heads if ch % heads == 0 else 1
        self.norm = nn.GroupNorm(_groups(ch), ch)
        self.attn = nn.MultiheadAttention(ch, heads, batch_first=True)

    def forward(self, x):
        h = self.norm(x).transpose(1, 2)
        h, _ = self.attn(h, h, h, need_weights=False)
        return x + h.transpose(1, 2)


class Denoiser1D(ModelMixin, ConfigMixin):
    """Class-conditional 1-D U-Net predicting the noise of ``x_t`` (B, C, L).

    Labels ``num_classes`` (one past the last class) mean "no class", for
    classifier-free guidance. With ``num_augment`` > 0 the forward takes ``aug`` (B, num_augment),
    the parameters of the augmentation applied to the training sample, embedded without bias so
    that no augmentation (``aug`` None or zeros, as in sampling) adds nothing. Any length works:
    inputs are padded to a multiple of
    ``2 ** (len(channel_mults) - 1)`` and the output cropped back.
    """

    @register_to_config
    def __init__(self, in_channels: int = 1, num_classes: int = 2, base_channels: int = 32,
                 channel_mults: tuple[int, ...] = (1, 2, 2), attention: bool = True,
                 dropout: float = 0.0, num_augment: int = 0) -> None:
        super().__init__()
        chs = [base_channels * m for m in channel_mults]
        emb_dim = 4 * base_channels
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim)
        self.aug_emb = nn.Linear(num_augment, emb_dim, bias=False) if num_augment else None
        self.conv_in = nn.Conv1d(in_channels, chs[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        prev = chs[0]
        for i, ch in enumerate(chs):
            self.down.append(ResBlock1D(prev, ch, emb_dim, dropout))
            prev = ch
            last = i == len(chs) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv1d(ch, ch, 3, stride=2, padding=1))
        self.mid1 = ResBlock1D(prev, prev, emb_dim, dropout)
        self.mid_attn = Attention1D(prev) if attention else nn.Identity()
        self.mid2 = ResBlock1D(prev, prev, emb_dim, dropout)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, ch in reversed(list(enumerate(chs))):
            self.up.append(ResBlock1D(prev + ch, ch, emb_dim, dropout))
            prev = ch
            self.upsample.append(nn.Conv1d(ch, chs[i - 1], 3, padding=1) if i > 0 else nn.Identity())
            if i > 0:
                prev = chs[i - 1]
        self.norm_out = nn.GroupNorm(_groups(prev), prev)
        self.conv_out = nn.Conv1d(prev, in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, timesteps, labels, aug=None):
        n = x.shape[-1]
        factor = 2 ** (len(self.config.channel_mults) - 1)
        pad = (-n) % factor
        if pad:
            x = F.pad(x, (0, pad))
        if not torch.is_tensor(timesteps):
            timesteps = torch.tensor([timesteps], device=x.device)
        timesteps = timesteps.reshape(-1).expand(x.shape[0]).to(x.device)
        t = get_timestep_embedding(timesteps, self.config.base_channels, flip_sin_to_cos=True,
                                   downscale_freq_shift=0).to(x.dtype)
        e = self.time_mlp(t) + self.label_emb(labels)
        if self.aug_emb is not None and aug is not None:
            e = e + self.aug_emb(aug.to(e.dtype))
        h = self.conv_in(x)
        skips = []
        for block, down in zip(self.down, self.downsample):
            h = block(h, e)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, e)), e)
        for block, up in zip(self.up, self.upsample):
            skip = skips.pop()
            if h.shape[-1] != skip.shape[-1]:
                h = F.interpolate(h, size=skip.shape[-1], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), e)
            h = up(h)
        out = self.conv_out(F.silu(self.norm_out(h)))
        return out[..., :n]


class CNN1D(nn.Module):
    """Three conv blocks, global average pooling, a linear head."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        layers, prev = [], in_channels
        for ch, k in ((width, 7), (2 * width, 5), (2 * width, 3)):
            layers += [nn.Conv1d(prev, ch, k, padding=k // 2), nn.BatchNorm1d(ch), nn.ReLU()]
            prev = ch
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(prev, num_classes)

    def features(self, x):
        return self.body(x).mean(-1)

    def forward(self, x):
        return self.head(self.features(x))


class GRUClassifier(nn.Module):
    """TimeGAN's post-hoc discriminator: a one-layer GRU, its last state, a logit."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(in_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):  # x: (B, T, D)
        _, h = self.gru(x)
        return self.out(h[-1]).squeeze(-1)


class GRUPredictor(nn.Module):
    """TimeGAN's post-hoc predictor: a GRU and a sigmoid read-out at every step."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.gru = nn.GRU(in_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x):
        h, _ = self.gru(x)
        return torch.sigmoid(self.out(h))


def nets() -> types.ModuleType:
    """This module itself (callers once wrote ``nets().Denoiser1D``; import the classes instead)."""
    return sys.modules[__name__]
