"""``medical.ddpm3d``: a 3-D denoising diffusion model trained from scratch (MONAI)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from gda_core.records import Record

from ..volumes import (
    check_divisible,
    from_model_range,
    num_label_classes,
    seeded,
    stack_images,
    stack_targets,
    to_model_range,
    volume_shape,
)
from .diffusion_base import DiffusionGenerator, DiffusionParams, build_unet, unet_config


class DDPM3DParams(DiffusionParams):
    with_label: bool = Field(True, description="learn the label volume as an extra channel, so each sample "
                             "comes with its segmentation (needs Record.target on every training volume)")


class DDPM3DGenerator(DiffusionGenerator):
    """3-D DDPM/DDIM: a MONAI DiffusionModelUNet trained from scratch on the volumes.

    A ``DiffusionModelUNet`` (spatial_dims=3) is trained on the real volumes and sampled with
    DDPM or DDIM through ``DiffusionInferer``. With ``with_label`` the label volume is generated
    jointly as an extra channel and returned as ``Record.target``."""

    Params = DDPM3DParams

    def fit(self, train, context) -> None:
        import torch

        p = self.params
        shape = volume_shape(train.records)
        check_divisible(shape[1:], len(p.channels), "medical.ddpm3d")
        use_label = p.with_label and all(r.target is not None for r in train.records)
        x = to_model_range(torch.from_numpy(stack_images(train.records)))
        k = 0
        if use_label:
            k = num_label_classes(train.records)
            lab = torch.from_numpy(stack_targets(train.records)).float() / (k - 1)
            x = torch.cat([x, to_model_range(lab)], dim=1)
        cfg = unet_config(p, x.shape[1], x.shape[1])
        self.info = {"unet_config": cfg, "shape": list(shape), "label_classes": k,
                     "affine": np.asarray(train.records[0].meta.get("affine", np.eye(4))).tolist()}
        with seeded(context.seed):
            self.unet = build_unet(cfg)
        self._fit_unet(x, None, context, desc="train medical.ddpm3d")

    def generate(self, conditions, *, seed: int, context) -> list[Record]:
        n = len(conditions)
        if n == 0:
            return []
        shape = tuple(self.info["shape"])
        k = int(self.info.get("label_classes", 0))
        c = shape[0] + (1 if k else 0)
        out = self._sample((n, c, *shape[1:]), seed, context=context)
        records = []
        for i, cond in enumerate(conditions):
            img = from_model_range(out[i, : shape[0]]).numpy().astype(np.float32)
            target = None
            if k:
                lab = from_model_range(out[i, shape[0]:]).numpy()
                target = np.rint(lab * (k - 1)).astype(np.uint8)
            records.append(Record(id="", data=img, label=cond.get("label"), target=target,
                                  meta={"affine": self._affine_for(cond, context)}))
        return records
