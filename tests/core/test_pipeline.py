import json

import numpy as np
import pytest

import gda_core
from gda_core import pipeline, runfolder
from gda_core.errors import ConfigError, DataError, RunFolderError

from .helpers import shard_count, small_config


def _manifest(folder):
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def test_full_run_writes_the_run_folder(tmp_path):
    out = tmp_path / "run"
    res = gda_core.run(small_config(), out, quiet=True)
    for name in ("gda_run.json", "config.yaml", "manifest.jsonl", "selection.json", "validation.json",
                 "report.md", "report.html", "figures/projection_pca.png", "model/gda_generator.json"):
        assert (out / name).is_file(), name
    rows = _manifest(out)
    assert len(rows) == 36 == len(res.synthetic)
    assert len({r["id"] for r in rows}) == 36
    kept = [r for r in rows if r["kept"]]
    assert kept and all((out / r["path"]).is_file() for r in kept)
    assert all(r["path"] is None for r in rows if not r["kept"])
    row = rows[0]
    assert row["generator"] == "core.gmm" and row["strategy"] == "core.train"
    assert set(row["scores"]) == {"core.confidence", "core.dedup"} or set(row["scores"]) == {"core.confidence"}
    assert row["condition"]["label"] == row["label"] and isinstance(row["seed"], int)
    m = res.metrics["core.downstream"]
    # wine has 3 classes: the real 8-shot model is far above chance, and the mixture's samples carry
    # their class (a model trained on them alone classifies the real test split)
    assert m["real.accuracy.mean"] > 0.8 and m["synthetic.accuracy.mean"] > 0.7, m
    report = (out / "report.md").read_text()
    assert "real+synthetic" in report and "projection_pca.png" in report
    resolved = (out / "config.yaml").read_text()
    assert "covariance_type: diag" in resolved and "reg_covar" in resolved  # defaults visible


def test_generated_samples_lie_nearest_their_own_class(tmp_path):
    """The fitted mixture's samples (standardised, as the run embeds them) are nearer the mean of
    their own class's training records than any other class's."""
    res = gda_core.run(small_config(selectors=[], validators=[]), tmp_path / "run", quiet=True)
    X = np.stack([r.data for r in res.train.records]).astype(float)
    mu, sd = X.mean(0), X.std(0) + 1e-9
    labels = [r.label for r in res.train.records]
    means = {c: ((X[[lab == c for lab in labels]] - mu) / sd).mean(0) for c in set(labels)}
    nearest = [min(means, key=lambda c: np.linalg.norm((np.asarray(r.data) - mu) / sd - means[c]))
               for r in res.synthetic]
    assert np.mean([n == r.label for n, r in zip(nearest, res.synthetic)]) > 0.9


def test_downstream_gains_from_planted_good_samples_and_loses_from_noise(tmp_path):
    """core.downstream trains on real + synthetic: real + jittered copies of the real records scores
    higher than real + noise labelled with the same classes (the pipeline carries each record's
    label and its data to the downstream model)."""
    from gda_core import hookimpl
    from gda_core.builtin.generators.kde import KernelDensityGenerator
    from gda_core.host import host
    from gda_core.records import Record

    class Noise(KernelDensityGenerator):
        """Standard normal noise in the data's scale, labelled as asked."""

        def generate(self, conditions, *, seed, context):
            real = super().generate(conditions, seed=seed, context=context)
            rng = np.random.default_rng(seed)
            X = np.stack([r.data for r in context.train.records])
            return [Record(r.id, (X.mean(0) + 3 * X.std(0) * rng.standard_normal(X.shape[1])).astype(np.float32),
                           r.label) for r in real]

    class Plugin:
        @hookimpl
        def register_generators(self, register):
            register("test.noise", Noise)

    host.register_plugin(Plugin(), "noise")
    try:
        def downstream(generator):
            cfg = small_config(generator=generator, selectors=[], generate={"per_class": 24, "shard_size": 24},
                               validators=[{"name": "core.downstream", "params": {"seeds": 3}}])
            return gda_core.run(cfg, tmp_path / generator["name"], quiet=True).metrics["core.downstream"]

        good = downstream({"name": "core.kde", "params": {"bandwidth": 0.1}})
        noise = downstream({"name": "test.noise"})
    finally:
        host.unregister_plugin("noise")
    assert good["real.accuracy.mean"] == noise["real.accuracy.mean"]  # the same real split and model
    assert good["real+synthetic.accuracy.mean"] > noise["real+synthetic.accuracy.mean"] + 0.1, (good, noise)
    assert good["synthetic.accuracy.mean"] > 0.8 > 0.5 > noise["synthetic.accuracy.mean"]


