"""TimeGAN's five recurrent networks (Yoon, Jarrett and van der Schaar, NeurIPS 2019), defined on first
use so that importing gda_signal stays light.

``timegan_net()`` returns the class ``TimeGANNet`` holding, as in the reference code, the embedder
(series to latent), recovery (latent to series), generator (noise to latent), supervisor (latent
to the next latent step) and discriminator (a logit per step), each a GRU or LSTM stack with a linear
read-out (sigmoid except the discriminator's). Series are laid out (B, T, D) and scaled to [0, 1].
For class conditioning the generator, supervisor and discriminator also take a one-hot class at
every step; the label ``num_classes`` means "no class" (pretraining on an unlabelled pool).
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def timegan_net() -> Any:
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Recurrent(nn.Module):
        """A ``num_layers`` GRU/LSTM stack and a per-step linear read-out (sigmoid unless ``logits``)."""

        def __init__(self, in_dim: int, hidden: int, out_dim: int, num_layers: int, module: str,
                     logits: bool = False) -> None:
            super().__init__()
            rnn = nn.GRU if module == "gru" else nn.LSTM
            self.rnn = rnn(in_dim, hidden, num_layers=num_layers, batch_first=True)
            self.out = nn.Linear(hidden, out_dim)
            self.logits = logits

        def forward(self, x):
            h, _ = self.rnn(x)
            y = self.out(h)
            return y if self.logits else torch.sigmoid(y)

    class TimeGANNet(nn.Module):
        """The embedder, recovery, generator, supervisor and discriminator of TimeGAN (see the module doc)."""

        def __init__(self, dim: int, hidden: int = 24, num_layers: int = 3, module: str = "gru",
                     noise_dim: int | None = None, num_classes: int = 0) -> None:
            super().__init__()
            self.k1 = num_classes + 1
            self.noise_dim = noise_dim or dim
            self.embedder = Recurrent(dim, hidden, hidden, num_layers, module)
            self.recovery = Recurrent(hidden, hidden, dim, num_layers, module)
            self.generator = Recurrent(self.noise_dim + self.k1, hidden, hidden, num_layers, module)
            self.supervisor = Recurrent(hidden + self.k1, hidden, hidden, max(1, num_layers - 1), module)
            self.discriminator = Recurrent(hidden + self.k1, hidden, 1, num_layers, module, logits=True)

        def _with_class(self, h, labels):
            oh = F.one_hot(labels.long().to(h.device), self.k1).to(h.dtype)
            return torch.cat([h, oh[:, None, :].expand(-1, h.shape[1], -1)], dim=-1)

        def embed(self, x):
            return self.embedder(x)

        def recover(self, h):
            return self.recovery(h)

        def generate(self, z, labels):
            return self.generator(self._with_class(z, labels))

        def supervise(self, h, labels):
            return self.supervisor(self._with_class(h, labels))

        def discriminate(self, h, labels):
            return self.discriminator(self._with_class(h, labels)).squeeze(-1)

        def groups(self) -> dict[str, list]:
            """The parameter groups TimeGAN's optimizers update."""
            return {"autoencoder": [*self.embedder.parameters(), *self.recovery.parameters()],
                    "generator": [*self.generator.parameters(), *self.supervisor.parameters()],
                    "supervisor": list(self.supervisor.parameters()),
                    "discriminator": list(self.discriminator.parameters())}

    return TimeGANNet
