"""The run report, in Markdown and HTML, built from a run's results (:class:`~gda_core.results.RunResult`).

It opens with the headline a reader needs first: how many kept synthetic samples are
near-copies of the generator's training data, against the same share for held-out real
data (``core.memorization``), beside fidelity and diversity (PRDC) and the Fréchet
distance when a validator measured them; a warning comes first when the kept set is more
copy-like than real data. Then a figure of samples (the data-set loader's
:meth:`~gda_core.DatasetLoader.preview`: real beside kept synthetic, per class), the
selection counts and every validator's tables, figures and notes.

``report.html`` is self-contained (figures embedded as ``data:`` URIs); ``report.md``
links the same figures, saved under ``figures/``. Files are written with the user's umask.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import re
from collections import Counter
from typing import Any

from . import runfolder
from .components import Figure, Table
from .records import Record, label_key
from .results import RunResult

log = logging.getLogger("gda")

COPY_MARGIN = 0.05
"""The kept set is flagged when its near-copy share exceeds held-out real data's by more than this."""
PREVIEW_PER_CLASS = 4
PREVIEW_MAX_CLASSES = 12
PRDC = ("precision", "recall", "density", "coverage")

Block = tuple[str, Any]


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 seed"``, ``"2 seeds"``: ``n`` and ``word``, plural (``many`` or ``word + "s"``) unless n is 1."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _pct(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


def _name(cfg: dict[str, Any], key: str) -> str:
    entry = cfg.get(key)
    return str(entry.get("name")) if isinstance(entry, dict) else "?"


def _per_class(records: list[Record]) -> str:
    c = Counter(label_key(r.label) for r in records)
    return ", ".join(f"{k}: {v}" for k, v in sorted(c.items()))


def headline(result: RunResult) -> list[Block]:
    """The near-copy share of the generated set (before selection) beside held-out real data's
    and the kept set's (marked filtered when ``core.near-copy`` ran), PRDC and Fréchet distance,
    the downstream gains (over real only, and, with a pool, over self-training with no generator),
    the pool stage's rows (:func:`pool_rows`), and the copy warning."""
    blocks: list[Block] = []
    mem = result.results.get("core.memorization")
    m = mem.metrics if mem is not None else {}
    rows: list[list[str]] = []
    if "near_copy_share" in m:
        kept, real = m["near_copy_share"], m.get("near_copy_share_real", float("nan"))
        generated = m.get("near_copy_share_generated")
        if kept > real + COPY_MARGIN:
            blocks.append(("warn", f"The kept synthetic set is more copy-like than real data: {_pct(kept)} of "
                                   f"kept samples are near-copies of the generator's training data, against "
                                   f"{_pct(real)} of held-out real samples: the generator may be copying its "
                                   "training data; see `core.memorization` below."))
        elif generated is not None and generated > real + COPY_MARGIN:
            blocks.append(("warn", f"The generator copies: {_pct(generated)} of the generated samples (before "
                                   f"selection) are near-copies of its training data, against {_pct(real)} of "
                                   f"held-out real samples; selection kept {_pct(kept)} near-copies. See "
                                   "`core.memorization` below."))
        tau = m.get("near_copy_threshold")
        below = "distance to the nearest training record below tau" + (f" = {tau:.4g}" if tau is not None else "")
        if generated is not None:
            rows.append(["near-copy share, generated (before selection)", _pct(generated),
                         f"what the generator made, before any selector ({below})"])
        rows.append(["near-copy share, held-out real", _pct(real), "the same share for real samples the "
                     "generator never saw (what an honest generator shows)"])
        filtered = any((s.get("name") if isinstance(s, dict) else s) == "core.near-copy"
                       for s in result.config.get("selectors", []))
        rows.append(["near-copy share, kept synthetic", _pct(kept),
                     "after selection: filtered by that criterion (core.near-copy drops exactly these), so 0 by "
                     "construction" if filtered else f"after selection ({below})"])
    for name, res in result.results.items():
        if all(k in res.metrics for k in PRDC):
            rows += [[f"{k} ({name})", _fmt(res.metrics[k]), "fidelity" if k in ("precision", "density")
                      else "diversity"] for k in PRDC]
    for name, res in result.results.items():
        for k, v in res.metrics.items():
            if k in ("fid", "frechet") or k.startswith(("frechet_", "fid_")):
                rows.append([f"Fréchet distance {k} ({name})", _fmt(v), "to real features; lower is closer"])
    for name, res in result.results.items():
        for k, v in res.metrics.items():
            what, _, metric = k.partition(".")
            if what == "gain":
                rows.append([f"downstream {metric}: real + synthetic minus real ({name})", f"{v:+.4f}",
                             "what the kept synthetic set adds to the labelled records"])
            elif what == "gain_over_self_training":
                rows.append([f"downstream {metric}: real + synthetic minus self-training ({name})", f"{v:+.4f}",
                             "GDA against what the pool alone gives: real + the pseudo-labelled pool, no generator"])
            elif what == "self_training_gain":
                rows.append([f"downstream {metric}: self-training + synthetic minus self-training ({name})",
                             f"{v:+.4f}", "what the kept synthetic set adds to self-training (DPT's last stage)"])
    none_measured = not rows and mem is None
    rows += pool_rows(result)
    if rows:
        blocks.append(("table", (["headline", "value", "meaning"], rows)))
    if none_measured:
        blocks.append(("p", "No near-copy check ran (add the `core.memorization` validator)."))
    return blocks


def pool_strategies() -> list[str]:
    """The registered strategies that learn from an unlabelled pool with their default parameters."""
    from .host import host

    out = []
    for name, info in host.components("strategies").items():
        try:
            if info.load()().uses_pool():
                out.append(name)
        except Exception:  # a strategy that needs parameters, or fails to load: not listed
            continue
    return out


def pool_summary(result: RunResult) -> str | None:
    """One line on the unlabelled pool: its size and whether the run's strategy learnt from it
    (None when the data set offers no pool)."""
    if result.pool is None or len(result.pool) == 0:
        return None
    name = _name(result.config, "strategy")
    line = f"unlabelled pool: {plural(len(result.pool), 'record')}"
    if result.strategy is not None and result.strategy.uses_pool():
        line = f"{line}, which strategy `{name}` learnt from"
        pseudo = result.pseudo_labels
        if pseudo:
            acc = pseudo.get("accuracy_vs_hidden_labels")
            line += f" ({plural(pseudo['records'], 'record')} pseudo-labelled" + (
                f", {_pct(acc)} of them right against the pool's hidden labels, a figure for this report only"
                if acc is not None else "") + ")"
        return line
    others = ", ".join(f"`{s}`" for s in pool_strategies() if s != name)
    return f"{line}, unused: strategy `{name}` does not learn from it" + (
        f" (strategies that do: {others})" if others else "")


def _pool_used(result: RunResult) -> bool:
    return result.strategy is not None and result.strategy.uses_pool()


def pool_rows(result: RunResult) -> list[list[str]]:
    """Headline rows of the pool stage: the pool's size, the records the strategy pseudo-labelled
    and trained on, their accuracy against the pool's hidden labels (none without a pool)."""
    if result.pool is None or len(result.pool) == 0:
        return []
    name, n = _name(result.config, "strategy"), len(result.pool)
    rows = [["unlabelled pool", plural(n, "record"), "real records without labels the data set offers (never a test "
             "record); " + (f"strategy `{name}` learnt from them" if _pool_used(result) else
                            f"unused: strategy `{name}` does not learn from them")]]
    pseudo = result.pseudo_labels if _pool_used(result) else None
    if pseudo:
        k = pseudo["records"]
        rows.append(["pool records pseudo-labelled and kept", f"{k} ({_pct(k / n)} of the pool)",
                     f"the generator trained on {plural(len(result.train), 'labelled record')} + these {k} "
                     f"({len(result.train) + k} in all)"])
        if pseudo.get("accuracy_vs_hidden_labels") is not None:
            rows.append(["pseudo-label accuracy", _pct(pseudo["accuracy_vs_hidden_labels"]),
                         "share of those labels that match the pool's hidden labels: a figure for this report "
                         "only (the loader kept them aside; nothing learns from them)"])
    return rows


def pool_blocks(result: RunResult) -> list[Block]:
    """The report's section on the unlabelled pool: what it is, whether and how the strategy used
    it, and the pseudo-labels per class (nothing without a pool)."""
    if result.pool is None or len(result.pool) == 0:
        return []
    name, n = _name(result.config, "strategy"), len(result.pool)
    blocks: list[Block] = [("h2", "Unlabelled pool")]
    intro = (f"The data set `{_name(result.config, 'dataset')}` offers {plural(n, 'unlabelled record')} beside its "
             f"{plural(len(result.train), 'labelled training record')}: real records without labels, never a "
             "test record.")
    if not _pool_used(result):
        others = ", ".join(f"`{s}`" for s in pool_strategies() if s != name)
        return blocks + [("p", f"{intro} Strategy `{name}` does not learn from them; the generator trained on "
                               f"the labelled records alone." + (f" Strategies that learn from a pool: {others}."
                                                                 if others else ""))]
    pseudo = result.pseudo_labels
    if not pseudo:
        return blocks + [("p", f"{intro} Strategy `{name}` learnt from them without pseudo-labels "
                               "(`pool_strategy.json` has its summary).")]
    k, acc = pseudo["records"], pseudo.get("accuracy_vs_hidden_labels")
    text = (f"{intro} Strategy `{name}` pseudo-labelled the pool and kept {k} of its records ({_pct(k / n)}); "
            f"the generator trained on the {len(result.train)} labelled records and these {k} "
            f"({len(result.train) + k} in all), and near-copy checks measure against all of them.")
    if acc is not None:
        text += (f" {_pct(acc)} of the kept pseudo-labels match the pool's hidden labels, which the loader kept "
                 "aside: a figure for this report only, never seen by the strategy, the generator or the selectors.")
    blocks.append(("p", text))
    per_class = pseudo.get("per_class") or {}
    if per_class:
        scored = any(v.get("accuracy_vs_hidden_labels") is not None for v in per_class.values())
        rows = [[c, v["records"], *([_pct(v["accuracy_vs_hidden_labels"])] if scored else [])]
                for c, v in sorted(per_class.items(), key=lambda kv: (len(kv[0]), kv[0]))]
        blocks += [("p", "**Pseudo-labelled pool records per predicted class**"),
                   ("table", (["class", "records", *(["right (vs hidden labels)"] if scored else [])], rows))]
    return blocks


def _preview(result: RunResult, rng_seed: int) -> list[Block]:
    """The loader's samples figure (or table), real beside kept synthetic, per class."""
    import numpy as np

    if result.loader is None:
        return []
    rng = np.random.default_rng(rng_seed)

    def pick(records: list[Record]) -> dict[str, list[Record]]:
        by: dict[str, list[Record]] = {}
        for r in records:
            by.setdefault(label_key(r.label), []).append(r)
        out = {}
        for c in sorted(by, key=lambda k: (len(k), k))[:PREVIEW_MAX_CLASSES]:
            recs = by[c]
            idx = sorted(rng.choice(len(recs), min(PREVIEW_PER_CLASS, len(recs)), replace=False))
            out[c] = [recs[i] for i in idx]
        return out

    real, kept = pick(list(result.train.records)), pick(result.kept)
    kept = {c: v for c, v in kept.items() if c in real or len(kept) <= PREVIEW_MAX_CLASSES}
    try:
        shown = result.loader.preview(real, kept)
    except Exception as exc:  # a broken preview must not cost the report
        log.warning("the samples preview of %s failed: %s", getattr(result.loader, "name", "?"), exc)
        return [("h2", "Samples"), ("p", f"The samples preview failed: {exc}")]
    if shown is None:
        return [("h2", "Samples"), ("p", f"`{getattr(result.loader, 'name', '?')}` draws no samples preview.")]
    blocks: list[Block] = [("h2", "Samples")]
    if isinstance(shown, Figure):
        blocks.append(("img", shown))
    elif isinstance(shown, Table):
        blocks += [("p", f"**{shown.title}**"), ("table", (shown.columns, shown.rows))]
    return blocks


def _generator_tables(result: RunResult) -> list[Block]:
    """The generator's own tables (:meth:`~gda_core.Generator.report_tables`: requests, tokens, cost)."""
    gen = result.generator
    if gen is None:
        return []
    try:
        tables = gen.report_tables(result.folder, result.synthetic)
    except Exception as exc:  # a broken table must not cost the report
        log.warning("the report tables of generator %s failed: %s", getattr(gen, "name", "?"), exc)
        return [("p", f"The generator's report tables failed: {exc}")]
    blocks: list[Block] = []
    for t in tables:
        blocks += [("p", f"**{t.title}**"), ("table", (t.columns, [[_fmt(c) for c in row] for row in t.rows]))]
    return blocks


def build_blocks(result: RunResult) -> list[Block]:
    """The report as a list of (kind, content) blocks: h1/h2/p/warn/table/img/list."""
    cfg = result.config
    seed = cfg.get("seed", 0)
    blocks: list[Block] = [("h1", f"GDA run report: {result.folder.name}")]
    blocks += headline(result)
    selectors = [s.get("name") for s in cfg.get("selectors", []) if isinstance(s, dict)]
    classes = list(result.train.classes) if result.train is not None else []
    pool = pool_summary(result)
    blocks.append(("list", [
        f"data set: `{_name(cfg, 'dataset')}` ({plural(len(result.train), 'train record')}, "
        f"{plural(len(result.test), 'test record')}, {plural(len(classes), 'class', 'classes')}: "
        f"{', '.join(map(str, classes))})",
        *([pool] if pool else []),
        f"generator: `{_name(cfg, 'generator')}` via strategy `{_name(cfg, 'strategy')}`",
        f"selectors: {', '.join(f'`{s}`' for s in selectors) or 'none'}",
        f"application: `{_name(cfg, 'application')}`; embedder: `{_name(cfg, 'embedder')}`",
        f"seed: {seed}; full config in `config.yaml`",
    ]))
    blocks += pool_blocks(result)
    blocks += _preview(result, seed)
    blocks.append(("h2", "Generation and selection"))
    rows = [["generated", len(result.synthetic), _per_class(result.synthetic)]]
    for name, recs in result.stages[1:]:
        rows.append([name, len(recs), _per_class(recs)])
    if not result.stages[1:]:
        rows.append(["kept", len(result.kept), _per_class(result.kept)])
    for name, recs in result.baselines.items():
        rows.append([f"baseline {name}", len(recs), _per_class(recs)])
    blocks.append(("table", (["stage", "records", "per class"], rows)))
    blocks += _generator_tables(result)
    for name, res in result.results.items():
        blocks.append(("h2", f"Validator `{name}`"))
        if res.metrics and not res.tables:
            blocks.append(("table", (["metric", "value"], [[k, _fmt(v)] for k, v in res.metrics.items()])))
        for t in res.tables:
            blocks.append(("p", f"**{t.title}**"))
            blocks.append(("table", (t.columns, [[_fmt(c) for c in row] for row in t.rows])))
        for f in res.figures:
            blocks.append(("img", f))
        if res.notes:
            blocks.append(("list", res.notes))
    return blocks


def to_markdown(blocks: list[Block]) -> str:
    """Markdown of the blocks; figures link to ``figures/<filename>``."""
    out = []
    for kind, content in blocks:
        if kind == "h1":
            out.append(f"# {content}\n")
        elif kind == "h2":
            out.append(f"## {content}\n")
        elif kind == "p":
            out.append(f"{content}\n")
        elif kind == "warn":
            out.append(f"> **Warning:** {content}\n")
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in content) + "\n")
        elif kind == "table":
            cols, rows = content
            lines = ["| " + " | ".join(map(_cell, cols)) + " |", "|" + "---|" * len(cols)]
            lines += ["| " + " | ".join(map(_cell, r)) + " |" for r in rows]
            out.append("\n".join(lines) + "\n")
        elif kind == "img":  # the caption once, under the image (the PNG carries none of its own)
            out.append(f"![{content.title}](figures/{content.filename})\n\n*{content.title}*\n")
    return "\n".join(out)


