"""Near-copies of the generator's training data: the one measure behind ``core.memorization``,
the ``core.near-copy`` selector and ``gda bench``'s near-copy columns.

Definition (the only one GDA uses): the *reference* is every real record the generator learned
from, ``context.generator_train`` (the labelled training records, plus the pool records a
strategy trained on, such as the pseudo-labelled pool of ``core.pseudo-label``), else
``context.train``. A sample is a *near-copy* when its nearest-neighbour distance to the reference
is below ``tau``, the ``quantile`` (default :data:`QUANTILE`, 0.05) of the reference's own
leave-one-out nearest-neighbour distances (each reference record against the others): training
data alone sets ``tau``, never test records and never the pool. So a sample closer to a training
record than 95% of training records are to each other counts; held-out real data measured the
same way shows what an honest generator would (its share is the floor to compare with, often
above ``quantile`` when the reference is small: leave-one-out distances of a few records come
in mutual-neighbour pairs). :class:`NearCopyMeasure` holds the criterion; the selector drops
exactly the samples the validator and the bench count, so a kept set after ``core.near-copy``
holds none by construction (reports mark that share "filtered by that criterion" and headline the
generated set's share, before selection).

A quantile of a handful of distances is rough: :func:`calibration_notes` says so whenever fewer
than :data:`MIN_CALIBRATION` reference records set ``tau``.

The pipeline saves the reference's record ids next to the fitted generator, so a resumed run or a
later ``gda select`` / ``gda validate`` measures against the same records.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, model_validator

from .errors import DataError, RunFolderError
from .neighbors import leave_one_out_distances, nearest_distances
from .records import Dataset, Record

if TYPE_CHECKING:
    from .context import RunContext

Space = Literal["embedder", "raw"]
TRAINED_ON_FILE = "trained_on.json"
"""File in the run's ``model/`` folder listing the ids of the records the generator trained on."""
QUANTILE = 0.05
"""The default quantile of the reference's leave-one-out distances that is ``tau``."""
MIN_CALIBRATION = 20
"""Fewest reference records that set ``tau`` firmly: the default 0.05 quantile of fewer than 20
distances is decided by the smallest one or two. Below it, :func:`calibration_notes` says how few there were."""


def generator_reference(context: RunContext) -> Dataset:
    """The real records the generator trained on: ``context.generator_train`` or ``context.train``."""
    ref = getattr(context, "generator_train", None)
    return ref if ref is not None else context.train


def raw_features(records: Sequence[Record]) -> np.ndarray:
    """Samples flattened to ``(n, d)`` float vectors; ``ValueError`` for text or unequal shapes."""
    if not records:
        return np.zeros((0, 0))
    if any(isinstance(r.data, str) for r in records):
        raise ValueError("raw space needs array samples, and these are texts")
    shapes = {np.shape(r.data) for r in records}
    if len(shapes) > 1:
        raise ValueError(f"raw space needs samples of one shape (found {len(shapes)} shapes)")
    return np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in records])


def features(records: Sequence[Record], context: RunContext, space: Space, embedder: str | None = None,
             ) -> np.ndarray:
    """``records`` as vectors in the run embedder's (or the named embedder's) space, or raw."""
    if space == "raw":
        return raw_features(records)
    return context.embed(list(records), embedder)


