"""``core.tvae``: SDV's TVAE (a VAE for tables, Xu et al. 2019) through the ``ctgan`` library."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from gda_core.tabular.synthesizer import TabularParams, TabularSynthesizer


class TVAEParams(TabularParams):
    compress_dims: list[int] = Field([128, 128], min_length=1, description="widths of the encoder's layers")
    decompress_dims: list[int] = Field([128, 128], min_length=1, description="widths of the decoder's layers")
    l2scale: float = Field(1e-5, ge=0, description="Adam weight decay")
    loss_factor: float = Field(2.0, gt=0, description="weight of the reconstruction loss against the KL term")


class TVAEGenerator(TabularSynthesizer):
    """TVAE (SDV's ``ctgan.TVAE``): a variational autoencoder over the same mode-specific encoding
    as CTGAN, class-conditional per class or through the label column (TVAE has no conditional
    sampling, so there rows of another class are dropped).

    The library fits (its own loop, seeded); GDA keeps the decoder (with its learnt per-column
    sigmas; safetensors) and the encoding's fitted numbers (JSON), and samples as the library does:
    standard normal latents, tanh outputs, Gaussian noise of the learnt sigma on continuous values.
    Needs ``pip install 'gda-core[tabular]'``.
    """

    Params = TVAEParams
    who = "core.tvae"

    def _build(self, seed: int) -> Any:
        from ctgan import TVAE

        p = self.params
        model = TVAE(embedding_dim=p.embedding_dim, compress_dims=tuple(p.compress_dims),
                     decompress_dims=tuple(p.decompress_dims), l2scale=p.l2scale, batch_size=p.batch_size,
                     epochs=p.epochs, loss_factor=p.loss_factor, enable_gpu=False)
        model._device = self._device()
        model.set_random_state(seed)
        return model

    def _export(self, model, encoding):
        extra = {"embedding_dim": self.params.embedding_dim, "decompress_dims": list(self.params.decompress_dims)}
        return model.decoder, extra

    def _network(self, state):
        from ctgan.synthesizers.tvae import Decoder

        return Decoder(state["embedding_dim"], tuple(state["decompress_dims"]), state["encoding"]["dim"])

    def _sample_rows(self, net, state, n, cond, g):
        import torch

        dev = next(net.parameters()).device
        net.eval()
        z = torch.randn((n, state["embedding_dim"]), generator=g)
        with torch.no_grad():
            fake, sigmas = net(z.to(dev))
        rows = torch.tanh(fake).float().cpu()
        noise = torch.randn(rows.shape, generator=g) * sigmas.detach().float().cpu()[None, :]
        return rows.numpy().astype(np.float64), noise.numpy().astype(np.float64)
