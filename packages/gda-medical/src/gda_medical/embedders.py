"""``medical.pooled``: volumes average-pooled to a small grid and flattened (for core selectors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Embedder, Params

from .volumes import stack_images

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Record


class PooledParams(Params):
    grid: int = Field(8, ge=1, description="pool each volume to grid^3 cells per channel")
    with_label: bool = Field(False, description="append the pooled label volume (foreground share per cell)")


class PooledVolumeEmbedder(Embedder):
    """Volumes average-pooled to a small grid and flattened: features for core selectors.

    Each volume average-pooled to a ``grid``^3 grid and flattened: a cheap feature vector for
    ``core.dedup``, ``core.mmd`` and ``core.prdc`` on volumes."""

    data_kind = "arrays"
    Params = PooledParams

    def embed(self, records: Sequence[Record], context: RunContext) -> np.ndarray:
        import torch

        g = self.params.grid
        x = torch.from_numpy(stack_images(records))
        feats = [torch.nn.functional.adaptive_avg_pool3d(x, g).reshape(len(records), -1)]
        if self.params.with_label:
            shape = tuple(x.shape[2:])
            lab = np.stack([np.zeros((1, *shape), np.float32) if r.target is None
                            else (np.asarray(r.target).reshape(1, *shape) > 0).astype(np.float32) for r in records])
            feats.append(torch.nn.functional.adaptive_avg_pool3d(torch.from_numpy(lab), g).reshape(len(records), -1))
        return torch.cat(feats, 1).numpy().astype(np.float64)
