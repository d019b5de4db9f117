"""``medical.ddpm3d``: a 3-D denoising diffusion model trained from scratch (MONAI)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from gda_core.accelerators import seeded
from gda_core.errors import ConfigError, DataError
from gda_core.records import Record

from ..volumes import (
    check_divisible,
    from_model_range,
    num_label_classes,
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

    def _stack(self, records, k: int):
        """``(N, C[+1], D, H, W)`` model-range volumes; the label channel (when ``k``) from each target,
        background where a record has none (a pool volume), and which records had one."""
        import torch

        x = to_model_range(torch.from_numpy(stack_images(records)))
        if not k:
            return x, None
        has = [r.target is not None for r in records]
        lab = torch.zeros((len(records), 1, *x.shape[2:]))
        if any(has):
            known = [r for r, h in zip(records, has) if h]
            lab[torch.tensor(has)] = torch.from_numpy(stack_targets(known)).float() / (k - 1)
        return torch.cat([x, to_model_range(lab)], dim=1), has

    def _setup(self, records, k: int) -> None:
        p = self.params
        shape = volume_shape(records)
        check_divisible(shape[1:], len(p.channels), "medical.ddpm3d")
        if "rot90" in p.augment and shape[2] != shape[3]:
            raise DataError(f"generator.params.augment: rot90 needs square slices, volumes are {shape[1:]}")
        c = shape[0] + (1 if k else 0)
        cfg = unet_config(p, c, c)
        self.info = {"unet_config": cfg, "shape": list(shape), "label_classes": k,
                     "affine": np.asarray(records[0].meta.get("affine", np.eye(4))).tolist()}

    def fit(self, train, context) -> None:
        p = self.params
        use_label = p.with_label and all(r.target is not None for r in train.records)
        k = num_label_classes(train.records) if use_label else 0
        self._setup(train.records, k)
        x, _ = self._stack(train.records, k)
        with seeded(context.seed):
            self.unet = build_unet(self.info["unet_config"])
        self._fit_unet(x, None, context, desc="train medical.ddpm3d")

    # -- warm start (the optional API of gda_core.builtin.pool) ----------------

    def pretrain(self, pool, context, *, steps: int | None = None, label_classes: int | None = None) -> None:
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
        self._fit_unet(x, None, context, desc="pretrain medical.ddpm3d", steps=steps, channel_weights=weights)
        self.info["pretrained_steps"] = p.steps if steps is None else steps

    def fine_tune(self, train, context, *, steps: int | None = None, lora_rank: int = 0) -> None:
        """Continue training the pretrained network on labelled volumes (image + label channels)."""
        if lora_rank:
            raise ConfigError("strategy.params.lora_rank: medical.ddpm3d fine-tunes every weight; set it to 0")
        if self.unet is None:
            raise DataError("medical.ddpm3d: fine_tune needs a pretrained model (call pretrain first)")
        k = int(self.info.get("label_classes", 0))
        if k and not all(r.target is not None for r in train.records):
            raise DataError("medical.ddpm3d: fine-tuning with with_label needs a label volume on every record")
        if k and num_label_classes(train.records) > k:
            raise DataError(f"medical.ddpm3d: the labels have {num_label_classes(train.records)} classes, the "
                            f"pretrained label channel {k} (pretrain with label_classes)")
        if list(volume_shape(train.records)) != self.info["shape"]:
            raise DataError(f"medical.ddpm3d: volumes of shape {list(volume_shape(train.records))}, the pretrained "
                            f"model {self.info['shape']}")
        x, _ = self._stack(train.records, k)
        self._fit_unet(x, None, context, desc="fine-tune medical.ddpm3d", steps=steps, seed_offset=1)

    def generate(self, conditions, *, seed: int, context) -> list[Record]:
        n = len(conditions)
        if n == 0:
            return []
        self._require_fitted("unet")
        shape = tuple(self.info["shape"])
        k = int(self.info.get("label_classes", 0))
        c = shape[0] + (1 if k else 0)
        init = None
        if self.params.strength < 1.0:
            init, _ = self._stack(self._sources(conditions, seed, context), k)
        out = self._sample((n, c, *shape[1:]), seed, context=context, init=init)
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
