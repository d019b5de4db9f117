"""gda bench on Ray: the same cells as Ray tasks give the local rows, in the local order; a killed
worker's cell is retried; a killed driver's bench resumes from its finished cells.

One local Ray instance (2 CPUs) serves the in-process tests; the killed-driver test runs the CLI in
a process of its own (with its own local Ray), kills it, and runs it again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gda_core.bench import get_suite, standard_methods
from gda_core.bench.runner import COST, run_bench

ray = pytest.importorskip("ray", reason="gda bench --executor ray needs Ray: pip install 'gda-core[ray]'")

from gda_core.bench.ray_cells import RayBench  # noqa: E402  (after the skip)

from .test_bench import tiny_suite  # noqa: E402

CORE_METHODS = ["gen*", "self-train"]
"""The core suite's methods these tests run: the mixture, its selector chain and its variants, the
GAN and VAE families (torch, through ctgan), self-training, and their ratio sweeps."""


def results(rows):
    """The rows without the cost columns (times and memory differ between any two runs)."""
    return [{k: v for k, v in r.items() if k not in COST} for r in rows]


def test_the_core_suite_quick_on_ray_gives_the_local_rows(local_ray, tmp_path):
    suite = get_suite("core")
    local = run_bench([suite], tmp_path / "local", quick=True, quiet=True, methods=CORE_METHODS)
    on_ray = run_bench([suite], tmp_path / "ray", quick=True, quiet=True, methods=CORE_METHODS,
                       ray=RayBench(workers=2))
    assert len(local.rows) > 50 and results(on_ray.rows) == results(local.rows)  # same rows, same order
    assert [(s.what, s.why) for s in on_ray.skipped] == [(s.what, s.why) for s in local.skipped]
    assert on_ray.codes.keys() == local.codes.keys()
    # every worker kept GDA's one-torch-thread rule (the CTGAN and TVAE cells imported torch), one OpenMP thread
    assert on_ray.workers and {w["omp_threads"] for w in on_ray.workers} == {"1"}
    assert {w["torch_threads"] for w in on_ray.workers} - {None} == {1}
    again = run_bench([suite], tmp_path / "ray", quick=True, quiet=True, methods=CORE_METHODS,
                      ray=RayBench(workers=2))  # the same cell store: everything read back
    assert results(again.rows) == results(local.rows)


def _busy_workers() -> list[int]:
    """Pids of Ray workers executing a bench task now (their process title names the task)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::run_group"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the busy worker through /proc")
def test_a_killed_workers_cells_are_retried_and_give_the_local_rows(local_ray, tmp_path):
    suite = tiny_suite(methods=standard_methods(), ratios=(1.0, 2.0), seeds=3)
    reference = run_bench([suite], tmp_path / "local", quiet=True)
    killed: list[int] = []
    out: dict = {}

    def bench():
        out["run"] = run_bench([suite], tmp_path / "ray", quiet=True, ray=RayBench(workers=2))

    thread = threading.Thread(target=bench)
    thread.start()
    deadline = time.monotonic() + 120
    while not killed and thread.is_alive() and time.monotonic() < deadline:
        busy = _busy_workers()
        if busy:
            os.kill(busy[0], signal.SIGKILL)  # mid-task: Ray retries the task on another worker
            killed.append(busy[0])
        time.sleep(0.02)
    thread.join(timeout=300)
    assert killed, "no busy worker was seen"
    run = out["run"]
    assert results(run.rows) == results(reference.rows)
    assert killed[0] not in {w["pid"] for w in run.workers}  # its task's result came from a retry


def _cli(out: Path, *more: str) -> list[str]:
    code = "from gda_core.cli import main; main()"
    return [sys.executable, "-c", code, "bench", "core", "--quick", "--seeds", "2", "--method", "gen",
            "-o", str(out), *more]


def test_a_killed_driver_resumes_from_its_finished_cells(tmp_path):
    import csv

    out = tmp_path / "bench"
    env = {**os.environ, "RAY_worker_niceness": "0"}
    cells = out / "cells" / "core"
    proc = subprocess.Popen(_cli(out, "--executor", "ray", "--workers", "2"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if cells.is_dir() and any(p.suffix == ".json" for p in cells.iterdir()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the bench ended before the test could kill it"
        os.kill(proc.pid, signal.SIGKILL)  # the driver, mid-bench
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # what is left of its local Ray instance
    finished = {p: p.stat().st_mtime_ns for p in cells.iterdir() if p.suffix == ".json"}
    assert finished
    rerun = subprocess.run(_cli(out, "--executor", "ray", "--workers", "2"), capture_output=True, text=True,
                           env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # read back, not recomputed
    local = run_bench([get_suite("core")], tmp_path / "local", quick=True, seeds=2, quiet=True, methods=["gen"])
    with (out / "results.csv").open() as f:
        resumed = list(csv.DictReader(f))
    assert [(r["method"], r["seed"], r["model"], float(r["score"])) for r in resumed] == [
        (r["method"], str(r["seed"]), r["model"], r["score"]) for r in local.rows]
