"""``medical.ddpm3d``: a 3-D denoising diffusion model trained from scratch (MONAI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from gda_core.records import Record
from gda_core.torch.accelerators import seeded
from gda_core.torch.diffusion import InterpolationParams

from ..volumes import (
    from_model_range,
    num_label_classes,
)
from .diffusion_base import DiffusionGenerator, DiffusionParams, build_unet, image_label_volumes

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Dataset


class DDPM3DParams(InterpolationParams, DiffusionParams):
    with_label: bool = Field(True, description="learn the label volume as an extra channel, so each sample "
                             "comes with its segmentation (needs Record.target on every training volume)")


class DDPM3DGenerator(DiffusionGenerator):
    """3-D DDPM/DDIM: a MONAI DiffusionModelUNet trained from scratch on the volumes.

    A ``DiffusionModelUNet`` (spatial_dims=3) is trained on the real volumes and sampled with
    DDPM or DDIM through ``DiffusionInferer``. With ``with_label`` the label volume is generated
    jointly as an extra channel and returned as ``Record.target``. ``interpolate`` decodes a
    spherical interpolation of the DDIM inversions of two real volumes of the class (the
    condition's source and a random partner; with their label channels)."""

    data_kind = "arrays"
    Params = DDPM3DParams
    who = "medical.ddpm3d"

    def _stack(self, records, k: int):
        """``(N, C[+1], D, H, W)`` model-range volumes; the label channel (when ``k``) from each target,
        background where a record has none (a pool volume), and which records had one."""
        return image_label_volumes(records, k), [r.target is not None for r in records] if k else None

    def _network_channels(self, image_channels: int, k: int) -> tuple[int, int]:
        c = image_channels + (1 if k else 0)  # the label volume as one more channel
        return c, c

    def fit(self, train: Dataset, context: RunContext) -> None:
        p = self.params
        use_label = p.with_label and all(r.target is not None for r in train.records)
        k = num_label_classes(train.records) if use_label else 0
        self._setup(train.records, k)
        x, _ = self._stack(train.records, k)
        with seeded(context.seed):
            self.unet = build_unet(self.info["unet_config"])
        self._fit_unet(x, None, context, desc="train medical.ddpm3d")

    # -- warm start (the optional API of gda_core.builtin.pool) ----------------

    def pretrain(self, pool: Dataset, context: RunContext, *, steps: int | None = None,
                 label_classes: int | None = None) -> None:
        """Fit on volumes without masks (a pool). With ``with_label`` the label channel is kept but
        carries no loss, so fine-tuning on labelled volumes teaches it; ``label_classes`` (default 2)
        sizes it. ``steps`` overrides ``steps``."""
        p = self.params
        k = (label_classes or 2) if p.with_label else 0
        self._setup(pool.records, k)
        x, has = self._stack(pool.records, k)
        with seeded(context.seed):
            self.unet = build_unet(self.info["unet_config"])
        weights = None if not k else [1.0] * (x.shape[1] - 1) + [1.0 if all(has) else 0.0]
        self._fit_unet(x, None, context, desc="pretrain medical.ddpm3d", steps=steps, channel_weights=weights,
                       select=False)
        self.info["pretrained_steps"] = p.steps if steps is None else steps

    def fine_tune(self, train: Dataset, context: RunContext, *, steps: int | None = None, lora_rank: int = 0) -> None:
        """Continue training the pretrained network on labelled volumes (image + label channels)."""
        k = self._check_fine_tune(train, lora_rank, "medical.ddpm3d")
        x, _ = self._stack(train.records, k)
        self._fit_unet(x, None, context, desc="fine-tune medical.ddpm3d", steps=steps, seed_offset=1)

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        n = len(conditions)
        if n == 0:
            return []
        self._require_fitted("unet")
        shape = tuple(self.info["shape"])
        k = int(self.info.get("label_classes", 0))
        c = shape[0] + (1 if k else 0)
        p = self.params
        init = latents = None
        metas: list[dict] = [{} for _ in conditions]
        if p.interpolate or p.strength < 1.0:
            sources = self._sources(conditions, seed, context)
            init, _ = self._stack(sources, k)
            for m, r in zip(metas, sources):
                m["source_id"] = r.id
        if p.interpolate:
            partners = self._partners(conditions, sources, seed, context)
            latents, weights = self._interpolation_latents(init, self._stack(partners, k)[0], seed)
            for m, r, w in zip(metas, partners, weights):
                m.update(partner_id=r.id, weight=float(w))
        out = self._sample((n, c, *shape[1:]), seed, context=context, init=init, latents=latents)
        records = []
        for i, cond in enumerate(conditions):
            img = from_model_range(out[i, : shape[0]]).numpy().astype(np.float32)
            target = None
            if k:
                lab = from_model_range(out[i, shape[0]:]).numpy()
                target = np.rint(lab * (k - 1)).astype(np.uint8)
            records.append(Record(id="", data=img, label=cond.get("label"), target=target,
                                  meta={"affine": self._affine_for(cond, context), **metas[i]}))
        return records
