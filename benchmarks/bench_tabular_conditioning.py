"""core.ctgan and core.tvae: one synthesizer per class, or one with the label as a column?

For k-shot wine (scikit-learn, standardised; run seeds draw the split and the shots) each
generator is fitted three ways and asked for ``--per-class`` rows of every class:

- ``per-class``: one synthesizer per class, ``--epochs`` each;
- ``label-column``: one synthesizer with the label as a discrete column, ``--epochs``;
- ``label-column xC``: the same with ``--epochs`` times the number of classes (the compute of
  per-class), so the comparison is not only a matter of training budget.

Columns: ``label agreement`` is the share of samples that a logistic regression fitted on the whole
training split (an oracle for this measurement only; the generators never see it) puts in the
asked class; ``acc real`` / ``acc +syn`` the test accuracy of a logistic regression on the k shots,
and on the k shots + the samples; ``fit s`` wall seconds of fitting.

    python benchmarks/bench_tabular_conditioning.py [--k-shot 5 20] [--seeds 3] [--epochs 300]
        [--generators core.ctgan core.tvae]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings


def one(name: str, conditioning: str, epochs: int, k: int, seed: int, args) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from gda_core.builtin.datasets import WineDataset
    from gda_core.context import RunContext
    from gda_core.host import host
    from gda_core.records import Dataset

    ctx = RunContext(train=Dataset([]), seed=seed, quiet=True)
    full = WineDataset(pool=False).load(ctx)
    splits = WineDataset(k_shot=k, pool=False).load(ctx)
    oracle = LogisticRegression(max_iter=3000).fit(full.train.features(), full.train.labels())
    gen = host.create("generators", name, {"conditioning": conditioning, "epochs": epochs,
                                           "batch_size": args.batch_size, "device": "cpu"})
    ctx.train = splits.train
    t0 = time.perf_counter()
    gen.fit(splits.train, ctx)
    fit_s = time.perf_counter() - t0
    conds = [{"label": c} for c in splits.train.classes for _ in range(args.per_class)]
    out = gen.generate(conds, seed=seed, context=ctx)
    X, y = np.stack([r.data for r in out]), np.array([r.label for r in out])
    Xr, yr = splits.train.features(), splits.train.labels()
    Xt, yt = splits.test.features(), splits.test.labels()
    real = LogisticRegression(max_iter=3000).fit(Xr, yr).score(Xt, yt)
    both = LogisticRegression(max_iter=3000).fit(np.concatenate([Xr, X]), np.concatenate([yr, y])).score(Xt, yt)
    return {"agree": float((oracle.predict(X) == y).mean()), "real": real, "syn": both, "fit_s": fit_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k-shot", type=int, nargs="+", default=[5, 20])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--generators", nargs="+", default=["core.ctgan", "core.tvae"])
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    print(f"wine, {args.epochs} epochs, batch {args.batch_size}, {args.per_class} samples per class, "
          f"run seeds 0-{args.seeds - 1}; load average {os.getloadavg()[0]:.1f}")
    print("| generator | k | conditioning | label agreement | acc real | acc +syn | fit s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.generators:
        for k in args.k_shot:
            for label, cond, ep in (("per-class", "per-class", args.epochs),
                                    ("label-column", "label-column", args.epochs),
                                    ("label-column x3 (as many steps as per-class)", "label-column", 3 * args.epochs)):
                runs = [one(name, cond, ep, k, s, args) for s in range(args.seeds)]

                def ms(key: str, scale: float = 100.0, runs=runs) -> str:
                    v = [r[key] * scale for r in runs]
                    return f"{statistics.mean(v):.1f} ± {statistics.stdev(v) if len(v) > 1 else 0:.1f}"

                print(f"| {name} | {k} | {label} | {ms('agree')} | {ms('real')} | {ms('syn')} | "
                      f"{ms('fit_s', 1.0)} |", flush=True)


if __name__ == "__main__":
    main()
