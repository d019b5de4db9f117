"""Shared helpers: records to arrays, length/NaN fixes, torch device and seeding.

Nothing here imports torch at module import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from gda_core.errors import DataError
from gda_core.records import Record, label_key

LengthFix = Literal["error", "pad", "crop", "pad-or-crop", "resample"]
NanFix = Literal["error", "zero", "interpolate", "drop"]


def as_signal(x: Any, *, where: str = "sample") -> np.ndarray:
    """One sample as a float32 array ``(channels, length)``; a 1-D series gets one channel."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise DataError(f"{where}: expected a series of shape (channels, length), got shape {a.shape}")
    return a


def stack(records: Sequence[Record]) -> np.ndarray:
    """Records as one float32 array ``(n, channels, length)``; shapes must agree."""
    arrays = [as_signal(r.data, where=f"record {r.id!r}") for r in records]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(f"records have different shapes {sorted(shapes)}; configure a length fix in the data set")
    if not arrays:
        return np.zeros((0, 1, 0), dtype=np.float32)
    return np.stack(arrays)


def fix_length(a: np.ndarray, length: int, how: LengthFix, *, where: str) -> np.ndarray:
    """Bring ``a`` (channels, n) to ``length`` samples as configured, or raise DataError."""
    n = a.shape[-1]
    if n == length:
        return a
    if how == "error":
        raise DataError(f"{where} has length {n}, not {length}; set on_length_mismatch to pad, crop, "
                        "pad-or-crop or resample to fix it")
    if how == "resample":
        x_old = np.linspace(0.0, 1.0, n)
        x_new = np.linspace(0.0, 1.0, length)
        return np.stack([np.interp(x_new, x_old, ch) for ch in a]).astype(np.float32)
    if n > length:
        if how == "pad":
            raise DataError(f"{where} has length {n} > {length}: on_length_mismatch=pad cannot shorten it")
        return a[:, :length]
    if how == "crop":
        raise DataError(f"{where} has length {n} < {length}: on_length_mismatch=crop cannot lengthen it")
    out = np.zeros((a.shape[0], length), dtype=a.dtype)
    out[:, :n] = a
    return out


def fix_nan(a: np.ndarray, how: NanFix, *, where: str) -> np.ndarray | None:
    """Handle NaN/inf values as configured; None means drop the sample."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return a
    if how == "error":
        raise DataError(f"{where} holds {int(bad.sum())} NaN or infinite value(s); set on_nan to zero, "
                        "interpolate or drop to fix it")
    if how == "drop":
        return None
    a = a.copy()
    if how == "zero":
        a[bad] = 0.0
        return a
    for c in range(a.shape[0]):
        ok = np.isfinite(a[c])
        if not ok.any():
            a[c] = 0.0
        elif not ok.all():
            idx = np.arange(a.shape[1])
            a[c, ~ok] = np.interp(idx[~ok], idx[ok], a[c, ok])
    return a


def plain(v: Any) -> Any:
    """A numpy scalar as a plain Python value."""
    return v.item() if isinstance(v, np.generic) else v


def str_labels(records: Sequence[Record]) -> np.ndarray:
    """Each record's :func:`gda_core.records.label_key`."""
    return np.asarray([label_key(r.label) for r in records])


def seed_all(seed: int) -> None:
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
