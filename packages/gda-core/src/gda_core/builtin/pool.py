"""Strategies that learn from an unlabelled pool of real records (``RunContext.pool``).

A generator fitted on a few labelled records can only recombine those few, and mostly copies
them. A pool of unlabelled real records (``DataSplits.pool``: scans without masks, recordings or
text without labels, the training images beyond the k shots) carries far more information. Two
strategies use it with any generator:

``core.pseudo-label``
    Fit a classifier on the labelled few (in the run embedder's space, or on raw features), label
    the pool, keep the most confident share, and fit the generator on labelled + pseudo-labelled
    records. Works with every generator: it only calls ``fit``. With ``pool_conditions`` the
    pseudo-labelled records also serve as conditions (``source_id``), for generators that start
    from a real record (SDEdit-style ``strength``, classical augmentation).

    With ``rounds`` above 1 the labels are iterated (self-training): an RBF SVM (``refit``) fitted
    on labelled + kept pseudo-labelled records labels the whole pool again, and the keep rule
    applies again, ``rounds - 1`` times.

    With ``uncertain_conditions`` the conditions aim generation where self-training is weakest:
    their source records are the least confident share of the pool (what the keep cut leaves
    out), each asked for the class the labeller predicts, so a generator that starts from its
    condition's record (SDEdit ``strength``, interpolation) turns boundary records into samples of
    the predicted class; a learner-agreement selector (``core.learner-agree``) then keeps those the
    semi-supervised learner assigns to that class.

``core.pretrain-finetune``
    Pretrain the generator on the pool without labels, then fine-tune it class-conditionally on
    the labelled few (optionally on labelled + pseudo-labelled records), fully or, where the
    generator supports it, through LoRA adapters.

Warm-start API (optional, duck-typed)
-------------------------------------
A generator opts in to ``core.pretrain-finetune`` by defining two methods:

``pretrain(pool: Dataset, context, *, steps: int | None = None) -> None``
    Fit on unlabelled records (every label None): unconditionally, or as the null class of a
    class-conditional model. ``pool.classes`` lists the classes that fine-tuning will ask for,
    so a class embedding can be sized now. ``steps`` overrides the generator's own step count.

``fine_tune(train: Dataset, context, *, steps: int | None = None, lora_rank: int = 0) -> None``
    Continue from the current (pretrained) state on labelled records, class-conditionally. It must
    start from the pretrained weights, not re-initialise them. ``lora_rank > 0`` asks for LoRA
    adapters (a generator without LoRA support raises a ``ConfigError``).

:func:`supports_warm_start` tells whether a generator implements the API. ``vision.ddpm`` and
``core.gmm`` do; other generators are refused with an error that names them.

Strategies see the pool through a :class:`~gda_core.context.FitContext`, whose records carry
no hidden label. The pipeline keeps the loader's hidden labels aside and scores the records a
strategy pseudo-labelled (:meth:`~gda_core.Strategy.pseudo_labelled`) against them for the report
only: logged and written to ``pool_strategy.json`` in the run folder, never used to choose,
weight or train anything.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from gda_core.components import SAMPLING, Generator, Params, Strategy
from gda_core.errors import ConfigError, DataError
from gda_core.records import Dataset, Record

if TYPE_CHECKING:
    from gda_core.context import RunContext

log = logging.getLogger("gda")

PSEUDO_LABEL = "pseudo_label"
"""``Record.meta`` key set on a pool record that a strategy labelled: ``{"confidence": c}``."""

REPORT_FILE = "pool_strategy.json"

SELF_TRAIN_LABELLER: dict[str, Any] = {"classifier": "logistic", "standardize": True, "keep": 0.5, "per_class": True}
"""How self-training labels the pool when the run's strategy uses no pseudo-labels (``gda bench``'s
``self-train`` methods and ``core.downstream``'s self-training row): logistic regression on
standardised features, the most confident half of each predicted class (:func:`pseudo_label` with
these :class:`PseudoLabelParams`)."""


def supports_warm_start(generator: Generator) -> bool:
    """Whether ``generator`` implements the optional ``pretrain`` / ``fine_tune`` API."""
    return callable(getattr(generator, "pretrain", None)) and callable(getattr(generator, "fine_tune", None))


class PseudoLabelParams(Params):
    classifier: Literal["logistic", "svm", "label-spreading", "self-training"] = Field(
        "label-spreading", description="pseudo-labeller fitted on the labelled few: logistic regression, an "
        "RBF SVM, k-NN label spreading over labelled + pool (transductive), or iterated self-training of a "
        "logistic regression")
    features: Literal["embedder", "raw"] = Field(
        "embedder", description="where the classifier works: the run embedder's space, or the records' raw "
        "values flattened (arrays only)")
    standardize: bool = Field(False, description="scale features to zero mean, unit variance (fitted on "
                              "labelled + pool features) before classifying")
    keep: float = Field(0.8, gt=0, le=1, description="share of the pool kept, most confident first")
    threshold: float | None = Field(None, ge=0, le=1, description="also drop pool records whose confidence "
                                    "is below this")
    per_class: bool = Field(False, description="keep the same share within each predicted class (else "
                            "across the whole pool)")
    n_neighbors: int = Field(7, gt=0, description="neighbours of the label-spreading graph")
    pool_conditions: bool = Field(True, description="pseudo-labelled records also serve as conditions "
                                  "(source_id), besides the labelled ones")
    rounds: int = Field(1, ge=1, le=10, description="labelling rounds: round 1 is ``classifier``; each further "
                        "round retrains ``refit`` on labelled + the records kept so far and labels the whole pool "
                        "again (iterated self-training, with the same keep rule)")
    refit: Literal["logistic", "svm"] = Field("svm", description="the classifier of rounds 2 and on, fitted on "
                                              "standardised features of labelled + pseudo-labelled records")
    refit_keep: float | None = Field(None, gt=0, le=1, description="share of the pool kept in rounds 2 and on, "
                                     "most confident first (default: keep)")
    uncertain_conditions: float | None = Field(
        None, gt=0, le=1, json_schema_extra=SAMPLING, description="aim generation where self-training is weakest: "
        "the conditions' source records are this share of the pool, least confident first (what the keep cut "
        "leaves out), each asked for the class the labeller predicts for it; for generators that start from "
        "their condition's record (strength < 1, interpolation). A sampling parameter: the fitted model is reused")


def _features(records: list[Record], context, features: str, embedder: str | None = None) -> np.ndarray:
    if features == "raw":
        if any(isinstance(r.data, str) for r in records):
            raise ConfigError("strategy.params.features: raw features need array records; use 'embedder' for text")
        return np.stack([np.asarray(r.data, dtype=np.float64).reshape(-1) for r in records])
    return np.asarray(context.embed(records, embedder), dtype=np.float64)


# --- one labeller per classifier: (labelled features A, their class indices y, pool features P) -> pool
# --- class probabilities (n_pool, n_classes)


def _logistic(A: np.ndarray, y: np.ndarray, P: np.ndarray, params: PseudoLabelParams, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=3000, random_state=seed).fit(A, y).predict_proba(P)


def _svm(A: np.ndarray, y: np.ndarray, P: np.ndarray, params: PseudoLabelParams, seed: int) -> np.ndarray:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    folds = int(min(3, np.bincount(y).min()))
    if folds < 2:
        raise DataError("core.pseudo-label: the svm classifier needs two labelled records per class")
    model = CalibratedClassifierCV(SVC(kernel="rbf", random_state=seed), cv=folds, ensemble=False)
    return model.fit(A, y).predict_proba(P)


def _label_spreading(A: np.ndarray, y: np.ndarray, P: np.ndarray, params: PseudoLabelParams,
                     seed: int) -> np.ndarray:
    from sklearn.semi_supervised import LabelSpreading

    Z = np.concatenate([A, P])
    yy = np.concatenate([y, -np.ones(len(P), dtype=int)])
    k = min(params.n_neighbors, len(Z) - 1)
    spread = LabelSpreading(kernel="knn", n_neighbors=k, alpha=0.2, max_iter=100).fit(Z, yy)
    return spread.label_distributions_[len(A):]


def _self_training(A: np.ndarray, y: np.ndarray, P: np.ndarray, params: PseudoLabelParams,
                   seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.semi_supervised import SelfTrainingClassifier

    Z = np.concatenate([A, P])
    yy = np.concatenate([y, -np.ones(len(P), dtype=int)])
    model = SelfTrainingClassifier(LogisticRegression(max_iter=3000, random_state=seed), threshold=0.9)
    return model.fit(Z, yy).predict_proba(P)


LABELLERS = {"logistic": _logistic, "svm": _svm, "label-spreading": _label_spreading,
             "self-training": _self_training}
"""The labeller of each ``classifier`` value of :class:`PseudoLabelParams`."""


def _refit(A: np.ndarray, y: np.ndarray, P: np.ndarray, kept: list[int], pred: np.ndarray, kind: str,
           seed: int) -> np.ndarray:
    """One further round of iterated self-training: ``kind`` (logistic regression or an RBF SVM
    with calibrated probabilities) on standardised labelled + kept pseudo-labelled features; the
    whole pool's class probabilities (columns: every labelled class)."""
    from sklearn.preprocessing import StandardScaler

    from gda_core.builtin.applications.classification import make_classifier

    n_classes = int(y.max()) + 1
    scaler = StandardScaler().fit(np.concatenate([A, P]))
    X = scaler.transform(np.concatenate([A, P[kept]]))
    yy = np.concatenate([y, pred[kept]])
    model = make_classifier("logreg" if kind == "logistic" else "svm", seed, probability=True).fit(X, yy)
    proba = np.zeros((len(P), n_classes))
    proba[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(scaler.transform(P))
    return proba


def _classes(labelled: Dataset) -> tuple[list[Any], np.ndarray]:
    """The labelled classes in order of appearance and each record's class index."""
    if len(labelled) == 0:
        raise DataError("the labelled training set is empty: nothing to pseudo-label from")
    classes = list(dict.fromkeys(r.label for r in labelled.records))
    if len(classes) < 2:
        raise DataError(f"pseudo-labelling needs at least two labelled classes (found {classes})")
    index = {repr(c): i for i, c in enumerate(classes)}
    return classes, np.asarray([index[repr(r.label)] for r in labelled.records])


def _most_confident(pred: np.ndarray, conf: np.ndarray, params: PseudoLabelParams, n_classes: int) -> list[int]:
    """Indices of the pool records kept: the most confident ``keep`` share (of each predicted
    class with ``per_class``), at least ``threshold`` confident when set, in pool order."""
    groups = [np.arange(len(pred))] if not params.per_class else [np.flatnonzero(pred == c) for c in range(n_classes)]
    kept: list[int] = []
    for g in groups:
        order = g[np.argsort(-conf[g], kind="stable")]
        kept.extend(order[:int(round(params.keep * len(g)))].tolist())
    if params.threshold is not None:
        kept = [i for i in kept if conf[i] >= params.threshold]
    return sorted(kept)


def _least_confident(conf: np.ndarray, share: float) -> list[int]:
    """Indices of the least confident ``share`` of the pool (at least one), least confident first."""
    order = np.argsort(conf, kind="stable")
    return order[:max(1, int(round(share * len(conf))))].tolist()


def _relabelled(record: Record, label: Any, confidence: float) -> Record:
    """A pool record with its pseudo-label (and its confidence in ``meta``)."""
    return Record(id=record.id, data=record.data, label=label, target=record.target,
                  meta={**record.meta, PSEUDO_LABEL: {"confidence": confidence}})


def pseudo_label(labelled: Dataset, pool: Dataset, context: RunContext, params: PseudoLabelParams, *,
                 embedder: str | None = None, uncertain: float | None = None) -> tuple[list[Record], dict[str, Any]]:
    """Label ``pool`` with a classifier fitted on ``labelled``; keep the most confident records.

    The classifier works in the run embedder's space (or the named ``embedder``'s, or on raw
    values: ``params.features``). ``pool`` is unlabelled (a :class:`~gda_core.context.FitContext`'s
    pool: no hidden labels). Returns the kept pool records (label set to the prediction,
    ``meta[PSEUDO_LABEL]`` holding the confidence) and a summary for the report (counts, mean
    confidence, kept records per class); :func:`gda_core.splits.label_accuracy` scores them
    against hidden labels kept aside. With ``params.rounds`` above 1, each further round retrains
    ``params.refit`` on labelled + the records kept so far and labels the whole pool again
    (iterated self-training; the summary counts the labels each round changed).

    With ``uncertain`` (a share of the pool), the summary's ``uncertain`` holds the least confident
    ``uncertain`` share of the pool instead, least confident first, each with the label the last
    round predicts (the records the keep cut leaves out: where self-training is weakest).
    """
    from sklearn.preprocessing import StandardScaler

    classes, y = _classes(labelled)
    A = _features(list(labelled.records), context, params.features, embedder)
    P = _features(list(pool.records), context, params.features, embedder)
    if params.standardize:
        scaler = StandardScaler().fit(np.concatenate([A, P]))
        A, P = scaler.transform(A), scaler.transform(P)
    proba = np.nan_to_num(np.asarray(LABELLERS[params.classifier](A, y, P, params, context.seed), dtype=np.float64))
    pred, conf = proba.argmax(axis=1), proba.max(axis=1)
    kept = _most_confident(pred, conf, params, len(classes))
    changed: list[int] = []
    for _ in range(1, params.rounds):
        before = pred.copy()
        proba = _refit(A, y, P, kept, pred, params.refit, context.seed)
        pred, conf = proba.argmax(axis=1), proba.max(axis=1)
        later = params if params.refit_keep is None else params.model_copy(update={"keep": params.refit_keep})
        kept = _most_confident(pred, conf, later, len(classes))
        changed.append(int(np.sum(pred != before)))
    out = [_relabelled(pool.records[i], classes[pred[i]], float(conf[i])) for i in kept]
    summary: dict[str, Any] = {"classifier": params.classifier, "pool": len(pool), "kept": len(out),
                               "mean_confidence": float(conf[kept].mean()) if kept else None,
                               "per_class": {str(c): int(np.sum(pred[kept] == i)) for i, c in enumerate(classes)}}
    if params.rounds > 1:
        summary.update(rounds=params.rounds, refit=params.refit, refit_keep=params.refit_keep,
                       relabelled_per_round=changed)
    if uncertain is not None:
        summary["uncertain"] = [_relabelled(pool.records[i], classes[pred[i]], float(conf[i]))
                                for i in _least_confident(conf, uncertain)]
    return out, summary


def _report(context, strategy: str, summary: dict[str, Any]) -> None:
    log.info("%s: kept %d of %d pool records", strategy, summary.get("kept", 0), summary.get("pool", 0))
    if context.workdir is not None:
        from pathlib import Path

        path = Path(context.workdir)
        if path.is_dir():
            from gda_core import runfolder

            runfolder.write_json(path / REPORT_FILE, {"strategy": strategy, **summary})  # listed as gda's


def _need_pool(context, name: str) -> Dataset:
    """The run's pool. The pipeline refuses a run without one before any work, naming how the
    loader in use offers one (:attr:`~gda_core.components.DatasetLoader.pool_hint`); this is the
    error of a strategy driven outside the pipeline."""
    pool = getattr(context, "pool", None)
    if pool is None or len(pool) == 0:
        raise ConfigError(f"strategy {name} needs an unlabelled pool, but the data set offers none "
                          "(`gda list datasets` shows each loader's pool parameters)")
    return pool


class PseudoLabelStrategy(Strategy):
    """Fit the generator on the labelled records plus the confidently pseudo-labelled pool.

    See the module docstring. ``fitted_on_`` holds the records the generator was fitted on; they
    also become ``context.generator_train``, the reference of near-copy checks.
    """

    Params = PseudoLabelParams
    pseudo_: list[Record] | None = None
    uncertain_: list[Record] | None = None

    def uses_pool(self) -> bool:
        return True

    def fit(self, generator: Generator, train: Dataset, context: RunContext) -> Generator:
        self._label(train, context, "core.pseudo-label")
        self.fitted_on_ = train.with_records(list(train.records) + self.pseudo_)
        context.generator_train = self.fitted_on_  # near-copy checks measure against what it learned from
        _report(context, "core.pseudo-label", self.summary_)
        generator.fit(self.fitted_on_, context)
        return generator

    def pseudo_labelled(self, train: Dataset, context: RunContext) -> list[Record] | None:
        """The pool records :meth:`fit` labelled and kept (labelled again, by the same
        deterministic labeller, when the generator was loaded from a run folder instead)."""
        if self.pseudo_ is None:
            self._label(train, context, self.name or "core.pseudo-label")
        return list(self.pseudo_)

    def _label(self, train: Dataset, context: RunContext, name: str) -> None:
        """Label the pool once: the kept records, the report's summary and, with
        ``uncertain_conditions``, the least confident records (:meth:`uncertain_labelled`)."""
        self.pseudo_, self.summary_ = pseudo_label(train, _need_pool(context, name), context, self.params,
                                                   uncertain=self.params.uncertain_conditions)
        self.uncertain_ = self.summary_.pop("uncertain", None)

    def uncertain_labelled(self, train: Dataset, context: RunContext) -> list[Record]:
        """The least confident ``uncertain_conditions`` share of the pool, least confident first, each
        labelled with the class the labeller predicts (the same deterministic labeller as
        :meth:`pseudo_labelled`; empty when ``uncertain_conditions`` is unset)."""
        if self.params.uncertain_conditions is None:
            return []
        if self.uncertain_ is None:
            self._label(train, context, self.name or "core.pseudo-label")
        return list(self.uncertain_)

    def conditions(self, counts: dict[Any, int], train: Dataset, context: RunContext) -> list[dict[str, Any]]:
        """As the default (each condition names a record of its class in turn), the records being
        the labelled ones plus the kept pseudo-labelled pool (``pool_conditions``); with
        ``uncertain_conditions``, the least confident pool records predicted as the class instead
        (a class with none of them falls back to its labelled and kept records)."""
        uncertain = self.uncertain_labelled(train, context)
        pseudo = self.pseudo_labelled(train, context) if self.params.pool_conditions else None
        known = train.with_records(list(train.records) + (pseudo or [])) if pseudo else train
        if not uncertain:
            return super().conditions(counts, known, context)
        by_class = train.with_records(uncertain).by_class()
        fallback = known.by_class()
        out: list[dict[str, Any]] = []
        for label, n in counts.items():
            sources = by_class.get(label) or fallback.get(label) or list(known.records)
            out.extend({"label": label, "source_id": sources[i % len(sources)].id} for i in range(n))
        return out


class PretrainFinetuneParams(PseudoLabelParams):
    pretrain_steps: int | None = Field(None, gt=0, description="steps of unconditional pretraining on the "
                                       "pool (default: the generator's own)")
    finetune_steps: int | None = Field(None, gt=0, description="steps of class-conditional fine-tuning "
                                       "(default: the generator's own)")
    lora_rank: int = Field(0, ge=0, description="fine-tune LoRA adapters of this rank (peft) instead of "
                           "every weight; 0: full fine-tuning")
    pseudo_label: bool = Field(False, description="fine-tune on labelled + confidently pseudo-labelled "
                               "pool records (the pseudo-label parameters apply), not the labelled few only")


class PretrainFinetuneStrategy(PseudoLabelStrategy):
    """Pretrain the generator on the unlabelled pool, then fine-tune it class-conditionally.

    Needs the warm-start API of the module docstring (``pretrain`` and ``fine_tune``).
    """

    Params = PretrainFinetuneParams

    def pseudo_labelled(self, train: Dataset, context: RunContext) -> list[Record] | None:
        """The pseudo-labelled pool records fine-tuning used (``pseudo_label``), else None."""
        return super().pseudo_labelled(train, context) if self.params.pseudo_label else None

    def fit(self, generator: Generator, train: Dataset, context: RunContext) -> Generator:
        pool = _need_pool(context, "core.pretrain-finetune")
        if not supports_warm_start(generator):
            raise ConfigError(f"strategy core.pretrain-finetune: generator {generator.name or type(generator).__name__}"
                              " has no pretrain/fine_tune methods (the warm-start API of gda_core.builtin.pool); "
                              "use core.pseudo-label with it instead")
        p = self.params
        unlabelled = pool.with_records(
            Record(id=r.id, data=r.data, label=None, target=r.target, meta=dict(r.meta)) for r in pool.records)
        unlabelled.classes = list(train.classes)
        summary: dict[str, Any] = {"pool": len(pool), "pretrain_steps": p.pretrain_steps,
                                   "finetune_steps": p.finetune_steps, "lora_rank": p.lora_rank}
        pseudo: list[Record] = []
        if p.pseudo_label:
            pseudo, labels = pseudo_label(train, pool, context, p)
            self.pseudo_ = pseudo
            summary.update(labels)
        self.summary_ = summary
        _report(context, "core.pretrain-finetune", summary)
        generator.pretrain(unlabelled, context, steps=p.pretrain_steps)  # type: ignore[attr-defined]
        self.fitted_on_ = train.with_records(list(train.records) + pseudo)
        # it learned from the whole pool in pretraining: near-copy checks measure against all of it
        pseudo_ids = {r.id for r in pseudo}
        context.generator_train = train.with_records(
            list(self.fitted_on_.records) + [r for r in unlabelled.records if r.id not in pseudo_ids])
        generator.fine_tune(self.fitted_on_, context, steps=p.finetune_steps,  # type: ignore[attr-defined]
                            lora_rank=p.lora_rank)
        return generator