def _cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _inline(text: Any) -> str:
    s = html.escape(str(text))
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", s)


def to_html(blocks: list[Block]) -> str:
    """A self-contained HTML page: figures embedded as base64 ``data:`` URIs, no external file."""
    body = []
    for kind, content in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{_inline(content)}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(content)}</p>")
        elif kind == "warn":
            body.append(f"<p class='warn'><strong>Warning:</strong> {_inline(content)}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in content) + "</ul>")
        elif kind == "table":
            cols, rows = content
            head = "".join(f"<th>{_inline(c)}</th>" for c in cols)
            trs = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
        elif kind == "img":
            data = base64.b64encode(content.png).decode("ascii")
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(content.title)}">'
                        f"<figcaption>{html.escape(content.title)}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em}"
             "th{background:#f3f3f3}img{max-width:100%}"
             ".warn{background:#fff3cd;border:1px solid #e0b000;padding:.6em;border-radius:4px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>GDA report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(result: RunResult) -> None:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` into the run's folder."""
    blocks = build_blocks(result)
    for kind, content in blocks:
        if kind == "img":
            runfolder.atomic_write_bytes(result.folder / "figures" / content.filename, content.png)
    runfolder.atomic_write_text(result.folder / "report.md", to_markdown(blocks))
    runfolder.atomic_write_text(result.folder / "report.html", to_html(blocks))
