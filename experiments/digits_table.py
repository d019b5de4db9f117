"""Summarise experiments/digits_novelty.py output: mean ± std per method and downstream model,
paired differences with a 95% t interval over run seeds, near-copy shares.
    python experiments/digits_table.py /tmp/nov/spread08.jsonl
"""
from __future__ import annotations

import json
import sys

import numpy as np

METHODS = [("real", "real only"), ("classical", "real + classical"),
           ("selftrain", "self-training on pool (no generator)"), ("gda", "real + GDA"),
           ("cls_gda", "real + classical + GDA"), ("gda_pool", "real + pseudo-labelled pool + GDA")]
PAIRS = [("gda", "real"), ("gda", "classical"), ("cls_gda", "classical"), ("gda", "selftrain"), ("selftrain", "real"),
         ("gda_pool", "selftrain")]


def ci(d: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% paired-t interval of per-seed differences (gda bench's ``paired``)."""
    from gda_core.bench.stats import paired

    res = paired(dict(enumerate(d.tolist())), dict.fromkeys(range(len(d)), 0.0))
    return (res.mean, res.low, res.high) if res is not None and res.n > 1 else (float(d.mean()), np.nan, np.nan)


def main(path: str) -> None:
    rows = sorted((json.loads(x) for x in open(path)), key=lambda r: r["seed"])
    print(f"seeds: {[r['seed'] for r in rows]}\n")
    print("| method | LR | SVM |\n| --- | --- | --- |")
    for key, name in METHODS:
        cells = []
        for model in ("lr", "svm"):
            v = np.array([r[key][model] for r in rows])
            cells.append(f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}")
        print(f"| {name} | {' | '.join(cells)} |")
    print("\n| paired difference (points) | LR: mean [95% CI], wins | SVM: mean [95% CI], wins |\n| --- | --- | --- |")
    for a, b in PAIRS:
        cells = []
        for model in ("lr", "svm"):
            d = 100 * np.array([r[a][model] - r[b][model] for r in rows])
            m, lo, hi = ci(d)
            cells.append(f"{m:+.1f} [{lo:+.1f}, {hi:+.1f}], {int((d > 0).sum())}/{len(d)}")
        print(f"| {a} - {b} | {' | '.join(cells)} |")
    cs = np.array([r["copy_share"] for r in rows])
    ks = np.array([r["kept_copy_share"] for r in rows])
    hs = np.array([r["held_share"] for r in rows])
    pl = np.array([r["pl_acc"] for r in rows])
    print(f"\nnear-copy share: generated {cs.mean():.3f} (per seed {np.round(cs, 3).tolist()}), kept {ks.mean():.3f}, "
          f"held-out real {hs.mean():.3f} (per seed {np.round(hs, 3).tolist()})")
    print(f"median NN distance: synthetic {np.mean([r['med_syn'] for r in rows]):.2f}, "
          f"held-out real {np.mean([r['med_held'] for r in rows]):.2f}")
    print(f"pseudo-label accuracy (hidden labels, report only): {pl.mean():.3f}; kept per seed "
          f"{[r['n_kept'] for r in rows]}; fit s {np.mean([r['fit_s'] for r in rows]):.0f}, "
          f"sample s {np.mean([r['sample_s'] for r in rows]):.0f}")


if __name__ == "__main__":
    main(sys.argv[1])