def test_same_seed_same_samples_and_other_seed_differs(tmp_path):
    a = gda_core.run(small_config(), tmp_path / "a", quiet=True)
    b = gda_core.run(small_config(), tmp_path / "b", quiet=True)
    c = gda_core.run(small_config(seed=1), tmp_path / "c", quiet=True)
    assert all(np.array_equal(x.data, y.data) for x, y in zip(a.synthetic, b.synthetic))
    assert _manifest(tmp_path / "a") == _manifest(tmp_path / "b")
    assert not all(np.array_equal(x.data, y.data) for x, y in zip(a.synthetic, c.synthetic))


def test_step_events_time_each_step_and_validation_can_be_skipped(tmp_path):
    events = []
    out = tmp_path / "run"
    res = gda_core.run(small_config(), out, quiet=True, validate=False, on_step=events.append)
    assert [e.step for e in events] == ["fit", "generate", "select"]  # validation skipped
    assert all(e.seconds >= 0 and e.pipeline is events[0].pipeline for e in events)
    assert not events[0].loaded and len(events[1].pipeline.synthetic) == 36
    assert res.results == {} and not (out / "validation.json").exists() and not (out / "report.md").exists()
    assert "validate" not in runfolder.read_marker(out)["steps"]  # left for `gda validate` later
    events.clear()
    again = pipeline.step(out, "validate", quiet=True, on_step=events.append)
    assert [e.step for e in events] == ["validate"] and "core.downstream" in again.results
    events.clear()
    gda_core.run(small_config(), out, quiet=True, on_step=events.append)  # done before: the model is loaded
    assert events[0].step == "fit" and events[0].loaded


def test_interrupted_run_resumes_to_the_same_manifest(tmp_path, monkeypatch):
    full = tmp_path / "full"
    gda_core.run(small_config(), full, quiet=True)

    from gda_core.builtin.generators.gmm import GaussianMixtureGenerator

    original = GaussianMixtureGenerator.generate
    calls = {"n": 0}

    def dies_on_third_shard(self, conditions, *, seed, context):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if the process were killed mid-run
        return original(self, conditions, seed=seed, context=context)

    monkeypatch.setattr(GaussianMixtureGenerator, "generate", dies_on_third_shard)
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        gda_core.run(small_config(), part, quiet=True)
    assert shard_count(part, "synthetic") == 2
    assert not (part / "manifest.jsonl").exists()
    assert not list((part / "shards" / "synthetic").glob("*.tmp"))
    monkeypatch.setattr(GaussianMixtureGenerator, "generate", original)

    fitted = []
    monkeypatch.setattr(GaussianMixtureGenerator, "fit", lambda *a, **k: fitted.append(1))
    gda_core.run(small_config(), part, quiet=True)
    assert fitted == []  # the saved model was reused, not refitted
    assert _manifest(part) == _manifest(full)


def test_folder_with_another_run_is_refused_and_untouched(tmp_path):
    out = tmp_path / "run"
    gda_core.run(small_config(), out, quiet=True)
    def state():  # every file but the lock, whose holder line each process rewrites
        return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != runfolder.LOCK}

    before = state()
    with pytest.raises(RunFolderError, match=r"holds another run \(different config: seed: 0 -> 3\)"):
        gda_core.run(small_config(seed=3), out, quiet=True)
    assert state() == before
    gda_core.run(small_config(seed=3), out, quiet=True, overwrite=True)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not empty"):
        gda_core.run(small_config(), other, quiet=True)


def test_steps_alone_on_an_existing_folder(tmp_path):
    out = tmp_path / "run"
    first = gda_core.run(small_config(), out, quiet=True)
    (out / "report.md").unlink()
    res = pipeline.step(out, "validate", quiet=True)
    assert (out / "report.md").is_file()
    assert res.metrics["core.prdc"] == first.metrics["core.prdc"]
    before = _manifest(out)
    (out / "manifest.jsonl").unlink()
    pipeline.step(out, "select", quiet=True)
    assert _manifest(out) == before  # selection again from the shards gives the same decisions
    with pytest.raises(RunFolderError):
        pipeline.step(tmp_path, "select", quiet=True)


