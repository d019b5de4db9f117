"""Issue 23: runs never mix, gda deletes only what it wrote, and every kill point resumes.

Racing starts on one folder, markers that are not gda's, edited data, record ids across splits,
symbolic links, a user's files inside a run folder, kills at the first marker write and inside
``--overwrite``'s clearing (in-process at every point, and by SIGKILL of a real ``gda run``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import gda_core
from gda_core import pipeline, runfolder, written
from gda_core.cli import cli
from gda_core.errors import DataError, RunFolderError

from .helpers import small_config

ENV = {**os.environ, "GDA_LOAD_PLUGINS": ""}


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


def manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.name != runfolder.LOCK}


def save(folder: Path, cfg: dict, name: str = "c.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[int, Path]:
    """Clean runs of ``lean(seed=s)`` for the seeds the tests use."""
    root = tmp_path_factory.mktemp("ref")
    out = {}
    for seed in (0, 1):
        out[seed] = root / f"seed{seed}"
        gda_core.run(lean(seed=seed), out[seed], quiet=True)
    return out


def same_run(folder: Path, ref: Path, users: bool = False) -> None:
    """``folder`` holds exactly the run of ``ref``: same manifest, selection, validation, shards
    (``users``: besides the user's files :func:`_users_files` put there)."""
    assert manifest(folder) == manifest(ref)
    for name in ("selection.json", "validation.json"):
        assert (folder / name).read_bytes() == (ref / name).read_bytes(), name
    config = [{k: v for k, v in yaml.safe_load((f / "config.yaml").read_text()).items() if k != "output"}
              for f in (folder, ref)]
    assert config[0] == config[1]
    shards = snapshot(folder / "shards")
    if users:
        shards = {k: v for k, v in shards.items() if f"shards/{k}" not in USERS}
    assert shards == snapshot(ref / "shards")
    assert set(runfolder.read_marker(folder)["steps"]) == {"fit", "generate", "select", "validate"}
    assert not [p for p in folder.rglob(".*.tmp") if not users or p.relative_to(folder).as_posix() not in USERS]


# --- racing starts ---------------------------------------------------------------------------------


def _race(tmp_path: Path, commands: list[list[str]]) -> list[tuple[int, str]]:
    procs = [subprocess.Popen([sys.executable, "-m", "gda_core.cli", *c], env=ENV, stderr=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, text=True) for c in commands]
    return [(p.wait(timeout=600), p.stderr.read()) for p in procs]


def test_racing_starts_on_a_new_folder_never_mix(tmp_path, references):
    """Eight `gda run` at once on one new folder, two configs: one run wins, the others are refused
    (in use, or another run) or resume the winner's finished run; the folder is the winner's run."""
    a, b = save(tmp_path, lean(seed=0), "a.yaml"), save(tmp_path, lean(seed=1), "b.yaml")
    out = tmp_path / "run"
    cmds = [["run", str(a if i % 2 else b), "-o", str(out), "-q"] for i in range(8)]
    results = _race(tmp_path, cmds)
    for code, err in results:
        assert "Traceback" not in err, err
        assert code in (0, 2), err
        if code == 2:
            assert ("in use by another gda process" in err or "holds another run" in err), err
    seed = yaml.safe_load((out / "config.yaml").read_text())["seed"]
    same_run(out, references[seed])
    winners = [cmd for (code, _), cmd in zip(results, cmds) if code == 0]
    assert winners and all(Path(cmd[1]).name == ("a.yaml" if seed == 0 else "b.yaml") for cmd in winners)


def test_racing_commands_on_a_finished_folder_keep_it_whole(tmp_path, references):
    out = tmp_path / "run"
    shutil.copytree(references[0], out)
    a = save(tmp_path, lean(seed=0))
    cmds = [["run", str(a), "-o", str(out), "-q"], ["select", str(out), "-q"], ["validate", str(out), "-q"],
            ["generate", str(out), "-q"]] * 2
    for code, err in _race(tmp_path, cmds):
        assert "Traceback" not in err and code in (0, 2), err
        assert code == 0 or "in use by another gda process" in err, err
    same_run(out, references[0])


def test_the_lock_is_taken_again_before_the_folder_is_claimed(tmp_path, monkeypatch, references):
    """The other process writes its marker while this one loads its data: this one then refuses
    (another run), it does not clear the other's fresh marker."""
    out = tmp_path / "run"
    real = pipeline.Pipeline.precheck
    calls = []

    def meanwhile(self):
        real(self)
        calls.append(1)
        if len(calls) == 1:
            gda_core.run(lean(seed=1), out, quiet=True)  # the other process, finished meanwhile

    monkeypatch.setattr(pipeline.Pipeline, "precheck", meanwhile)
    with pytest.raises(RunFolderError, match="holds another run"):
        gda_core.run(lean(seed=0), out, quiet=True)
    monkeypatch.undo()
    same_run(out, references[1])


# --- what gda deletes ----------------------------------------------------------------------------


def test_overwrite_deletes_only_what_gda_wrote(tmp_path, references):
    """A user's data, config and notes inside the run folder (and in gda's subfolders) survive
    --overwrite, a resume and every step; a link inside is never followed."""
    out = tmp_path / "run"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("outside the run folder")
    shutil.copytree(references[0], out)
    table = out / "data.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{(i * 7) % 5},{i % 2}\n" for i in range(30)))
    mine = {"data.csv": table.read_text(), "my-config.yaml": "seed: 1\n", "notes/todo.md": "finish the thesis",
            "model/README.md": "what this model is", "samples/by-hand.csv": "x\n1\n",
            "shards/synthetic/notes.txt": "mine", "figures/mine.png": "png", ".hidden.md.x1.tmp": "mine too"}
    for name, text in mine.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    os.symlink(outside, out / "samples" / "elsewhere")
    os.symlink(outside / "precious.txt", out / "model" / "link.txt")
    cfg = lean(seed=1, dataset={"name": "core.table", "params": {"path": str(table)}})
    for args in (["run", save(tmp_path, cfg), "-o", out, "-q", "--overwrite"], ["run", save(tmp_path, cfg), "-o", out,
                 "-q"], ["select", out, "-q"], ["validate", out, "-q"], ["generate", out, "-q"]):
        code, _, err = invoke(*args)
        assert code == 0, err
    for name, text in mine.items():
        assert (out / name).read_text() == text, name
    assert (outside / "precious.txt").read_text() == "outside the run folder"
    assert os.readlink(out / "samples" / "elsewhere") == str(outside)
    assert yaml.safe_load((out / "config.yaml").read_text())["seed"] == 1
    listed = runfolder.written_list(out).paths()
    assert not any(name in listed for name in mine) and "model/README.md" not in listed


