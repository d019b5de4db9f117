"""Bench output: ``results.csv`` (one row per suite x method x seed x model), ``results.md``
(tables with paired 95% intervals over run seeds, the near-copy share of the generated set beside
every gain, the selector table) and PNGs per suite."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import runfolder
from .runner import FIELDS, BenchRun, mixed_code
from .selection import COLUMNS as SELECTOR_COLUMNS
from .selection import plot_selectors, save_png, selector_table
from .stats import mean_std, paired


def _ordered(values) -> list:
    seen: list = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Every row, the columns of :data:`~gda_core.bench.runner.FIELDS` in order."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in FIELDS})
    runfolder.atomic_write_text(path, buf.getvalue())


def _scores(rows, method: str) -> dict[int, float]:
    return {r["seed"]: r["score"] for r in rows if r["method"] == method}


def references(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The methods every other is compared with: real only, classical, and self-training on
    the pool with no generator where the suite ran it (a generator's gain beyond the pool's)."""
    present = {r["method"] for r in rows}
    return ["real", "classical"] + (["self-train"] if "self-train" in present else [])


def _main(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the main tables: not the ratio sweep's, not the selector table's."""
    return [r for r in rows if r["kind"] != "sweep" and not r.get("selector")]


def near_copy_cells(mine: Sequence[dict[str, Any]]) -> list[str]:
    """``generated / held-out`` and the added set's share (``(filtered)`` when ``core.near-copy``
    chose it: 0 by construction) of one method's rows, means over seeds."""
    generated, real, added = (_avg(mine, k) for k in ("near_copy_share_generated", "near_copy_share_real",
                                                       "near_copy_share"))
    filtered = any(r.get("near_copy_filtered") in (True, "True") for r in mine)
    if not math.isfinite(generated):
        return ["", _num(added, 2) if math.isfinite(added) else ""]
    return [f"{_num(generated, 2)} / {_num(real, 2)}", _num(added, 2) + (" (filtered)" if filtered else "")]


NEAR_COPY_COLUMNS = ["near-copy: generated / held-out", "near-copy: added set"]


def score_table(rows: Sequence[dict[str, Any]], *, codes: bool = False) -> list[list[str]]:
    """Per method (one suite, one model): mean ± std and paired differences to each of
    :func:`references` (95% t interval over run seeds, in points), with wins/losses, then the
    near-copy share of the generated set (before selection) beside held-out real data's, and of
    the set added to the real records (:func:`near_copy_cells`); ``codes``: the code keys of the
    method's rows (a report over cells of mixed code)."""
    refs = [(_scores(rows, name), name) for name in references(rows)]
    out = []
    for method in _ordered(r["method"] for r in _main(rows)):
        mine = [r for r in rows if r["method"] == method]
        scores = _scores(rows, method)
        m, sd = mean_std(list(scores.values()))
        cells = [method, _num(float(sum(r["n_synthetic"] for r in mine) / len(mine)), 0),
                 f"{m * 100:.1f} ± {sd * 100:.1f}"]
        for ref, ref_name in refs:
            p = paired(scores, ref) if ref and method != ref_name else None
            cells += [p.text() + (" *" if p.significant else ""), f"{p.wins}/{p.losses}"] if p else ["", ""]
        cells += near_copy_cells(mine)
        if codes:
            cells.append(", ".join(sorted({str(r.get("code") or "none") for r in mine})))
        out.append(cells)
    return out


