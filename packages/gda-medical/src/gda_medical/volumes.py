"""Helpers shared by gda-medical's components: volumes as tensors, saving (devices and seeds:
:mod:`gda_core.torch.accelerators`).

Volumes travel through GDA as ``Record.data`` of shape ``(C, D, H, W)`` (float32,
intensities scaled to ``[0, 1]``) with the segmentation label as ``Record.target``
of shape ``(1, D, H, W)`` (integers, 0 is background). ``Record.meta["affine"]``
holds the 4x4 voxel-to-world matrix of the source volume.

torch and MONAI are imported inside functions so that importing this module is cheap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gda_core.errors import DataError, GDAError
from gda_core.torch.weights import torch_load

if TYPE_CHECKING:
    import torch

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def volume_shape(records: Sequence[Any]) -> tuple[int, ...]:
    """The common ``(C, D, H, W)`` shape of the records' data; a DataError if they differ."""
    if not records:
        raise DataError("no volumes to learn from")
    shape = tuple(np.asarray(records[0].data).shape)
    if len(shape) != 4:
        raise DataError(f"record {records[0].id!r}: volumes must be (C, D, H, W), got shape {shape}")
    for r in records:
        s = tuple(np.asarray(r.data).shape)
        if s != shape:
            raise DataError(f"record {r.id!r} has shape {s}, others {shape}; resize the volumes to one shape "
                            "(medical.nifti's spatial_size)")
    return shape


def stack_images(records: Sequence[Any]) -> np.ndarray:
    """``(N, C, D, H, W)`` float32 images."""
    return np.stack([np.asarray(r.data, dtype=np.float32) for r in records])


def stack_targets(records: Sequence[Any]) -> np.ndarray:
    """``(N, 1, D, H, W)`` integer labels; a DataError naming a record without one."""
    out = []
    for r in records:
        if r.target is None:
            raise DataError(f"record {r.id!r} has no label volume (Record.target)")
        t = np.asarray(r.target)
        if t.ndim == 3:
            t = t[None]
        out.append(t.astype(np.int64))
    return np.stack(out)


def num_label_classes(records: Sequence[Any]) -> int:
    """Number of label values including background (max label + 1, at least 2)."""
    m = 1
    for r in records:
        if r.target is not None:
            m = max(m, int(np.asarray(r.target).max()))
    return m + 1


def save_module(module: torch.nn.Module, config: dict[str, Any], folder: Path, extra: dict | None = None) -> None:
    """Write ``config.json`` (constructor arguments and ``extra``) and ``model.safetensors``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    (folder / CONFIG).write_text(json.dumps({"init": config, **(extra or {})}, indent=2, sort_keys=True))


def read_config(folder: Path) -> dict[str, Any]:
    cfg = folder / CONFIG
    if not cfg.is_file():
        raise GDAError(f"{folder} holds no {CONFIG}: not a saved gda-medical network")
    return json.loads(cfg.read_text())


def load_weights(module: torch.nn.Module, path: Path, *, strict: bool = True) -> None:
    """Load a state dict from a ``.safetensors`` file, a folder holding ``model.safetensors``,
    or a torch checkpoint (``.pt``/``.pth``, optionally under a ``state_dict`` key)."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / WEIGHTS
    if not path.is_file():
        raise GDAError(f"weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch_load(path)
            for key in ("state_dict", "unet_state_dict", "autoencoder_state_dict", "model"):
                if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                    state = state[key]
                    break
        module.load_state_dict(state, strict=strict)
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        raise GDAError(f"cannot load weights from {path}: {str(exc).splitlines()[0]}") from exc


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] intensities to the [-1, 1] range diffusion models are trained on."""
    return x * 2.0 - 1.0


def from_model_range(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def check_channels(channels: Sequence[int], norm_num_groups: int, field: str = "channels") -> None:
    """MONAI's diffusion networks need every channel count to be a multiple of ``norm_num_groups``."""
    bad = [c for c in channels if c % norm_num_groups]
    if bad:
        raise ValueError(f"{field}: every entry must be a multiple of norm_num_groups={norm_num_groups} "
                         f"(got {list(channels)})")


def check_divisible(spatial: Sequence[int], levels: int, what: str) -> None:
    factor = 2 ** max(0, levels - 1)
    if any(s % factor for s in spatial):
        raise DataError(f"{what}: volume size {tuple(spatial)} must be divisible by {factor} "
                        f"for {levels} resolution levels; resize the volumes or use fewer levels")


def affine_of(record: Any) -> np.ndarray:
    """The record's 4x4 affine (identity when it has none)."""
    a = record.meta.get("affine") if isinstance(record.meta, dict) else None
    return np.eye(4) if a is None else np.asarray(a, dtype=np.float64).reshape(4, 4)
