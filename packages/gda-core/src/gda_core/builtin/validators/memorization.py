"""Near-copies: how many synthetic samples are near-copies of the real data the generator
trained on, beside the same share for held-out real samples. Every run measures it (the
pipeline adds ``core.memorization`` to a config that lists no such validator).

Definition (:mod:`gda_core.near_copies`, the one ``core.near-copy`` and ``gda bench`` use): the
*reference* is the real data the generator trained on (``context.generator_train``: the training
records, plus pool records when the strategy trained on the pool). A sample is a near-copy when
its nearest-neighbour distance to the reference is below ``tau``, the ``quantile`` (default 0.05)
of the reference's leave-one-out nearest-neighbour distances. Training data alone sets ``tau``
(never test records, never the pool).

Metrics, in the first of ``spaces`` (default: the run embedder's space); each other space adds
the same names with a ``_<space>`` suffix (``near_copy_share_raw``, ...; where two spaces give the
same features, as ``core.flatten`` and raw do, the numbers repeat):

- ``near_copy_share``: share of the kept synthetic set that are near-copies (below ``tau``);
- ``near_copy_share_real``: the same share for the held-out test records, with the same ``tau``
  (what an honest generator shows; near ``quantile``). A kept set well above it copies;
- ``near_copy_share_generated``: the share before any selector;
- ``near_copy_threshold``: ``tau`` itself, a distance in that space;
- ``nn_distance_median``: median distance from a kept sample to its nearest reference record;
- ``nn_distance_median_real``: the same median for held-out test records;
- ``exact_copies``: share of the kept set at distance 0 (duplicates of a reference record);
- ``memorized_share`` / ``memorized_share_real_test``: the older relative measure, the share
  whose distance to its nearest reference record r is below ``ratio`` times r's own
  leave-one-out distance, for the kept set and for the test records.

A table lists the near-copy share and median distance for held-out real data and for the
synthetic set at each selection stage (generated, after each selector). It runs when nothing was
kept too: ``near_copy_share`` is then 0 and ``nn_distance_median`` NaN (None in validation.json).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core import near_copies
from gda_core.components import Params, Table, ValidationResult, Validator
from gda_core.errors import NotApplicable
from gda_core.neighbors import leave_one_out_distances, nearest_distances

if TYPE_CHECKING:
    from gda_core.components import ValidationInputs
    from gda_core.context import RunContext

HEADLINE = ("near_copy_share", "near_copy_share_real", "near_copy_threshold", "nn_distance_median",
            "nn_distance_median_real")
"""The metric names reports and ``gda bench`` rely on."""


def memorized_share(real: np.ndarray, other: np.ndarray, ratio: float, *, real_nn: np.ndarray | None = None,
                    nearest: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Share of ``other`` rows whose distance to their nearest real row r is below ``ratio``
    times r's own distance to its nearest other real row.

    ``real_nn`` (the real rows' leave-one-out distances) and ``nearest`` (``other``'s distances
    and indices of its nearest real row, as :func:`~gda_core.neighbors.nearest_distances` gives
    them) skip searches a caller already ran: at 10^6 rows each is tens of seconds."""
    if len(other) == 0:
        return 0.0
    if real_nn is None:
        real_nn = leave_one_out_distances(real, 1)
    d, idx = nearest if nearest is not None else nearest_distances(other, real, 1)
    return float(np.mean(d[:, 0] < ratio * real_nn[idx[:, 0]]))


class MemorizationParams(Params, near_copies.RetiredCalibration):
    quantile: float = Field(near_copies.QUANTILE, gt=0, lt=0.5, description="tau is this quantile of the "
                            "training data's leave-one-out nearest-neighbour distances")
    spaces: list[Literal["embedder", "raw"]] = Field(
        ["embedder", "raw"], min_length=1, description="where distances are measured: the run embedder's "
        "features, raw samples (flattened arrays; skipped for text); the first gives the unsuffixed metrics")
    ratio: float = Field(0.5, gt=0, description="memorized_share: a sample counts when its distance to its "
                         "nearest real sample is below this times that sample's nearest-real distance")
    embedder: str | None = Field(None, description="features from this embedder (default: the run's)")


