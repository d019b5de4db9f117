"""A class-conditional variational autoencoder of any spatial rank, built on MONAI's ``VarAutoEncoder``,
and the latent priors it samples from.

``medical.vae3d`` (volumes, rank 3) and ``signal.vae1d`` (series, rank 1) share it:

- :func:`build_cvae` builds a :class:`ConditionalVAE` from a plain config dict (saved beside the
  weights). The class enters as one-hot planes concatenated to the encoder's input and as a one-hot
  vector concatenated to the latent code before MONAI's decoder (Sohn et al. 2015's CVAE); the label
  ``num_classes`` means "no class" (what pretraining on an unlabelled pool learns). Inputs are padded
  to a multiple of the strides' product and the output cropped back, so any size works.
- :func:`kl_divergence` and :func:`kl_weight_at` (linear KL warm-up, Bowman et al. 2016).
- :func:`fit_latent_prior` fits a diagonal Gaussian mixture per class (scikit-learn) to the training
  records' posterior means ("ex-post density estimation", Ghosh et al. 2020): sampling from it lands
  where the data's codes are, not in the holes an N(0, I) prior leaves. :func:`sample_latents` draws
  from it or from N(0, I), seeded, with a temperature.

torch and MONAI are imported inside functions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


@functools.cache
def _classes() -> Any:
    import torch
    from monai.networks.nets import VarAutoEncoder
    from torch import nn
    from torch.nn import functional as F

    class ConditionalVAE(nn.Module):
        """MONAI ``VarAutoEncoder`` with a class input (see the module doc). ``forward(x, labels, noise)``
        returns ``(output, mu, logvar)`` with the reparameterised code ``mu + noise * std``."""

        def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, spatial_shape: Sequence[int],
                     latent_size: int, channels: Sequence[int], strides: Sequence[int], num_res_units: int = 1,
                     num_classes: int = 0, norm: str = "INSTANCE", dropout: float | None = None) -> None:
            super().__init__()
            self.spatial_shape = [int(s) for s in spatial_shape]
            factor = int(np.prod(strides))
            self.padded = [int(math.ceil(s / factor) * factor) for s in self.spatial_shape]
            self.k1 = num_classes + 1 if num_classes else 0
            self.vae = VarAutoEncoder(spatial_dims=spatial_dims, in_shape=(in_channels + self.k1, *self.padded),
                                      out_channels=out_channels, latent_size=latent_size, channels=list(channels),
                                      strides=list(strides), num_res_units=num_res_units, norm=norm,
                                      dropout=dropout, use_sigmoid=False)
            if self.k1:  # the decoder sees the class beside the code
                self.vae.decodeL = nn.Linear(latent_size + self.k1, self.vae.decodeL.out_features)

        def _onehot(self, labels, n: int, device):
            if labels is None:
                labels = torch.full((n,), self.k1 - 1, dtype=torch.long)
            return F.one_hot(labels.long().to(device), self.k1).float()

        def _pad(self, x):
            pads = []
            for s, p in zip(reversed(self.spatial_shape), reversed(self.padded)):
                pads += [0, p - s]
            return F.pad(x, pads) if any(pads) else x

        def encode(self, x, labels=None):
            """``(mu, logvar)`` of the posterior of ``x`` (B, C, *spatial) of class ``labels`` (B,)."""
            x = self._pad(x)
            if self.k1:
                oh = self._onehot(labels, len(x), x.device).to(x.dtype)
                x = torch.cat([x, oh.view(*oh.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])], dim=1)
            return self.vae.encode_forward(x)

        def decode(self, z, labels=None):
            """The decoder's raw output (B, out_channels, *spatial) for codes ``z`` (B, latent) of ``labels``."""
            if self.k1:
                z = torch.cat([z, self._onehot(labels, len(z), z.device).to(z.dtype)], dim=1)
            out = self.vae.decode_forward(z, use_sigmoid=False)
            return out[(slice(None), slice(None), *[slice(0, s) for s in self.spatial_shape])]

        def forward(self, x, labels=None, noise=None):
            mu, logvar = self.encode(x, labels)
            eps = torch.randn_like(mu) if noise is None else noise.to(mu.device, mu.dtype)
            z = mu + eps * torch.exp(0.5 * logvar)
            return self.decode(z, labels), mu, logvar

    return ConditionalVAE


def cvae_config(*, spatial_dims: int, in_channels: int, out_channels: int, spatial_shape: Sequence[int],
                latent_size: int, channels: Sequence[int], strides: Sequence[int], num_res_units: int,
                num_classes: int, norm: str = "INSTANCE", dropout: float | None = None) -> dict[str, Any]:
    """The constructor arguments of a :class:`ConditionalVAE`, as JSON-ready values."""
    return {"spatial_dims": int(spatial_dims), "in_channels": int(in_channels), "out_channels": int(out_channels),
            "spatial_shape": [int(s) for s in spatial_shape], "latent_size": int(latent_size),
            "channels": [int(c) for c in channels], "strides": [int(s) for s in strides],
            "num_res_units": int(num_res_units), "num_classes": int(num_classes), "norm": norm,
            "dropout": dropout}


def build_cvae(config: dict[str, Any]) -> Any:
    """A :class:`ConditionalVAE` from :func:`cvae_config`'s dict."""
    return _classes()(**config)


