"""Image array helpers: GDA's vision records hold float32 arrays ``(C, H, W)`` in [0, 1]."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gda_core.errors import DataError


def as_chw(data: Any) -> np.ndarray:
    """A record's data as a float32 ``(C, H, W)`` array (a ``(H, W)`` array gains one channel)."""
    a = np.asarray(data, dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise DataError(f"image records must be (C, H, W) or (H, W) arrays, not shape {a.shape}")
    return a


def stack(records: Sequence[Any]) -> np.ndarray:
    """Stack the records' images into ``(n, C, H, W)``; they must share one shape."""
    arrays = [as_chw(r.data) for r in records]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(f"image records have different shapes {sorted(shapes)}; resize them in the loader")
    return np.stack(arrays) if arrays else np.zeros((0, 1, 1, 1), dtype=np.float32)


def resize_batch(x: Any, size: tuple[int, int]) -> Any:
    """Bilinearly resize a torch batch ``(n, C, H, W)`` to ``size`` (antialiased when shrinking)."""
    import torch.nn.functional as F

    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def set_channels(x: Any, channels: int) -> Any:
    """Convert a torch batch to ``channels`` (1: mean of RGB; 3: grey repeated)."""
    c = x.shape[1]
    if c == channels:
        return x
    if channels == 1:
        return x[:, :3].mean(dim=1, keepdim=True)
    if c == 1 and channels == 3:
        return x.repeat(1, 3, 1, 1)
    raise DataError(f"cannot convert {c}-channel images to {channels} channels")


def to_uint8_hwc(img: np.ndarray) -> np.ndarray:
    """A ``(C, H, W)`` [0, 1] image as a ``(H, W)`` or ``(H, W, 3)`` uint8 array for Pillow."""
    a = np.clip(as_chw(img), 0.0, 1.0)
    a = np.rint(a * 255.0).astype(np.uint8)
    if a.shape[0] == 1:
        return a[0]
    return np.transpose(a[:3], (1, 2, 0))


def to_pil(img: np.ndarray) -> Any:
    """A ``(C, H, W)`` [0, 1] image as a PIL image (L or RGB)."""
    from PIL import Image

    return Image.fromarray(to_uint8_hwc(img))