def nn_distances(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each query row's distance to its nearest reference row."""
    if len(query) == 0:
        return np.zeros(0)
    return nearest_distances(query, reference, 1)[0][:, 0]


def near_copy_threshold(reference: np.ndarray, quantile: float = QUANTILE, loo: np.ndarray | None = None) -> float:
    """``tau``: the ``quantile`` of the reference's leave-one-out nearest-neighbour distances
    (``loo`` when the caller already has them)."""
    if len(reference) < 2:
        raise DataError(f"near-copy threshold: the generator trained on {len(reference)} record(s); the "
                        "leave-one-out distances that set tau need at least two")
    d = leave_one_out_distances(reference, 1) if loo is None else loo
    return float(np.quantile(d, quantile))


@dataclasses.dataclass
class NearCopyMeasure:
    """The near-copy criterion for one reference (features of the records the generator trained
    on): ``tau`` from the reference's leave-one-out distances; a sample closer than ``tau`` to a
    reference row is a near-copy. ``core.memorization``, ``core.near-copy`` and ``gda bench`` all
    count with it."""

    reference: np.ndarray
    quantile: float
    loo: np.ndarray
    """Each reference row's distance to its nearest other row (what set ``tau``)."""
    tau: float

    @classmethod
    def fit(cls, reference: np.ndarray, quantile: float = QUANTILE) -> NearCopyMeasure:
        """The criterion for ``reference`` features (at least two rows; a one-line
        :class:`DataError` otherwise)."""
        reference = np.asarray(reference)
        if len(reference) < 2:
            near_copy_threshold(reference, quantile)  # raises, naming the count
        loo = leave_one_out_distances(reference, 1)
        return cls(reference, quantile, loo, near_copy_threshold(reference, quantile, loo))

    def distances(self, samples: np.ndarray) -> np.ndarray:
        """Each sample's distance to its nearest reference row."""
        return nn_distances(np.asarray(samples), self.reference)

    def is_copy(self, distances: np.ndarray) -> np.ndarray:
        """Which of these nearest-reference distances mark near-copies (below ``tau``)."""
        return np.asarray(distances, dtype=float) < self.tau

    def share(self, distances: np.ndarray, empty: float = float("nan")) -> float:
        """Share of near-copies among samples at these distances (``empty`` when there are none)."""
        d = np.asarray(distances, dtype=float)
        return float(np.mean(self.is_copy(d))) if len(d) else empty

    def notes(self) -> list[str]:
        """What a report should say about ``tau`` (set by fewer than :data:`MIN_CALIBRATION` distances)."""
        return calibration_notes(len(self.reference), self.quantile)


def calibration_notes(n_reference: int, quantile: float = QUANTILE) -> list[str]:
    """A note when fewer than :data:`MIN_CALIBRATION` leave-one-out distances set ``tau``."""
    if n_reference < MIN_CALIBRATION:
        return [f"tau is the {quantile:g} quantile of only {n_reference} real distances (leave-one-out): with "
                f"fewer than {MIN_CALIBRATION} it is rough, set by the smallest one or two"]
    return []


class RetiredCalibration(BaseModel):
    """Mix-in for the ``Params`` of near-copy components: reads the retired ``calibration``
    parameter of older configs and run folders (``auto`` and ``leave-one-out`` mean today's only
    definition and are dropped; ``pool`` is refused with the reason)."""

    @model_validator(mode="before")
    @classmethod
    def _retired_calibration(cls, data: Any) -> Any:
        if isinstance(data, dict) and "calibration" in data:
            data = dict(data)
            value = data.pop("calibration")
            if value not in ("auto", "leave-one-out"):
                raise ValueError(f"calibration={value!r} is retired: tau is always the quantile of the training "
                                 "data's leave-one-out distances (one near-copy definition; docs/core.md); "
                                 "remove the calibration parameter")
        return data


def save_trained_on(folder: Path, context: RunContext) -> None:
    """Write the ids of ``context.generator_train`` into ``folder`` (nothing when it is unset)."""
    ref = getattr(context, "generator_train", None)
    if ref is None:
        return
    (Path(folder) / TRAINED_ON_FILE).write_text(json.dumps({"ids": [r.id for r in ref.records]}))


def restore_trained_on(folder: Path, context: RunContext) -> None:
    """Set ``context.generator_train`` from ``folder``'s id list, drawn from train and pool records;
    leave it unset when the generator trained on ``train`` alone (no list)."""
    path = Path(folder) / TRAINED_ON_FILE
    context.generator_train = None
    if not path.is_file():
        return
    try:
        ids = json.loads(path.read_text())["ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("'ids' is not a list of record ids")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise RunFolderError(f"{path} is damaged ({type(exc).__name__}: {str(exc)[:120]}); delete {path.parent} "
                             "and run `gda generate` on the run folder to fit the generator again") from exc
    pool = context.pool.records if context.pool is not None else []
    by_id = {r.id: r for r in [*context.train.records, *pool]}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise RunFolderError(f"{path}: {len(missing)} record(s) the generator trained on are not in the "
                             f"data set's train split or pool (first: {missing[0]!r})")
    context.generator_train = context.train.with_records([by_id[i] for i in ids])
