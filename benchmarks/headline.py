"""The README's and docs/benchmarks.md's cross-suite tables, computed from one bench folder.

    python benchmarks/headline.py BENCH_DIR [--section headline|beyond|families|selectors|all]

Reads ``BENCH_DIR/results.csv`` (written by ``gda bench``) and prints Markdown tables built by the
bench's own functions (paired intervals of ``gda_core.bench.stats.paired``, the family and selector
tables of ``gda_core.bench.report`` / ``selection``), so the published numbers are the bench's, not
copied by hand:

- ``headline``: per suite (its strong downstream model; digits with logistic regression too) real
  only, classical, self-training, the suite's main method (the kept set of ``gen``), its paired
  differences, and the near-copy share of the generated set (before selection) beside held-out
  real data's, the kept set's in brackets;
- ``beyond``: every self-training method of every suite with a pool against ``self-train``
  (issue 18's section 3 table), both downstream models;
- ``families``: the generator-family table of every suite (strong model);
- ``selectors``: the selector table of every suite (strong model).

The header names the commit(s) and code keys of the rows read, and refuses a folder whose rows
come from more than one commit unless ``--allow-mixed`` is given.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from gda_core.bench.report import _ordered, family_columns, family_table, near_copy_cells
from gda_core.bench.selection import COLUMNS as SELECTOR_COLUMNS
from gda_core.bench.selection import selector_table
from gda_core.bench.stats import mean_std, paired

STRONG = {"digits": ["rbf-svm", "logreg"], "phantoms": ["unet"], "text": ["minilm-logreg"],
          "italypower": ["minirocket"], "gunpoint": ["minirocket"], "core": ["rbf-svm"]}
"""Which downstream models the headline shows per suite (the strong one first)."""

LABELS = {"digits": "digits, 5-shot + pool", "phantoms": "phantoms 16³, 4 labelled + pool",
          "text": "text, 10-shot + pool", "italypower": "ItalyPowerDemand (UCR), 10-shot + pool",
          "gunpoint": "GunPoint (UCR, saturated), 10-shot + pool", "core": "core: wine 5-shot, GMM"}

NUMERIC = ("seed", "score", "ratio", "n_real", "n_generated", "n_synthetic", "near_copy_share_generated",
           "near_copy_share", "near_copy_share_real", "precision", "recall", "density", "coverage", "frechet",
           "frechet_real", "pseudo_label_accuracy", "fit_s", "generate_s", "select_s", "validate_s",
           "samples_per_s", "peak_rss_mb")


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """``results.csv``'s rows with numbers as numbers (empty cells as None)."""
    path = folder / "results.csv"
    if not path.is_file():
        raise SystemExit(f"headline: {path} not found (run gda bench -o {folder} first)")
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            for k in NUMERIC:
                v = r.get(k)
                r[k] = None if v in (None, "") else (int(float(v)) if k == "seed" else float(v))
            r["near_copy_filtered"] = r.get("near_copy_filtered") in ("True", "true", "1")
            rows.append(r)
    return rows


def _scores(rows, method: str) -> dict[int, float]:
    return {r["seed"]: r["score"] for r in rows if r["method"] == method}


def _cell(rows, method: str) -> str:
    s = _scores(rows, method)
    if not s:
        return "–"
    m, sd = mean_std(list(s.values()))
    return f"{m * 100:.1f} ± {sd * 100:.1f}"


def _diff(rows, method: str, ref: str) -> str:
    p = paired(_scores(rows, method), _scores(rows, ref))
    if p is None:
        return "–"
    text = p.text()
    return f"**{text}**" if p.significant and p.mean > 0 else text


def main_kept(rows) -> str | None:
    """The suite's main method's kept row: the last ``gen (after ...)`` (else ``gen (no selection)``)."""
    names = _ordered(r["method"] for r in rows if r["kind"] != "sweep" and not r.get("selector"))
    after = [n for n in names if n.startswith("gen (after ")]
    return after[-1] if after else ("gen (no selection)" if "gen (no selection)" in names else None)


