"""``medical.realism``: keep the synthetic volumes that look most like some real volume."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core.components import Selector, SelectorParams

from ..metrics import ms_ssim_matrix
from ..volumes import stack_images

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gda_core.context import RunContext
    from gda_core.records import Dataset, Record


class RealismParams(SelectorParams):
    metric: Literal["ms-ssim", "embedding"] = Field(
        "ms-ssim", description="MS-SSIM to the nearest real volume, or minus the embedding distance to it")
    embedder: str | None = Field(None, description="with metric=embedding: this embedder (default: the run's)")
    scales: int = Field(3, ge=1, le=5, description="MS-SSIM scales (fewer are used on small volumes)")
    kernel_size: int = Field(7, ge=3, description="MS-SSIM Gaussian kernel size (shrunk on small volumes)")
    copy_threshold: float | None = Field(
        None, description="also drop volumes scoring above this (near-copies of a training volume)")


class RealismSelector(Selector):
    """Realism: similarity (MS-SSIM or embedding distance) to the nearest real volume.

    Scores each synthetic volume by its similarity to the nearest real training volume:
    the highest MS-SSIM (MONAI, multi-scale structural similarity) or minus the distance in
    an embedding. Keeps the ``keep`` fraction or those above ``threshold``; with
    ``copy_threshold`` it also drops near-copies of training volumes."""

    data_kind = "arrays"
    Params = RealismParams

    def fit(self, train: Dataset, context: RunContext) -> None:
        if self.params.metric == "ms-ssim":
            self.real_ = stack_images(train.records)
        else:
            self.real_ = context.embed(train.records, self.params.embedder)

    def score(self, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        p = self.params
        if p.metric == "ms-ssim":
            sim = ms_ssim_matrix(stack_images(synthetic), self.real_, scales=p.scales, kernel_size=p.kernel_size)
            return sim.max(axis=1)
        from gda_core.builtin.selectors.dedup import nn_distances

        return -nn_distances(context.embed(synthetic, p.embedder), self.real_)

    def select(self, scores: np.ndarray, synthetic: Sequence[Record], context: RunContext) -> np.ndarray:
        keep = super().select(scores, synthetic, context)
        if self.params.copy_threshold is not None:
            keep &= np.asarray(scores) <= self.params.copy_threshold
        return keep
