"""Each selector's effect against no selection, over several run folders of examples/text.yaml.

    gda run examples/text.yaml -o /tmp/text-s0 --set seed=0   # likewise seeds 1 and 2
    python benchmarks/bench_text.py /tmp/text-s0 /tmp/text-s1 /tmp/text-s2

For every run folder it re-reads the generated samples and the baseline, applies each selector of
the run's chain alone to all generated samples, and trains the run's application on real + each
set; the full chain is read from the run's own selection. Prints one Markdown table: mean and
standard deviation of the headline metric over the folders, and the mean number of records added.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def evaluate_folder(folder: Path) -> dict[str, tuple[float, int]]:
    from gda_core.pipeline import open_run

    pipe = open_run(folder, quiet=True)
    pipe.load_generated()
    pipe.load_selection()
    ctx = pipe.context
    app = ctx.application
    train, test = ctx.train, ctx.test
    generated = list(pipe.synthetic)
    sets: dict[str, list] = {"real only": [], "real + generated (no selection)": generated}
    for name, recs in pipe.baselines.items():
        sets[f"real + {name} (baseline)"] = recs
    for sel in pipe.resolved.selectors:
        sel.fit(train, ctx)
        keep = np.asarray(sel.select(np.asarray(sel.score(generated, ctx), dtype=float), generated, ctx), bool)
        sets[f"real + {sel.name} alone"] = [r for r, k in zip(generated, keep) if k]
    chain = " > ".join(s.name for s in pipe.resolved.selectors)
    sets[f"real + full chain ({chain})"] = pipe.stages[-1][1]
    out = {}
    for name, recs in sets.items():
        value = app.evaluate(train.with_records(list(train.records) + list(recs)), test, seed=ctx.seed,
                             context=ctx)[app.metric]
        out[name] = (value, len(recs))
    return out


def main(folders: list[str]) -> None:
    results = [evaluate_folder(Path(f)) for f in folders]
    names = list(results[0])
    print(f"| training set | added (mean) | accuracy mean | std | per run ({len(folders)} seeds) |")
    print("|---|---|---|---|---|")
    for name in names:
        vals = [r[name][0] for r in results]
        added = np.mean([r[name][1] for r in results])
        print(f"| {name} | {added:.0f} | {np.mean(vals):.4f} | {np.std(vals):.4f} | "
              f"{' '.join(f'{v:.3f}' for v in vals)} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
