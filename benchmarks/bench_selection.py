"""Selection at scale: core.cluster, core.dedup, core.topk and the near-copy (memorization) check
on 10^4, 10^5 and 10^6 embeddings of 384 dimensions: wall time and peak memory, with growth rates.

Run with `nox -s bench` or `python benchmarks/bench_selection.py [--sizes 10000 100000] [--threads 2]`.
Each (selector, N) point runs in a fresh process (peak memory is that process's max RSS; "data" is
its RSS once the embeddings and records are built, before the selector runs; "CPU s" is the
process's CPU time over all its threads, less sensitive to a busy machine). Prints a table;
asserts nothing. Figures and the machine they came from: docs/scale.md.

Data: N synthetic embeddings in 10 classes near a 32-dimensional subspace of R^384 (as real
embeddings are), 1% of them near-duplicates of others; a real set of N/10 like them for dedup
and the near-copy check. Backends: "auto" is what a run uses (exact search for ordinary sizes,
faiss above); at 10^4, "exact" forces scikit-learn search and k-means, "faiss" forces faiss (IVF
index, faiss k-means), to compare the two on the same data (core.topk has no search).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

DIM = 384
CLASSES = 10
SELECTORS = ("core.dedup", "core.cluster", "core.topk", "memorization")
EXACT_MAX_N = 10_000
"""Largest N measured with the forced exact backend (quadratic: 10^5 takes many minutes on 2 cores)."""


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def embeddings(n: int, seed: int) -> tuple:
    """``(X float32 (n, 384), labels)``: 10 class centres, a 32-d latent subspace, 1% near-duplicates."""
    import numpy as np

    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(0).normal(size=(32, DIM)).astype(np.float32) / math.sqrt(32)
    centres = np.random.default_rng(1).normal(size=(CLASSES, DIM)).astype(np.float32) * 3
    labels = rng.integers(0, CLASSES, size=n)
    X = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        X[s:s + m] = (rng.normal(size=(m, 32)).astype(np.float32) @ basis + centres[labels[s:s + m]]
                      + 0.05 * rng.normal(size=(m, DIM)).astype(np.float32))
    dup = rng.choice(n, size=n // 100, replace=False)
    src = rng.choice(n, size=len(dup))
    X[dup] = X[src] + 1e-3 * rng.normal(size=(len(dup), DIM)).astype(np.float32)
    labels[dup] = labels[src]
    return X, labels


def one(selector: str, n: int, backend: str) -> dict:
    """Measure one point in this process; returns the row."""
    import numpy as np

    from gda_core import neighbors
    from gda_core.builtin.selectors import cluster
    from gda_core.builtin.validators.memorization import memorized_share
    from gda_core.context import RunContext
    from gda_core.host import host
    from gda_core.neighbors import leave_one_out_distances, nearest_distances
    from gda_core.records import Dataset, Record

    if backend == "exact":
        neighbors.EXACT_MAX_PAIRS = math.inf
        cluster.KMEANS_EXACT_MAX = math.inf
    elif backend == "faiss":  # faiss at any size (IVF index, faiss k-means): to compare with exact
        neighbors.EXACT_MAX_PAIRS = neighbors.FLAT_MAX_PAIRS = 0
        cluster.KMEANS_EXACT_MAX = 0
    X, labels = embeddings(n, seed=2)
    R, real_labels = embeddings(max(100, n // 10), seed=3)
    synthetic = [Record(id=f"s{i}", data=None, label=int(c)) for i, c in enumerate(labels)]
    scores = np.random.default_rng(4).random(n)
    for r, s in zip(synthetic, scores):
        r.provenance.scores["quality"] = float(s)
    real = Dataset([Record(id=f"r{i}", data=None, label=int(c)) for i, c in enumerate(real_labels)],
                   modality="vector", classes=list(range(CLASSES)))
    rows = {id(synthetic): X, id(real.records): R}

    class Context(RunContext):
        """The run context, with the embeddings given (the embedder itself is not measured)."""

        def embed(self, records, embedder=None):
            return rows[id(records)]

    ctx = Context(train=real, seed=0, quiet=True)
    data_mb = _rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    if selector == "memorization":
        # what core.memorization does: one leave-one-out pass and one search, shared by the
        # near-copy share (tau from the leave-one-out distances) and memorized_share
        real_nn = leave_one_out_distances(R, 1)
        tau = float(np.quantile(real_nn, 0.05))
        nearest = nearest_distances(X, R, 1)
        share = float(np.mean(nearest[0][:, 0] < tau))
        memorized_share(R, X, 0.5, real_nn=real_nn, nearest=nearest)
        kept = f"near-copy share {share:.3f}"
    else:
        params = {"core.dedup": {}, "core.cluster": {"keep": 0.5}, "core.topk": {"by": "quality", "keep": 0.5}}
        sel = host.create("selectors", selector, params[selector])
        sel.fit(real, ctx)
        keep = sel.select(sel.score(synthetic, ctx), synthetic, ctx)
        kept = f"kept {int(np.sum(keep))}"
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"selector": selector, "n": n, "backend": backend, "seconds": round(seconds, 2), "cpu_s": round(cpu, 2),
            "peak_mb": round(_rss_mb()), "data_mb": round(data_mb), "result": kept}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--selectors", nargs="+", default=list(SELECTORS), choices=SELECTORS)
    ap.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads (faiss, numpy)")
    ap.add_argument("--repeat-largest", type=int, default=2, help="runs of the largest size")
    ap.add_argument("--no-exact", action="store_true", help="skip the forced-exact comparison points")
    ap.add_argument("--one", nargs=3, metavar=("SELECTOR", "N", "BACKEND"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.one[2])))
        return
    from gda_core.neighbors import faiss_available

    if not faiss_available() and max(args.sizes) > EXACT_MAX_N:
        print(f"# faiss is not installed (pip install 'gda-core[scale]'): exact search only, sizes up to {EXACT_MAX_N}")
        args.sizes = [n for n in args.sizes if n <= EXACT_MAX_N] or [EXACT_MAX_N]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "OPENBLAS_NUM_THREADS": str(args.threads), "GDA_LOAD_PLUGINS": ""}
    # OpenMP threads that spin while they wait take the cores from each other on a busy machine
    # (faiss's PCA training took 6 s instead of 0.1 s at load 5): let them sleep unless told otherwise
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    print(f"# load average before: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})", flush=True)
    points = []
    for sel in args.selectors:
        for n in args.sizes:
            compare = n <= EXACT_MAX_N and not args.no_exact and sel != "core.topk"
            backends = ["auto"] + (["exact", "faiss"] if compare else [])
            for backend in backends:
                for _ in range(args.repeat_largest if n == max(args.sizes) else 1):
                    points.append((sel, n, backend))
    rows = []
    header = f"{'selector':<14}{'N':>10}{'backend':>9}{'wall s':>10}{'CPU s':>10}{'peak MB':>10}{'data MB':>10}  result"
    print(header, flush=True)
    for sel, n, backend in points:
        out = subprocess.run([sys.executable, __file__, "--one", sel, str(n), backend], env=env,
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{sel:<14}{n:>10}{backend:>9}  failed: {out.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{sel:<14}{n:>10}{backend:>9}{row['seconds']:>10.2f}{row['cpu_s']:>10.2f}{row['peak_mb']:>10}{row['data_mb']:>10}"
              f"  {row['result']}", flush=True)
    print("\n# growth per decade of N (auto backend): exponent log10(t(10N)/t(N)) of CPU time, peak-memory ratio")
    for sel in args.selectors:
        best = {}
        for r in rows:
            if r["selector"] == sel and r["backend"] == "auto":
                best[r["n"]] = min(best.get(r["n"], (math.inf, 0)), (r["cpu_s"], r["peak_mb"]))
        sizes = sorted(best)
        for a, b in zip(sizes, sizes[1:]):
            (ta, ma), (tb, mb) = best[a], best[b]
            exp = math.log10(tb / ta) / math.log10(b / a) if ta > 0 and tb > 0 else float("nan")
            print(f"{sel:<14}{a:>9} -> {b:<9} time exponent {exp:.2f}, memory x{mb / ma:.1f}")
    print(f"# load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
