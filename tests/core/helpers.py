"""Small builders shared by the core tests."""

from __future__ import annotations

import numpy as np

from gda_core.context import RunContext
from gda_core.records import Dataset, Record


def blobs(n_per_class: int = 30, d: int = 4, sep: float = 4.0, seed: int = 0, prefix: str = "r") -> Dataset:
    """Two Gaussian classes ``sep`` apart along every axis."""
    rng = np.random.default_rng(seed)
    recs = []
    for label in (0, 1):
        for i in range(n_per_class):
            x = rng.normal(loc=label * sep, scale=1.0, size=d).astype(np.float32)
            recs.append(Record(id=f"{prefix}-{label}-{i}", data=x, label=label))
    return Dataset(recs, modality="vector", classes=[0, 1])


def shard_count(folder, set_name: str) -> int:
    """How many shard files a run folder holds for ``set_name``."""
    return len(list((folder / "shards" / set_name).glob("shard-*.npz")))


def synthetic(points: np.ndarray, labels, prefix: str = "s") -> list[Record]:
    return [Record(id=f"{prefix}-{i}", data=np.asarray(p, dtype=np.float32), label=int(lab))
            for i, (p, lab) in enumerate(zip(points, labels))]


def context(train: Dataset, test: Dataset | None = None, seed: int = 0) -> RunContext:
    from gda_core.builtin.embedders import FlattenEmbedder

    emb = FlattenEmbedder()
    emb.name = "core.flatten"
    return RunContext(train=train, test=test, seed=seed, quiet=True, embedder=emb)


def small_config(**overrides) -> dict:
    """A quick wine run: GMM, confidence + dedup, downstream + prdc + mmd + memorization + projection."""
    cfg = {
        "seed": 0,
        "dataset": {"name": "core.wine", "params": {"k_shot": 8}},
        "generator": {"name": "core.gmm", "params": {"n_components": 1}},
        "generate": {"per_class": 12, "shard_size": 10},
        "selectors": [{"name": "core.confidence", "params": {"threshold": 0.5}}, "core.dedup"],
        "validators": [{"name": "core.downstream", "params": {"seeds": 2}}, "core.prdc", "core.mmd",
                       "core.memorization", {"name": "core.projection", "params": {"methods": ["pca"]}}],
        "embedder": "core.standardize",
    }
    cfg.update(overrides)
    return cfg
