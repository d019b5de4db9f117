"""Classical image augmentation (flips, small affine transforms, noise) as a baseline generator."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import ConfigDict, Field

from gda_core.components import SAMPLING, Generator, Params
from gda_core.errors import DataError
from gda_core.records import Record

from .._images import as_chw

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from gda_core.context import RunContext
    from gda_core.records import Dataset


class ClassicalParams(Params):
    model_config = ConfigDict(json_schema_extra=SAMPLING)  # every parameter is a sampling one

    hflip: float = Field(0.5, ge=0, le=1, description="probability of a horizontal flip")
    vflip: float = Field(0.0, ge=0, le=1, description="probability of a vertical flip")
    rotate: float = Field(10.0, ge=0, le=180, description="largest rotation, degrees (uniform in +-rotate)")
    translate: float = Field(0.1, ge=0, lt=1, description="largest shift, as a share of the side")
    scale: float = Field(0.1, ge=0, lt=1, description="largest zoom change (uniform in 1 +- scale)")
    noise: float = Field(0.02, ge=0, description="std of added Gaussian pixel noise (images are in [0, 1])")


def augment(img: np.ndarray, p: ClassicalParams, rng: np.random.Generator) -> np.ndarray:
    """One random flip + affine + noise version of a ``(C, H, W)`` [0, 1] image."""
    from scipy.ndimage import affine_transform

    x = as_chw(img).copy()
    c, h, w = x.shape
    if rng.random() < p.hflip:
        x = x[:, :, ::-1]
    if rng.random() < p.vflip:
        x = x[:, ::-1, :]
    angle = np.deg2rad(rng.uniform(-p.rotate, p.rotate))
    zoom = rng.uniform(1 - p.scale, 1 + p.scale)
    shift = rng.uniform(-p.translate, p.translate, size=2) * np.array([h, w])
    # output pixel o maps to input pixel M @ (o - centre) + centre - shift
    cos, sin = np.cos(angle), np.sin(angle)
    m = np.array([[cos, -sin], [sin, cos]]) / zoom
    centre = (np.array([h, w]) - 1) / 2.0
    offset = centre - m @ centre - shift
    out = np.stack([affine_transform(ch, m, offset=offset, order=1, mode="constant", cval=0.0) for ch in x])
    if p.noise > 0:
        out = out + rng.normal(0.0, p.noise, size=out.shape)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


class ClassicalAugmentationGenerator(Generator):
    """Classical augmentation baseline: each synthetic image is a real training image of the
    class (``source_id`` of the condition, else a random one) after a random flip, a small
    rotation/zoom/shift (scipy ``affine_transform``) and Gaussian noise."""

    data_kind = "arrays"
    Params = ClassicalParams
    version = "1"

    def fit(self, train: Dataset, context: RunContext) -> None:
        if len(train) == 0:
            raise DataError("vision.classical: the training set is empty")
        self.ids_ = [r.id for r in train.records]
        self.images_ = np.stack([as_chw(r.data) for r in train.records])
        self.labels_ = [r.label for r in train.records]

    def generate(self, conditions: Sequence[dict[str, Any]], *, seed: int, context: RunContext) -> list[Record]:
        self._require_fitted("images_")
        rng = np.random.default_rng(seed)
        where = {rid: i for i, rid in enumerate(self.ids_)}
        out = []
        for cond in conditions:
            i = where.get(cond.get("source_id"))
            if i is None:
                same = [j for j, lab in enumerate(self.labels_) if lab == cond.get("label")]
                if not same:
                    raise DataError(f"vision.classical has no real image of class {cond.get('label')!r}")
                i = same[int(rng.integers(len(same)))]
            out.append(Record(id="", data=augment(self.images_[i], self.params, rng), label=cond.get("label"),
                              meta={"source_id": self.ids_[i]}))
        return out

    def save_state(self, path: Path) -> None:
        import json

        np.save(path / "classical_images.npy", self.images_, allow_pickle=False)
        (path / "classical_state.json").write_text(json.dumps({"ids": self.ids_, "labels": self.labels_}))

    def load_state(self, path: Path) -> None:
        import json

        state = json.loads((Path(path) / "classical_state.json").read_text())
        self.ids_, self.labels_ = state["ids"], state["labels"]
        self.images_ = np.load(Path(path) / "classical_images.npy", allow_pickle=False)
