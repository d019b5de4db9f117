"""Small data sets and contexts shared by the vision tests."""

from __future__ import annotations


def toy_bars(n_per_class: int = 24, size: int = 8, seed: int = 0):
    """A planted two-class image set: a horizontal bar ('h') or a vertical bar ('v') at a
    random position, on faint noise; ``(C, H, W)`` arrays in [0, 1]."""
    import numpy as np

    from gda_core.records import Dataset, Record

    rng = np.random.default_rng(seed)
    recs = []
    for label in ("h", "v"):
        for i in range(n_per_class):
            img = rng.uniform(0, 0.1, size=(size, size)).astype(np.float32)
            pos = int(rng.integers(1, size - 2))
            if label == "h":
                img[pos:pos + 2, 1:-1] = 0.9
            else:
                img[1:-1, pos:pos + 2] = 0.9
            recs.append(Record(id=f"{label}-{i:03d}", data=img[None], label=label))
    return Dataset(recs, modality="image", classes=["h", "v"])


def make_context(train, test=None, seed=0):
    from gda_core.context import RunContext

    return RunContext(train=train, test=test, seed=seed, quiet=True)