def test_baselines_and_selection_stages_reach_downstream(tmp_path):
    cfg = small_config(baselines=["core.kde"])
    res = gda_core.run(cfg, tmp_path / "run", quiet=True)
    m = res.metrics["core.downstream"]
    assert "real+core.kde (baseline).accuracy.mean" in m
    assert "real+generated (no selection).accuracy.mean" in m
    assert "real+after core.confidence.accuracy.mean" in m
    assert len(res.baselines["core.kde"]) == 36


@pytest.mark.parametrize("content, match", [
    ("a,b,label\n1,2,x\nnan,3,y\n", "NaN"),
    ("a,b,cls\n1,2,x\n", "no label column 'label'"),
    ("a,b,label\n", "no rows"),
])
def test_bad_tables_fail_before_the_folder_is_made(tmp_path, content, match):
    table = tmp_path / "t.csv"
    table.write_text(content)
    out = tmp_path / "run"
    with pytest.raises(DataError, match=match):
        gda_core.run(small_config(dataset={"name": "core.table", "params": {"path": str(table)}},
                                  selectors=[], validators=[]), out, quiet=True)
    assert not out.exists()


def test_missing_file_and_bad_counts_are_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        gda_core.run(small_config(dataset={"name": "core.table", "params": {"path": str(tmp_path / "no.csv")}}),
                     tmp_path / "r", quiet=True)
    for bad in ({"n": 0}, {"per_class": -3}):
        with pytest.raises(ConfigError, match=f"generate.{next(iter(bad))}"):
            gda_core.run(small_config(generate=bad), tmp_path / "r", quiet=True)
    with pytest.raises(ConfigError, match="did you mean 'core.gmm'"):
        gda_core.run(small_config(generator="core.gm"), tmp_path / "r", quiet=True)
    with pytest.raises(ConfigError, match=r"selectors\[1\] \(core.dedup\): params.real_ratoi"):
        gda_core.run(small_config(selectors=["core.confidence", {"name": "core.dedup", "params": {"real_ratoi": 1}}]),
                     tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()


def test_arrays_loader_reads_npz(tmp_path):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (20, 2, 3)), rng.normal(4, 1, (20, 2, 3))])
    y = np.array([0] * 20 + [1] * 20)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    cfg = small_config(dataset={"name": "core.arrays", "params": {"path": str(tmp_path / "d.npz")}},
                       generate={"per_class": 5}, embedder="core.flatten")
    res = gda_core.run(cfg, tmp_path / "run", quiet=True)
    assert res.synthetic[0].data.shape == (2, 3)
    assert np.load(tmp_path / "run" / res.kept[0].id.join(["samples/", ".npy"])).shape == (2, 3)


def test_a_class_with_no_samples_is_named(tmp_path):
    from gda_core import hookimpl
    from gda_core.components import DatasetLoader, DataSplits
    from gda_core.host import host
    from gda_core.records import Dataset, Record

    class ThreeClasses(DatasetLoader):
        """Declares class 2 but holds no record of it."""

        def load(self, context):
            recs = [Record(id=f"r{i}", data=np.full(3, float(i % 2)), label=i % 2) for i in range(10)]
            return DataSplits(Dataset(recs, classes=[0, 1, 2]))

    class Plugin:
        @hookimpl
        def register_datasets(self, register):
            register("test.three", ThreeClasses)

    host.register_plugin(Plugin(), "three")
    try:
        with pytest.raises(DataError, match="class 2 has no samples"):
            gda_core.run(small_config(dataset="test.three"), tmp_path / "r", quiet=True)
        assert not (tmp_path / "r").exists()
    finally:
        host.unregister_plugin("three")


