"""gda bench: the selector table, from planted rows and from a planted generation.

The planted generator makes, for each class, a third exact copies of training records, a third new
samples of the class and a third samples of another class labelled as this one: the confidence
selector must drop the mislabelled third and gain over no selection, the near-copy selector must
drop the copies (its kept share 0, "filtered"), and every selector-table row must read the very
generation ``gen (no selection)`` read.
"""

from __future__ import annotations

import numpy as np
import pytest

from gda_core import hookimpl
from gda_core.bench import Method, keep_sweeps, selector_method, selector_methods, standard_methods
from gda_core.bench.report import write_report
from gda_core.bench.runner import run_bench, selection_only
from gda_core.bench.selection import plot_selectors, selector_points, selector_table
from gda_core.builtin.generators.kde import KernelDensityGenerator
from gda_core.errors import ConfigError
from gda_core.host import host
from gda_core.records import Record, label_key

from .test_bench import tiny_suite


def _row(method, seed, score, *, selector="", n_generated=40, n_synthetic=40, before=0.3, after=0.3,
         filtered=False):
    return {"suite": "s", "method": method, "kind": "generative", "seed": seed, "model": "m", "metric": "accuracy",
            "score": score, "selector": selector, "n_generated": n_generated, "n_synthetic": n_synthetic,
            "near_copy_share_generated": before, "near_copy_share": after, "near_copy_filtered": filtered}


def test_the_selector_table_from_planted_rows():
    rows = []
    for seed, base in enumerate((0.70, 0.72, 0.74, 0.76)):
        rows += [_row("gen (no selection)", seed, base),
                 _row("gen (after core.confidence)", seed, base + 0.01, n_synthetic=30),
                 _row("select confidence", seed, base + 0.05, selector="confidence", n_synthetic=20, after=0.1),
                 _row("select near-copy", seed, base - 0.02 + 0.01 * (seed % 2), selector="near-copy",
                      n_synthetic=28, after=0.0, filtered=True),
                 _row("select near-copy quantile 0.2", seed, base, selector="near-copy", n_synthetic=12,
                      after=0.0, filtered=True)]
    table = selector_table(rows)
    assert [r[:3] for r in table] == [["confidence", "default", "50%"], ["near-copy", "default", "70%"],
                                      ["near-copy", "quantile 0.2", "30%"], ["the suite's chain",
                                                                              "after core.confidence", "75%"]]
    confidence = table[0]
    assert confidence[3] == "+5.0 [+5.0, +5.0] *" and confidence[4] == "4/0"  # the same +5 points every seed
    assert confidence[5:] == ["0.30", "0.10", "4"]
    near = table[1]
    # differences -2, -1, -2, -1 points: mean -1.5, sd 0.577, t(0.975, 3) 3.182: [-2.4, -0.6]
    assert near[3] == "-1.5 [-2.4, -0.6] *" and near[4] == "0/4"
    assert near[6] == "0.00 (filtered)"
    assert table[2][3] == "+0.0 [+0.0, +0.0]" and table[2][4] == "0/0"
    points = selector_points(rows)
    assert points[0]["gain"].mean == pytest.approx(0.05) and points[0]["kept"] == pytest.approx(0.5)


class PlantedMix(KernelDensityGenerator):
    """Per class, in turn: an exact copy of a training record, a new sample of the class (its mean
    plus its spread of noise), and a new sample of the next class labelled as this one."""

    def generate(self, conditions, *, seed, context):
        rng = np.random.default_rng(seed)
        keys = sorted(self.data_)
        out = []
        for i, cond in enumerate(conditions):
            key = label_key(cond.get("label"))
            X = self.data_[key]
            kind = i % 3
            if kind == 0:
                x = X[rng.integers(len(X))]
            else:
                src = X if kind == 1 else self.data_[keys[(keys.index(key) + 1) % len(keys)]]
                x = src.mean(0) + src.std(0) * rng.normal(size=src.shape[1])
            out.append(Record(id="", data=np.asarray(x, dtype=np.float32).reshape(self.shape_),
                              label=self.labels_[key]))
        return out


@pytest.fixture
def planted_generator():
    class Plugin:
        @hookimpl
        def register_generators(self, register):
            register("test.planted-mix", PlantedMix)

    host.register_plugin(Plugin(), "bench-planted-mix")
    yield
    host.unregister_plugin("bench-planted-mix")


