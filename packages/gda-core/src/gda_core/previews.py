"""Building blocks for :meth:`DatasetLoader.preview <gda_core.DatasetLoader.preview>`: the report's
samples figure (real beside kept synthetic, one row per class) and a table of examples.

A loader draws one sample per axis; :func:`sample_grid` lays the axes out, labels rows with
the class and column groups with "real" and "kept synthetic", and returns a report
:class:`~gda_core.components.Figure`. matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .components import Figure, Table
from .records import Record

PREVIEW_FILENAME = "samples.png"


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def sample_grid(real: Mapping[str, Sequence[Record]], kept: Mapping[str, Sequence[Record]],
                draw: Callable[[Any, Record], None], *, title: str = "Samples: real beside kept synthetic",
                filename: str = PREVIEW_FILENAME, cell: tuple[float, float] = (1.1, 1.1)) -> Figure | None:
    """One row per class: up to ``len(real[c])`` real samples, a gap, then kept synthetic ones.

    ``draw(ax, record)`` draws one sample on a matplotlib axis (ticks are removed here).
    Returns None when there is nothing to draw.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = [c for c in dict.fromkeys([*real, *kept]) if real.get(c) or kept.get(c)]
    if not classes:
        return None
    n_real = max((len(real.get(c, ())) for c in classes), default=0)
    n_kept = max((len(kept.get(c, ())) for c in classes), default=0)
    n_cols = n_real + n_kept + (1 if n_real and n_kept else 0)
    fig, axes = plt.subplots(len(classes), n_cols, squeeze=False,
                             figsize=(max(3.0, cell[0] * n_cols), cell[1] * len(classes) + 0.6))
    for row, c in enumerate(classes):
        cells = [*real.get(c, ()), *[None] * (n_real - len(real.get(c, ())))]
        if n_real and n_kept:
            cells.append(None)
        cells += [*kept.get(c, ()), *[None] * (n_kept - len(kept.get(c, ())))]
        for col, rec in enumerate(cells):
            ax = axes[row][col]
            if rec is None:
                ax.axis("off")
                continue
            draw(ax, rec)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row][0].set_ylabel(str(c), rotation=0, ha="right", va="center", fontsize=9)
        if not real.get(c):
            axes[row][0].axis("on")
            axes[row][0].set_xticks([])
            axes[row][0].set_yticks([])
            axes[row][0].set_frame_on(False)
    if n_real:
        axes[0][0].set_title("real", loc="left", fontsize=9)
    if n_kept:
        axes[0][n_cols - n_kept].set_title("kept synthetic", loc="left", fontsize=9)
    fig.tight_layout()  # no suptitle: the report captions the figure with its title, once
    return Figure(title, filename, figure_png(fig))


def sample_table(real: Mapping[str, Sequence[Record]], kept: Mapping[str, Sequence[Record]],
                 text: Callable[[Record], str] = lambda r: str(r.data), *,
                 title: str = "Samples: real beside kept synthetic", max_chars: int = 160) -> Table | None:
    """A table with one row per example: class, real example, kept synthetic example.

    Long texts are cut to ``max_chars`` characters (with "…"); None when there is nothing to show.
    """
    def short(r: Record | None) -> str:
        if r is None:
            return ""
        s = " ".join(text(r).split())
        return s if len(s) <= max_chars else s[: max_chars - 1] + "…"

    rows = []
    for c in dict.fromkeys([*real, *kept]):
        rs, ks = list(real.get(c, ())), list(kept.get(c, ()))
        for i in range(max(len(rs), len(ks))):
            rows.append([c, short(rs[i] if i < len(rs) else None), short(ks[i] if i < len(ks) else None)])
    return Table(title, ["class", "real", "kept synthetic"], rows) if rows else None
