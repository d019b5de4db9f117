"""Loading a transformers CLIP model (local folder or hub id) and embedding images and prompts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gda_core.errors import ConfigError
from gda_core.torch.weights import local_or_hub, safe_kwargs

from ._images import to_pil


def load_clip(model: str, device: Any, field: str) -> tuple[Any, Any]:
    """``(CLIPModel, CLIPProcessor)`` from ``model``; a failure is a ConfigError naming ``field``."""
    from transformers import CLIPModel, CLIPProcessor

    try:
        src = local_or_hub(model)
        clip = CLIPModel.from_pretrained(src, **safe_kwargs(transformers=True)).to(device).eval()
        processor = CLIPProcessor.from_pretrained(src)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{field}: cannot load a CLIP model from {model!r}: {exc}") from exc
    return clip, processor


def _pooled(out: Any) -> Any:
    return out if hasattr(out, "shape") else out.pooler_output


def rgb_images(records: Sequence[Any]) -> list[Any]:
    """The records' images as PIL RGB images."""
    return [to_pil(r.data).convert("RGB") for r in records]


def image_embeddings(clip: Any, processor: Any, records: Sequence[Any], device: Any,
                     batch_size: int = 64) -> np.ndarray:
    """L2-normalised CLIP image embeddings ``(n, d)``."""
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(records), batch_size):
            batch = processor(images=rgb_images(records[s:s + batch_size]), return_tensors="pt")
            z = _pooled(clip.get_image_features(pixel_values=batch["pixel_values"].to(device)))
            out.append(torch.nn.functional.normalize(z.float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, clip.config.projection_dim))


def text_embeddings(clip: Any, processor: Any, prompts: Sequence[str], device: Any) -> np.ndarray:
    """L2-normalised CLIP text embeddings ``(n, d)``."""
    import torch

    with torch.no_grad():
        tok = processor(text=list(prompts), return_tensors="pt", padding=True, truncation=True)
        z = _pooled(clip.get_text_features(input_ids=tok["input_ids"].to(device),
                                           attention_mask=tok["attention_mask"].to(device)))
        return torch.nn.functional.normalize(z.float(), dim=-1).cpu().numpy()


def class_prompt(template: str, label: Any, class_names: dict[str, str] | None) -> str:
    """``template`` with ``{label}`` replaced by the class's display name."""
    name = (class_names or {}).get(str(label), str(label))
    return template.replace("{label}", name)
