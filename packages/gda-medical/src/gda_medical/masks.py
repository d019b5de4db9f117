"""The masks the mask-conditioned generators (``medical.mask2image``, ``medical.pix2pix``) draw images for:
each condition's real label volume (its ``source_id``, from the run's train or pool, else a training
record in turn), given as is (``mask`` in the condition) or perturbed (:func:`gda_medical.perturb.perturb_mask`),
and one-hot encoding of masks for the networks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from gda_core.components import Params
from gda_core.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext


class MaskParams(Params):
    """How the conditioning masks are perturbed so that the image + label pairs are new."""

    shift: float = Field(0.1, ge=0, le=0.5, description="random shift of the conditioning mask (fraction of size)")
    scale: float = Field(0.1, ge=0, lt=1, description="random scaling of the conditioning mask (+- fraction)")
    rotate: float = Field(0.0, ge=0, description="random rotation of the conditioning mask (radians)")
    elastic: float = Field(0.0, ge=0, description="elastic deformation magnitude in voxels (0: none)")
    perturb: bool = Field(True, description="perturb the real masks so that the image + label pairs are new")


def one_hot(labels: Any, k: int) -> Any:
    """``(N, 1, ...)`` integer labels to ``(N, k-1, ...)`` foreground channels in [-1, 1]."""
    import torch

    lab = labels.long()[:, 0]
    oh = torch.nn.functional.one_hot(lab.clamp(0, k - 1), k).movedim(-1, 1)[:, 1:].float()
    return oh * 2.0 - 1.0


def reference_record(condition: dict[str, Any], context: RunContext) -> Any:
    """The real record a condition names (``source_id``), if the run context's train or pool holds it."""
    sid = condition.get("source_id")
    if context is None or sid is None:
        return None
    for ds in (context.train, getattr(context, "pool", None)):
        hit = next((r for r in ds.records if r.id == sid), None) if ds is not None else None
        if hit is not None:
            return hit
    return None


def masks_for(conditions: Sequence[dict[str, Any]], seed: int, context: RunContext, params: MaskParams,
              who: str) -> list[np.ndarray]:
    """The (perturbed) label volume ``(1, D, H, W)`` uint8 each condition asks for."""
    train = list(context.train.records) if context is not None else []
    if not train:
        raise DataError(f"{who} needs the real training volumes to take masks from")
    masks = []
    for i, cond in enumerate(conditions):
        ref = reference_record(cond, context) or train[i % len(train)]
        if ref.target is None:
            raise DataError(f"{who}: record {ref.id!r} has no label volume to condition on")
        m = np.asarray(ref.target)
        m = m[None] if m.ndim == 3 else m
        if cond.get("mask") is not None:
            m = np.asarray(cond["mask"]).reshape(m.shape)
        elif params.perturb:
            from .perturb import perturb_mask

            m = perturb_mask(m, seed * 9973 + i, shift=params.shift, scale=params.scale, rotate=params.rotate,
                             elastic=params.elastic)
        masks.append(m.astype(np.uint8))
    return masks