def fidelity_table(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Per method (one model's rows; these numbers do not depend on the model): near-copy shares
    (the generated set's, before selection; the added set's; held-out real data's), PRDC, Fréchet
    distance and cost, means over run seeds."""
    out = []
    for method in _ordered(r["method"] for r in _main(rows)):
        mine = [r for r in rows if r["method"] == method]

        def avg(key: str, mine=mine) -> float:
            return _avg(mine, key)

        filtered = any(r.get("near_copy_filtered") in (True, "True") for r in mine)
        out.append([method, _num(avg("near_copy_share_generated"), 2),
                    _num(avg("near_copy_share"), 2) + (" (filtered)" if filtered else ""),
                    _num(avg("near_copy_share_real"), 2),
                    _num(avg("precision"), 2), _num(avg("recall"), 2), _num(avg("density"), 2),
                    _num(avg("coverage"), 2), f"{_num(avg('frechet'), 2)} ({_num(avg('frechet_real'), 2)})",
                    _num(avg("fit_s"), 1), _num(avg("generate_s"), 1), _num(avg("select_s"), 1),
                    _num(avg("validate_s"), 2), _num(avg("samples_per_s"), 1), _num(avg("peak_rss_mb"), 0)])
    return out


def sweep_table(rows: Sequence[dict[str, Any]], real_rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Per ratio: mean ± std and the paired difference to real only."""
    real = _scores(real_rows, "real")
    out = []
    for ratio in sorted({r["ratio"] for r in rows}):
        scores = {r["seed"]: r["score"] for r in rows if r["ratio"] == ratio}
        m, sd = mean_std(list(scores.values()))
        p = paired(scores, real) if real else None
        out.append([f"{ratio:g}", _num(float(sum(r['n_synthetic'] for r in rows if r['ratio'] == ratio)
                                             / max(1, len(scores))), 0),
                    f"{m * 100:.1f} ± {sd * 100:.1f}", (p.text() + (" *" if p.significant else "")) if p else "",
                    f"{p.wins}/{p.losses}" if p else ""])
    return out


def sweep_of(row: dict[str, Any]) -> str:
    """The method whose generator a sweep row comes from (``gen``: the suite's; rows of cells
    written before per-method sweeps carry none)."""
    return row.get("sweep") or "gen"


def _avg(rows: Sequence[dict[str, Any]], key: str) -> float:
    vals = [float(r[key]) for r in rows if r.get(key) not in (None, "") and math.isfinite(float(r[key]))]
    return sum(vals) / len(vals) if vals else math.nan


def family_table(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Per generator family (the methods with a ``family``; one suite, one model): the kept set's
    paired gain over real only and over self-training (or classical augmentation where the suite
    has no pool), the generated set's precision, recall and near-copy share (before selection),
    fit seconds and samples per second."""
    refs = references(rows)
    other = "self-train" if "self-train" in refs else "classical"
    real, ref = _scores(rows, "real"), _scores(rows, other)
    out = []
    fam_rows = [r for r in rows if r.get("family") and r["kind"] != "sweep"]
    for base in _ordered(r["method"].split(" (")[0] for r in fam_rows):
        mine = [r for r in fam_rows if r["method"].split(" (")[0] == base]
        labels = _ordered(r["method"] for r in mine)
        kept, generated = labels[-1], next((m for m in labels if m.endswith("(no selection)")), labels[0])
        scores = _scores(mine, kept)
        gen_rows = [r for r in mine if r["method"] == generated]
        cells = [mine[0]["family"], kept, f"{mean_std(list(scores.values()))[0] * 100:.1f}"]
        for reference in (real, ref):
            pr = paired(scores, reference) if reference else None
            cells.append(pr.text() + (" *" if pr.significant else "") if pr else "")
        cells += [_num(_avg(gen_rows, "precision"), 2), _num(_avg(gen_rows, "recall"), 2),
                  _num(_avg(gen_rows, "near_copy_share"), 2), _num(_avg(gen_rows, "near_copy_share_real"), 2),
                  _num(_avg(gen_rows, "fit_s"), 1), _num(_avg(gen_rows, "samples_per_s"), 0), str(len(scores))]
        out.append(cells)
    return out


def family_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The column names of :func:`family_table` for these rows."""
    other = "self-train" if "self-train" in references(rows) else "classical"
    return ["family", "method (kept)", "mean", "vs real [95% CI]", f"vs {other} [95% CI]", "precision",
            "recall", "near-copy (generated)", "held-out real near-copy", "fit s", "samples/s", "seeds"]


def _md_table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def plot_suite(suite: str, rows: Sequence[dict[str, Any]], path: Path) -> bool:
    """Left: each method's paired difference to real only (95% interval) per model; right: the
    ratio sweep (mean ± std over seeds) with real only as a line. False when nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = _ordered(r["model"] for r in rows)
    if not models:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    methods = [m for m in _ordered(r["method"] for r in _main(rows)) if m != "real"]
    width = 0.8 / len(models)
    for j, model in enumerate(models):
        mine = [r for r in rows if r["model"] == model]
        real = _scores(mine, "real")
        xs, ys, lo, hi = [], [], [], []
        for i, method in enumerate(methods):
            p = paired(_scores(mine, method), real) if real else None
            if p:
                xs.append(i + j * width)
                ys.append(p.mean * 100)
                lo.append((p.mean - p.low) * 100)
                hi.append((p.high - p.mean) * 100)
        ax1.errorbar(ys, xs, xerr=[lo, hi], fmt="o", capsize=3, label=model)
        sweeps = [r for r in mine if r["kind"] == "sweep"]
        names = _ordered(sweep_of(r) for r in sweeps)
        for name in names:
            sweep = [r for r in sweeps if sweep_of(r) == name]
            ratios = sorted({r["ratio"] for r in sweep})
            stats = [mean_std([r["score"] for r in sweep if r["ratio"] == q]) for q in ratios]
            what = "real + synthetic" if len(names) == 1 else f"+ {name}"
            line = ax2.errorbar(ratios, [s[0] for s in stats], yerr=[s[1] for s in stats], marker="o",
                                capsize=3, label=f"{model}: {what}")
        if names:
            if real:
                ax2.axhline(mean_std(list(real.values()))[0], ls="--", color=line[0].get_color(),
                            label=f"{model}: real only")
    ax1.axvline(0, color="grey", lw=0.8)
    ax1.set_yticks([i + width * (len(models) - 1) / 2 for i in range(len(methods))], methods, fontsize=8)
    ax1.invert_yaxis()
    metric = rows[0]["metric"]
    ax1.set_xlabel(f"paired difference to real only ({metric} points, 95% interval over run seeds)")
    ax1.legend(fontsize=8)
    ax1.set_title(f"{suite}: methods against real only")
    ax2.set_xscale("log")
    ax2.set_xlabel("synthetic-to-real ratio (no selection)")
    ax2.set_ylabel(metric)
    ax2.set_title(f"{suite}: ratio sweep")
    if ax2.lines:
        ax2.legend(fontsize=7)
    save_png(fig, path)
    return True


def write_report(run: BenchRun, out: Path, header: dict[str, str]) -> Path:
    """Write ``results.csv``, ``results.md`` and the PNGs into ``out``; return the Markdown path."""
    write_csv(run.rows, out / "results.csv")
    parts = ["# GDA bench results", ""]
    parts += [f"- {k}: {v}" for k, v in header.items()]
    parts += ["", "Scores are in points (accuracy or Dice x 100). Differences are paired by run seed "
              "(a run seed draws the split, the k shots, the generator's training and sampling, and the "
              "downstream model's initialisation); `[low, high]` is the 95% paired-t interval, `*` marks "
              "an interval that excludes zero (three or more seeds), W/L counts seeds won and lost. "
              "Near-copy (one definition, docs/core.md `core.memorization`): share of a set closer to a record the "
              "generator learned from than 95% of those records are to each other (leave-one-out). "
              "`generated / held-out` is the generated set's share before any selection beside held-out real "
              "data's (the floor an honest generator shows); `added set` is the share of what was added to the "
              "real records, `(filtered)` when `core.near-copy` chose it (0 by construction: filtered by that "
              "criterion).", ""]
    mixed = mixed_code(list(run.codes.values()))
    if run.codes:
        parts += ["## Code", "", ("**The cells were computed by different code** (" + "; ".join(mixed) + "): each "
                  "table row names the code keys of its cells." if mixed else "Every cell was computed by the code "
                  "below (one key per set of gda packages a cell's config names; `code` in results.csv)."), "",
                  _md_table(["code key", "commit", "gda packages (source digests)", "versions", "rows"],
                            [[c.key, c.commit or "not from a clone",
                              ", ".join(f"{k} {v}" for k, v in sorted(c.packages.items())), c.versions,
                              str(sum(r.get("code") == c.key for r in run.rows))]
                             for c in sorted(run.codes.values(), key=lambda c: c.key)]), ""]
    if run.skipped:
        parts += ["## Not run", "", _md_table(["suite", "what", "why"],
                                                [[s.suite, s.what, s.why] for s in run.skipped]), ""]
    for suite in _ordered(r["suite"] for r in run.rows):
        rows = [r for r in run.rows if r["suite"] == suite]
        seeds = sorted({r["seed"] for r in rows})
        took = ""
        if suite in run.seconds:
            took = (f"; {run.seconds[suite]:.0f} s wall, {run.cpu_seconds.get(suite, math.nan):.0f} s CPU "
                    "in this invocation (cells read back cost nothing)")
        parts += [f"## {suite}", "", f"Run seeds {', '.join(map(str, seeds))}{took}.", ""]
        if len(seeds) > 1 and len({r.get("split") for r in rows if r.get("split")}) == 1:
            parts += ["Every run seed saw the same split and labelled set (the data set fixes them): the seeds "
                      "vary only the generator and the downstream models here.", ""]
        models = _ordered(r["model"] for r in rows)
        for model in models:
            mine = [r for r in rows if r["model"] == model]
            columns = ["method", "synthetic", "mean ± std"]
            for name in references(mine):
                columns += [f"vs {name} [95% CI]", "W/L"]
            columns += NEAR_COPY_COLUMNS + (["code"] if mixed else [])
            parts += [f"### {model} ({mine[0]['metric']})", "",
                      _md_table(columns, score_table(mine, codes=bool(mixed))), ""]
        first = [r for r in rows if r["model"] == models[0]]
        parts += ["### Copies, fidelity and cost", "", _md_table(
            ["method", "near-copy generated", "near-copy added set", "held-out real near-copy", "precision",
             "recall", "density", "coverage", "Fréchet (real floor)", "fit s", "generate s", "select s",
             "validate s", "samples/s", "peak MB"], fidelity_table(first)), ""]
        if any(r.get("selector") for r in rows):
            parts += ["### Selectors", "", "Each selector alone on the suite's base generation (the same fitted "
                      "model and generated set), against no selection: share of the generated set kept, the paired "
                      "gain of real + kept over real + all generated, and the near-copy share before and after "
                      "(docs/benchmarks.md, \"The selector table\"). The suite's own chain is the last row.", ""]
            for model in models:
                parts += [f"{model}:", "", _md_table(SELECTOR_COLUMNS, selector_table(
                    [r for r in rows if r["model"] == model])), ""]
            png = out / f"{suite}-selectors.png"
            if plot_selectors(suite, rows, png):
                parts += [f"![{suite} selectors]({png.name})", ""]
        if any(r.get("family") for r in rows):
            parts += ["### Generator families", "", "The survey's model-selection question: one method per "
                      "family, trained on the same data by the same strategy (gain of the kept set; precision, "
                      "recall and near-copies of the generated set, before selection).", ""]
            for model in models:
                mine = [r for r in rows if r["model"] == model]
                parts += [f"{model}:", "", _md_table(family_columns(mine), family_table(mine)), ""]
        sweep = [r for r in rows if r["kind"] == "sweep"]
        if sweep:
            parts += ["### Synthetic-to-real ratio sweep", ""]
            for name in _ordered(sweep_of(r) for r in sweep):
                mine = [r for r in sweep if sweep_of(r) == name]
                family = next((r.get("family") for r in mine if r.get("family")), "")
                title = "the suite's generator (`gen`, " if name == "gen" else f"`{name}` ("
                parts += [f"Sweep of {title}{family or 'no family'}):", ""]
                for model in models:
                    parts += [f"{model}:", "", _md_table(["ratio", "synthetic", "mean ± std", "vs real [95% CI]",
                                                          "W/L"],
                                                         sweep_table([r for r in mine if r["model"] == model],
                                                                     [r for r in rows if r["model"] == model])), ""]
        png = out / f"{suite}.png"
        if plot_suite(suite, rows, png):
            parts += [f"![{suite}]({png.name})", ""]
    path = out / "results.md"
    runfolder.atomic_write_text(path, "\n".join(parts))
    return path
