"""The one set of torch helpers every plugin uses: device and precision parameters, device and
dtype choice, mixed precision, CPU threads and seeded generators.

The core does not depend on torch: every function imports it when called, so only plugins that
already need torch ever load it.

- :class:`DeviceParams` / :class:`PrecisionParams`: mix-ins for a component's ``Params`` that
  declare ``device`` (``auto``, ``cpu``, ``cuda`` or ``cuda:N``, checked when the config is
  read) and ``precision`` (``auto``, ``float32``, ``bfloat16``, ``float16``).
- :func:`pick_device`, :func:`pick_dtype`, :func:`autocast`, :func:`torch_generator`, :func:`seeded`.
- :func:`apply_thread_setting`: sets (and re-asserts) torch's CPU thread count, to
  :func:`torch_threads`: ``GDA_TORCH_THREADS`` when set (``0`` leaves torch's default), else
  GDA's own choice, one thread. The small models GDA trains are several times faster on one
  thread than on torch's default (one per core) whenever other work shares the cores, and no
  slower alone; ``benchmarks/bench_threads.py`` measures it (numbers in docs/core.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, field_validator

from ..components import Params
from ..errors import ConfigError

THREADS_ENV = "GDA_TORCH_THREADS"
DEFAULT_THREADS = 1
"""GDA's own CPU thread count for torch when ``GDA_TORCH_THREADS`` is unset (see the module doc)."""

DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
Precision = Literal["auto", "float32", "bfloat16", "float16"]


class DeviceParams(Params):
    """Mix-in for the ``Params`` of a component that runs torch: where it runs."""

    device: str = Field("auto", description="auto (CUDA when present, else CPU), cpu, cuda or cuda:N")

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not DEVICE_RE.match(v):
            raise ValueError(f"{v!r} is not one of auto, cpu, cuda, cuda:N")
        return v


class PrecisionParams(DeviceParams):
    """Mix-in for a torch component that also chooses its floating-point precision."""

    precision: Precision = Field("auto", description="auto: bfloat16 autocast on a CUDA device that supports "
                                 "it, float32 on CPU; or float32, bfloat16, float16")


def legacy_mixed_precision(data: Any) -> Any:
    """Read the old ``mixed_precision: true|false`` as ``precision: auto|float32`` (run folders and
    configs written before :class:`PrecisionParams` keep working); both at once is an error."""
    if isinstance(data, dict) and "mixed_precision" in data:
        data = dict(data)
        old = data.pop("mixed_precision")
        if "precision" in data:
            raise ValueError("give precision (auto, float32, bfloat16, float16), not also the old mixed_precision")
        if not isinstance(old, bool):
            raise ValueError(f"mixed_precision (old name of precision) must be true or false, not {old!r}")
        data["precision"] = "auto" if old else "float32"
    return data


# --- threads ------------------------------------------------------------------

_applied: int | None = None
_lock = threading.Lock()


def torch_threads() -> int | None:
    """The CPU thread count GDA gives torch: ``GDA_TORCH_THREADS`` when set (``0``: torch's own
    default, returned as None), else :data:`DEFAULT_THREADS`."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return DEFAULT_THREADS
    if not raw.isdigit():
        raise ConfigError(f"{THREADS_ENV} must be a whole number (0: torch's default), not {raw!r}")
    return int(raw) or None


def apply_thread_setting() -> int:
    """Set torch's CPU thread count to :func:`torch_threads` and return the count.

    Call it at the start of torch work (fitting, embedding, sampling). Every call re-asserts the
    count: another library sharing the process's OpenMP runtime can change it between torch calls.
    aeon's MiniRocket does (numba's ``omp`` threading layer sets OpenMP's thread count to the
    core count), and torch then trained a small 1-D diffusion model about 50 times slower per step
    on the loaded 2-core machine, its two OpenMP threads spinning against other jobs.
    """
    global _applied
    n = torch_threads()
    with _lock:
        import torch

        if n is not None and torch.get_num_threads() != n:
            torch.set_num_threads(n)
        _applied = torch.get_num_threads()
        return _applied


# --- device and precision -----------------------------------------------------


def pick_device(device: str = "auto") -> Any:
    """``auto`` takes CUDA when present, else CPU; ``cpu``/``cuda``/``cuda:N`` are taken as given.

    Asking for CUDA where there is none is a :class:`ConfigError`, not a crash mid-run. Threads
    are not touched here (:func:`apply_thread_setting`).
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not DEVICE_RE.match(device):
        raise ConfigError(f"device {device!r} is not one of auto, cpu, cuda, cuda:N")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but CUDA is not available")
    return dev


def pick_dtype(device: Any, precision: str = "auto") -> Any:
    """The torch dtype for ``precision`` on ``device`` (a ``torch.device`` or its name).

    ``auto``: bfloat16 on a CUDA device that supports it, float32 otherwise.
    """
    import torch

    named = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if precision in named:
        return named[precision]
    if precision != "auto":
        raise ConfigError(f"precision {precision!r} is not one of auto, {', '.join(named)}")
    if torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def autocast(device: Any, dtype: Any = "auto") -> Any:
    """A mixed-precision context on CUDA when ``dtype`` (a torch dtype, or a precision name for
    :func:`pick_dtype`) is half-width; a no-op otherwise."""
    import torch

    if isinstance(dtype, str):
        dtype = pick_dtype(device, dtype)
    if torch.device(device).type == "cuda" and dtype in (torch.bfloat16, torch.float16):
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


# --- seeding ------------------------------------------------------------------


def torch_generator(seed: int) -> Any:
    """A CPU ``torch.Generator`` seeded with ``seed`` (noise drawn on CPU matches across devices)."""
    import torch

    return torch.Generator("cpu").manual_seed(int(seed) % (2**63 - 1))


@contextlib.contextmanager
def seeded(seed: int, device: Any = None) -> Iterator[None]:
    """Seed torch's global random generators inside the block and restore them afterwards."""
    import torch

    dev = torch.device(device) if device is not None else None
    devices = [dev.index or 0] if dev is not None and dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed) % (2**63 - 1))
        yield
