"""Loading model checkpoints safely: safetensors or weights-only tensors, never remote code.

Every ``from_pretrained`` of diffusers or transformers in the gda packages passes
:func:`safe_kwargs` (``use_safetensors=True``; transformers also ``trust_remote_code=False``), and
every ``torch.load`` goes through :func:`torch_load` (``weights_only=True``), so a checkpoint
cannot run code when it is read. A user who must load an old pickled checkpoint (a
``pytorch_model.bin`` only) opts out for one command with ``GDA_ALLOW_PICKLE=1``; even then
``torch.load`` stays weights-only where the library supports it and remote code stays off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ALLOW_PICKLE_ENV = "GDA_ALLOW_PICKLE"


def pickle_allowed() -> bool:
    """Whether the user opted out of safetensors-only loading (``GDA_ALLOW_PICKLE=1``)."""
    return os.environ.get(ALLOW_PICKLE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def safe_kwargs(*, transformers: bool = False) -> dict[str, Any]:
    """Keyword arguments for a ``from_pretrained`` call: ``use_safetensors=True`` unless the user opted
    out, and ``trust_remote_code=False`` for transformers' auto classes."""
    out: dict[str, Any] = {} if pickle_allowed() else {"use_safetensors": True}
    if transformers:
        out["trust_remote_code"] = False
    return out


def torch_load(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """``torch.load`` of tensors only (``weights_only=True``), onto the CPU unless told otherwise."""
    import torch

    kwargs.setdefault("map_location", "cpu")
    return torch.load(str(path), weights_only=True, **kwargs)


def local_or_hub(name_or_path: str) -> str:
    """``name_or_path`` with ``~`` expanded when it names an existing local folder or file; a hub id
    (``org/model``) is returned unchanged."""
    path = Path(name_or_path).expanduser()
    return str(path) if path.exists() else name_or_path
