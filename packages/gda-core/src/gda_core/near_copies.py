"""Near-copies of the generator's training data: the measure behind ``core.memorization`` and
the ``core.near-copy`` selector.

A synthetic sample is a *near-copy* when its nearest-neighbour distance to the real records the
generator trained on (the *reference*) is below a threshold ``tau``. ``tau`` is calibrated on
real data only, so that real samples the generator never saw pass: the ``q``-quantile of the
reference's leave-one-out nearest-neighbour distances (each real record against the others), or
of an unused pool's distances to the reference. Test records never calibrate anything. A quantile
of a handful of distances is rough: ``calibration: auto`` takes the pool only when it holds at
least :data:`MIN_CALIBRATION` records or as many as the reference, and :func:`calibration_notes`
says so whenever fewer than :data:`MIN_CALIBRATION` distances set ``tau``.

The reference is ``context.generator_train`` when the strategy set it (a strategy that trains on
the training records plus the unlabelled pool sets it to both), else ``context.train``. The
pipeline saves its record ids next to the fitted generator, so a resumed run or a later
``gda select`` / ``gda validate`` measures against the same records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from .errors import NotApplicable, RunFolderError
from .neighbors import leave_one_out_distances, nearest_distances
from .records import Dataset, Record

if TYPE_CHECKING:
    from .context import RunContext

Space = Literal["embedder", "raw"]
TRAINED_ON_FILE = "trained_on.json"
"""File in the run's ``model/`` folder listing the ids of the records the generator trained on."""
MIN_CALIBRATION = 20
"""Fewest real distances that set ``tau`` firmly: the default 0.05 quantile of fewer than 20 is
decided by the smallest one or two. Below it, :func:`calibration_notes` says how few there were."""


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


def near_copy_threshold(reference: np.ndarray, quantile: float, calibration: np.ndarray | None = None,
                        loo: np.ndarray | None = None) -> float:
    """``tau``: the ``quantile`` of real-to-reference nearest-neighbour distances.

    With ``calibration`` (real records the generator did not train on, such as an unused pool),
    their distances to ``reference``; without, the reference's leave-one-out distances (``loo``
    when the caller already has them).
    """
    if calibration is not None and len(calibration):
        d = nn_distances(calibration, reference)
    elif len(reference) < 2:
        raise NotApplicable(f"near-copy threshold: the generator trained on {len(reference)} record(s); leave-one-out "
                        "calibration needs at least two (or an unlabelled pool the generator did not train on)")
    else:
        d = leave_one_out_distances(reference, 1) if loo is None else loo
    return float(np.quantile(d, quantile))


Calibration = Literal["auto", "leave-one-out", "pool"]
CALIBRATION_HELP = ("real distances that set tau: leave-one-out within the training data, or the unlabelled "
                    "pool's distances to it (only when the generator did not train on the pool); auto: the pool "
                    "when it qualifies, else leave-one-out")


def calibrate(reference: np.ndarray, context: RunContext, quantile: float, mode: Calibration, space: Space,
              embedder: str | None = None, *, who: str = "near-copy", loo: np.ndarray | None = None
              ) -> tuple[float, str]:
    """``(tau, how)``: the threshold for ``reference`` features and which real distances set it
    (``"pool"`` or ``"leave-one-out"``). Test records never take part."""
    from .errors import ConfigError

    use_pool = mode == "pool" or (mode == "auto" and pool_calibrates(context, len(reference)))
    if use_pool and not pool_is_unused(context):
        raise ConfigError(f"{who}: calibration='pool' needs an unlabelled pool the generator did not train on; "
                          "use calibration: leave-one-out")
    calibration = features(context.pool.records, context, space, embedder) if use_pool else None
    how = "pool" if use_pool else "leave-one-out"
    return near_copy_threshold(reference, quantile, calibration, loo), how


def pool_calibrates(context: RunContext, n_reference: int) -> bool:
    """Whether ``calibration: auto`` takes the pool: it is unused, and it holds at least
    :data:`MIN_CALIBRATION` records or as many as the reference (a pool of 6 beside 100 training
    records would set ``tau`` from 6 distances; leave-one-out gives 100)."""
    return pool_is_unused(context) and len(context.pool) >= min(MIN_CALIBRATION, n_reference)


def calibration_notes(context: RunContext, how: str, n_reference: int, quantile: float,
                      mode: Calibration = "auto") -> list[str]:
    """What a report should say about how ``tau`` was calibrated: a pool too small to calibrate
    (``auto`` passed it over), and a ``tau`` set by fewer than :data:`MIN_CALIBRATION` distances."""
    notes = []
    pool = getattr(context, "pool", None)
    if mode == "auto" and how != "pool" and pool_is_unused(context):
        notes.append(f"the unlabelled pool's {len(pool)} record(s) are too few to calibrate tau (fewer than "
                     f"{MIN_CALIBRATION} and than the {n_reference} training records): the training records' "
                     "leave-one-out distances set it")
    n = len(pool) if how == "pool" else n_reference
    if n < MIN_CALIBRATION:
        notes.append(f"tau is the {quantile:g} quantile of only {n} real distances ({how}): with fewer than "
                     f"{MIN_CALIBRATION} it is rough, set by the smallest one or two")
    return notes


def pool_is_unused(context: RunContext) -> bool:
    """True when the run has a pool and none of its records is in the generator's training data."""
    pool = getattr(context, "pool", None)
    if pool is None or len(pool) == 0:
        return False
    ref_ids = {r.id for r in generator_reference(context).records}
    return not any(r.id in ref_ids for r in pool.records)


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
