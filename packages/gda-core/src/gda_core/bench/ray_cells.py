"""``gda bench --executor ray``: the bench's cells as Ray tasks, on this machine or a cluster.

The driver plans every suite's cells (:meth:`~gda_core.bench.runner.SuiteRunner.plan`) and groups
them by pipeline run folder: cells sharing a folder (a seed's base generation, the variants that
reuse its fitted model, its ratio sweep) run one after another in one task, in plan order, since
a run folder is locked while a pipeline runs in it; groups run in parallel, one CPU each by
default. Each task rebuilds the suite's runner in its worker and computes its cells exactly as
the local bench does, into the same cell store (``DIR/cells``, ``DIR/runs``: on a cluster, storage
every node sees at the same path), so the rows, and their order, are the local run's.

Faults: a worker that dies (killed, out of memory, node lost) has its task retried by Ray up to
``max_retries`` times; the retry reads the cells the dead worker finished back from the store and
resumes a half-generated cell from its shards. A killed driver loses nothing finished: the same
command again reads every finished cell back.

Code: before computing, each task checks that its worker's code is the driver's (the source
digests and library versions of :mod:`gda_core.bench.code`), so a cluster node with another
checkout cannot mix its numbers in. Threads: Ray gives each task ``OMP_NUM_THREADS`` of its CPUs
(one), and GDA's torch components keep torch at one thread (``GDA_TORCH_THREADS``, forwarded to
the workers with the other ``GDA_*`` variables).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import GDAError
from . import code as code_mod
from .runner import BenchRun, CellTask, Skipped, SuiteRunner


def run_group(spec: dict[str, Any], tasks: Sequence[CellTask], expected: dict[str, Any]) -> dict[str, Any]:
    """A Ray task's body: rebuild the suite's runner from ``spec`` in this worker, check its code is
    the driver's (``expected``, a :func:`~gda_core.bench.code.snapshot`), then compute ``tasks`` in
    order; each task's rows and what it listed as not run, with this worker's pid, host, seconds
    and torch thread count."""
    code_mod.refresh()
    differs = code_mod.differences(expected)
    if differs:
        raise GDAError(f"the Ray worker on {socket.gethostname()} runs other code than the driver: "
                       f"{'; '.join(differs)}; install the same gda packages and libraries on every node")
    from .. import written

    quiet = spec["quiet"]
    out = Path(spec["out"])
    runner = SuiteRunner(spec["suite"], out, seeds=spec["seeds"], quick=spec["quick"], quiet=quiet,
                         echo=lambda msg: print(msg, file=sys.stderr, flush=True), methods=spec["methods"],
                         compute=True, allow_mixed_code=spec["allow_mixed_code"])
    t0, c0 = time.perf_counter(), time.process_time()
    results = []
    # the driver holds the bench folder's lock; what this worker creates in it goes on its list of
    # gda's files all the same (appended line by line, as the driver's own writes are)
    with written.active(out):
        for task in tasks:
            before = len(runner.skipped)
            rows = runner.execute(task)
            results.append({"rows": rows, "skipped": runner.skipped[before:]})
    torch = sys.modules.get("torch")
    return {"results": results, "codes": runner.codes, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0, "pid": os.getpid(), "host": socket.gethostname(),
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            "omp_threads": os.environ.get("OMP_NUM_THREADS")}


@dataclasses.dataclass
class RayBench:
    """Where and how the cells run on Ray: ``address`` of an existing cluster (``auto``: the one
    ``ray start --head`` made here; ``ray://host:10001``; none: ``RAY_ADDRESS`` when set, else a
    local instance of ``workers`` x ``cpus_per_cell`` CPUs, all of them by default), at most
    ``workers`` cells in flight (default: as many as the cluster's CPUs allow), ``cpus_per_cell``
    and ``gpus_per_cell`` reserved for each, and ``max_retries`` retries of a task whose worker died."""

    address: str | None = None
    workers: int | None = None
    cpus_per_cell: float = 1.0
    gpus_per_cell: float = 0.0
    max_retries: int = 3

    def run(self, runners: Sequence[SuiteRunner], *, echo: Callable[[str], None] = print,
            quiet: bool = False) -> BenchRun:
        """Every cell of ``runners`` as Ray tasks; the rows in the local run's order."""
        from ..executors.ray import _import_ray, connect, forwarded_env

        ray = _import_ray()
        plans = [runner.plan() for runner in runners]
        expected = code_mod.snapshot()  # the planning computed every digest the cells need
        groups: list[tuple[int, list[int]]] = []  # (runner, task indices), in plan order
        for r, plan in enumerate(plans):
            by_folder: dict[str, list[int]] = {}
            for t, task in enumerate(plan):
                key = task.folder or task.what  # no folder: a config that does not resolve, its own task
                if key not in by_folder:
                    by_folder[key] = []
                    groups.append((r, by_folder[key]))
                by_folder[key].append(t)
        env = forwarded_env()
        local_cpus = int(self.workers * self.cpus_per_cell) if self.workers else None
        started = connect(self.address, env, num_cpus=local_cpus, what="--address")
        done: dict[tuple[int, int], dict[str, Any]] = {}
        seconds: dict[str, float] = {}
        cpu: dict[str, float] = {}
        workers: dict[tuple[str, int], dict[str, Any]] = {}
        codes: dict[str, code_mod.CodeKey] = {}
        pending: dict[Any, int] = {}
        try:
            limit = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_cell))
            if not quiet:
                echo(f"Ray: {len(groups)} task(s) for {sum(len(p) for p in plans)} cell(s), at most {limit} at once, "
                     f"{self.cpus_per_cell:g} CPU and {self.gpus_per_cell:g} GPU each")
            remote = ray.remote(run_group).options(
                num_cpus=self.cpus_per_cell, num_gpus=self.gpus_per_cell, max_retries=self.max_retries,
                retry_exceptions=False, runtime_env={"env_vars": env})
            queue = list(range(len(groups)))
            while queue or pending:
                while queue and len(pending) < limit:
                    g = queue.pop(0)
                    r, indices = groups[g]
                    runner = runners[r]
                    pending[remote.remote(self._spec(runner), [plans[r][t] for t in indices], expected)] = g
                ready, _ = ray.wait(list(pending), num_returns=1)
                g = pending.pop(ready[0])
                r, indices = groups[g]
                out = self._result(ray, ready[0], runners[r], [plans[r][t] for t in indices])
                for t, res in zip(indices, out["results"]):
                    done[(r, t)] = res
                name = runners[r].suite.name
                seconds[name] = seconds.get(name, 0.0) + out["seconds"]
                cpu[name] = cpu.get(name, 0.0) + out["cpu_seconds"]
                codes.update(out["codes"])
                workers[(out["host"], out["pid"])] = {k: out[k] for k in ("host", "pid", "torch_threads",
                                                                          "omp_threads")}
                if not quiet:
                    echo(f"  {name} {plans[r][indices[0]].what} and {len(indices) - 1} more cell(s) sharing its "
                         f"run folder: {out['seconds']:.1f} s on pid {out['pid']} ({out['host']})")
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()
        rows: list[dict[str, Any]] = []
        skipped: list[Skipped] = []
        for r, runner in enumerate(runners):
            for t in range(len(plans[r])):
                rows += done[(r, t)]["rows"]
                for s in done[(r, t)]["skipped"]:
                    runner._skip(s.what, s.why)
            skipped += runner.skipped
        return BenchRun(rows, skipped, seconds, cpu, codes, list(workers.values()))

    @staticmethod
    def _spec(runner: SuiteRunner) -> dict[str, Any]:
        """What a worker needs to rebuild ``runner`` (picklable)."""
        return {"suite": runner.suite, "out": str(Path(runner.out).resolve()), "seeds": runner.seeds,
                "quick": runner.quick, "quiet": runner.quiet, "methods": runner.selected,
                "allow_mixed_code": runner.allow_mixed_code}

    def _result(self, ray: Any, ref: Any, runner: SuiteRunner, tasks: Sequence[CellTask]) -> dict[str, Any]:
        from ray.exceptions import RayTaskError, WorkerCrashedError

        more = f" (and {len(tasks) - 1} more cells)" if len(tasks) > 1 else ""
        what = f"{runner.suite.name} {tasks[0].what}{more}"
        try:
            return ray.get(ref)
        except RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else None
            if isinstance(cause, GDAError):
                raise cause from None
            raise GDAError(f"Ray task {what} failed: {cause or exc}") from exc
        except WorkerCrashedError as exc:
            raise GDAError(f"the Ray worker computing {what} died {self.max_retries + 1} times; finished cells "
                           "are kept: run the same command again to compute the rest") from exc