def headline(rows) -> str:
    cols = ["suite (downstream)", "real only", "classical", "self-training, no generator", "real + GDA",
            "GDA − real", "GDA − classical", "GDA − self-training", "near-copies: generated / held-out (kept)"]
    out = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for suite, models in STRONG.items():
        for model in models:
            mine = [r for r in rows if r["suite"] == suite and r["model"] == model]
            kept = main_kept(mine)
            if not mine or kept is None:
                continue
            gen, kept_share = near_copy_cells([r for r in mine if r["method"] == "gen (no selection)"])[0], \
                near_copy_cells([r for r in mine if r["method"] == kept])[1].replace(" (filtered)", ", filtered")
            out.append("| " + " | ".join([f"{LABELS.get(suite, suite)} ({model})", _cell(mine, "real"),
                                          _cell(mine, "classical"), _cell(mine, "self-train"), _cell(mine, kept),
                                          _diff(mine, kept, "real"), _diff(mine, kept, "classical"),
                                          _diff(mine, kept, "self-train"), f"{gen} ({kept_share})"]) + " |")
    return "\n".join(out)


def beyond(rows) -> str:
    cols = ["suite", "downstream", "method", "mean ± std", "vs self-train [95% CI]", "W/L",
            "near-copy generated / held-out", "seeds"]
    out = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for suite in _ordered(r["suite"] for r in rows):
        for model in _ordered(r["model"] for r in rows if r["suite"] == suite):
            mine = [r for r in rows if r["suite"] == suite and r["model"] == model and r["kind"] != "sweep"]
            ref = _scores(mine, "self-train")
            if not ref:
                continue
            for method in _ordered(r["method"] for r in mine if r["method"].startswith("self-train")):
                p = paired(_scores(mine, method), ref) if method != "self-train" else None
                nc = near_copy_cells([r for r in mine if r["method"] == method])[0]
                out.append("| " + " | ".join([suite, model, method, _cell(mine, method),
                                              (p.text() + (" *" if p.significant else "")) if p else "",
                                              f"{p.wins}/{p.losses}" if p else "", nc or "–",
                                              str(len(_scores(mine, method)))]) + " |")
    return "\n".join(out)


def _per_suite(rows, has: str, columns, table) -> str:
    """One table per suite whose rows have ``has`` set (its strong downstream model's rows)."""
    parts = []
    for suite in _ordered(r["suite"] for r in rows):
        model = STRONG.get(suite, [None])[0]
        mine = [r for r in rows if r["suite"] == suite and (model is None or r["model"] == model)]
        if not any(r.get(has) for r in mine):
            continue
        cols = columns(mine)
        parts += [f"{suite} ({mine[0]['model']}):", "", "| " + " | ".join(cols) + " |",
                  "| " + " | ".join("---" for _ in cols) + " |"]
        parts += ["| " + " | ".join(str(c) for c in row) + " |" for row in table(mine)]
        parts.append("")
    return "\n".join(parts)


def families(rows) -> str:
    return _per_suite(rows, "family", family_columns, family_table)


def selectors(rows) -> str:
    return _per_suite(rows, "selector", lambda _: SELECTOR_COLUMNS, selector_table)


def header(rows, folder: Path, allow_mixed: bool) -> str:
    commits = sorted({r.get("commit") or "unknown" for r in rows})
    codes = sorted({r.get("code") or "none" for r in rows})
    if len(commits) > 1 and not allow_mixed:
        raise SystemExit(f"headline: {folder}'s rows come from {len(commits)} commits ({', '.join(commits)}); "
                         "pass --allow-mixed to tabulate them anyway")
    seeds = sorted({r["seed"] for r in rows})
    quick = {r.get("quick") for r in rows}
    return (f"From `{folder}/results.csv`: {len(rows)} rows, run seeds {seeds}, cells computed at commit "
            f"{', '.join(commits)} ({len(codes)} code keys){'; QUICK settings' if 'True' in quick else ''}.")


def run(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--section", choices=["headline", "beyond", "families", "selectors", "all"], default="all")
    ap.add_argument("--allow-mixed", action="store_true")
    a = ap.parse_args(argv)
    rows = read_rows(a.folder)
    print(header(rows, a.folder, a.allow_mixed), "\n")
    sections = {"headline": headline, "beyond": beyond, "families": families, "selectors": selectors}
    for name, fn in sections.items():
        if a.section in (name, "all"):
            print(f"### {name}\n\n{fn(rows)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(run())