@pytest.mark.parametrize("link", ["shards", "shards/synthetic", "figures", "samples", "model"])
def test_a_symlinked_gda_subfolder_is_refused_and_nothing_outside_changes(tmp_path, references, link):
    out = tmp_path / "run"
    shutil.copytree(references[0], out)
    outside = tmp_path / "outside"
    if (out / link).exists():
        shutil.copytree(out / link, outside)
        shutil.rmtree(out / link)
    else:
        outside.mkdir()
    (outside / "precious.txt").write_text("the user's")
    os.symlink(outside, out / link)
    before = snapshot(outside)
    for args in (["run", save(tmp_path, lean()), "-o", out, "-q"], ["select", out, "-q"],
                 ["run", save(tmp_path, lean(seed=1)), "-o", out, "-q", "--overwrite"]):
        code, _, err = invoke(*args)
        one_line_error(code, err, f"{out / link} is a symbolic link", "never through a link")
    assert snapshot(outside) == before


def test_a_shard_gda_did_not_write_is_neither_read_nor_replaced(tmp_path, references):
    out = tmp_path / "run"
    shutil.copytree(references[0], out)
    shard = out / "shards" / "synthetic" / "shard-00002.npz"
    shard.unlink()
    os.symlink(references[1] / "shards" / "synthetic" / "shard-00002.npz", shard)
    code, _, err = invoke("select", out, "-q")
    one_line_error(code, err, "shard-00002.npz")
    shard.unlink()
    shard.write_bytes((references[1] / "shards" / "synthetic" / "shard-00002.npz").read_bytes())
    listed = runfolder.written_list(out)
    listed.rewrite(listed.paths() - {"shards/synthetic/shard-00002.npz"})  # as if the user had put it there
    for args in (["select", out, "-q"], ["generate", out, "-q"], ["run", save(tmp_path, lean()), "-o", out, "-q"]):
        code, _, err = invoke(*args)
        one_line_error(code, err, "shard-00002.npz was not written by gda")
    assert shard.read_bytes() == (references[1] / "shards" / "synthetic" / "shard-00002.npz").read_bytes()


