"""``medical.pseudo-mask``: segmentation self-training on an unlabelled pool of volumes.

A UNet (``medical.segmentation``'s) trained on the labelled image + mask pairs segments the pool's
volumes; the most confident volumes become pseudo-pairs (the pool image with the predicted mask as
its ``Record.target``); with ``rounds`` above 1 the UNet retrains on labelled + pseudo-pairs and
segments the pool again. The strategy then fits the generator on labelled + pseudo-pairs
(pretraining it on the pool's images first when it has the warm-start API of
:mod:`gda_core.builtin.pool`), and :meth:`PseudoMaskStrategy.pseudo_labelled` hands the
pseudo-pairs to ``gda bench``'s ``self-train`` and ``self-train + gen`` methods.

Whole volumes are kept or dropped, not voxels: the downstream UNet and the mask-conditioned
generators train on whole label volumes (``Record.target`` holds integer labels with no "ignore"
value), and the voxels a UNet is unsure of lie on object boundaries, so a voxel cut would teach
interiors only. A volume's confidence is the soft Dice between its predicted probabilities and
its predicted (argmax) mask, averaged over the foreground classes: 1 when every voxel is
predicted with certainty, lower the more probability mass disagrees with the mask.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from gda_core.builtin.pool import PSEUDO_LABEL, _need_pool, _report, supports_warm_start
from gda_core.components import Params, Strategy
from gda_core.errors import DataError
from gda_core.records import Dataset, Record

from ..applications.segmentation import SegmentationApplication, SegmentationParams

if TYPE_CHECKING:
    from gda_core.components import Generator
    from gda_core.context import RunContext

log = logging.getLogger("gda")


class PseudoMaskParams(Params):
    segmenter: SegmentationParams = Field(
        default_factory=SegmentationParams, description="the UNet that segments the pool, trained on the labelled "
        "pairs (medical.segmentation's parameters: channels, steps, batch_size, lr, patch_size, ...)")
    keep: float = Field(0.5, gt=0, le=1, description="share of the pool's volumes kept as pseudo-pairs, most "
                        "confident first")
    threshold: float | None = Field(None, ge=0, le=1, description="also drop volumes whose confidence (soft Dice of "
                                    "the probabilities against the predicted mask) is below this")
    rounds: int = Field(1, ge=1, le=5, description="self-training rounds: each after the first retrains the UNet on "
                        "labelled + the last round's pseudo-pairs and segments the whole pool again")
    flips: bool = Field(False, description="average the UNet's probabilities over the 8 flips of each pool volume "
                        "(test-time augmentation)")
    pretrain: bool = Field(True, description="with a generator that has pretrain/fine_tune: pretrain it on the "
                           "pool's images, then fine-tune on labelled + pseudo-pairs (else: fit on those)")
    pretrain_steps: int | None = Field(None, gt=0, description="steps of pretraining on the pool (default: the "
                                       "generator's own)")
    finetune_steps: int | None = Field(None, gt=0, description="steps of fine-tuning on labelled + pseudo-pairs "
                                       "(default: the generator's own)")


def volume_confidence(prob: np.ndarray) -> np.ndarray:
    """Per volume of ``prob`` ``(N, k, D, H, W)``: the soft Dice between the foreground
    probabilities and the argmax mask, mean over foreground classes (smoothed by one voxel, so an
    empty, certain prediction scores near 1)."""
    prob = np.asarray(prob, dtype=np.float64)
    n, k = prob.shape[:2]
    pred = prob.argmax(axis=1)
    out = np.zeros(n)
    for c in range(1, k):
        p = prob[:, c].reshape(n, -1)
        m = (pred == c).reshape(n, -1)
        out += (2 * (p * m).sum(1) + 1) / (p.sum(1) + m.sum(1) + 1)
    return out / max(1, k - 1)


def _label_of(labelled: Dataset) -> Any:
    """The class the pseudo-pairs carry: the labelled records' most common one."""
    labels = [r.label for r in labelled.records]
    return max(dict.fromkeys(labels), key=labels.count)