def test_a_killed_process_resumes_to_the_same_manifest(tmp_path):
    """SIGKILL a real `gda run` mid-generation, start it again, compare with a clean run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    cfg = small_config(generate={"per_class": 400, "shard_size": 5}, selectors=["core.dedup"],
                       validators=["core.prdc"])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "GDA_LOAD_PLUGINS": ""}
    cmd = [sys.executable, "-m", "gda_core.cli", "run", str(path), "-q", "-o"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, str(killed)], env=env)
    deadline = time.time() + 120
    while time.time() < deadline and shard_count(killed, "synthetic") < 20:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = shard_count(killed, "synthetic")
    assert 20 <= done < 240, "the run was not caught mid-generation"
    assert not (killed / "manifest.jsonl").exists()
    subprocess.run([*cmd, str(killed)], env=env, check=True)
    subprocess.run([*cmd, str(tmp_path / "clean")], env=env, check=True)
    assert _manifest(killed) == _manifest(tmp_path / "clean")
    assert len(_manifest(killed)) == 1200
    assert not list(killed.rglob(".*.tmp"))


def test_pretrained_strategy_loads_the_saved_model_and_takes_sampling_params_from_the_config(tmp_path):
    first = gda_core.run(small_config(selectors=[], validators=[]), tmp_path / "a", quiet=True)
    cfg = small_config(selectors=[], validators=[],
                       strategy={"name": "core.pretrained", "params": {"path": str(tmp_path / "a" / "model")}})
    again = gda_core.run(cfg, tmp_path / "b", quiet=True)
    assert all(np.array_equal(x.data, y.data) for x, y in zip(first.synthetic, again.synthetic))
    from gda_core.builtin.generators.gmm import GaussianMixtureGenerator
    from gda_core.builtin.strategies import Pretrained

    gen = GaussianMixtureGenerator.from_params({"reg_covar": 0.5, "n_components": 3, "temperature": 0.25})
    loaded = Pretrained(path=str(tmp_path / "a" / "model")).fit(gen, None, None)
    assert loaded.params.reg_covar == 0.001 and loaded.params.n_components == 1  # fitted values kept
    assert loaded.params.temperature == 0.25  # a sampling parameter comes from the config
    with pytest.raises(ConfigError, match="strategy.params.path"):
        Pretrained(path=str(tmp_path / "nowhere")).fit(gen, None, None)


def test_named_embedders_with_parameters(tmp_path):
    cfg = small_config(embedders=[{"name": "core.pca", "params": {"n_components": 2}}],
                       selectors=[{"name": "core.dedup", "params": {"embedder": "core.pca"}}],
                       validators=[{"name": "core.prdc", "params": {"embedder": "core.pca"}}])
    res = gda_core.run(cfg, tmp_path / "r", quiet=True)
    assert "n_components: 2" in (tmp_path / "r" / "config.yaml").read_text()
    prdc = res.metrics["core.prdc"]
    assert prdc["precision"] > 0.5 and prdc["coverage"] > 0.3, prdc  # a fitted mixture's samples, 2-D PCA


def test_unlabelled_data_runs_and_partly_labelled_data_is_refused(tmp_path):
    from gda_core import hookimpl
    from gda_core.components import DatasetLoader, DataSplits
    from gda_core.host import host
    from gda_core.records import Dataset, Record

    class Unlabelled(DatasetLoader):
        """Vectors without labels; the test sets which records get one."""

        labels: tuple = ()

        def load(self, context):
            rng = np.random.default_rng(0)
            recs = [Record(id=f"r{i}", data=rng.normal(size=3).astype(np.float32),
                           label=0 if i in self.labels else None) for i in range(30)]
            return DataSplits(Dataset(recs))

    class Partly(Unlabelled):
        """Two labelled records among unlabelled ones."""

        labels = (3, 4)

    class Plugin:
        @hookimpl
        def register_datasets(self, register):
            register("test.unlabelled", Unlabelled)
            register("test.partly", Partly)

    host.register_plugin(Plugin(), "unlabelled")
    try:
        res = gda_core.run(small_config(dataset="test.unlabelled", generate={"n": 10}, selectors=["core.dedup"],
                                        validators=["core.mmd"], embedder="core.flatten"), tmp_path / "u", quiet=True)
        assert len(res.synthetic) == 10 and all(r.label is None for r in res.synthetic)
        assert "mmd2" in res.metrics["core.mmd"]
        with pytest.raises(DataError, match="has no label"):
            gda_core.run(small_config(dataset="test.partly"), tmp_path / "p", quiet=True)
    finally:
        host.unregister_plugin("unlabelled")
