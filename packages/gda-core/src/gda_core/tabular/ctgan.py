"""``core.ctgan``: SDV's CTGAN (conditional tabular GAN, Xu et al. 2019) through the ``ctgan`` library."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from gda_core.tabular.synthesizer import LABEL_COLUMN, TabularParams, TabularSynthesizer


class CTGANParams(TabularParams):
    generator_dim: list[int] = Field([256, 256], min_length=1, description="widths of the generator's "
                                     "residual layers")
    discriminator_dim: list[int] = Field([256, 256], min_length=1, description="widths of the discriminator's "
                                         "layers")
    generator_lr: float = Field(2e-4, gt=0, description="generator Adam learning rate")
    discriminator_lr: float = Field(2e-4, gt=0, description="discriminator Adam learning rate")
    generator_decay: float = Field(1e-6, ge=0, description="generator Adam weight decay")
    discriminator_decay: float = Field(1e-6, ge=0, description="discriminator Adam weight decay")
    discriminator_steps: int = Field(1, gt=0, description="discriminator updates per generator update")
    pac: int = Field(10, gt=0, description="rows the discriminator judges together (PacGAN, against mode collapse)")
    log_frequency: bool = Field(True, description="training-by-sampling draws a discrete column's categories "
                                "by log frequency (rare ones more often)")

    @model_validator(mode="after")
    def _batch_fits_pac(self) -> CTGANParams:
        if self.batch_size % 2 or self.batch_size % self.pac:
            raise ValueError(f"batch_size {self.batch_size} must be even and a multiple of pac={self.pac}")
        return self


class CTGANGenerator(TabularSynthesizer):
    """CTGAN (SDV's ``ctgan.CTGAN``): a conditional GAN for tables with mode-specific
    normalisation of continuous columns, training-by-sampling and a PacGAN discriminator
    (WGAN-GP loss), class-conditional per class or through the label column.

    The library fits (its own loop, seeded); GDA keeps the generator network (safetensors) and the
    encoding's fitted numbers (JSON), samples with the library's recipe (noise, conditional vector,
    batch statistics, Gumbel choice of each softmax span) from a seeded generator, and decodes rows
    as the library does. Needs ``pip install 'gda-core[tabular]'``.
    """

    Params = CTGANParams
    who = "core.ctgan"

    def _build(self, seed: int) -> Any:
        from ctgan import CTGAN

        p = self.params
        model = CTGAN(embedding_dim=p.embedding_dim, generator_dim=tuple(p.generator_dim),
                      discriminator_dim=tuple(p.discriminator_dim), generator_lr=p.generator_lr,
                      generator_decay=p.generator_decay, discriminator_lr=p.discriminator_lr,
                      discriminator_decay=p.discriminator_decay, batch_size=p.batch_size,
                      discriminator_steps=p.discriminator_steps, log_frequency=p.log_frequency,
                      epochs=p.epochs, pac=p.pac, enable_gpu=False)
        model._device = self._device()
        model.set_random_state(seed)
        return model

    def _export(self, model, encoding):
        sampler = model._data_sampler
        n_cat = int(sampler.dim_cond_vec())
        probs = np.asarray(sampler._discrete_column_category_prob, dtype=np.float64).flatten()
        probs = probs[probs != 0]
        cond = {"dim": n_cat, "offsets": [int(v) for v in sampler._discrete_column_cond_st],
                "original_probs": (probs / probs.sum()).tolist() if n_cat else []}
        discrete = [c["name"] for c in encoding["columns"] if c["type"] == "discrete"]
        cond["label_column"] = discrete.index(LABEL_COLUMN) if LABEL_COLUMN in discrete else None
        extra = {"embedding_dim": self.params.embedding_dim, "generator_dim": list(self.params.generator_dim),
                 "batch_size": self.params.batch_size, "cond": cond}
        return model._generator, extra

    def _network(self, state):
        from ctgan.synthesizers.ctgan import Generator as Net

        return Net(state["embedding_dim"] + state["cond"]["dim"], tuple(state["generator_dim"]),
                   state["encoding"]["dim"])

    def _sample_rows(self, net, state, n, cond, g):
        import torch

        cv = state["cond"]
        b = state["batch_size"]
        dev = next(net.parameters()).device
        net = copy.deepcopy(net).train()  # the library samples with batch statistics (and so do we, on a copy)
        out = []
        for _ in range(max(1, -(-n // b))):
            z = torch.randn((b, state["embedding_dim"]), generator=g)
            if cv["dim"]:
                c = torch.zeros((b, cv["dim"]))
                if cond is not None:  # the asked class: one-hot at the label column's category
                    c[:, cv["offsets"][cv["label_column"]] + cond] = 1.0
                else:  # per-class model with discrete feature columns: the library's original frequencies
                    probs = torch.tensor(cv["original_probs"], dtype=torch.float64)
                    c[torch.arange(b), torch.multinomial(probs, b, replacement=True, generator=g)] = 1.0
                z = torch.cat([z, c], dim=1)
            with torch.no_grad():
                fake = net(z.to(dev)).float().cpu()
            out.append(_activate(fake, state["encoding"]["spans"], g))
        return torch.cat(out)[:n].numpy().astype(np.float64), None


def _activate(fake: Any, spans: list[list[list[Any]]], g: Any) -> Any:
    """CTGAN's output activation for decoding: tanh on the tanh spans; on each softmax span the
    logits plus Gumbel noise, whose argmax is the category the library's Gumbel-softmax picks."""
    import torch

    parts = []
    st = 0
    for col in spans:
        for dim, fn in col:
            x = fake[:, st:st + dim]
            if fn == "tanh":
                parts.append(torch.tanh(x))
            else:
                u = torch.rand(x.shape, generator=g).clamp(1e-10, 1 - 1e-10)
                parts.append(x - torch.log(-torch.log(u)))
            st += dim
    return torch.cat(parts, dim=1)
