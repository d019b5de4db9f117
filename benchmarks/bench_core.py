"""Core benchmarks: CLI start-up time, and pipeline overhead over plain scikit-learn.

Run with `nox -s bench` or `python benchmarks/bench_core.py`. Prints timings; asserts nothing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time


def cli_startup(repeats: int = 5) -> dict[str, float]:
    """Median wall time of `gda --help`, `gda plugins` and `gda list` in fresh processes."""
    out = {}
    for args in (["--help"], ["plugins"], ["list"]):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gda_core.cli", *args], check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        out["gda " + " ".join(args)] = statistics.median(times)
    return out


def pipeline_overhead(n_per_class: int = 2000) -> dict[str, float]:
    """Generation through `gda run` (shards, provenance, atomic writes) vs a bare GaussianMixture loop."""
    import numpy as np
    from sklearn.datasets import load_wine
    from sklearn.mixture import GaussianMixture

    import gda_core

    X, y = load_wine(return_X_y=True)
    t0 = time.perf_counter()
    for c in np.unique(y):
        gm = GaussianMixture(n_components=2, covariance_type="diag", reg_covar=1e-3, random_state=0).fit(X[y == c])
        gm.sample(n_per_class)
    bare = time.perf_counter() - t0
    cfg = {"dataset": {"name": "core.wine", "params": {"test_size": 0.05}},
           "generator": {"name": "core.gmm"}, "generate": {"per_class": n_per_class, "shard_size": 500}}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        gda_core.run(cfg, f"{tmp}/run", quiet=True)
        through = time.perf_counter() - t0
    return {"bare sklearn fit+sample": bare, "gda run (fit, generate, write)": through}


if __name__ == "__main__":
    for name, secs in cli_startup().items():
        print(f"{name:40s} {secs * 1000:8.1f} ms")
    for name, secs in pipeline_overhead().items():
        print(f"{name:40s} {secs:8.2f} s")
