"""The selector table: which data-selection strategy works, for which data (the survey's first
open question), from the bench's selector-table rows (methods with ``Method.selector``: the base
generation selected by one selector alone, :func:`~gda_core.bench.suite.selector_method`).

Per suite, downstream model and selector setting: the share of the generated set it kept, the
paired gain of real + kept over real + everything generated (``gen (no selection)``, the same
generation: the same fitted model and the same shards), and the near-copy share before and after
selection; the suite's own chain (``gen``'s last stage) is the last row. A selector with several
settings (a sweep of the parameter that decides how much it keeps) is also plotted: gain against
share kept.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import runfolder
from .stats import paired

REFERENCE = "gen (no selection)"
"""The rows every selector is compared with: real + the whole generated set of the same generation."""
COLUMNS = ["selector", "setting", "kept", "vs no selection [95% CI]", "W/L", "near-copy before", "near-copy after",
           "seeds"]


def _scores(rows: Sequence[dict[str, Any]], method: str) -> dict[int, float]:
    return {r["seed"]: float(r["score"]) for r in rows if r["method"] == method}


def _mean(rows: Sequence[dict[str, Any]], key: str) -> float:
    vals = [float(r[key]) for r in rows if r.get(key) not in (None, "") and math.isfinite(float(r[key]))]
    return sum(vals) / len(vals) if vals else math.nan


def _kept_share(rows: Sequence[dict[str, Any]]) -> float:
    shares = [r["n_synthetic"] / r["n_generated"] for r in rows if r.get("n_generated")]
    return sum(shares) / len(shares) if shares else math.nan


def _pct(v: float) -> str:
    return "-" if not math.isfinite(v) else f"{100 * v:.0f}%"


def _share(v: float) -> str:
    return "-" if not math.isfinite(v) else f"{v:.2f}"


def chain_label(rows: Sequence[dict[str, Any]]) -> str | None:
    """The suite's own chain's row: the last stage of the ``gen`` method (``gen (after X)``), or None."""
    stages = [m for m in dict.fromkeys(r["method"] for r in rows) if m.startswith("gen (after ")]
    return stages[-1] if stages else None


def selector_points(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per selector setting (one suite, one model): group, setting, share kept, the
    paired gain over no selection (a :class:`~gda_core.bench.stats.Paired` or None) and the
    near-copy shares before and after; the suite's chain last."""
    reference = _scores(rows, REFERENCE)
    labels = [(r["selector"], r["method"]) for r in rows if r.get("selector")]
    chain = chain_label(rows)
    if chain:
        labels.append(("the suite's chain", chain))
    out = []
    for group, method in dict.fromkeys(labels):
        mine = [r for r in rows if r["method"] == method]
        setting = method.removeprefix("select ").removeprefix(group).strip() or "default"
        if group == "the suite's chain":
            setting = method.removeprefix("gen (").removesuffix(")")
        scores = _scores(mine, method)
        out.append({"group": group, "setting": setting, "method": method, "kept": _kept_share(mine),
                    "gain": paired(scores, reference) if reference else None, "seeds": len(scores),
                    "before": _mean(mine, "near_copy_share_generated"), "after": _mean(mine, "near_copy_share"),
                    "filtered": any(r.get("near_copy_filtered") in (True, "True") for r in mine)})
    groups = list(dict.fromkeys(p["group"] for p in out))  # each selector's settings together, most kept first
    return sorted(out, key=lambda p: (groups.index(p["group"]), -p["kept"] if math.isfinite(p["kept"]) else 1.0))


def selector_table(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The table's rows (columns :data:`COLUMNS`) for one suite and model: per selector setting,
    share kept, gain over no selection with its paired 95% interval (in points), W/L, the near-copy
    share of the generated set and of the kept set (``(filtered)`` when ``core.near-copy`` chose it)."""
    table = []
    for p in selector_points(rows):
        g = p["gain"]
        table.append([p["group"], p["setting"], _pct(p["kept"]),
                      (g.text() + (" *" if g.significant else "")) if g else "", f"{g.wins}/{g.losses}" if g else "",
                      _share(p["before"]), _share(p["after"]) + (" (filtered)" if p["filtered"] else ""),
                      str(p["seeds"])])
    return table


def plot_selectors(suite: str, rows: Sequence[dict[str, Any]], path: Path) -> bool:
    """Gain over no selection (95% interval) against share kept, one panel per downstream model,
    one line per selector (its settings, when swept). False when the suite has no selector rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    points = {m: selector_points([r for r in rows if r["model"] == m]) for m in models}
    if not any(p["gain"] for ps in points.values() for p in ps):
        return False
    fig, axes = plt.subplots(1, len(models), figsize=(6.2 * len(models), 4.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        groups = list(dict.fromkeys(p["group"] for p in points[model]))
        for j, group in enumerate(groups):
            ps = sorted((p for p in points[model] if p["group"] == group and p["gain"] and math.isfinite(p["kept"])),
                        key=lambda p: p["kept"])
            if not ps:
                continue
            xs = [100 * p["kept"] + 0.8 * (j - (len(groups) - 1) / 2) for p in ps]  # apart, to tell bars apart
            ys = [100 * p["gain"].mean for p in ps]
            err = [[100 * (p["gain"].mean - p["gain"].low) for p in ps], [100 * (p["gain"].high - p["gain"].mean)
                                                                           for p in ps]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=group, ls="-" if len(ps) > 1 else "none")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("share of the generated set kept (%)")
        ax.set_ylabel(f"gain over no selection ({rows[0]['metric']} points, 95% interval)")
        ax.set_title(f"{suite}, {model}: selectors")
        ax.legend(fontsize=7)
    save_png(fig, path)
    return True


def save_png(fig: Any, path: Path) -> None:
    """Lay out, write atomically as a PNG (110 dpi) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    runfolder.atomic_write_bytes(path, buf.getvalue())
