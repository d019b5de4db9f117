"""The Ray executor: the same manifest as the local executor (a core run and a torch plugin's run),
a killed worker retried by Ray, or the run stopped with a clear error and finished by a restart.

One local Ray instance (2 CPUs) serves the whole module: Ray takes seconds to start.
"""

from __future__ import annotations

import os
import signal

import pytest

from gda_core.config import parse
from gda_core.errors import ConfigError, GDAError
from gda_core.pipeline import run

ray = pytest.importorskip("ray", reason="the Ray executor is optional: pip install 'gda-core[ray]'")

from gda_core.executors.ray import RayExecutor  # noqa: E402  (after the skip: imports nothing of Ray itself)

from .helpers import shard_count  # noqa: E402

# a core run: 8 shards of 5 records; the classifier-confidence scores (per sample) and the features
# are computed on the workers, dedup decides in the driver
CORE = {
    "seed": 3,
    "dataset": {"name": "core.wine", "params": {"k_shot": 8}},
    "generator": {"name": "core.gmm", "params": {"n_components": 1}},
    "generate": {"per_class": 13, "shard_size": 5},
    "selectors": [{"name": "core.confidence", "params": {"threshold": 0.9}}, "core.dedup"],
    "embedder": "core.standardize",
}
RAY = {"name": "ray", "params": {"num_workers": 2}}


@pytest.fixture(scope="module")
def core_reference(tmp_path_factory):
    """The core run with the local executor: its manifest is the reference."""
    folder = tmp_path_factory.mktemp("core") / "local"
    run(CORE, folder, quiet=True)
    return (folder / "manifest.jsonl").read_bytes()


def test_executor_config_is_checked_and_left_out_of_the_saved_config():
    assert parse(CORE).executor.name == "local"
    with pytest.raises(ConfigError, match="executor.*unknown executor 'spark'; executors: local, ray"):
        parse({**CORE, "executor": "spark"})
    with pytest.raises(ConfigError, match="executor.*params.num_workers"):
        parse({**CORE, "executor": {"name": "ray", "params": {"num_workers": 0}}})
    assert "executor" not in parse({**CORE, "executor": RAY}).model_dump()


def test_a_missing_ray_is_a_config_error_before_any_work(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ConfigError, match=r"executor.*pip install 'gda-core\[ray\]'"):
        parse({**CORE, "executor": "ray"})


def test_core_run_on_ray_gives_the_local_manifest(local_ray, core_reference, tmp_path, monkeypatch):
    """Generation, embedding and per-sample scoring on the workers: the local manifest, byte for byte."""
    from gda_core.cli import main

    on_ray: list[tuple[str, int]] = []
    original = RayExecutor.map

    def spy(self, pipeline, method, calls, **kw):
        on_ray.append((method, len(calls)))
        return original(self, pipeline, method, calls, **kw)

    monkeypatch.setattr(RayExecutor, "map", spy)
    folder = tmp_path / "ray"
    with pytest.raises(SystemExit) as done:
        cfg = tmp_path / "core.yaml"
        import yaml

        cfg.write_text(yaml.safe_dump(CORE))
        main(["run", str(cfg), "-o", str(folder), "--quiet", "--executor", "ray",
              "--set", "executor.params.num_workers=2"])
    assert done.value.code == 0
    assert (folder / "manifest.jsonl").read_bytes() == core_reference
    assert shard_count(folder, "synthetic") == 8
    assert "executor" not in (folder / "config.yaml").read_text()
    assert on_ray[:2] == [("embed_records", 8), ("score_records", 8)]  # 39 records in chunks of 5
    manifest = core_reference.decode()
    assert '"core.confidence": false' in manifest and '"core.dedup": true' in manifest  # both decided something


def _kill_a_worker_after_the_first_shard(monkeypatch) -> list[int]:
    """Make the Ray executor SIGKILL its first worker process once the first shard is back."""
    killed: list[int] = []
    original = RayExecutor.run_shards

    def run_shards(self, task, indices):
        for item in original(self, task, indices):
            if not killed and self.actors:
                killed.append(ray.get(self.actors[0].getpid.remote(), timeout=60))
                os.kill(killed[0], signal.SIGKILL)
            yield item

    monkeypatch.setattr(RayExecutor, "run_shards", run_shards)
    return killed


def test_a_killed_worker_is_restarted_and_its_shards_retried(local_ray, core_reference, tmp_path, monkeypatch):
    killed = _kill_a_worker_after_the_first_shard(monkeypatch)
    folder = tmp_path / "ray"
    run({**CORE, "executor": {"name": "ray", "params": {"num_workers": 2, "max_restarts": 2}}}, folder, quiet=True)
    assert killed  # a worker really died mid-run
    assert (folder / "manifest.jsonl").read_bytes() == core_reference
    assert not list(folder.rglob(".*.tmp"))


def test_a_worker_dead_for_good_stops_the_run_and_a_restart_finishes_it(local_ray, core_reference, tmp_path,
                                                                          monkeypatch):
    killed = _kill_a_worker_after_the_first_shard(monkeypatch)
    folder = tmp_path / "ray"
    cfg = {**CORE, "executor": {"name": "ray", "params": {"num_workers": 2, "max_restarts": 0}}}
    with pytest.raises(GDAError, match="a Ray worker died .* run the same command again"):
        run(cfg, folder, quiet=True)
    assert killed
    assert not (folder / "manifest.jsonl").exists()
    left = shard_count(folder, "synthetic")
    assert 1 <= left < 8
    monkeypatch.undo()
    run(cfg, folder, quiet=True)  # the restart generates only what is missing
    assert (folder / "manifest.jsonl").read_bytes() == core_reference
    assert shard_count(folder, "synthetic") == 8


def test_a_torch_plugin_run_on_ray_gives_the_local_manifest(local_ray, tmp_path):
    """vision.ddpm (tiny UNet, a few steps) on 3-shot digits, in a worker process that loads torch and
    the saved UNet: manifests and sample files identical to the local run's."""
    pytest.importorskip("gda_vision", reason="gda-vision is not installed")
    from gda_core.testing import only_plugins

    cfg = {
        "seed": 1,
        "dataset": {"name": "vision.digits", "params": {"k_shot": 3}},
        "generator": {"name": "vision.ddpm", "params": {
            "block_out_channels": [8, 16], "train_steps": 4, "batch_size": 8, "num_inference_steps": 2,
            "scheduler": "ddim", "device": "cpu"}},
        "generate": {"per_class": 2, "shard_size": 5},
        "validators": [{"name": "core.memorization", "params": {"spaces": ["raw"]}}],
        "embedder": "core.flatten",
    }
    with only_plugins("gda-vision"):
        run(cfg, tmp_path / "local", quiet=True)
        run({**cfg, "executor": {"name": "ray", "params": {"num_workers": 1}}}, tmp_path / "ray", quiet=True)
    assert (tmp_path / "ray" / "manifest.jsonl").read_bytes() == (tmp_path / "local" / "manifest.jsonl").read_bytes()
    local = sorted((tmp_path / "local" / "samples").rglob("*.png"))
    assert len(local) == 20
    for path in local:
        twin = tmp_path / "ray" / path.relative_to(tmp_path / "local")
        assert twin.read_bytes() == path.read_bytes(), path.name