class MemorizationValidator(Validator):
    """Share of kept synthetic samples that are near-copies of the generator's training data
    (distance below the training data's leave-one-out threshold), beside the share among held-out
    real samples, with the share at every selection stage."""

    Params = MemorizationParams
    accepts_empty = True  # with nothing kept, the stage table still shows what selection removed

    def evaluate(self, inputs: ValidationInputs, context: RunContext) -> ValidationResult:
        p = self.params
        reference = near_copies.generator_reference(context)
        generated = inputs.stages[0][1] if inputs.stages else inputs.synthetic
        metrics: dict[str, float] = {}
        tables: list[Table] = []
        notes: list[str] = []
        seen: list[tuple[str, np.ndarray, dict[str, float]]] = []  # (space, reference features, metrics)
        for i, space in enumerate(dict.fromkeys(p.spaces)):
            suffix = "" if i == 0 else f"_{space}"
            try:
                ref = near_copies.features(reference.records, context, space, p.embedder)
                test = near_copies.features(inputs.test.records, context, space, p.embedder)
                gen = near_copies.features(generated, context, space, p.embedder)
            except ValueError as exc:
                if i == 0:
                    raise NotApplicable(f"core.memorization: spaces[0]={space!r}: {exc}") from exc
                notes.append(f"near-copies not measured in {space} space: {exc}")
                continue
            same = next(((name, m) for name, f, m in seen if f.shape == ref.shape and np.array_equal(f, ref)), None)
            if same is not None:  # this space gives the features of an earlier one (core.flatten and raw)
                metrics.update({f"{k}{suffix}": v for k, v in same[1].items()})
                notes.append(f"near-copies in {space} space: the features of {same[0]} space, so the same numbers")
                continue
            if len(ref) < 2:  # tau is a quantile of leave-one-out distances: no pair, no threshold
                raise NotApplicable(f"core.memorization: the generator trained on {len(ref)} record(s); the "
                                    "leave-one-out distances that set the near-copy threshold need at least two")
            measure = near_copies.NearCopyMeasure.fit(ref, p.quantile)  # its loo serves memorized_share too
            tau, real_nn = measure.tau, measure.loo
            for note in measure.notes():
                if note not in notes:  # counts, the same in every space
                    notes.append(note)
            d_gen = dict(zip((r.id for r in generated), measure.distances(gen)))
            d_test = measure.distances(test)
            kept = near_copies.features(inputs.synthetic, context, space, p.embedder)
            near_kept = nearest_distances(kept, ref, 1) if len(kept) else None
            d_kept = near_kept[0][:, 0] if near_kept is not None else np.zeros(0)
            m = {
                "near_copy_share": measure.share(d_kept, empty=0.0),
                "near_copy_share_real": measure.share(d_test, empty=0.0),
                "near_copy_share_generated": measure.share(np.fromiter(d_gen.values(), float), empty=0.0),
                "near_copy_threshold": tau,
                "nn_distance_median": float(np.median(d_kept)) if len(d_kept) else float("nan"),
                "nn_distance_median_real": float(np.median(d_test)),
                "exact_copies": float(np.mean(d_kept <= 1e-9)) if len(d_kept) else 0.0,
                "memorized_share": memorized_share(ref, kept, p.ratio, real_nn=real_nn, nearest=near_kept),
                "memorized_share_real_test": memorized_share(ref, test, p.ratio, real_nn=real_nn),
            }
            metrics.update({f"{k}{suffix}": v for k, v in m.items()})
            seen.append((space, ref, m))
            rows = [["held-out real (test)", len(d_test), round(m["near_copy_share_real"], 4),
                     _round(m["nn_distance_median_real"])]]
            for name, recs in inputs.stages or [("kept", inputs.synthetic)]:
                d = np.asarray([d_gen[r.id] for r in recs if r.id in d_gen])
                rows.append([name, len(recs), round(measure.share(d, empty=0.0), 4),
                             _round(float(np.median(d))) if len(d) else None])
            tables.append(Table(
                f"Near-copies of the generator's {_reference_size(reference, context)} "
                f"({_space_name(space, context, p)}; "
                f"tau = {tau:.4g}, the {p.quantile:g} quantile of their leave-one-out distances)",
                ["set", "n", "near-copy share", "median NN distance"], rows))
            if m["near_copy_share"] > m["near_copy_share_real"] + 0.05:
                notes.append(f"{space} space: {m['near_copy_share']:.0%} of the kept synthetic samples are "
                             f"near-copies of training data, against {m['near_copy_share_real']:.0%} of held-out "
                             "real samples: the generator copies")
        return ValidationResult(metrics=metrics, tables=tables, notes=notes)


def _reference_size(reference, context) -> str:
    """``1016 training records (50 labelled + 966 from the unlabelled pool)``, or ``50 training records``."""
    train_ids = {r.id for r in context.train.records}
    from_pool = sum(r.id not in train_ids for r in reference.records)
    n = len(reference)
    if not from_pool:
        return f"{n} training records"
    return f"{n} training records ({n - from_pool} labelled + {from_pool} from the unlabelled pool)"


def _round(v: float) -> float:
    return float(f"{v:.4g}")


def _space_name(space: str, context, p: MemorizationParams) -> str:
    if space == "raw":
        return "raw samples"
    emb = p.embedder or getattr(context.get_embedder(None), "name", None) or "the run's embedder"
    return f"{emb} features"
