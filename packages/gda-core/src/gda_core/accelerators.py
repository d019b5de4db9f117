"""Device, precision, thread and seeding helpers for torch-based plugins.

The core does not depend on torch: every function imports it when called, so only
plugins that already need torch ever load it.

``GDA_TORCH_THREADS`` (an integer) sets torch's CPU thread count for every plugin that
calls :func:`apply_thread_setting`: on a shared machine one thread is often several
times faster for the small models GDA trains.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from .errors import ConfigError


def apply_thread_setting() -> None:
    """Apply ``GDA_TORCH_THREADS`` when it is set; leave torch's default alone otherwise."""
    raw = os.environ.get("GDA_TORCH_THREADS", "").strip()
    if not raw:
        return
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"GDA_TORCH_THREADS must be a positive integer, not {raw!r}")
    import torch

    if torch.get_num_threads() != int(raw):
        torch.set_num_threads(int(raw))


def pick_device(preference: str = "auto") -> Any:
    """``auto`` takes CUDA when present, else CPU; ``cpu``/``cuda``/``cuda:N`` are taken as given.

    Asking for CUDA where there is none is a :class:`ConfigError`, not a crash mid-run.
    """
    import torch

    apply_thread_setting()
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(preference)
    except RuntimeError as exc:
        raise ConfigError(f"device {preference!r} is not a torch device") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {preference!r} was asked for but CUDA is not available")
    return dev


def pick_dtype(device: Any, preference: str = "auto") -> Any:
    """``auto``: bfloat16 on a CUDA device that supports it, float32 otherwise; or the named dtype."""
    import torch

    named = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if preference in named:
        return named[preference]
    if preference != "auto":
        raise ConfigError(f"precision {preference!r} is not one of auto, {', '.join(named)}")
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def autocast(device: Any, dtype: Any) -> Any:
    """A mixed-precision context on CUDA when ``dtype`` is half-width; a no-op otherwise."""
    import torch

    if device.type == "cuda" and dtype in (torch.bfloat16, torch.float16):
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def torch_generator(seed: int) -> Any:
    """A CPU ``torch.Generator`` seeded with ``seed`` (noise drawn on CPU matches across devices)."""
    import torch

    return torch.Generator("cpu").manual_seed(int(seed) % (2**63 - 1))
