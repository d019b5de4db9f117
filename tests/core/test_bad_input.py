"""Issue 23: every bad input is one clear line naming the field, nothing is accepted silently, and a
validator that cannot apply says "not applicable" while the run finishes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import gda_core
from gda_core import pipeline, runfolder
from gda_core.cli import cli
from gda_core.config import load_yaml, resolve
from gda_core.errors import ConfigError, DataError

from .helpers import small_config


def lean(**overrides) -> dict:
    return small_config(**{"selectors": ["core.dedup"], "validators": ["core.prdc"], **overrides})


def invoke(*args):
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), f"traceback: {r.exception!r}"
    return r.exit_code, r.stdout, r.stderr


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def refused(cfg: dict, *needles: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(cfg)
    msg = str(info.value)
    assert "\n" not in msg.strip()
    for needle in needles:
        assert needle in msg, (needle, msg)


def table(path: Path, labels: list, n_features: int = 3, seed: int = 0, columns: list[str] | None = None) -> Path:
    rng = np.random.default_rng(seed)
    names = columns or [f"f{i}" for i in range(n_features)]
    rows = [[*(rng.normal(size=len(names)) + 3 * (i % 3)).round(3), lab] for i, lab in enumerate(labels)]
    path.write_text(",".join([*names, "label"]) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


# --- YAML and the config file ------------------------------------------------------------------


@pytest.mark.parametrize("text, needles", [
    ("seed: 1\nseed: 2\n", ["key 'seed' is given twice", "line 1"]),
    ("generate:\n  per_class: 010\n", ["'010' has a leading zero", "octal", "(8)"]),
    ("seed: 1:30\n", ["base-60"]),
    ("seed: " + "[" * 3000 + "]" * 3000 + "\n", ["nested more than 64 levels deep"]),
    ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefg", "bcdefgh")),
     ["more than 200,000 values"]),
])
def test_yaml_surprises_are_refused_naming_the_line(tmp_path, text, needles):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert "\n" not in str(info.value)
    for needle in needles:
        assert needle in str(info.value)
    code, _, err = invoke("run", path, "-o", tmp_path / "run", "-q")
    one_line_error(code, err, *needles)
    assert not (tmp_path / "run").exists()


def test_a_deep_config_mapping_is_refused_too():
    deep: dict = {}
    node = deep
    for _ in range(3000):
        node["x"] = {}
        node = node["x"]
    refused({**lean(), "generator": {"name": "core.gmm", "params": deep}}, "nested more than 64 levels deep")
    with pytest.raises(ConfigError, match="nested more than 64"):
        gda_core.run({**lean(), "generator": {"name": "core.gmm", "params": deep}}, "/nonexistent/x", quiet=True)


@pytest.mark.parametrize("where", ["seed", "generate.n", "generate.shard_size", "generate.per_class",
                                   "generator.params.n_components", "validators.0.params.seeds",
                                   "dataset.params.k_shot", "generator.params.temperature"])
def test_true_is_not_a_number(where):
    cfg = lean(generate={"n": 6} if where == "generate.n" else {"per_class": 4},
               validators=[{"name": "core.downstream", "params": {"seeds": 2}}])
    *head, last = where.split(".")
    node = cfg
    for part in head:
        node = node[int(part)] if part.isdigit() else node[part]
        if isinstance(node, str):
            raise AssertionError(where)
    node[last] = True
    refused(cfg, last, "not true")


@pytest.mark.parametrize("field, value", [
    ("generator.params.temperature", float("inf")), ("generator.params.temperature", 1e308),
    ("generator.params.reg_covar", float("inf")), ("generator.params.reg_covar", 1e308),
    ("generate.ratio", float("inf")), ("generate.ratio", float("nan")),
    ("selectors.0.params.threshold", float("nan")), ("test_size", float("nan")),
])
def test_infinite_huge_and_nan_floats_are_refused(field, value):
    cfg = lean(selectors=[{"name": "core.confidence", "params": {"threshold": 0.5}}])
    if field == "generate.ratio":
        cfg["generate"] = {"ratio": value}
    *head, last = field.split(".")
    node = cfg
    for part in head:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    refused(cfg, last)


def test_kde_bandwidth_and_overrides_with_inf(tmp_path):
    refused(lean(generator={"name": "core.kde", "params": {"bandwidth": 1e308}}), "bandwidth")
    code, _, err = invoke("run", _save(tmp_path, lean()), "-o", tmp_path / "r", "-q", "--set", "generate.ratio=.inf")
    one_line_error(code, err, "generate.ratio")


def _save(folder: Path, cfg: dict) -> Path:
    path = folder / f"cfg{abs(hash(json.dumps(cfg, sort_keys=True, default=str)))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_two_components_of_one_name_are_refused():
    refused(lean(validators=["core.prdc", {"name": "core.prdc", "params": {"k": 3}}]),
            "validators[1]: core.prdc is listed already (validators[0])")
    refused(lean(baselines=["core.kde", "core.kde"]), "baselines[1]: core.kde is listed already")
    refused(lean(embedder="core.standardize", embedders=["core.flatten", "core.standardize"]),
            "embedders[1]: core.standardize is listed already (embedder)")


def test_balance_by_must_name_an_earlier_selector():
    refused(lean(selectors=[{"name": "core.balance", "params": {"by": "core.confidence"}}, "core.confidence"]),
            "selectors[0] (core.balance)", "'core.confidence' is not a selector before this one")
    resolve(lean(selectors=["core.confidence", {"name": "core.balance", "params": {"by": "core.confidence"}}]))


def test_topk_by_a_selector_must_name_an_earlier_one(tmp_path):
    """core.topk by a selector's name not earlier in the chain is refused before any work (it was
    found only at the select step, after fitting and generating); by a meta key stays allowed."""
    refused(lean(selectors=[{"name": "core.topk", "params": {"by": "core.confidence", "k": 1}}]),
            "selectors[0] (core.topk)", "'core.confidence' is not a selector before this one")
    refused(lean(selectors=["core.confidence", {"name": "core.topk", "params": {"by": "core.confidence#2"}}]),
            "'core.confidence#2' is not a selector before this one", "before it: core.confidence")
    resolve(lean(selectors=["core.confidence", {"name": "core.topk", "params": {"by": "core.confidence"}}]))
    resolve(lean(selectors=[{"name": "core.topk", "params": {"by": "my.meta.score"}}]))
    cfg = lean(selectors=[{"name": "core.topk", "params": {"by": "core.dedup"}}])
    code, _, err = invoke("run", _save(tmp_path, cfg), "-o", tmp_path / "run", "-q")
    one_line_error(code, err, "core.topk", "'core.dedup' is not a selector before this one")
    assert not (tmp_path / "run").exists()


def test_unknown_projection_method_and_unbounded_seeds_are_refused():
    refused(lean(validators=[{"name": "core.projection", "params": {"methods": ["umap"]}}]), "methods", "pca")
    refused(lean(validators=[{"name": "core.downstream", "params": {"seeds": 10**9}}]), "seeds", "1000")


def test_unknown_home_folders_are_one_line(tmp_path):
    code, _, err = invoke("run", _save(tmp_path, lean()), "-o", "~nosuchuser-gda/x", "-q")
    one_line_error(code, err, "output", "~nosuchuser-gda", "no such user")
    refused(lean(dataset={"name": "core.table", "params": {"path": "~nosuchuser-gda/d.csv"}}),
            "dataset.params.path", "no such user")
    code, _, err = invoke("validate", "~nosuchuser-gda/run", "-q")
    assert code == 2 and "Traceback" not in err


# --- tables -------------------------------------------------------------------------------------


def _load(cfg: dict):
    return pipeline.Pipeline(resolve(cfg), "/nonexistent/never").load_data()


def test_labels_that_look_alike_stay_apart(tmp_path):
    for labels, classes in ((["01", "1"], ["01", "1"]), (["-0", "0"], ["-0", "0"]), (["1", "2"], [1, 2]),
                            (["-1", "2"], [-1, 2])):
        path = table(tmp_path / "t.csv", [labels[i % 2] for i in range(24)])
        ctx = _load(lean(dataset={"name": "core.table", "params": {"path": str(path)}}))
        assert sorted(ctx.train.classes, key=str) == sorted(classes, key=str), labels


def test_feature_columns_must_be_features(tmp_path):
    path = table(tmp_path / "t.csv", [i % 2 for i in range(24)])
    refused(lean(dataset={"name": "core.table", "params": {"path": str(path), "feature_columns": []}}),
            "feature_columns")
    refused(lean(dataset={"name": "core.table", "params": {"path": str(path), "feature_columns": ["f0", "label"]}}),
            "feature_columns", "'label', the label column")


def test_test_and_pool_tables_must_be_other_files(tmp_path):
    path = table(tmp_path / "t.csv", [i % 2 for i in range(24)])
    os.symlink(path, tmp_path / "same.csv")
    for field in ("test_path", "pool_path"):
        for other in (path, tmp_path / "same.csv"):
            with pytest.raises(DataError, match=rf"dataset.params.{field}: .* is the training table"):
                _load(lean(dataset={"name": "core.table", "params": {"path": str(path), field: str(other)}}))


def test_a_test_table_with_other_columns(tmp_path):
    train = table(tmp_path / "train.csv", [i % 3 for i in range(30)], columns=["a", "b", "c"])
    extra = table(tmp_path / "extra.csv", [i % 3 for i in range(12)], columns=["c", "x", "a", "b"], seed=1)
    cfg = lean(dataset={"name": "core.table", "params": {"path": str(train), "test_path": str(extra)}},
               validators=["core.downstream", "core.prdc", "core.mmd"])
    res = gda_core.run(cfg, tmp_path / "run", quiet=True)  # the training table's columns, by name
    assert 0 <= res.metrics["core.downstream"]["real.accuracy.mean"] <= 1
    missing = table(tmp_path / "missing.csv", [i % 3 for i in range(12)], columns=["a", "x"], seed=1)
    cfg["dataset"]["params"]["test_path"] = str(missing)
    with pytest.raises(DataError, match=r"dataset.params.test_path: .* no feature column\(s\) 'b', 'c'"):
        gda_core.run(cfg, tmp_path / "run2", quiet=True)


def test_an_npz_with_2d_labels_or_scalar_samples(tmp_path):
    rng = np.random.default_rng(0)
    cases = [(dict(X=rng.normal(size=(20, 3)), y=rng.integers(0, 2, (20, 2))), r"y has shape \(20, 2\)"),
             (dict(X=np.float64(3.0), y=np.zeros(1)), "X is a single value")]
    for arrays, match in cases:
        np.savez(tmp_path / "d.npz", **arrays)
        with pytest.raises(DataError, match=match):
            _load(lean(dataset={"name": "core.arrays", "params": {"path": str(tmp_path / "d.npz")}}))
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(20, 3)), y=np.repeat([[0], [1]], 10, axis=0))
    assert len(_load(lean(dataset={"name": "core.arrays", "params": {"path": str(tmp_path / "d.npz")}})).train)


# --- damaged run folders ------------------------------------------------------------------------------


@pytest.mark.parametrize("ids", ['{"ids": [1, 2]}', '{"ids": 7}', '{"ids": [{"a": 1}]}', '{"ids": [["x"]]}',
                                 '{"ids": ["nope"]}', "[]", '{"ids": "abc"}'])
def test_junk_ids_in_trained_on_are_one_line(tmp_path, ids):
    out = tmp_path / "run"
    gda_core.run(lean(), out, quiet=True)
    (out / "model" / "trained_on.json").write_text(ids)
    for step in ("validate", "select", "generate"):
        code, _, err = invoke(step, out, "-q")
        one_line_error(code, err, "trained_on.json")


# --- validators that cannot apply ---------------------------------------------------------------------


def test_a_projection_of_1d_features_is_not_applicable_and_the_run_finishes(tmp_path):
    path = table(tmp_path / "t.csv", [i % 2 for i in range(30)], n_features=1)
    cfg = lean(dataset={"name": "core.table", "params": {"path": str(path)}}, embedder="core.flatten",
               validators=[{"name": "core.projection", "params": {"methods": ["pca", "tsne"]}}, "core.prdc"])
    out = tmp_path / "run"
    res = gda_core.run(cfg, out, quiet=True)
    assert any("not applicable: a 2-D projection needs at least 2 features" in n
               for n in res.results["core.projection"].notes)
    assert "not applicable" in (out / "report.md").read_text()
    assert res.metrics["core.prdc"]
    pipeline.step(out, "validate", quiet=True)  # a resume does not crash either


def test_knn_downstream_with_one_kept_sample_finishes(tmp_path):
    cfg = lean(generate={"per_class": 1}, application={"name": "core.classification", "params": {"model": "knn"}},
               selectors=[{"name": "core.confidence", "params": {"keep": 0.01, "per_class": False}}],
               validators=[{"name": "core.downstream", "params": {"seeds": 1}}, "core.prdc", "core.mmd",
                           {"name": "core.projection", "params": {"methods": ["pca", "tsne"]}}])
    res = gda_core.run(cfg, tmp_path / "run", quiet=True)
    assert len(res.kept) == 1
    m = res.metrics["core.downstream"]
    assert 0 <= m["synthetic.accuracy.mean"] <= 1  # k-NN on one sample: its one neighbour
    assert any("not measured" in n for n in res.results["core.mmd"].notes)


def test_a_single_class_table_with_confidence_keeps_its_samples(tmp_path):
    path = table(tmp_path / "t.csv", ["only"] * 24)
    cfg = lean(dataset={"name": "core.table", "params": {"path": str(path)}},
               selectors=[{"name": "core.confidence", "params": {"threshold": 0.5}}, "core.dedup"],
               validators=["core.downstream", "core.prdc", "core.memorization", "core.projection"])
    res = gda_core.run(cfg, tmp_path / "run", quiet=True)
    scores = [r.provenance.scores["core.confidence"] for r in res.synthetic]
    assert scores and all(s == 1.0 for s in scores)
    assert res.metrics["core.downstream"]["real.accuracy.mean"] == 1.0


def test_prdc_reports_the_k_it_used(tmp_path):
    res = gda_core.run(lean(validators=[{"name": "core.prdc", "params": {"k": 1000}}]), tmp_path / "run", quiet=True)
    r = res.results["core.prdc"]
    assert r.tables[0].title.startswith("PRDC (k=23)") and "k=1000 asked, k=23 used" in r.notes[0]


def test_a_near_copy_measure_on_one_training_record_is_not_applicable(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(1, 3)), y=np.array([0]),
             X_test=rng.normal(size=(4, 3)), y_test=np.array([0, 0, 0, 0]))
    cfg = lean(dataset={"name": "core.arrays", "params": {"path": str(tmp_path / "d.npz")}}, generator="core.kde",
               selectors=[], validators=["core.memorization", "core.prdc", "core.downstream"])
    res = gda_core.run(cfg, tmp_path / "run", quiet=True)
    assert any(n.startswith("not applicable") for n in res.results["core.memorization"].notes)


# --- gda bench -o ---------------------------------------------------------------------------------


def test_bench_output_is_a_bench_folder_or_refused(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.csv").write_text("my,results\n")
    code, _, err = invoke("bench", "core", "--report", "-o", mine, "-q")
    one_line_error(code, err, f"bench folder {mine} is not empty and holds no gda bench")
    assert (mine / "results.csv").read_text() == "my,results\n" and len(list(mine.iterdir())) == 1
    run = tmp_path / "run"
    gda_core.run(lean(), run, quiet=True)
    code, _, err = invoke("bench", "core", "--report", "-o", run, "-q")
    one_line_error(code, err, "holds a gda run")
    fresh = tmp_path / "fresh"
    for _ in range(2):
        code, _, err = invoke("bench", "core", "--report", "-o", fresh, "-q")
        assert code == 0, err
    assert json.loads((fresh / "gda_bench.json").read_text())["kind"] == "gda bench"
    (fresh / "notes.md").write_text("mine")
    (fresh / "results.csv").unlink()
    (fresh / "results.csv").write_text("the user's own")  # a file gda listed, now replaced by the user's
    listed = runfolder.written_list(fresh)
    listed.rewrite(listed.paths() - {"results.csv"})
    code, _, err = invoke("bench", "core", "--report", "-o", fresh, "-q")
    one_line_error(code, err, "results.csv was not written by gda")
    assert (fresh / "results.csv").read_text() == "the user's own" and (fresh / "notes.md").read_text() == "mine"
    (fresh / "gda_bench.json").write_text("{}")
    code, _, err = invoke("bench", "core", "--report", "-o", fresh, "-q")
    one_line_error(code, err, "gda_bench.json that is not gda's")


def test_an_old_bench_folder_is_adopted(tmp_path):
    old = tmp_path / "old"
    (old / "cells" / "core").mkdir(parents=True)
    (old / "cells" / "core" / "base-seed0.json").write_text('{"key": "x", "rows": []}')
    (old / "results.csv").write_text("old\n")
    code, _, err = invoke("bench", "core", "--report", "-o", old, "-q")
    assert code == 0, err
    assert (old / "gda_bench.json").is_file() and (old / "results.csv").read_text() != "old\n"


def test_a_pickled_checkpoint_with_objects_is_one_line_even_with_allow_pickle(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from gda_core.torch import weights

    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"w": torch.zeros(2), "evil": Evil()}, tmp_path / "evil.bin")
    monkeypatch.setenv("GDA_ALLOW_PICKLE", "1")
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: weights.torch_load(tmp_path / "evil.bin"))
    code, out, err = invoke("run", _save(tmp_path, lean()), "-o", tmp_path / "run", "-q")
    one_line_error(code, err, "a checkpoint holds pickled objects", "weights only, even with GDA_ALLOW_PICKLE=1")
    assert "code ran" not in out + err
