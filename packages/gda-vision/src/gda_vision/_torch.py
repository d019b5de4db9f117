"""Device, dtype and seeding helpers for the torch-based components: the core's, under the
names this package uses (torch is imported only when one is called)."""

from __future__ import annotations

from gda_core.accelerators import apply_thread_setting as set_threads
from gda_core.accelerators import autocast, pick_device, pick_dtype, torch_generator

__all__ = ["autocast", "pick_device", "pick_dtype", "set_threads", "torch_generator"]
