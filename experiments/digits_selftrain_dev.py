"""Choose the iterated self-training rule for the digits suite on a validation split carved from
the training data (never the test split, never the pool's hidden labels).

For each dev seed: the digits training split the bench would use (70%, drawn with the bench's own
rule) is split again into dev-train (70%) and dev-validation (30%); dev-train gives 5 shots per
class and the rest is the dev pool. Self-training as in the suite (label spreading on raw pixels,
most confident 80%) is compared with ``rounds`` 2-4 of ``refit`` logistic / svm, scored on the
dev-validation split by logistic regression and the RBF SVM (standardised pixels).

    python experiments/digits_selftrain_dev.py        # dev seeds 100-104
"""
from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np


def main(seeds: list[int]) -> None:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from gda_core.bench.stats import paired
    from gda_core.builtin.pool import PseudoLabelParams, pseudo_label
    from gda_core.records import Dataset, Record

    X, y = load_digits(return_X_y=True)
    configs = [("self-train", {})] + [(f"x{r} {k} keep {q}", {"rounds": r, "refit": k, "refit_keep": q})
                                      for k in ("svm", "logistic") for r in (2, 3) for q in (0.8, 0.9, 1.0)]
    scores: dict[tuple[str, str], dict[int, float]] = {}
    for seed in seeds:
        tr, _ = train_test_split(np.arange(len(y)), test_size=0.3, random_state=seed, stratify=y)  # test untouched
        dtr, dval = train_test_split(tr, test_size=0.3, random_state=seed, stratify=y[tr])
        rng = np.random.default_rng(seed)
        shots = np.concatenate([rng.choice(dtr[y[dtr] == c], 5, replace=False) for c in range(10)])
        pool_idx = np.setdiff1d(dtr, shots)
        lab = Dataset([Record(id=f"l{i}", data=X[i].reshape(8, 8), label=int(y[i])) for i in shots])
        pool = Dataset([Record(id=f"p{i}", data=X[i].reshape(8, 8), label=None) for i in pool_idx])
        ctx = SimpleNamespace(seed=seed)
        for name, extra in configs:
            params = PseudoLabelParams(classifier="label-spreading", features="raw", keep=0.8, **extra)
            recs, _ = pseudo_label(lab, pool, ctx, params)
            Xt = np.concatenate([X[shots], np.stack([np.asarray(r.data).reshape(-1) for r in recs])])
            yt = np.concatenate([y[shots], [r.label for r in recs]])
            for model, clf in (("logreg", LogisticRegression(max_iter=2000, random_state=seed)),
                               ("rbf-svm", SVC(random_state=seed))):
                acc = make_pipeline(StandardScaler(), clf).fit(Xt, yt).score(X[dval], y[dval])
                scores.setdefault((name, model), {})[seed] = acc
        print(f"dev seed {seed} done", file=sys.stderr)
    print("| rule | logreg | vs self-train | rbf-svm | vs self-train |\n| --- | --- | --- | --- | --- |")
    for name, _ in configs:
        cells = [name]
        for model in ("logreg", "rbf-svm"):
            s = scores[(name, model)]
            cells.append(f"{np.mean(list(s.values())) * 100:.1f}")
            p = paired(s, scores[("self-train", model)]) if name != "self-train" else None
            cells.append(p.text() if p else "")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main([int(s) for s in sys.argv[1:]] or list(range(100, 105)))
