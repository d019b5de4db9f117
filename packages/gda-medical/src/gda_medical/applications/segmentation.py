"""``medical.segmentation``: a MONAI 3-D UNet trained on image + label pairs, scored by Dice."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import Application
from gda_core.errors import DataError
from gda_core.torch.accelerators import (
    PrecisionParams,
    apply_thread_setting,
    autocast,
    legacy_mixed_precision,
    pick_device,
    seeded,
    torch_generator,
)

from ..volumes import num_label_classes, stack_images, stack_targets

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class SegmentationParams(PrecisionParams):
    channels: list[int] = Field([8, 16, 32], min_length=2, description="UNet feature channels per level")
    num_res_units: int = Field(1, ge=0, description="residual units per UNet block")
    steps: int = Field(300, ge=1, description="training iterations (the same for every training set)")
    batch_size: int = Field(4, ge=1, description="volumes (or patches) per iteration")
    lr: float = Field(3e-3, gt=0, description="Adam learning rate")
    patch_size: list[int] | None = Field(None, min_length=3, max_length=3,
                                         description="train on random patches of this size and infer with a "
                                         "sliding window (default: whole volumes)")
    sw_batch_size: int = Field(4, ge=1, description="sliding-window patches per forward pass")
    augment: bool = Field(False, description="random flips while training")
    num_classes: int | None = Field(None, ge=2, description="label classes with background (default: from data)")

    @model_validator(mode="before")
    @classmethod
    def _old_mixed_precision(cls, data: object) -> object:
        return legacy_mixed_precision(data)

    @model_validator(mode="after")
    def _check(self):
        if self.patch_size and any(s % 2 ** (len(self.channels) - 1) for s in self.patch_size):
            raise ValueError(f"patch_size: must be divisible by {2 ** (len(self.channels) - 1)}")
        return self


@dataclasses.dataclass
class Segmenter:
    """A trained segmentation UNet (:meth:`SegmentationApplication.fit`): ``k`` output classes,
    inferred with a sliding window of ``patch`` on ``device``."""

    net: Any
    k: int
    patch: tuple[int, ...]
    device: Any
    sw_batch_size: int = 4
    precision: str = "auto"

    def probabilities(self, records: Sequence[Record], *, flips: bool = False) -> np.ndarray:
        """Softmax class probabilities ``(N, k, D, H, W)`` (float32) of ``records``' volumes; with
        ``flips``, averaged over the 8 flips of each volume (each prediction flipped back)."""
        import torch
        from monai.inferers import SlidingWindowInferer

        if not records:
            return np.zeros((0, self.k), dtype=np.float32)
        self.net.eval()
        inferer = SlidingWindowInferer(roi_size=self.patch, sw_batch_size=self.sw_batch_size, overlap=0.25)
        axes = [()] + ([(2,), (3,), (4,), (2, 3), (2, 4), (3, 4), (2, 3, 4)] if flips else [])
        x = torch.from_numpy(stack_images(records))
        out = []
        with torch.no_grad():
            for i in range(0, len(x), self.sw_batch_size):
                xb = x[i:i + self.sw_batch_size].to(self.device)
                total = None
                for ax in axes:
                    xf = xb.flip(ax) if ax else xb
                    with autocast(self.device, self.precision):
                        prob = torch.softmax(inferer(xf, self.net).float(), dim=1)
                    prob = prob.flip(ax) if ax else prob
                    total = prob if total is None else total + prob
                out.append((total / len(axes)).cpu().numpy().astype(np.float32))
        return np.concatenate(out)


class SegmentationApplication(Application):
    """3-D segmentation: a MONAI UNet trained on image + label pairs, scored by DiceMetric.

    Segmentation with a MONAI ``UNet`` (spatial_dims=3) trained with Dice + cross-entropy on
    ``Record.target`` for a fixed number of iterations, inferred with
    ``SlidingWindowInferer`` and scored by MONAI's ``DiceMetric`` (foreground classes, mean
    over test volumes). Records without a label volume are left out of training."""

    data_kind = "arrays"
    Params = SegmentationParams
    metric = "dice"

    def evaluate(self, train: Dataset, test: Dataset, *, seed: int, context: RunContext) -> dict[str, float]:
        """Train the UNet on ``train``'s labelled volumes, return its mean foreground Dice on ``test``."""

        usable = [r for r in train.records if r.target is not None]
        if not usable:
            raise DataError("medical.segmentation needs training volumes with labels (Record.target)")
        if any(r.target is None for r in test.records):
            raise DataError("medical.segmentation needs a label volume for every test volume")
        k = self.params.num_classes or max(num_label_classes(usable), num_label_classes(test.records))
        model = self.fit(usable, k=k, seed=seed, context=context)
        dice = self._dice(model.net, test, k, model.patch, model.device)
        return {"dice": dice if np.isfinite(dice) else 0.0, "train_volumes": float(len(usable))}

    def fit(self, records: Sequence[Record], *, seed: int, context: RunContext, k: int | None = None) -> Segmenter:
        """The UNet trained on ``records`` (each with a label volume), as a :class:`Segmenter` that
        predicts class probabilities; ``k`` label classes with background (default: ``num_classes``,
        else from the labels). ``evaluate`` trains exactly this network."""
        import torch

        p = self.params
        if not records or any(r.target is None for r in records):
            raise DataError("medical.segmentation needs training volumes with labels (Record.target)")
        k = k or p.num_classes or num_label_classes(records)
        apply_thread_setting()  # once per process
        dev = pick_device(p.device)
        x = torch.from_numpy(stack_images(records))
        y = torch.from_numpy(stack_targets(records))
        size = tuple(x.shape[2:])
        patch = tuple(p.patch_size) if p.patch_size else size
        if any(a > b for a, b in zip(patch, size)):
            raise DataError(f"medical.segmentation: patch_size {patch} exceeds the volume size {size}")
        net = self._train(x, y, k, size, patch, dev, seed, context)
        return Segmenter(net, k, patch, dev, p.sw_batch_size, p.precision)

    def _train(self, x: Any, y: Any, k: int, size: tuple[int, ...], patch: tuple[int, ...], dev: Any, seed: int,
               context: RunContext) -> Any:
        """A UNet of ``k`` output classes trained ``steps`` iterations with Dice + cross-entropy on
        random batches (random patches of ``patch`` when smaller than ``size``; random flips with
        ``augment``) of the volumes ``x`` and labels ``y``."""
        import torch
        from monai.losses import DiceCELoss
        from monai.networks.nets import UNet

        p = self.params
        with seeded(seed):
            net = UNet(spatial_dims=3, in_channels=x.shape[1], out_channels=k, channels=tuple(p.channels),
                       strides=(2,) * (len(p.channels) - 1), num_res_units=p.num_res_units).to(dev)
        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
        opt = torch.optim.Adam(net.parameters(), lr=p.lr)
        g = torch_generator(seed)
        net.train()
        for _ in context.progress(range(p.steps), desc="train segmentation", total=p.steps):
            xb, yb = self._batch(x, y, size, patch, g)
            xb, yb = xb.to(dev), yb.to(dev)
            with autocast(dev, p.precision):
                loss = loss_fn(net(xb).float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return net

    def _batch(self, x: Any, y: Any, size: tuple[int, ...], patch: tuple[int, ...], g: Any) -> tuple[Any, Any]:
        """One training batch: ``batch_size`` volumes drawn with replacement, cut to a random patch,
        flipped at random along each axis with ``augment``."""
        import torch

        p = self.params
        idx = torch.randint(0, len(x), (p.batch_size,), generator=g)
        xb, yb = x[idx], y[idx]
        if patch != size:
            starts = [int(torch.randint(0, s - q + 1, (1,), generator=g)) for s, q in zip(size, patch)]
            sl = (slice(None), slice(None)) + tuple(slice(a, a + q) for a, q in zip(starts, patch))
            xb, yb = xb[sl], yb[sl]
        if p.augment:
            for ax in (2, 3, 4):
                if bool(torch.rand(1, generator=g) < 0.5):
                    xb, yb = xb.flip(ax), yb.flip(ax)
        return xb, yb

    def _dice(self, net: Any, test: Dataset, k: int, patch: tuple[int, ...], dev: Any) -> float:
        """Mean foreground Dice (MONAI's ``DiceMetric``) of ``net`` on ``test``, inferred with a
        sliding window of ``patch``."""
        import torch
        from monai.data import decollate_batch
        from monai.inferers import SlidingWindowInferer
        from monai.metrics import DiceMetric
        from monai.transforms import AsDiscrete

        p = self.params
        net.eval()
        inferer = SlidingWindowInferer(roi_size=patch, sw_batch_size=p.sw_batch_size, overlap=0.25)
        metric = DiceMetric(include_background=False, reduction="mean", ignore_empty=True)
        post_pred, post_lab = AsDiscrete(argmax=True, to_onehot=k), AsDiscrete(to_onehot=k)
        xt = torch.from_numpy(stack_images(test.records))
        yt = torch.from_numpy(stack_targets(test.records))
        with torch.no_grad():
            for i in range(0, len(xt), p.sw_batch_size):
                xb = xt[i:i + p.sw_batch_size].to(dev)
                with autocast(dev, p.precision):
                    logits = inferer(xb, net).float()
                preds = [post_pred(o) for o in decollate_batch(logits.cpu())]
                labs = [post_lab(o) for o in decollate_batch(yt[i:i + p.sw_batch_size])]
                metric(y_pred=preds, y=labs)
        return float(metric.aggregate().item())