def test_selector_methods_read_the_base_generation_and_the_table_finds_the_planted_halves(tmp_path,
                                                                                         planted_generator):
    config = {**tiny_suite().config, "dataset": {"name": "core.wine", "params": {"k_shot": 15}},
              "generator": {"name": "test.planted-mix", "params": {}}, "generate": {"per_class": 30, "shard_size": 30}}
    methods = standard_methods(*selector_methods(), self_train=False)
    run = run_bench([tiny_suite(config=config, methods=methods, ratios=(), seeds=3)], tmp_path, quiet=True)
    rows = {(r["method"], r["seed"], r["model"]): r for r in run.rows}
    for seed in range(3):
        base = rows[("gen (no selection)", seed, "logreg")]
        assert base["n_generated"] == base["n_synthetic"] == 90
        # every planted copy counts (and a few new samples: 15 training records set a coarse tau)
        assert 1 / 3 <= base["near_copy_share_generated"] <= 0.5
        for label in ("select confidence", "select near-copy", "select de-dup", "select cluster", "select top-k"):
            r = rows[(label, seed, "logreg")]
            # the very generation gen (no selection) read: same size, same near-copy share before selection
            assert r["n_generated"] == 90 and r["near_copy_share_generated"] == base["near_copy_share_generated"]
        confident = rows[("select confidence", seed, "logreg")]
        assert 50 <= confident["n_synthetic"] <= 66  # the mislabelled third dropped, little else
        near = rows[("select near-copy", seed, "logreg")]
        assert near["near_copy_share"] == 0.0 and near["near_copy_filtered"]
        assert near["n_synthetic"] <= 60  # the copies gone
        assert rows[("select top-k", seed, "logreg")]["n_synthetic"] == 45  # half of each class
    points = {p["method"]: p for p in selector_points([r for r in run.rows if r["model"] == "logreg"])}
    assert points["select confidence"]["gain"].mean > 0.02  # dropping mislabelled samples helps
    assert points["select confidence"]["gain"].wins == 3
    assert points["select near-copy"]["after"] == 0.0 and points["select near-copy"]["filtered"]
    md = write_report(run, tmp_path, {"command": "test"}).read_text()
    assert "### Selectors" in md and "| confidence | default |" in md and "0.00 (filtered)" in md
    assert "![tiny selectors](tiny-selectors.png)" in md and (tmp_path / "tiny-selectors.png").is_file()
    main = md[md.index("### logreg"):md.index("### Copies")]
    assert "select confidence" not in main  # the selector rows have their own table
    assert "near-copy: generated / held-out" in main


def test_a_selection_only_variant_keeps_the_generate_step(tmp_path, planted_generator, monkeypatch):
    """Selector methods rerun selection only: the generated shards are the base's, not regenerated."""
    from gda_core import pipeline
    from gda_core.pipeline import SYNTHETIC_SET

    generated = []
    original = pipeline.Pipeline.generate_shard

    def spy(self, set_name, *args, **kwargs):
        generated.append(set_name)
        return original(self, set_name, *args, **kwargs)

    monkeypatch.setattr(pipeline.Pipeline, "generate_shard", spy)
    config = {**tiny_suite().config, "generator": {"name": "test.planted-mix", "params": {}}}
    methods = standard_methods(selector_method("de-dup", "core.dedup"), self_train=False)
    run_bench([tiny_suite(config=config, methods=methods, ratios=(), seeds=1)], tmp_path, quiet=True)
    # 6 per class x 3 classes in shards of 10: the base generation's 2 shards, none for the variant
    assert generated.count(SYNTHETIC_SET) == 2
    assert selection_only(("selectors=[core.dedup]",)) and not selection_only(("generate.per_class=3",))


def test_selector_methods_are_refused_without_a_selector_and_outside_generation():
    with pytest.raises(ConfigError, match="at least one selector"):
        selector_method("nothing")
    with pytest.raises(ConfigError, match="generative methods"):
        Method("x", "real", selector="core.dedup")
    sweeps = keep_sweeps()
    assert len({m.name for m in sweeps}) == len(sweeps) and {m.selector for m in sweeps} == {
        "confidence", "cluster", "near-copy", "de-dup"}


def test_no_selector_rows_means_no_selector_plot(tmp_path):
    assert not plot_selectors("s", [_row("gen (no selection)", 0, 0.5)], tmp_path / "x.png")