def test_an_old_run_folder_without_a_list_resumes_and_adopts_its_files(tmp_path, references):
    out = tmp_path / "run"
    shutil.copytree(references[0], out)
    (out / written.WRITTEN).unlink()
    marker = json.loads((out / runfolder.MARKER).read_text())
    del marker["layout"]
    for view in marker["config"].values():  # before data fingerprints, too
        view.pop("data", None)
        view.pop("test_data", None)
    marker["hashes"] = runfolder.step_hashes(marker["config"])
    (out / runfolder.MARKER).write_text(json.dumps(marker))
    (out / "notes.txt").write_text("mine")
    code, _, err = invoke("run", save(tmp_path, lean()), "-o", out, "-q")
    assert code == 0, err
    same_run(out, references[0])
    listed = runfolder.written_list(out).paths()
    assert {"model/", "shards/synthetic/shard-00000.npz", "report.md", "samples/synthetic.csv"} <= listed
    assert "notes.txt" not in listed and runfolder.read_marker(out)["layout"] == runfolder.LAYOUT
    code, _, err = invoke("run", save(tmp_path, lean(seed=1)), "-o", out, "-q", "--overwrite")
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "mine"


def test_a_no_change_generate_keeps_select_and_validate_done(tmp_path, references):
    out = tmp_path / "run"
    shutil.copytree(references[0], out)
    before = snapshot(out)
    code, _, err = invoke("generate", out, "-q")
    assert code == 0, err
    assert set(runfolder.read_marker(out)["steps"]) == {"fit", "generate", "select", "validate"}
    after = snapshot(out)
    assert after.pop("config.yaml") != before.pop("config.yaml")  # its output: the copy's own folder
    assert after == before
    (out / "shards" / "synthetic" / "shard-00001.npz").unlink()  # a shard made again: the later steps redo
    code, _, err = invoke("generate", out, "-q")
    assert code == 0, err
    same_run(out, references[0])
    code, _, err = invoke("select", out, "-q")  # and a selection made again: validation redone too
    assert code == 0, err
    same_run(out, references[0])


# --- the data's fingerprint ----------------------------------------------------------------------


