"""``medical.classical``: the classical augmentation baseline for volumes (MONAI random transforms)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import ConfigDict, Field

from gda_core.components import SAMPLING, Generator, Params
from gda_core.errors import DataError
from gda_core.records import Record

from ..perturb import augment_pair
from ..volumes import affine_of

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Dataset


class ClassicalParams(Params):
    model_config = ConfigDict(json_schema_extra=SAMPLING)  # every parameter is a sampling one

    rotate: float = Field(0.2, ge=0, description="RandAffined rotation range per axis (radians)")
    scale: float = Field(0.1, ge=0, lt=1, description="RandAffined scale range (+- fraction)")
    shift: float = Field(0.05, ge=0, le=0.5, description="RandAffined translation range (fraction of size)")
    affine_prob: float = Field(1.0, ge=0, le=1, description="probability of the affine transform")
    elastic_prob: float = Field(0.5, ge=0, le=1, description="probability of Rand3DElasticd")
    elastic_magnitude: float = Field(1.0, ge=0, description="elastic displacement magnitude (voxels)")
    intensity_prob: float = Field(0.5, ge=0, le=1, description="probability of each intensity transform")
    noise_std: float = Field(0.03, ge=0, description="RandGaussianNoised standard deviation")


class ClassicalAugmentation(Generator):
    """Classical augmentation baseline: MONAI random affine, elastic and intensity transforms.

    Each sample is a real volume (the condition's ``source_id``) passed through MONAI
    ``RandAffined``, ``Rand3DElasticd`` and intensity transforms, applied to the image and its
    label together, seeded."""

    data_kind = "arrays"
    Params = ClassicalParams
    version = "1"

    def __init__(self, params: Params | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.train_ = None

    def fit(self, train: Dataset, context: RunContext) -> None:
        if not len(train):
            raise DataError("medical.classical needs real volumes to augment")
        self.train_ = train

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        train = self.train_ if self.train_ is not None else context.train
        by_id = {r.id: r for r in train.records}
        p = self.params
        out = []
        for i, cond in enumerate(conditions):
            src = by_id.get(cond.get("source_id")) or train.records[i % len(train.records)]
            img, lab = augment_pair(np.asarray(src.data), None if src.target is None else np.asarray(src.target),
                                    seed * 7919 + i, affine_prob=p.affine_prob, rotate=p.rotate, scale=p.scale,
                                    shift=p.shift, elastic_prob=p.elastic_prob,
                                    elastic_magnitude=p.elastic_magnitude, intensity_prob=p.intensity_prob,
                                    noise_std=p.noise_std)
            out.append(Record(id="", data=img, label=cond.get("label", src.label), target=lab,
                              meta={"affine": affine_of(src).tolist()}))
        return out
