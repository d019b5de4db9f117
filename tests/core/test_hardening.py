"""Fault tests of issue 10: every fault gives one clear error (exit 2) or a clean recovery, and loses nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import gda_core
from gda_core import pipeline, runfolder
from gda_core.cli import cli
from gda_core.errors import ConfigError, DataError, RunFolderError
from gda_core.torch import weights
from gda_core.written import WRITTEN

from .helpers import small_config

ROOT = Path(__file__).resolve().parents[2]


def lean(**overrides) -> dict:
    """A quick wine run: GMM, one selector, one validator (plus the near-copy check every run makes)."""
    return small_config(**{"selectors": ["core.dedup"], "validators": ["core.prdc"], **overrides})


def manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def invoke(*args: str):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), f"traceback: {r.exception!r}"
    return r.exit_code, r.stdout, r.stderr


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes (the lock file aside: each process rewrites its holder line)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != runfolder.LOCK}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """An uninterrupted reference run of :func:`lean`."""
    out = tmp_path_factory.mktemp("clean") / "run"
    gda_core.run(lean(), out, quiet=True)
    return out


@pytest.fixture()
def done(tmp_path, clean) -> Path:
    """A finished run folder (a copy of the reference run) that a test may damage."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(clean, out)
    return out


# --- --overwrite ---------------------------------------------------------------------------------


