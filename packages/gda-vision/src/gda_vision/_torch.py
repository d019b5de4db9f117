"""Device, dtype and seeding helpers shared by the torch-based components (imported lazily)."""

from __future__ import annotations

from typing import Any


def pick_device(preference: str = "auto") -> Any:
    """``auto`` takes CUDA when present, else CPU; ``cpu``/``cuda``/``cuda:N`` are taken as given."""
    import torch

    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(preference)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from gda_core.errors import ConfigError

        raise ConfigError(f"device {preference!r} was asked for but CUDA is not available")
    return dev


def pick_dtype(device: Any, preference: str = "auto") -> Any:
    """bfloat16 on a CUDA device that supports it (``auto``), float32 otherwise."""
    import torch

    if preference == "float32":
        return torch.float32
    if preference == "float16":
        return torch.float16
    if preference == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def autocast(device: Any, dtype: Any) -> Any:
    """A mixed-precision context on CUDA when ``dtype`` is half-width; a no-op otherwise."""
    import contextlib

    import torch

    if device.type == "cuda" and dtype in (torch.bfloat16, torch.float16):
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def torch_generator(seed: int) -> Any:
    """A CPU ``torch.Generator`` seeded with ``seed`` (noise is drawn on CPU so runs match across devices)."""
    import torch

    return torch.Generator("cpu").manual_seed(int(seed) % (2**63 - 1))


def set_threads() -> None:
    """Leave torch's default thread count alone unless GDA_TORCH_THREADS is set."""
    import os

    import torch

    n = os.environ.get("GDA_TORCH_THREADS")
    if n:
        torch.set_num_threads(int(n))
