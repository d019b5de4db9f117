"""``medical.mask2image``: images generated from a label mask, so every sample is an
image + label pair for segmentation augmentation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gda_core.errors import DataError
from gda_core.records import Record
from gda_core.torch.accelerators import seeded

from ..masks import MaskParams, masks_for, one_hot
from ..volumes import (
    from_model_range,
    num_label_classes,
    stack_images,
    stack_targets,
    to_model_range,
)
from .diffusion_base import DiffusionGenerator, DiffusionParams, build_unet

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Dataset


class Mask2ImageParams(MaskParams, DiffusionParams):
    pass


class Mask2ImageGenerator(DiffusionGenerator):
    """Image + label pairs: a 3-D diffusion model that draws an image for a given label mask.

    A MONAI ``DiffusionModelUNet`` is conditioned on the mask by channel concatenation
    (the noisy image and the mask's one-hot channels go in). Masks to
    condition on come from the real labels named by each condition's ``source_id``,
    optionally shifted, scaled, rotated and elastically deformed; each synthetic image is
    returned with that mask as its ``Record.target``."""

    data_kind = "arrays"
    Params = Mask2ImageParams
    who = "medical.mask2image"

    def fit(self, train: Dataset, context: RunContext) -> None:
        import torch

        missing = [r.id for r in train.records if r.target is None]
        if missing:
            raise DataError(f"medical.mask2image needs a label volume for every training volume; "
                            f"{missing[0]!r} has none")
        k = num_label_classes(train.records)
        self._setup(train.records, k)
        x = to_model_range(torch.from_numpy(stack_images(train.records)))
        cond = one_hot(torch.from_numpy(stack_targets(train.records)), k)
        with seeded(context.seed):
            self.unet = build_unet(self.info["unet_config"])
        self._fit_unet(x, cond, context, desc="train medical.mask2image")

    def _network_channels(self, image_channels: int, k: int) -> tuple[int, int]:
        return image_channels + k - 1, image_channels  # the noisy image and the mask's foreground channels in

    # -- warm start (the optional API of gda_core.builtin.pool) ----------------

    def pretrain(self, pool: Dataset, context: RunContext, *, steps: int | None = None,
                 label_classes: int | None = None) -> None:
        """Fit on volumes without masks (a pool): the mask channels are all 0, "no mask", between the
        one-hot values -1 and 1, so the network learns the images first and the masks when fine-tuned.
        ``label_classes`` (default 2) sizes the mask channels; ``steps`` overrides ``steps``."""
        import torch

        k = label_classes or 2
        self._setup(pool.records, k)
        x = to_model_range(torch.from_numpy(stack_images(pool.records)))
        cond = torch.zeros((len(x), k - 1, *x.shape[2:]))
        with seeded(context.seed):
            self.unet = build_unet(self.info["unet_config"])
        self._fit_unet(x, cond, context, desc="pretrain medical.mask2image", steps=steps, select=False)

    def fine_tune(self, train: Dataset, context: RunContext, *, steps: int | None = None, lora_rank: int = 0) -> None:
        """Continue training the pretrained network on labelled volumes, conditioned on their masks."""
        import torch

        k = self._check_fine_tune(train, lora_rank, "medical.mask2image", labels=True)
        x = to_model_range(torch.from_numpy(stack_images(train.records)))
        cond = one_hot(torch.from_numpy(stack_targets(train.records)), k)
        self._fit_unet(x, cond, context, desc="fine-tune medical.mask2image", steps=steps, seed_offset=1)

    def masks_for(self, conditions: Sequence[dict[str, Any]], seed: int, context: RunContext) -> list[np.ndarray]:
        """The (perturbed) label volume each condition asks for (:func:`gda_medical.masks.masks_for`)."""
        return masks_for(conditions, seed, context, self.params, "medical.mask2image")

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        import torch

        self._require_fitted("unet")
        n = len(conditions)
        if n == 0:
            return []
        shape = tuple(self.info["shape"])
        k = int(self.info["label_classes"])
        masks = self.masks_for(conditions, seed, context)
        cond = one_hot(torch.from_numpy(np.stack(masks).astype(np.int64)), k)
        init = None
        if self.params.strength < 1.0:
            init = to_model_range(torch.from_numpy(stack_images(self._sources(conditions, seed, context))))
        out = self._sample((n, *shape), seed, cond=cond, context=context, init=init)
        return [Record(id="", data=from_model_range(out[i]).numpy().astype(np.float32), label=c.get("label"),
                       target=masks[i], meta={"affine": self._affine_for(c, context)})
                for i, c in enumerate(conditions)]