def test_overwrite_never_replaces_a_folder_without_a_gda_run(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    for flag in ([], ["--overwrite"]):
        code, _, err = invoke("run", _yaml(tmp_path, lean()), "-o", mine, "-q", *flag)
        one_line_error(code, err, "holds no gda run", "choose a new or empty folder")
    assert (mine / "thesis.tex").read_text() == "years of work" and len(list(mine.iterdir())) == 1


def test_overwrite_refuses_the_current_and_home_folder(tmp_path, clean, monkeypatch):
    import shutil

    here = tmp_path / "here"
    shutil.copytree(clean, here)
    before = snapshot(here)
    monkeypatch.chdir(here)
    code, _, err = invoke("run", _yaml(tmp_path, lean(seed=5)), "-o", ".", "--overwrite", "-q")
    one_line_error(code, err, "refuses to replace", "current, home or root")
    home = tmp_path / "home"
    shutil.copytree(clean, home)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("run", _yaml(tmp_path, lean(seed=5)), "-o", "~", "--overwrite", "-q")
    one_line_error(code, err, "refuses to replace")
    assert snapshot(here) == before and snapshot(home) == before
    with pytest.raises(RunFolderError, match="refuses to replace"):
        runfolder.check_target(Path("/"), overwrite=True)


def test_overwrite_replaces_a_gda_run_and_says_so(done, tmp_path):
    code, _, err = invoke("run", _yaml(tmp_path, lean(seed=3)), "-o", done, "-q")
    one_line_error(code, err, "holds another run", "seed: 0 -> 3", "pass --overwrite")
    code, _, err = invoke("run", _yaml(tmp_path, lean(seed=3)), "-o", done, "-q", "--overwrite")
    assert code == 0, err
    assert f"replacing the gda run in {done}" in err
    assert yaml.safe_load((done / "config.yaml").read_text())["seed"] == 3


# --- the lock ------------------------------------------------------------------------------------


def test_a_second_process_on_the_folder_exits_2_at_once_naming_the_holder(done, tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from gda_core import runfolder\n"
         "with runfolder.locked(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)", str(done)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        (done / ".selection.json.abc.tmp").write_text("the holder's half-written file")
        t0 = time.perf_counter()
        for args in (["run", _yaml(tmp_path, lean()), "-o", done], ["select", done], ["generate", done]):
            code, _, err = invoke(*args, "-q")
            one_line_error(code, err, "in use by another gda process", f"pid {holder.pid}", "started ")
        assert time.perf_counter() - t0 < 10
        assert (done / ".selection.json.abc.tmp").exists()  # another live process's temporary is left alone
    finally:
        holder.kill()
        holder.wait()
    code, _, err = invoke("select", done, "-q")  # the dead holder's lock is taken over
    assert code == 0, err
    assert not (done / ".selection.json.abc.tmp").exists()  # and its stale temporary cleaned
    holder_line = json.loads((done / runfolder.LOCK).read_text())
    assert holder_line["pid"] == os.getpid() and "host" in holder_line


def test_a_stale_lock_file_of_a_dead_process_is_taken_over(done):
    (done / runfolder.LOCK).write_text(json.dumps({"pid": 999999, "host": "gone", "started": "yesterday"}))
    pipeline.step(done, "validate", quiet=True)


# --- per-step config hashes ----------------------------------------------------------------------


def _edit(folder: Path, **changes) -> None:
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    for dotted, value in changes.items():
        node = cfg
        *head, last = dotted.split("__")
        for part in head:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def _no_refit(monkeypatch):
    from gda_core.builtin.generators.gmm import GaussianMixtureGenerator

    def refuse(*a, **k):
        raise AssertionError("the fitted model was fitted again")

    monkeypatch.setattr(GaussianMixtureGenerator, "fit", refuse)


def test_a_change_to_earlier_work_is_refused_and_the_folder_untouched(done):
    _edit(done, generator__params__n_components=2)
    before = snapshot(done)
    code, _, err = invoke("generate", done, "-q")
    one_line_error(code, err, "generator.params.n_components: 1 -> 2", "fitted model", "gda run")
    _edit(done, generator__params__n_components=1, generate__per_class=20)
    before = snapshot(done)
    for step in ("select", "validate"):
        code, _, err = invoke(step, done, "-q")
        one_line_error(code, err, "generate.per_class: 12 -> 20", f"gda generate {done}")
    assert snapshot(done) == before


def test_a_count_change_regenerates_cleanly_and_reruns_the_later_steps(done, monkeypatch, tmp_path):
    _no_refit(monkeypatch)
    _edit(done, generate__per_class=20)
    code, _, err = invoke("generate", done, "-q")
    assert code == 0, err
    assert "config changed (generate.per_class: 12 -> 20)" in err
    rows = manifest(done)
    counts = {}
    for r in rows:
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    assert counts == {0: 20, 1: 20, 2: 20} and len({r["id"] for r in rows}) == 60  # no old shard mixed in
    marker = runfolder.read_marker(done)
    assert set(marker["steps"]) == {"fit", "generate", "select", "validate"}
    fresh = tmp_path / "fresh"
    monkeypatch.undo()
    gda_core.run(lean(generate={"per_class": 20, "shard_size": 10}), fresh, quiet=True)
    assert rows == manifest(fresh)
    assert json.loads((done / "validation.json").read_text()) == json.loads((fresh / "validation.json").read_text())


def test_sampling_parameters_regenerate_with_the_fitted_model(done, monkeypatch, clean):
    _no_refit(monkeypatch)
    model_before = snapshot(done / "model")
    code, _, err = invoke("generate", done, "-q", "--set", "generator.params.temperature=0.25")
    assert code == 0, err
    assert snapshot(done / "model") == model_before  # reused, not refitted
    assert "generator.params.temperature: 1.0 -> 0.25" in err
    assert yaml.safe_load((done / "config.yaml").read_text())["generator"]["params"]["temperature"] == 0.25
    old, new = manifest(clean), manifest(done)
    assert [r["id"] for r in old] == [r["id"] for r in new] and old != new
    first = runfolder.load_shard(runfolder.shard_path(done, "synthetic", 0))
    ref = runfolder.load_shard(runfolder.shard_path(clean, "synthetic", 0))
    spread = lambda recs: float(np.std([r.data for r in recs]))  # noqa: E731
    assert spread(first) < spread(ref)  # a cooler temperature sampled closer to the modes
    assert set(runfolder.read_marker(done)["steps"]) == {"fit", "generate", "select", "validate"}


def test_sampling_parameters_are_outside_the_fit_hash():
    from gda_core.config import resolve

    a = resolve(lean()).step_views()
    b = resolve(lean(generator={"name": "core.gmm", "params": {"n_components": 1, "temperature": 0.5}})).step_views()
    ha, hb = runfolder.step_hashes(a), runfolder.step_hashes(b)
    assert ha["fit"] == hb["fit"] and ha["generate"] != hb["generate"]
    assert "temperature" not in a["fit"]["generator"]["params"]
    assert b["generate"]["generator"]["params"] == {"temperature": 0.5}


def test_a_selector_change_reruns_select_and_validate_only(done, monkeypatch, tmp_path):
    _no_refit(monkeypatch)
    shards, kept = snapshot(done / "shards"), sum(r["kept"] for r in manifest(done))
    two = ["core.dedup", {"name": "core.confidence", "params": {"keep": 0.5}}]
    code, _, err = invoke("run", _yaml(tmp_path, lean(selectors=two)), "-o", done, "-q")
    assert code == 0, err
    assert snapshot(done / "shards") == shards
    assert sum(r["kept"] for r in manifest(done)) <= kept // 2 + 3  # the new chain's decisions
    _edit(done, validators__0={"name": "core.mmd", "params": {}})
    code, _, err = invoke("select", done, "-q")
    assert code == 0, err
    assert "core.mmd" in json.loads((done / "validation.json").read_text())


def test_an_old_run_folder_gets_a_clear_message(done):
    marker = json.loads((done / runfolder.MARKER).read_text())
    del marker["hashes"], marker["config"]
    (done / runfolder.MARKER).write_text(json.dumps(marker))
    pipeline.step(done, "validate", quiet=True)  # same config: the marker is upgraded
    assert "hashes" in runfolder.read_marker(done)
    marker = runfolder.read_marker(done)
    del marker["hashes"], marker["config"]
    (done / runfolder.MARKER).write_text(json.dumps(marker))
    _edit(done, generate__per_class=30)
    code, _, err = invoke("generate", done, "-q")
    one_line_error(code, err, "written by an older gda", "no per-step hashes", "gda run")


# --- shards by plan ------------------------------------------------------------------------------


def test_stray_missing_and_damaged_shards_are_reported_and_regenerated(done, clean, caplog):
    d = done / "shards" / "synthetic"
    runfolder.written_list(done).add(["shards/synthetic/shard-00099.npz"])  # a shard of an older plan
    (d / "shard-00099.npz").write_bytes((d / "shard-00000.npz").read_bytes())
    (d / "notes.txt").write_text("stray")  # the user's: left alone
    (d / "shard-00098.npz").write_bytes(b"the user's, not gda's")
    (d / "shard-00001.npz").unlink()
    (d / "shard-00002.npz").write_bytes(b"")
    full = (d / "shard-00003.npz").read_bytes()
    (d / "shard-00003.npz").write_bytes(full[: len(full) // 2])
    (d / "shard-00000.npz").write_bytes((d / "shard-00002.npz").read_bytes() or full)  # another shard's records
    code, _, err = invoke("select", done, "-q")
    one_line_error(code, err, "shard", f"gda generate {done}")
    code, _, err = invoke("validate", done, "-q")
    one_line_error(code, err, "shard")
    code, _, err = invoke("run", _yaml(done.parent, lean()), "-o", done, "-q")
    assert code == 0, err
    for needle in ("shard-00099.npz: not one of the 4 planned shards", "shard-00002.npz is damaged",
                   "shard-00003.npz is damaged", "shard-00000.npz is damaged"):
        assert needle in err, needle
    assert manifest(done) == manifest(clean)
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt", *(f"shard-0000{i}.npz" for i in range(4)),
                                                  "shard-00098.npz"]
    assert (d / "notes.txt").read_text() == "stray" and (d / "shard-00098.npz").read_bytes() == b"the user's, not gda's"


def test_a_zero_byte_shard_is_an_error_not_aborted(done):
    (done / "shards" / "synthetic" / "shard-00001.npz").write_bytes(b"")
    code, out, err = invoke("select", done)
    one_line_error(code, err, "shard-00001.npz is damaged")
    assert "Aborted" not in out + err


# --- damaged files -------------------------------------------------------------------------------


@pytest.mark.parametrize("name, damage, step, needles", [
    ("selection.json", lambda b: b[: len(b) // 2], "validate", ["selection.json is damaged", "gda select"]),
    ("selection.json", lambda b: b"[1, 2]", "validate", ["selection.json is damaged", "gda select"]),
    ("manifest.jsonl", lambda b: b[: len(b) - 40], "validate", ["manifest.jsonl is damaged", "gda select"]),
    ("manifest.jsonl", lambda b: b"\n".join(b.split(b"\n")[:-3]) + b"\n", "validate",
     ["manifest.jsonl is damaged", "rows for 36"]),
    ("gda_run.json", lambda b: b[:10], "select", ["gda_run.json is not a gda marker", "changes nothing"]),
    ("gda_run.json", lambda b: b"[]", "generate", ["gda_run.json is not a gda marker"]),
    ("config.yaml", lambda b: b"seed: [", "select", ["config.yaml is not valid YAML"]),
    ("config.yaml", lambda b: b"generate: {per_class: -1}", "select", ["generate.per_class"]),
    ("model/gda_generator.json", lambda b: b[:7], "generate", ["gda_generator.json is damaged", "gda generate"]),
    ("model/gmm.npz", lambda b: b[:100], "generate", ["model folder", "damaged", "gda generate"]),
])
def test_every_damaged_file_is_one_line_naming_it_and_the_way_on(done, name, damage, step, needles):
    path = done / name
    path.write_bytes(damage(path.read_bytes()))
    code, _, err = invoke(step, done, "-q")
    one_line_error(code, err, *needles)


@pytest.mark.parametrize("marker", [b"", b"{", b"garbage", b"{}", b"[]", b'{"steps": {}}',
                                    b'{"name": "my-tool", "version": 3, "steps": {"a": 1}}',
                                    b'{"config_hash": "x", "gda_version": "1", "steps": []}'])
def test_a_marker_that_is_not_gdas_is_refused_even_with_overwrite(tmp_path, marker):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / runfolder.MARKER).write_bytes(marker)
    (mine / "thesis.tex").write_text("years of work")
    before = snapshot(mine)
    for flag in ([], ["--overwrite"]):
        code, _, err = invoke("run", _yaml(tmp_path, lean()), "-o", mine, "-q", *flag)
        one_line_error(code, err, "gda_run.json is not a gda marker", "changes nothing in it")
    for step in ("generate", "select", "validate"):
        code, _, err = invoke(step, mine, "-q")
        one_line_error(code, err, "is not a gda marker")
    assert snapshot(mine) == before and sorted(p.name for p in mine.iterdir()) == [runfolder.MARKER, "thesis.tex"]


def test_a_kill_during_select_leaves_the_folder_saying_so(done, monkeypatch):
    def killed(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.Pipeline, "write_samples", killed)
    with pytest.raises(KeyboardInterrupt):
        pipeline.step(done, "select", quiet=True)
    monkeypatch.undo()
    with pytest.raises(RunFolderError, match="no finished selection"):
        pipeline.step(done, "validate", quiet=True)
    pipeline.step(done, "select", quiet=True)
    pipeline.step(done, "validate", quiet=True)


# --- checks before the folder is touched ---------------------------------------------------------


def test_huge_counts_are_refused_before_the_folder_exists(tmp_path):
    out = tmp_path / "run"
    for count in ({"per_class": 10**8}, {"n": 10**12}, {"ratio": 1e9}):
        key = next(iter(count))
        with pytest.raises(ConfigError, match=rf"generate\.{key}=.* asks for .* records, about .* is free"):
            gda_core.run(lean(generate=count), out, quiet=True)
    assert not out.exists()


def test_a_class_too_small_for_the_generator_is_refused_first(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(DataError, match=r"generator core.gmm: class .* has 1 training record\(s\); .* at least 2"):
        gda_core.run(lean(dataset={"name": "core.wine", "params": {"k_shot": 1}}), out, quiet=True)
    with pytest.raises(DataError, match=r"baselines\[0\] \(core.gmm\)"):
        gda_core.run(lean(dataset={"name": "core.wine", "params": {"k_shot": 1}}, generator="core.kde",
                          baselines=["core.gmm"]), out, quiet=True)
    assert not out.exists()
    gda_core.run(lean(dataset={"name": "core.wine", "params": {"k_shot": 1}}, generator="core.kde"), out, quiet=True)


def test_a_pretrained_folder_of_another_generator_is_refused_first(tmp_path):
    gda_core.run(lean(generator="core.kde"), tmp_path / "kde", quiet=True)
    out = tmp_path / "run"
    cfg = lean(strategy={"name": "core.pretrained", "params": {"path": str(tmp_path / "kde" / "model")}})
    with pytest.raises(ConfigError, match=r"strategy.params.path: .* a model of core.kde .*generator is core.gmm"):
        gda_core.run(cfg, out, quiet=True)
    (tmp_path / "junk").mkdir()
    with pytest.raises(ConfigError, match="is not a saved generator"):
        gda_core.run(lean(strategy={"name": "core.pretrained", "params": {"path": str(tmp_path / "junk")}}), out,
                     quiet=True)
    assert not out.exists()


def test_unwritable_output_is_refused_and_os_errors_are_one_line(tmp_path, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    code, _, err = invoke("run", _yaml(tmp_path, lean()), "-o", tmp_path / "run", "-q")
    one_line_error(code, err, "cannot write to", "permission denied")
    monkeypatch.undo()

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device", str(tmp_path / "run" / "shards"))

    monkeypatch.setattr(runfolder, "save_shard", full_disk)
    code, _, err = invoke("run", _yaml(tmp_path, lean()), "-o", tmp_path / "run", "-q")
    one_line_error(code, err, "No space left on device", "finished work is kept")


# --- data loaders --------------------------------------------------------------------------------


def _table(tmp_path: Path, text: str, name: str = "t.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _load_table(path, **params):
    from gda_core.builtin.datasets import TableDataset

    return TableDataset.from_params({"path": str(path), **params}).load(None)


GOOD = "a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(8))


@pytest.mark.parametrize("text, match", [
    (GOOD.replace("3,6,1", "3,six,1"), r"column 'b', row 4 \(line 5\): 'six' is not a number"),
    (GOOD.replace("3,6,1", "3,,1"), r"column 'b', row 4 \(line 5\): '' is not a number"),
    (GOOD.replace("a,b,label", "a,a,label"), r"duplicate column name\(s\) 'a'"),
    (GOOD.replace("3,6,1", "3,6,1,9"), "line 5 has 4 fields, the header has 3"),
    ("", "no header row"),
    ("\n\n", "no header row"),
])
def test_table_faults_name_the_column_and_row(tmp_path, text, match):
    with pytest.raises(DataError, match=match):
        _load_table(_table(tmp_path, text))


def test_table_with_a_byte_order_mark_and_a_text_column(tmp_path):
    text = "label,name,a,b\n" + "".join(f"{i % 2},row{i},{i},{i * 2}\n" for i in range(8))
    ds = _load_table(_table(tmp_path, text, encoding="utf-8-sig")).train
    assert ds.meta["feature_names"] == ["a", "b"] and ds.records[3].label == 1
    with pytest.raises(DataError, match="column 'name', row 1 .* 'row0' is not a number"):
        _load_table(_table(tmp_path, text), feature_columns=["a", "name"])


def test_tilde_is_expanded_in_data_and_output_paths(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    rng = np.random.default_rng(0)
    np.savez(home / "d.npz", X=rng.normal(size=(40, 3)), y=np.repeat([0, 1], 20))
    _table(home, GOOD * 1 + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(8, 20)))
    cfg = lean(dataset={"name": "core.arrays", "params": {"path": "~/d.npz"}}, output="~/runs/a")
    gda_core.run(cfg, quiet=True)
    code, _, err = invoke("run", _yaml(tmp_path, lean(dataset={"name": "core.table", "params": {"path": "~/t.csv"}})),
                          "-o", "~/runs/b", "-q")
    assert code == 0, err
    code, _, err = invoke("validate", "~/runs/b", "-q")
    assert code == 0, err
    assert (home / "runs" / "a" / "manifest.jsonl").is_file() and (home / "runs" / "b" / "report.md").is_file()
    assert not list(work.iterdir())  # no folder literally named "~"


# --- atomic replace, temporaries, permissions, checkpoints -------------------------------------------


def test_folder_replace_renames_aside_and_a_kill_between_the_renames_is_undone(tmp_path):
    model = tmp_path / "model"
    gdas = [runfolder.LOCK, WRITTEN]

    def names():
        return sorted(p.name for p in tmp_path.iterdir() if p.name not in gdas)

    with runfolder.locked(tmp_path):
        with runfolder.atomic_dir(model) as tmp:
            (tmp / "w").write_text("old")
        with runfolder.atomic_dir(model) as tmp:
            (tmp / "w").write_text("new")
            assert (model / "w").read_text() == "old"  # the old folder stays until the new one is whole
        assert (model / "w").read_text() == "new" and names() == ["model"]
        with pytest.raises(RuntimeError), runfolder.atomic_dir(model) as tmp:
            (tmp / "w").write_text("half")
            raise RuntimeError
        assert (model / "w").read_text() == "new" and names() == ["model"]
        os.replace(model, tmp_path / ".model.old-1234abcd.tmp")  # killed after the first rename
        (tmp_path / ".model.xyz.tmp").mkdir()
        (tmp_path / ".mine.txt.abc.tmp").write_text("a user's file that looks like a temporary")
        runfolder.remove_stale_temporaries(tmp_path)
        assert (model / "w").read_text() == "new" and names() == [".mine.txt.abc.tmp", "model"]
        (model / "notes.txt").write_text("the user's")  # a file gda did not write, in a folder gda replaces
        with runfolder.atomic_dir(model) as tmp:
            (tmp / "w").write_text("newer")
        assert (model / "w").read_text() == "newer" and (model / "notes.txt").read_text() == "the user's"
        assert names() == [".mine.txt.abc.tmp", "model"]
        with pytest.raises(RunFolderError, match="notes.txt was not written by gda"), \
                runfolder.atomic_dir(model) as tmp:
            (tmp / "notes.txt").write_text("gda would overwrite the user's file")
        assert (model / "notes.txt").read_text() == "the user's" and (model / "w").read_text() == "newer"


def test_each_step_cleans_its_own_stale_temporaries(done):
    users = ["samples/.x.npy.1.tmp", ".notes.md.2.tmp", "shards/synthetic/.mine.npz.3.tmp"]  # look alike, not gda's
    for name in users:
        (done / name).write_text("the user's")
    for step, junk in (("select", "samples/.synthetic.csv.1ab.tmp"), ("validate", ".report.md.2.tmp"),
                       ("generate", "shards/synthetic/.shard-00001.npz.3.tmp"), ("select", ".samples.x1y2.tmp/a")):
        (done / junk).parent.mkdir(exist_ok=True)
        (done / junk).write_text("half")
        pipeline.step(done, step, quiet=True)
        assert not (done / junk).exists(), junk
    assert all((done / name).read_text() == "the user's" for name in users)


def test_files_are_readable_under_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        gda_core.run(lean(), tmp_path / "run", quiet=True)
    finally:
        os.umask(old)
    run = tmp_path / "run"
    for name in ("report.md", "manifest.jsonl", "gda_run.json", "selection.json", "shards/synthetic/shard-00000.npz"):
        assert (run / name).stat().st_mode & 0o777 == 0o644, name
    for name in ("model", "samples"):
        assert (run / name).stat().st_mode & 0o777 == 0o755, name


def test_checkpoints_load_safely_unless_the_user_opts_out(tmp_path, monkeypatch):
    monkeypatch.delenv(weights.ALLOW_PICKLE_ENV, raising=False)
    assert weights.safe_kwargs() == {"use_safetensors": True}
    assert weights.safe_kwargs(transformers=True) == {"use_safetensors": True, "trust_remote_code": False}
    monkeypatch.setenv(weights.ALLOW_PICKLE_ENV, "1")
    assert weights.safe_kwargs(transformers=True) == {"trust_remote_code": False}
    torch = pytest.importorskip("torch")

    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"w": torch.zeros(2), "evil": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="(?i)weights.only|unsupported|global"):
        weights.torch_load(tmp_path / "evil.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "ok.pt")
    assert float(weights.torch_load(tmp_path / "ok.pt")["w"].sum()) == 2


WEIGHTS_HELPER = "packages/gda-core/src/gda_core/torch/weights.py"


def test_every_checkpoint_load_in_the_packages_is_safe():
    """Each weight-loading from_pretrained passes safe_kwargs, torch.load appears only in the helper,
    and no code turns remote code on."""
    loads = re.compile(r"(\w+)\.from_pretrained\(")
    not_weights = {"DDPMScheduler", "CLIPProcessor", "AutoTokenizer", "PeftModel", "cls", "Generator",
                   "PromptGenerator", "self"}  # configs, tokenizers, our own generators, peft (weights-only)
    unsafe = []
    for path in sorted((ROOT / "packages").rglob("*.py")):
        text = path.read_text()
        for n, line in enumerate(text.splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{n}"
            if "trust_remote_code=True" in line:
                unsafe.append(f"{where}: trust_remote_code=True")
            if "torch.load(" in line and path.relative_to(ROOT).as_posix() != WEIGHTS_HELPER:
                unsafe.append(f"{where}: torch.load outside gda_core.torch.weights")
            for m in loads.finditer(line):
                call = text.splitlines()[n - 1: n + 2]
                if m.group(1) not in not_weights and not any("safe_kwargs(" in c for c in call):
                    unsafe.append(f"{where}: {m.group(1)}.from_pretrained without safe_kwargs()")
    assert unsafe == []


def _yaml(folder: Path, cfg: dict) -> Path:
    path = folder / f"cfg-{abs(hash(json.dumps(cfg, sort_keys=True, default=str)))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path



def test_text_tables_read_a_byte_order_mark_and_refuse_duplicate_columns(tmp_path):
    text_datasets = pytest.importorskip("gda_text.datasets")
    rows = text_datasets.read_rows(_table(tmp_path, "text,label\nhello there,a\n", "bom.csv", "utf-8-sig"))
    assert rows == [{"text": "hello there", "label": "a"}]
    with pytest.raises(DataError, match="duplicate column name"):
        text_datasets.read_rows(_table(tmp_path, "text,text,label\nx,y,a\n", "dup.csv"))


def test_gda_list_marks_sampling_parameters():
    code, out, _ = invoke("list", "generators")
    assert code == 0
    line = next(x for x in out.splitlines() if x.strip().startswith("temperature:"))
    assert line.endswith("[sampling]")
    assert not next(x for x in out.splitlines() if x.strip().startswith("reg_covar:")).endswith("[sampling]")


def test_a_misspelt_field_gets_did_you_mean_wherever_it_is_validated(tmp_path):
    from gda_core.builtin.generators.gmm import GaussianMixtureGenerator
    from gda_core.config import resolve

    from .helpers import blobs, context

    cases = [
        ({"generator": {"name": "core.gmm", "params": {"n_component": 2}}},
         "generator (core.gmm): params.n_component: unknown field; did you mean 'n_components'?"),
        ({"dataset": {"name": "core.wine", "params": {"kshot": 3}}},
         "params.kshot: unknown field; did you mean 'k_shot'?"),
        ({"generate": {"per_clas": 3}}, "generate.per_clas: unknown field; did you mean 'per_class'?"),
        ({"selectors": [{"name": "core.dedup", "parms": {}}]},
         "selectors[0].parms: unknown field; did you mean 'params'?"),
        ({"seeed": 1}, "seeed: unknown field; did you mean 'seed'?"),
        ({"executor": {"name": "local", "params": {"max_worker": 2}}}, "params.max_worker: unknown field"),
        ({"generator": {"name": "core.gmm", "params": {"zzz": 2}}},
         "params.zzz: unknown field (fields: n_components, covariance_type"),  # nothing close: the fields
    ]
    for cfg, expected in cases:
        with pytest.raises(ConfigError) as err:
            resolve(cfg)
        assert expected in str(err.value) and "Extra inputs" not in str(err.value), str(err.value)
    saved = tmp_path / "model"
    gen = GaussianMixtureGenerator(n_components=1)
    gen.fit(blobs(n_per_class=10), context(blobs(n_per_class=10)))
    gen.save_pretrained(saved)
    cfg_file = saved / GaussianMixtureGenerator.config_name
    config = json.loads(cfg_file.read_text())
    config["params"]["n_component"] = config["params"].pop("n_components")
    cfg_file.write_text(json.dumps(config))
    with pytest.raises(RunFolderError, match="n_component: unknown field; did you mean 'n_components'"):
        GaussianMixtureGenerator.from_pretrained(saved)
