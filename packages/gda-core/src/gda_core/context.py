"""The run context handed to every component: data, seed, shared helpers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .errors import ConfigError
from .records import Dataset, Record, flatten

T = TypeVar("T")


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
    (:mod:`gda_core.copies`) measure against it.
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
        """Wrap a long loop in a progress bar (silent with ``quiet``)."""
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, disable=self.quiet, leave=False, dynamic_ncols=True)

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

    def embed(self, records: Sequence[Record], embedder: str | None = None) -> np.ndarray:
        """Features ``(n, d)`` of ``records`` from the run's (or the named) embedder."""
        emb = self.get_embedder(embedder)
        key_name = "" if emb is None else getattr(emb, "name", "") or type(emb).__name__
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
