"""The run report: built from a RunResult, copy headline first, self-contained HTML, readable files,
a samples preview from the loader, projection plots that show every class."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import numpy as np

import gda_core
from gda_core.builtin.validators.projection import _scatter, class_colours
from gda_core.components import DatasetLoader, Figure, Table, ValidationResult
from gda_core.previews import sample_grid, sample_table
from gda_core.records import Record
from gda_core.report import build_blocks, plural, to_markdown, write_report
from gda_core.results import RunResult

from .helpers import blobs, small_config, synthetic

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 32


def _result(tmp_path: Path, metrics: dict | None = None, loader=None, figures=()) -> RunResult:
    train, test = blobs(5, seed=0), blobs(5, seed=1, prefix="t")
    fake = synthetic(np.zeros((4, 4)), [0, 0, 1, 1])
    results = {"core.prdc": ValidationResult(metrics={"precision": 0.9, "recall": 0.5, "density": 1.1,
                                                      "coverage": 0.7})}
    if metrics is not None:
        results["core.memorization"] = ValidationResult(metrics=metrics, figures=list(figures))
    cfg = {"seed": 3, "dataset": {"name": "x.data"}, "generator": {"name": "x.gen"}, "strategy": {"name": "core.train"},
           "selectors": [], "application": {"name": "x.app"}, "embedder": {"name": "x.emb"}}
    return RunResult(tmp_path, train, test, fake, {}, results, stages=[("generated (no selection)", fake)],
                     config=cfg, loader=loader)


def test_plural():
    assert plural(1, "seed") == "1 seed"
    assert plural(2, "seed") == "2 seeds"
    assert plural(0, "class", "classes") == "0 classes"


def test_copy_warning_opens_the_report_when_kept_is_more_copy_like_than_real(tmp_path):
    md = to_markdown(build_blocks(_result(tmp_path, {"near_copy_share": 0.40, "near_copy_share_real": 0.05,
                                                     "near_copy_threshold": 1.5})))
    first_lines = md.splitlines()[:4]
    assert any(line.startswith("> **Warning:**") and "40.0%" in line and "5.0%" in line for line in first_lines)
    head = md[: md.index("data set:")]  # the headline comes before the run summary
    assert "near-copy share, kept synthetic | 40.0%" in head
    assert "near-copy share, held-out real | 5.0%" in head
    assert "precision (core.prdc) | 0.9" in head and "coverage (core.prdc) | 0.7" in head
    assert "10 train records" in md and "10 test records" in md and "2 classes" in md


def test_no_warning_when_kept_is_within_the_margin_of_real(tmp_path):
    md = to_markdown(build_blocks(_result(tmp_path, {"near_copy_share": 0.08, "near_copy_share_real": 0.05})))
    assert "Warning" not in md
    assert "near-copy share, kept synthetic | 8.0%" in md


def test_html_is_self_contained_and_files_are_readable(tmp_path):
    fig = Figure("a figure", "a.png", PNG)
    old = os.umask(0o022)
    try:
        write_report(_result(tmp_path, {"near_copy_share": 0.0, "near_copy_share_real": 0.0}, figures=[fig]))
    finally:
        os.umask(old)
    page = (tmp_path / "report.html").read_text()
    assert 'src="data:image/png;base64,' in page
    assert 'src="figures/' not in page
    assert "](figures/a.png)" in (tmp_path / "report.md").read_text()
    for f in [tmp_path / "report.html", tmp_path / "report.md", tmp_path / "figures" / "a.png"]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f


class _GridLoader(DatasetLoader):
    def preview(self, real, kept):
        return sample_grid(real, kept, lambda ax, r: ax.imshow(np.asarray(r.data).reshape(2, 2)))


class _TableLoader(DatasetLoader):
    def preview(self, real, kept):
        return sample_table(real, kept, lambda r: f"text of {r.id}")


def test_samples_preview_from_the_loader(tmp_path):
    loader = _GridLoader()
    loader.name = "x.grid"
    blocks = build_blocks(_result(tmp_path, {}, loader=loader))
    imgs = [c for k, c in blocks if k == "img"]
    assert imgs and imgs[0].filename == "samples.png" and imgs[0].png.startswith(b"\x89PNG")
    tloader = _TableLoader()
    tloader.name = "x.table"
    md = to_markdown(build_blocks(_result(tmp_path, {}, loader=tloader)))
    assert "| class | real | kept synthetic |" in md
    assert "text of r-0-" in md and "text of s-0" in md


def test_sample_table_and_grid_are_none_without_samples():
    assert sample_table({}, {}) is None
    assert sample_grid({}, {}, lambda ax, r: None) is None
    t = sample_table({"a": [Record("1", "x" * 500, "a")]}, {}, max_chars=20)
    assert isinstance(t, Table) and len(t.rows[0][1]) == 20 and t.rows[0][2] == ""


def test_loader_without_preview_says_so(tmp_path):
    loader = DatasetLoader()
    loader.name = "x.plain"
    md = to_markdown(build_blocks(_result(tmp_path, {}, loader=loader)))
    assert "`x.plain` draws no samples preview" in md


def test_projection_colours_and_legend_scale_with_classes():
    for n in (3, 12, 25):
        cols = class_colours(n)
        assert len(set(map(tuple, cols))) == n
    rng = np.random.default_rng(0)
    labels = [str(i % 12) for i in range(60)]
    png = _scatter(rng.normal(size=(60, 2)), np.arange(60) < 30, labels, sorted(set(labels)), "pca", ["a", "b"])
    assert png.startswith(b"\x89PNG")


def test_report_does_not_import_the_pipeline():
    src = Path(gda_core.__file__).parent
    seen, todo = set(), ["report"]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        path = src / f"{mod.replace('.', '/')}.py"
        if not path.is_file():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                todo.append(node.module)
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gda_core."):
                todo.append(node.module.removeprefix("gda_core."))
    assert "pipeline" not in seen, sorted(seen)


def test_a_real_run_writes_the_headline_first(tmp_path):
    gda_core.run(small_config(), tmp_path / "run", quiet=True)
    md = (tmp_path / "run" / "report.md").read_text()
    assert md.index("near-copy share, kept synthetic") < md.index("data set:")
    assert "## Samples" in md
    assert "2 seeds" in md and "1 seeds" not in md


def test_the_generators_own_tables_follow_the_selection_counts(tmp_path):
    from gda_core.components import Generator

    class Served(Generator):
        def report_tables(self, folder, records):
            return [Table("Requests to the server", ["quantity", "value"], [["requests", len(records)]])]

    class Broken(Generator):
        def report_tables(self, folder, records):
            raise OSError("unreadable")

    result = _result(tmp_path)
    result.generator = Served()
    md = to_markdown(build_blocks(result))
    assert md.index("## Generation and selection") < md.index("**Requests to the server**")
    assert "| requests | 4 |" in md
    result.generator = Broken()
    assert "The generator's report tables failed: unreadable" in to_markdown(build_blocks(result))
    result.generator = Generator()  # the default adds nothing
    assert "Requests to the server" not in to_markdown(build_blocks(result))


def test_the_pool_stage_has_headline_rows_and_its_own_section(tmp_path):
    cfg = small_config(strategy={"name": "core.pseudo-label", "params": {"keep": 0.5}},
                       validators=["core.memorization"])
    result = gda_core.run(cfg, tmp_path / "run", quiet=True)
    md = (tmp_path / "run" / "report.md").read_text()
    n_pool, k = len(result.pool), result.pseudo_labels["records"]
    assert k == round(0.5 * n_pool) and len(result.train) == 24  # wine, 8 shots per class
    head = md[: md.index("- data set:")]
    assert f"| unlabelled pool | {n_pool} records | real records without labels" in head
    assert f"| pool records pseudo-labelled and kept | {k} ({100 * k / n_pool:.1f}% of the pool) |" in head
    assert f"the generator trained on 24 labelled records + these {k} ({24 + k} in all)" in head
    acc = result.pseudo_labels["accuracy_vs_hidden_labels"]
    assert 0.5 < acc <= 1 and f"| pseudo-label accuracy | {100 * acc:.1f}% |" in head
    section = md[md.index("## Unlabelled pool"): md.index("## Samples")]
    assert f"kept {k} of its records" in section and f"({24 + k} in all)" in section
    per_class = result.pseudo_labels["per_class"]
    assert sum(v["records"] for v in per_class.values()) == k
    assert "| class | records | right (vs hidden labels) |" in section
    # the near-copy section says where the generator's training records came from
    assert (f"Near-copies of the generator's {24 + k} training records (24 labelled + {k} from the unlabelled "
            "pool)") in md


def test_an_unused_pool_gets_a_section_that_says_so(tmp_path):
    gda_core.run(small_config(validators=["core.memorization"]), tmp_path / "run", quiet=True)
    md = (tmp_path / "run" / "report.md").read_text()
    section = md[md.index("## Unlabelled pool"): md.index("## Samples")]
    assert "Strategy `core.train` does not learn from them; the generator trained on the labelled records alone" \
        in section and "`core.pseudo-label`" in section
    assert "unused: strategy `core.train` does not learn from them" in md[: md.index("- data set:")]
    assert "pseudo-label accuracy" not in md


def test_a_figure_is_captioned_once(tmp_path, monkeypatch):
    import matplotlib.figure

    def draw(ax, record):
        ax.plot([0, 1])

    def no_title_in_the_png(self, *args, **kwargs):
        raise AssertionError("the samples grid draws its caption into the PNG: the report shows it twice")

    monkeypatch.setattr(matplotlib.figure.Figure, "suptitle", no_title_in_the_png)
    real = {"0": [Record(id="a", data=np.zeros(2), label=0)]}
    fig = sample_grid(real, real, draw, title="Rows: a caption")
    blocks = [("img", fig)]
    assert to_markdown(blocks).count("Rows: a caption") == 2  # the image's alt text and its one visible caption
    from gda_core.report import to_html

    page = to_html(blocks)
    assert page.count("<figcaption>Rows: a caption</figcaption>") == 1
