"""The run report, in Markdown and HTML, with figures saved next to it."""

from __future__ import annotations

import html
from collections import Counter
from typing import TYPE_CHECKING, Any

from . import runfolder

if TYPE_CHECKING:
    from .pipeline import Pipeline


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def build_blocks(pipe: Pipeline) -> list[tuple[str, Any]]:
    """The report as a list of (kind, content) blocks: h1/h2/p/table/img/list."""
    ctx = pipe._ctx()
    cfg = pipe.resolved
    blocks: list[tuple[str, Any]] = [("h1", f"GDA run report: {pipe.folder.name}")]
    blocks.append(("list", [
        f"data set: `{cfg.dataset.name}` ({len(ctx.train)} train, {len(ctx.test)} test records, "
        f"classes {', '.join(map(str, ctx.train.classes))})",
        f"generator: `{cfg.generator.name}` via strategy `{cfg.strategy.name}`",
        f"selectors: {', '.join(f'`{s.name}`' for s in cfg.selectors) or 'none'}",
        f"application: `{cfg.application.name}`; embedder: `{cfg.embedder.name}`",
        f"seed: {pipe.config.seed}; full config in `config.yaml`",
    ]))
    blocks.append(("h2", "Generation and selection"))
    per_class = Counter(str(r.label) for r in pipe.synthetic)
    rows = [["generated", len(pipe.synthetic), ", ".join(f"{k}: {v}" for k, v in sorted(per_class.items()))]]
    for name, recs in pipe.stages[1:]:
        c = Counter(str(r.label) for r in recs)
        rows.append([name, len(recs), ", ".join(f"{k}: {v}" for k, v in sorted(c.items()))])
    for name, recs in pipe.baselines.items():
        rows.append([f"baseline {name}", len(recs), ""])
    blocks.append(("table", (["stage", "records", "per class"], rows)))
    for name, res in pipe.results.items():
        blocks.append(("h2", f"Validator `{name}`"))
        if res.metrics and not res.tables:
            blocks.append(("table", (["metric", "value"], [[k, _fmt(v)] for k, v in res.metrics.items()])))
        for t in res.tables:
            blocks.append(("p", f"**{t.title}**"))
            blocks.append(("table", (t.columns, [[_fmt(c) for c in row] for row in t.rows])))
        for f in res.figures:
            blocks.append(("img", (f.title, f"figures/{f.filename}")))
        if res.notes:
            blocks.append(("list", res.notes))
    return blocks


def to_markdown(blocks: list[tuple[str, Any]]) -> str:
    out = []
    for kind, content in blocks:
        if kind == "h1":
            out.append(f"# {content}\n")
        elif kind == "h2":
            out.append(f"## {content}\n")
        elif kind == "p":
            out.append(f"{content}\n")
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in content) + "\n")
        elif kind == "table":
            cols, rows = content
            lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
            lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
            out.append("\n".join(lines) + "\n")
        elif kind == "img":
            title, src = content
            out.append(f"![{title}]({src})\n")
    return "\n".join(out)


def _inline(text: str) -> str:
    import re

    s = html.escape(str(text))
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", s)


def to_html(blocks: list[tuple[str, Any]]) -> str:
    body = []
    for kind, content in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{_inline(content)}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(content)}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in content) + "</ul>")
        elif kind == "table":
            cols, rows = content
            head = "".join(f"<th>{_inline(c)}</th>" for c in cols)
            trs = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
        elif kind == "img":
            title, src = content
            body.append(f'<figure><img src="{html.escape(src)}" alt="{html.escape(title)}">'
                        f"<figcaption>{html.escape(title)}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em}"
             "th{background:#f3f3f3}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>GDA report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(pipe: Pipeline) -> None:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` into the run folder."""
    for res in pipe.results.values():
        for f in res.figures:
            runfolder.atomic_write_bytes(pipe.folder / "figures" / f.filename, f.png)
    blocks = build_blocks(pipe)
    runfolder.atomic_write_text(pipe.folder / "report.md", to_markdown(blocks))
    runfolder.atomic_write_text(pipe.folder / "report.html", to_html(blocks))
