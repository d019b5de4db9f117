"""A small convolutional classifier shared by ``vision.cnn`` and ``vision.cnn-embedder``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field

from gda_core.records import label_key
from gda_core.torch.accelerators import DeviceParams

from ._images import stack


class SmallCNNParams(DeviceParams):
    """Training parameters of the small CNN shared by vision.cnn and vision.cnn-embedder."""

    steps: int = Field(300, gt=0, description="training steps (batches drawn with replacement)")
    batch_size: int = Field(64, gt=1, description="training batch size")
    learning_rate: float = Field(3e-3, gt=0, description="AdamW peak learning rate (one-cycle schedule)")
    width: int = Field(32, gt=0, description="channels of the first conv layers")
    feature_dim: int = Field(64, gt=0, description="width of the penultimate layer (the embedder's features)")
    size: int | None = Field(None, gt=1, description="resize images to size x size first (default: as they are)")


def build_cnn(channels: int, n_classes: int, width: int = 32, feature_dim: int = 64) -> Any:
    """Two conv blocks, global average pooling, a feature layer and a linear head."""
    import torch.nn as nn

    class SmallCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
                nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
                nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                nn.Linear(8 * width, feature_dim), nn.ReLU(), nn.Dropout(0.2),
            )
            self.head = nn.Linear(feature_dim, n_classes)

        def features(self, x):
            return self.body(x)

        def forward(self, x):
            return self.head(self.body(x))

    return SmallCNN()


def _inputs(records: Sequence[Any], size: int | None) -> Any:
    import torch

    from ._images import resize_batch

    x = torch.from_numpy(stack(records)) * 2.0 - 1.0
    if size is not None:
        x = resize_batch(x, (size, size))
    return x


def train_cnn(records: Sequence[Any], classes: Sequence[Any], *, seed: int, steps: int, batch_size: int,
              learning_rate: float, width: int, feature_dim: int, size: int | None, device: Any,
              augment: bool = True, synthetic_share: float | None = None, progress: Any = None) -> Any:
    """Train a :func:`build_cnn` model for ``steps`` batches drawn with replacement (the same
    compute whatever the training set's size); deterministic given ``seed`` on CPU.

    ``synthetic_share`` (when both real and synthetic records are present) fixes the
    expected share of synthetic records in each batch, whatever the two sets' sizes."""
    import torch
    import torch.nn.functional as F

    from gda_core.torch.accelerators import torch_generator

    torch.manual_seed(seed)
    keys = [label_key(c) for c in classes]
    y = torch.tensor([keys.index(label_key(r.label)) for r in records])
    x = _inputs(records, size)
    model = build_cnn(x.shape[1], len(classes), width, feature_dim).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=learning_rate, total_steps=steps)
    g = torch_generator(seed)
    model.train()
    it = range(steps) if progress is None else progress(range(steps), desc="cnn train", total=steps)
    is_syn = torch.tensor([getattr(getattr(r, "provenance", None), "source", "real") == "synthetic" for r in records])
    weights = None
    if synthetic_share is not None and 0 < int(is_syn.sum()) < len(records):
        n_syn = float(is_syn.sum())
        weights = torch.where(is_syn, synthetic_share / n_syn, (1 - synthetic_share) / (len(records) - n_syn))
    for _ in it:
        if weights is None:
            idx = torch.randint(0, len(records), (batch_size,), generator=g)
        else:
            idx = torch.multinomial(weights, batch_size, replacement=True, generator=g)
        xb, yb = x[idx], y[idx]
        if augment:  # shifts of up to one pixel; cheap and label-preserving
            dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=g))
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
        loss = F.cross_entropy(model(xb.to(device)), yb.to(device), label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def predict(model: Any, records: Sequence[Any], *, size: int | None, device: Any, features: bool = False,
            batch_size: int = 512) -> np.ndarray:
    """Class probabilities ``(n, k)`` (or penultimate features) of ``records``."""
    import torch

    x = _inputs(records, size)
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            xb = x[s:s + batch_size].to(device)
            z = model.features(xb) if features else torch.softmax(model(xb), dim=1)
            out.append(z.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))
