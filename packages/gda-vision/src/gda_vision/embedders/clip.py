"""CLIP image embeddings (transformers) as features for selectors and validators."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Embedder
from gda_core.errors import ConfigError
from gda_core.torch.accelerators import DeviceParams

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class CLIPEmbedderParams(DeviceParams):
    model: str | None = Field(None, description="CLIP checkpoint: a local folder or a hub id (required)")
    batch_size: int = Field(64, gt=0, description="images per CLIP call")


class CLIPEmbedder(Embedder):
    """L2-normalised CLIP image embeddings from a given checkpoint (a fixed embedder: nothing
    is learnt from the real set)."""

    data_kind = "arrays"
    Params = CLIPEmbedderParams

    def fit(self, train: Dataset, context: RunContext) -> None:
        self._load()

    def _load(self) -> None:
        from gda_core.torch.accelerators import apply_thread_setting, pick_device

        from .._clip import load_clip

        apply_thread_setting()  # once per process
        if hasattr(self, "clip_"):
            return
        if not self.params.model:
            raise ConfigError("embedder.params.model: vision.clip-embedder needs a CLIP checkpoint (folder or hub id)")
        self.device_ = pick_device(self.params.device)
        self.clip_, self.processor_ = load_clip(self.params.model, self.device_, "embedder.params.model")

    def embed(self, records: Sequence[Record], context: RunContext) -> np.ndarray:
        from .._clip import image_embeddings

        self._load()
        return image_embeddings(self.clip_, self.processor_, list(records), self.device_,
                                self.params.batch_size).astype(np.float64)