def kl_divergence(mu: Any, logvar: Any) -> Any:
    """KL(q(z|x) || N(0, I)) per sample (B,), summed over the latent dimensions."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def kl_weight_at(step: int, steps: int, weight: float, warmup: float) -> float:
    """The KL weight at ``step`` (0-based) of ``steps``: linear from 0 over the first ``warmup`` share."""
    ramp = int(round(warmup * steps))
    return weight if ramp <= 0 else weight * min(1.0, (step + 1) / ramp)


# -- latent priors ----------------------------------------------------------------------


def fit_latent_prior(codes: np.ndarray, labels: np.ndarray, num_classes: int, components: int, seed: int,
                     *, posterior_variances: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per class (index 0..``num_classes``; the last, "no class", takes every code), a diagonal Gaussian
    mixture of at most ``components`` components (and at most half the class's codes) fitted to
    ``codes`` (n, d), the posterior means of the training records. With ``posterior_variances`` (n, d)
    every component of a class is widened by the class's mean posterior variance (the codes' own
    uncertainty, which a mixture over the means alone leaves out). A class with one code gets a
    component at it (the code's posterior variance, else unit variance), one with none N(0, I).
    Returns arrays ``weights`` (K+1, M), ``means`` and ``variances`` (K+1, M, d), unused components weight 0.
    ``medical.vae3d``, ``signal.vae1d`` and ``vision.vae`` all sample from it."""
    from sklearn.mixture import GaussianMixture

    codes = np.asarray(codes, dtype=np.float64)
    labels = np.asarray(labels)
    post = None if posterior_variances is None else np.asarray(posterior_variances, dtype=np.float64)
    d = codes.shape[1]
    m = max(1, int(components))
    weights = np.zeros((num_classes + 1, m))
    means = np.zeros((num_classes + 1, m, d))
    variances = np.ones((num_classes + 1, m, d))
    for c in range(num_classes + 1):
        mine = np.ones(len(codes), dtype=bool) if c == num_classes else labels == c
        z = codes[mine]
        if len(z) == 0:
            weights[c, 0] = 1.0
            continue
        if len(z) == 1:
            weights[c, 0], means[c, 0] = 1.0, z[0]
            if post is not None:
                variances[c, 0] = post[mine][0]
            continue
        k = min(m, max(1, len(z) // 2))
        gm = GaussianMixture(n_components=k, covariance_type="diag", reg_covar=1e-3, random_state=seed).fit(z)
        weights[c, :k], means[c, :k], variances[c, :k] = gm.weights_, gm.means_, gm.covariances_
        if post is not None:
            variances[c, :k] += post[mine].mean(axis=0)
    return {"weights": weights.astype(np.float32), "means": means.astype(np.float32),
            "variances": variances.astype(np.float32)}


def sample_latents(labels: Sequence[int], latent_size: int, seed: int, *, prior: dict[str, np.ndarray] | None = None,
                   temperature: float = 1.0) -> np.ndarray:
    """``len(labels)`` codes (float32): from N(0, I), or from the fitted ``prior`` of each label, with
    standard deviations scaled by ``temperature``; seeded."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 29]))
    labels = np.asarray(labels, dtype=int)
    eps = rng.standard_normal((len(labels), latent_size)) * temperature
    if prior is None:
        return eps.astype(np.float32)
    out = np.empty((len(labels), latent_size))
    for i, c in enumerate(labels):
        w = prior["weights"][c].astype(np.float64)
        j = int(rng.choice(len(w), p=w / w.sum()))
        out[i] = prior["means"][c, j] + np.sqrt(prior["variances"][c, j]) * eps[i]
    return out.astype(np.float32)


def posterior_means(model: Any, x: np.ndarray, labels: np.ndarray, batch_size: int) -> np.ndarray:
    """The encoder's posterior means (n, latent) of ``x`` (n, C, ...) of class indices ``labels``, in eval
    mode and without gradients (the model's mode is restored)."""
    import torch

    dev = next(model.parameters()).device
    was = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for b in range(0, len(x), batch_size):
            mu, _ = model.encode(torch.as_tensor(x[b:b + batch_size]).float().to(dev),
                                 torch.as_tensor(labels[b:b + batch_size]).long().to(dev))
            out.append(mu.float().cpu().numpy())
    model.train(was)
    return np.concatenate(out) if out else np.zeros((0, model.vae.latent_size), dtype=np.float32)


def decode_codes(model: Any, codes: np.ndarray, labels: Sequence[int], batch_size: int, progress: Any = None
                 ) -> Any:
    """The decoder's raw output (a CPU float32 tensor (n, out_channels, ...)) for ``codes`` of class
    indices ``labels``, in batches, in eval mode and without gradients; ``progress`` wraps the batch
    starts (``RunContext.progress``)."""
    import torch

    dev = next(model.parameters()).device
    was = model.training
    model.eval()
    starts = list(range(0, len(codes), batch_size))
    out = []
    with torch.no_grad():
        for b in (progress(starts) if progress is not None else starts):
            z = torch.from_numpy(np.ascontiguousarray(codes[b:b + batch_size])).to(dev)
            lab = torch.as_tensor(list(labels[b:b + batch_size]), dtype=torch.long, device=dev)
            out.append(model.decode(z, lab).float().cpu())
    model.train(was)
    return torch.cat(out)
