"""The run context handed to every component: data, seed, shared helpers."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .errors import ConfigError, GDAError
from .library_noise import silence_libraries  # noqa: F401  (its old home; re-exported)
from .records import Dataset, Record, flatten

T = TypeVar("T")

SCRATCH_DIR = "model.partial"
"""Where fits keep resumable state inside a run folder (:meth:`RunContext.scratch_dir`)."""


@dataclasses.dataclass
class RunContext:
    """What components may use besides their own parameters.

    ``embedder`` is the run's default :class:`~gda_core.Embedder` (fitted on
    ``train``); :meth:`embed` caches features per record id and embedder, so a
    chain of selectors and validators embeds each record once.
    ``application`` is the downstream task validators train. ``pool`` is the loader's unlabelled
    pool of real records (None when it offers none); it never holds a test record.
    ``generator_train`` is what the generator learned from, set by a strategy that trains on more
    than ``train`` (``train`` plus ``pool``, say); None means ``train``. Near-copy checks
    (:mod:`gda_core.near_copies`) measure against it. Fitting, generating and selecting get a
    :class:`FitContext` view of it (no test split, no hidden labels: :meth:`fitting`).
    """

    train: Dataset
    test: Dataset | None = None
    pool: Dataset | None = None
    generator_train: Dataset | None = None
    seed: int = 0
    quiet: bool = False
    workdir: Path | None = None
    embedder: Any = None
    application: Any = None
    embedders: dict[str, Any] = dataclasses.field(default_factory=dict)
    _cache: dict[tuple[str, str], np.ndarray] = dataclasses.field(default_factory=dict, repr=False)
    _fitted: set[int] = dataclasses.field(default_factory=set, repr=False)

    def progress(self, iterable: Iterable[T], desc: str = "", total: int | None = None) -> Iterable[T]:
        """Wrap a long loop in progress output on stderr (nothing with ``quiet``).

        On a terminal: a tqdm bar. Otherwise (a log file, a pipe, CI): plain lines such as
        ``gda: fit 40/200 (20%, 12 s, about 48 s left)`` at most every 10% or 30 seconds (nothing
        for a loop done within 2 s), and no escape sequences, so nested loops stay readable in a log.
        """
        if self.quiet:
            return iterable
        if _stderr_is_terminal():
            from tqdm.auto import tqdm

            return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)
        return PlainProgress(iterable, desc, total)

    def fitting(self, component: str) -> FitContext:
        """The view of this context that ``component`` (``"generator vision.ddpm"``) fits,
        generates or selects with: no test split, pool records without hidden labels."""
        return FitContext(self, component)

    def scratch_dir(self, name: str) -> Path | None:
        """A folder a long fit may keep resumable state in (``RUN/model.partial/<name>``), or None
        outside a run folder. The pipeline deletes ``model.partial`` once the model is saved."""
        if self.workdir is None:
            return None
        slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-.") or "fit"
        return Path(self.workdir) / SCRATCH_DIR / slug

    def get_embedder(self, name: str | None = None) -> Any:
        """The run's embedder, or the one named ``name``, fitted on ``train`` on first use.

        Named embedders are built when the config is resolved (:attr:`embedders`); a name
        that is not there is an error, never a quiet look-up. With no embedder at all,
        ``None`` is returned and :meth:`embed` uses the flattened values.
        """
        if name is None or (self.embedder is not None and getattr(self.embedder, "name", None) == name):
            emb = self.embedder
        elif name in self.embedders:
            emb = self.embedders[name]
        else:
            known = ", ".join(sorted(self.embedders)) or "none"
            raise ConfigError(f"embedder {name!r} was not built for this run (built: {known}); "
                              "name it in the config, or put it in RunContext.embedders")
        if emb is not None and id(emb) not in self._fitted:
            emb.fit(self.train, self)
            self._fitted.add(id(emb))
        return emb

    def _key_name(self, emb: Any) -> str:
        return "" if emb is None else getattr(emb, "name", "") or type(emb).__name__

    def not_embedded(self, records: Sequence[Record], embedder: str | None = None) -> list[Record]:
        """The records whose features from the run's (or the named) embedder are not cached yet."""
        key_name = self._key_name(self.get_embedder(embedder))
        return [r for r in records if (key_name, r.id) not in self._cache]

    def add_features(self, records: Sequence[Record], features: np.ndarray, embedder: str | None = None) -> None:
        """Cache ``features`` of ``records`` computed elsewhere (an executor's worker) for :meth:`embed`."""
        key_name = self._key_name(self.get_embedder(embedder))
        for r, f in zip(records, np.asarray(features, dtype=np.float64)):
            self._cache[(key_name, r.id)] = f

    def embed(self, records: Sequence[Record], embedder: str | None = None) -> np.ndarray:
        """Features ``(n, d)`` of ``records`` from the run's (or the named) embedder."""
        emb = self.get_embedder(embedder)
        key_name = self._key_name(emb)
        missing = [r for r in records if (key_name, r.id) not in self._cache]
        if missing:
            raw = flatten(missing) if emb is None else emb.embed(missing, self)
            feats = np.asarray(raw, dtype=np.float64)
            for r, f in zip(missing, feats):
                self._cache[(key_name, r.id)] = f
        if not records:
            return np.zeros((0, 0))
        return np.stack([self._cache[(key_name, r.id)] for r in records])

    def rng(self, *keys: int) -> np.random.Generator:
        """A numpy generator seeded from the run seed and ``keys``."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, *keys]))


class FitContext(RunContext):
    """What fitting, generating and selecting see: the run's :class:`RunContext` without the
    test split, its pool's records without hidden labels.

    Strategies, generators, baselines and selectors (and the embedders fitted for them) get one;
    validators get the full context. Reading :attr:`test` raises a :class:`GDAError` naming
    ``component``, the one that asked. Everything else is the run context's: the embedders,
    their fitted state and the feature cache are shared (features computed for selection serve
    the validators), and ``generator_train`` set here is set on the run context (near-copy
    checks measure against it).
    """

    def __init__(self, base: RunContext, component: str) -> None:
        from .splits import without_hidden_labels

        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(RunContext)
                  if f.name not in ("test", "generator_train")}
        fields["pool"] = without_hidden_labels(base.pool)
        vars(self).update(fields, _base=base, component=component)

    @property  # type: ignore[override]
    def test(self) -> Dataset | None:
        raise GDAError(f"{self.component} read context.test while fitting, generating or selecting: the test "
                       "split is for validators only (choose hyperparameters on data carved from context.train)")

    @test.setter
    def test(self, value: Dataset | None) -> None:
        raise GDAError(f"{self.component} set context.test while fitting, generating or selecting")

    @property  # type: ignore[override]
    def generator_train(self) -> Dataset | None:
        return self._base.generator_train

    @generator_train.setter
    def generator_train(self, value: Dataset | None) -> None:
        self._base.generator_train = value

    def for_component(self, component: str) -> FitContext:
        """The same view, naming ``component`` in its errors."""
        return FitContext(self._base, component)

    def __repr__(self) -> str:
        return f"FitContext({self.component!r}, train={len(self.train)} records, seed={self.seed})"


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


class PlainProgress(Iterable[T]):
    """Progress as plain lines on stderr, for output that is not a terminal (see :meth:`RunContext.progress`)."""

    every_s = 30.0
    quiet_s = 2.0
    """Loops that finish faster than this print nothing, longer ones a line per 10% and a last line."""

    def __init__(self, iterable: Iterable[T], desc: str = "", total: int | None = None) -> None:
        self.iterable = iterable
        self.desc = desc or "progress"
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)

    def __len__(self) -> int:
        return self.total if self.total is not None else len(self.iterable)  # type: ignore[arg-type]

    def _line(self, done: int, t0: float) -> str:
        took = time.perf_counter() - t0
        if not self.total:
            return f"gda: {self.desc} {done} ({took:.0f} s)"
        left = f", about {took / done * (self.total - done):.0f} s left" if 0 < done < self.total else ""
        return f"gda: {self.desc} {done}/{self.total} ({100 * done // self.total}%, {took:.0f} s{left})"

    def __iter__(self) -> Iterator[T]:
        t0 = last = time.perf_counter()
        step = max(1, (self.total or 0) // 10)
        done = 0
        for item in self.iterable:
            yield item
            done += 1
            now = time.perf_counter()
            due = (self.total and done % step == 0 and done < self.total) or now - last >= self.every_s
            if due and now - t0 >= self.quiet_s:
                print(self._line(done, t0), file=sys.stderr, flush=True)
                last = now
        if time.perf_counter() - t0 >= self.quiet_s:
            print(self._line(done, t0), file=sys.stderr, flush=True)