def _tables(folder: Path, n: int = 36) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(*(rng.normal(size=3) + 3 * (i % 3)).round(3), i % 3) for i in range(n)]
    (folder / "train.csv").write_text("a,b,c,label\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    rows = [(*(rng.normal(size=3) + 3 * (i % 3)).round(3), i % 3) for i in range(18)]
    (folder / "test.csv").write_text("a,b,c,label\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return folder


def test_an_edited_training_file_is_refused_or_refitted_never_mixed(tmp_path):
    data = _tables(tmp_path / "data")
    cfg = lean(dataset={"name": "core.table", "params": {"path": str(data / "train.csv"),
                                                         "test_path": str(data / "test.csv")}})
    out = tmp_path / "run"
    gda_core.run(cfg, out, quiet=True)
    lines = (data / "train.csv").read_text().splitlines()
    lines[1:13] = [line.replace(line.split(",")[-1], str((int(line.split(",")[-1]) + 1) % 3)) for line in lines[1:13]]
    (data / "train.csv").write_text("\n".join(lines) + "\n")  # relabel twelve rows
    before = snapshot(out)
    code, _, err = invoke("run", save(tmp_path, cfg), "-o", out, "-q")
    one_line_error(code, err, "holds another run", "data: the loaded training records changed", "--overwrite")
    for step in ("generate", "select", "validate"):
        code, _, err = invoke(step, out, "-q")
        one_line_error(code, err, "the loaded training records changed", "gda run")
    assert snapshot(out) == before
    code, _, err = invoke("run", save(tmp_path, cfg), "-o", out, "-q", "--overwrite")
    assert code == 0, err
    fresh = tmp_path / "fresh"
    gda_core.run(cfg, fresh, quiet=True)
    assert manifest(out) == manifest(fresh)
    assert (out / "validation.json").read_bytes() == (fresh / "validation.json").read_bytes()


def test_an_edited_test_file_reruns_validation_only(tmp_path, monkeypatch):
    data = _tables(tmp_path / "data")
    cfg = lean(dataset={"name": "core.table", "params": {"path": str(data / "train.csv"),
                                                         "test_path": str(data / "test.csv")}})
    out = tmp_path / "run"
    gda_core.run(cfg, out, quiet=True)
    kept = snapshot(out / "shards") | {"m": (out / "manifest.jsonl").read_bytes()}
    (data / "test.csv").write_text("\n".join((data / "test.csv").read_text().splitlines()[:10]) + "\n")
    from gda_core.builtin.generators.gmm import GaussianMixtureGenerator

    monkeypatch.setattr(GaussianMixtureGenerator, "fit", lambda *a, **k: pytest.fail("refitted"))
    code, _, err = invoke("run", save(tmp_path, cfg), "-o", out, "-q")
    assert code == 0, err
    assert "redoing the validation" in err
    assert snapshot(out / "shards") | {"m": (out / "manifest.jsonl").read_bytes()} == kept
    monkeypatch.undo()
    fresh = tmp_path / "fresh"
    gda_core.run(cfg, fresh, quiet=True)
    assert (out / "validation.json").read_bytes() == (fresh / "validation.json").read_bytes()


# --- record ids across splits ------------------------------------------------------------------------


def test_files_of_one_name_in_train_test_and_pool_give_distinct_ids(tmp_path):
    data = _tables(tmp_path / "x")
    for split in ("train", "test", "pool"):
        (tmp_path / split).mkdir()
        shutil.copy(data / f"{'test' if split == 'test' else 'train'}.csv", tmp_path / split / "data.csv")
    cfg = lean(dataset={"name": "core.table", "params": {"path": str(tmp_path / "train" / "data.csv"),
                                                         "test_path": str(tmp_path / "test" / "data.csv")}},
               validators=["core.memorization"])
    pipe = pipeline.Pipeline(gda_core.config.resolve(cfg), tmp_path / "never")
    ctx = pipe.load_data()
    ids = [r.id for r in [*ctx.train.records, *ctx.test.records]]
    assert len(set(ids)) == len(ids)
    res = gda_core.run(cfg, tmp_path / "run", quiet=True)
    assert res.metrics["core.memorization"]["near_copy_share_real"] < 0.5  # not 1.0: test rows are not train rows
    cfg["dataset"]["params"]["pool_path"] = str(tmp_path / "pool" / "data.csv")
    cfg["dataset"]["params"]["path"] = str(data / "train.csv")
    gda_core.run(cfg, tmp_path / "run2", quiet=True)  # no false "pool record(s) are test records"


def test_a_loader_whose_ids_collide_across_splits_is_one_clear_error(tmp_path):
    from gda_core import hookimpl
    from gda_core.components import DatasetLoader, DataSplits
    from gda_core.host import host
    from gda_core.records import Dataset, Record

    class Clashing(DatasetLoader):
        def load(self, context):
            rng = np.random.default_rng(0)
            recs = [Record(id=f"r{i}", data=rng.normal(size=3) + i % 2, label=i % 2) for i in range(20)]
            return DataSplits(Dataset(recs[:14], classes=[0, 1]),
                              Dataset([Record(id="r3", data=r.data, label=r.label) for r in recs[14:]], classes=[0, 1]))

    class Plugin:
        @hookimpl
        def register_datasets(self, register):
            register("test.clash", Clashing)

    host.register_plugin(Plugin(), "clash")
    try:
        with pytest.raises(DataError, match=r"record id\(s\) repeat|share an id with a training record"):
            gda_core.run(lean(dataset="test.clash", generate={"per_class": 3}), tmp_path / "r", quiet=True)
        assert not (tmp_path / "r").exists()
    finally:
        host.unregister_plugin("clash")


# --- kill points ---------------------------------------------------------------------------------------


KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    point, n = sys.argv[1], int(sys.argv[2])
    calls = {"n": 0}
    real_replace, real_unlink, real_rmdir = os.replace, os.unlink, os.rmdir

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def replace(src, dst, *a, **k):
        if point == "marker" and Path(dst).name == "gda_run.json":
            calls["n"] += 1
            if calls["n"] == max(n, 1):
                die()
        return real_replace(src, dst, *a, **k)

    def removing(real):
        def call(path, *a, **k):
            if point == "clear":
                calls["n"] += 1
                if calls["n"] == n:
                    die()
            return real(path, *a, **k)
        return call

    os.replace = replace
    os.unlink, os.rmdir = removing(real_unlink), removing(real_rmdir)
    from gda_core.cli import main
    main(sys.argv[3:])
""")


def _killed(point: str, n: int, args: list[str]) -> int:
    return subprocess.run([sys.executable, "-c", KILLER, point, str(n), *map(str, args)], env=ENV,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def test_sigkill_at_the_first_marker_write_resumes(tmp_path, references):
    out = tmp_path / "run"
    cfg = save(tmp_path, lean())
    assert _killed("marker", 0, ["run", cfg, "-o", out, "-q"]) == -9
    assert not (out / runfolder.MARKER).exists()
    assert [p.name for p in out.iterdir() if p.name != runfolder.LOCK]  # the marker's temporary
    code, _, err = invoke("run", cfg, "-o", out, "-q")
    assert code == 0, err
    same_run(out, references[0])


USERS = {"data.csv": "a,label\n1,0\n", "c.yaml": "seed: 3\n", "notes/todo.md": "mine",
         "shards/synthetic/notes.txt": "mine", "samples/by-hand.csv": "x\n1\n", "model/README.md": "mine",
         ".draft.md.x1.tmp": "mine"}


def _users_files(folder: Path) -> None:
    """Put a user's files in a run folder: the data, a config, notes, files in gda's subfolders."""
    for name, text in USERS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def _users_files_kept(folder: Path) -> None:
    for name, text in USERS.items():
        assert (folder / name).read_text() == text, name


def test_sigkill_inside_overwrite_resumes(tmp_path, references):
    """SIGKILL a real `gda run --overwrite` at its first, a middle and its last deletion; each time
    both `gda run --overwrite` and a plain `gda run` of the new config finish it, and the user's
    files in the folder are all still there."""
    cfg = save(tmp_path, lean(seed=1))
    n = len([p for p in runfolder.written_list(references[0]).paths()])
    for i, at in enumerate((1, n // 2, n)):
        out = tmp_path / f"run{at}"
        shutil.copytree(references[0], out)
        _users_files(out)
        assert _killed("clear", at, ["run", cfg, "-o", out, "-q", "--overwrite"]) == -9
        runfolder.read_marker(out)  # the marker is never gone
        _users_files_kept(out)
        code, _, err = invoke("run", cfg, "-o", out, "-q", *(["--overwrite"] if i % 2 else []))
        assert code == 0, err
        same_run(out, references[1], users=True)
        _users_files_kept(out)


def test_sigkill_at_each_marker_write_of_an_overwrite(tmp_path, references):
    """SIGKILL a real `gda run --overwrite` as it writes its marker, the first time (the old run's
    steps undone, before any deletion) and each later time: the folder is still a gda run, the
    user's files are there, and a plain `gda run` of the new config finishes it or refuses in one
    line (the old run still whole: another run), after which --overwrite finishes it."""
    cfg = save(tmp_path, lean(seed=1))
    for at in range(1, 12):
        out = tmp_path / f"run{at}"
        shutil.copytree(references[0], out)
        _users_files(out)
        if _killed("marker", at, ["run", cfg, "-o", out, "-q", "--overwrite"]) != -9:
            assert at > 2  # fewer marker writes than that: the run finished
            break
        runfolder.read_marker(out)
        _users_files_kept(out)
        code, _, err = invoke("run", cfg, "-o", out, "-q")
        if code:
            one_line_error(code, err, "holds another run", "--overwrite")
            code, _, err = invoke("run", cfg, "-o", out, "-q", "--overwrite")
        assert code == 0, err
        same_run(out, references[1], users=True)
        _users_files_kept(out)


def test_an_interrupted_overwrite_resumes_from_every_point(tmp_path, references, monkeypatch):
    """KeyboardInterrupt at deletions all through --overwrite's clearing: the folder is always still a
    gda run, and the next `gda run` (with or without --overwrite) finishes the new config."""
    n = len(runfolder.written_list(references[0]).paths())
    real_unlink, real_rmdir = os.unlink, os.rmdir
    for at in sorted({1, 2, 3, *range(4, n, max(1, n // 6)), n - 1, n}):
        out = tmp_path / f"run{at}"
        shutil.copytree(references[0], out)
        calls = {"n": 0}

        def stop(real, calls=calls, at=at):
            def call(path, *a, **k):
                calls["n"] += 1
                if calls["n"] == at:
                    raise KeyboardInterrupt
                return real(path, *a, **k)
            return call

        monkeypatch.setattr(os, "unlink", stop(real_unlink))
        monkeypatch.setattr(os, "rmdir", stop(real_rmdir))
        try:
            gda_core.run(lean(seed=1), out, quiet=True, overwrite=True)
        except KeyboardInterrupt:
            pass
        monkeypatch.undo()
        runfolder.read_marker(out)
        if calls["n"] < at:  # fewer deletions than that: the run finished
            break
        gda_core.run(lean(seed=1), out, quiet=True, overwrite=bool(at % 2))
        same_run(out, references[1])