def pseudo_masks(labelled: Dataset, pool: Dataset, context: RunContext,
                 params: PseudoMaskParams) -> tuple[list[Record], dict[str, Any]]:
    """Segment ``pool`` with a UNet trained on ``labelled``'s image + mask pairs and keep the most
    confident volumes (``params.keep``, ``threshold``; ``rounds`` of retraining on labelled +
    pseudo-pairs). Returns the kept pool records, each with its predicted mask as ``target``, the
    labelled class as ``label`` and ``meta[PSEUDO_LABEL]`` holding its confidence, in pool order;
    and a summary for the report. Deterministic under ``context.seed``."""
    usable = [r for r in labelled.records if r.target is not None]
    if not usable:
        raise DataError("medical.pseudo-mask needs labelled volumes with a label volume (Record.target)")
    if len(pool) == 0:
        raise DataError("medical.pseudo-mask: the pool holds no volumes")
    app = SegmentationApplication(params.segmenter)
    k = params.segmenter.num_classes or max(int(np.asarray(r.target).max()) for r in usable) + 1
    k = max(k, 2)
    label = _label_of(labelled)
    kept: list[Record] = []
    history = []
    for round_ in range(params.rounds):
        model = app.fit(usable + kept, k=k, seed=context.seed + round_, context=context)
        prob = model.probabilities(pool.records, flips=params.flips)
        conf = volume_confidence(prob)
        order = np.argsort(-conf, kind="stable")[:int(round(params.keep * len(pool)))]
        chosen = sorted(int(i) for i in order if params.threshold is None or conf[i] >= params.threshold)
        masks = prob.argmax(axis=1)[:, None].astype(np.uint8)
        kept = [Record(id=pool.records[i].id, data=pool.records[i].data, label=label, target=masks[i],
                       meta={**pool.records[i].meta, PSEUDO_LABEL: {"confidence": float(conf[i])}})
                for i in chosen]
        history.append({"round": round_ + 1, "kept": len(kept),
                        "mean_confidence": float(conf[chosen].mean()) if chosen else None,
                        "mean_confidence_pool": float(conf.mean())})
    summary = {"labeller": "medical.segmentation UNet", "pool": len(pool), "kept": len(kept), "rounds": history}
    return kept, summary


class PseudoMaskStrategy(Strategy):
    """Segmentation self-training: a UNet trained on the labelled pairs pseudo-masks the pool.

    See the module docstring. The generator is fitted on labelled + the confident pseudo-pairs
    (pretrained on the pool's images first when it supports warm starts and ``pretrain``);
    :meth:`pseudo_labelled` returns the pseudo-pairs (``gda bench``'s ``self-train`` trains on
    exactly these)."""

    Params = PseudoMaskParams
    pseudo_: list[Record] | None = None

    def uses_pool(self) -> bool:
        return True

    def pseudo_labelled(self, train: Dataset, context: RunContext) -> list[Record] | None:
        """The pool volumes :meth:`fit` pseudo-masked and kept (segmented again, by the same seeded
        UNet, when the generator was loaded from a run folder instead)."""
        if self.pseudo_ is None:
            pool = _need_pool(context, self.name or "medical.pseudo-mask")
            self.pseudo_, self.summary_ = pseudo_masks(train, pool, context, self.params)
        return list(self.pseudo_)

    def fit(self, generator: Generator, train: Dataset, context: RunContext) -> Generator:
        pool = _need_pool(context, "medical.pseudo-mask")
        if len(train) == 0:
            raise DataError("medical.pseudo-mask: the labelled training set is empty")
        pseudo = self.pseudo_labelled(train, context) or []
        _report(context, "medical.pseudo-mask", self.summary_)
        self.fitted_on_ = train.with_records(list(train.records) + pseudo)
        p = self.params
        if p.pretrain and supports_warm_start(generator):
            unlabelled = pool.with_records(
                Record(id=r.id, data=r.data, label=None, target=None, meta=dict(r.meta)) for r in pool.records)
            unlabelled.classes = list(train.classes)
            generator.pretrain(unlabelled, context, steps=p.pretrain_steps)  # type: ignore[attr-defined]
            ids = {r.id for r in pseudo}
            context.generator_train = train.with_records(
                list(self.fitted_on_.records) + [r for r in unlabelled.records if r.id not in ids])
            generator.fine_tune(self.fitted_on_, context, steps=p.finetune_steps)  # type: ignore[attr-defined]
        else:
            context.generator_train = self.fitted_on_
            generator.fit(self.fitted_on_, context)
        return generator
