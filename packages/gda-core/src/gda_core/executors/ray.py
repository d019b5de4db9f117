"""The Ray executor: shards of generation, and the embedding and per-sample scoring of the
synthetic records, run on Ray actors.

Each actor is one worker process that rebuilds the run from its resolved config, loads the real
data and the fitted generator from the run folder's ``model/`` once, then generates shard after
shard (:meth:`Pipeline.generate_shard`: the same seed per shard as locally, the shard written
atomically into the run folder), so the manifest is the same as with the local executor. The
driver keeps at most two shards per actor in flight and yields them as they finish.

Where it runs: ``address`` (or ``RAY_ADDRESS``) names an existing cluster; without either, a
Ray instance is started for the run and stopped after it. On a cluster of several machines the
run folder (and the data set's files) must be on storage every node sees at the same path.

Faults: an actor that dies (killed, out of memory, node lost) is restarted by Ray up to
``max_restarts`` times and its shard retried (a retried shard is rewritten with the same
content; a half-written one is only a temporary file). Past that the run stops with an error;
finished shards stay, and running the same command again generates only the missing ones.

Baseline sets are made by generators fitted in the driver and not saved: they run locally.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from gda_core.errors import GDAError

from . import RayParams, ShardTask
from .local import LocalExecutor

log = logging.getLogger("gda")

FORWARDED_ENV = ("GDA_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                 "CUDA_LAUNCH_BLOCKING", "MPLBACKEND")
"""Environment variables (by prefix) the driver hands to its workers: plugins, threads, offline mode."""
NICENESS = "RAY_worker_niceness"
"""Ray starts workers at niceness +15 by default, which starves them on a busy machine; a local
instance this executor starts uses 0 unless the variable is set."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise GDAError("executor ray needs Ray: pip install 'gda-core[ray]'") from exc
    return ray


def forwarded_env() -> dict[str, str]:
    """The driver's environment variables the workers get (:data:`FORWARDED_ENV`)."""
    return {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}


def connect(address: str | None, env: dict[str, str], *, num_cpus: int | None = None,
            what: str = "address") -> bool:
    """Join the Ray cluster at ``address`` (or ``RAY_ADDRESS``), or start a local instance (of
    ``num_cpus`` CPUs; default all) with workers at the driver's priority (:data:`NICENESS`);
    ``env`` goes to every worker. True when this call started Ray (the caller shuts it down);
    a failed connection is a :class:`GDAError` naming ``what``."""
    ray = _import_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    log.info("starting Ray (%s)", f"cluster {address}" if address else "a local instance")
    niceness = os.environ.get(NICENESS)
    if not address and niceness is None:  # a local instance: workers at the driver's priority
        os.environ[NICENESS] = "0"
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=True, runtime_env={"env_vars": env},
                 **({"num_cpus": num_cpus} if num_cpus and not address else {}))
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise GDAError(f"{what}: cannot connect to Ray at {address!r}: {exc}") from exc
    finally:
        if niceness is None:
            os.environ.pop(NICENESS, None)
    return True


class ShardWorker:
    """A Ray actor's body: the run rebuilt in a worker process, its generator loaded once."""

    def __init__(self, rebuild: Any, config: dict[str, Any], folder: str, cwd: str) -> None:
        if os.path.isdir(cwd):
            os.chdir(cwd)  # relative data paths in the config mean what they mean to the driver
        if not (Path(folder) / "model").is_dir():
            raise GDAError(f"Ray worker: {folder}/model is missing (the driver fits it first); is the run "
                           "folder on storage this node sees?")
        # ``rebuild`` (the task's, gda_core.pipeline.worker_pipeline) rebuilds the run from its resolved
        # config and loads model/ once; passed in, so executors never import the pipeline (no cycle)
        self.pipeline = rebuild(config, folder)
        self.pid = os.getpid()

    def generate(self, set_name: str, set_index: int, conditions: Sequence[Any], index: int) -> list[Any]:
        """Generate and write one shard of the run's synthetic set; its records."""
        p = self.pipeline
        return p.generate_shard(set_name, set_index, p.resolved.generator, conditions, index, p.resolved.strategy)

    def call(self, method: str, args: Sequence[Any]) -> Any:
        """``pipeline.<method>(*args)`` on this worker's run (embedding, scoring)."""
        return getattr(self.pipeline, method)(*args)

    def getpid(self) -> int:
        """This worker's process id (tests kill it)."""
        return self.pid


class RayExecutor(LocalExecutor):
    """Shards on Ray actors (see the module docstring). Ray and the actors start on the first
    shard to generate; :meth:`close` stops the actors, and Ray when this executor started it.
    What cannot go to the actors (a baseline's shards, a call with no ``rebuild``) runs here, as
    the :class:`LocalExecutor` it extends runs it."""

    name = "ray"

    def __init__(self, params: RayParams | None = None) -> None:
        self.params = params or RayParams()
        self.actors: list[Any] = []
        self._started_ray = False
        self._key: tuple[str, int] | None = None

    def _env(self) -> dict[str, str]:
        return forwarded_env()

    def _connect(self) -> Any:
        ray = _import_ray()
        if not ray.is_initialized():
            self._started_ray = connect(self.params.address, self._env(), what="executor.params.address")
        return ray

    def _workers(self, pipe: Any, rebuild: Any) -> list[Any]:
        """The actors for ``pipe``'s run (started once per run folder and config)."""
        key = (str(pipe.folder), id(pipe))
        if self.actors and self._key == key:
            return self.actors
        self.close_actors()
        ray = self._connect()
        resources = ray.cluster_resources()
        p = self.params
        gpus = p.num_gpus_per_worker
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
        n = p.num_workers
        if n is None:
            n = int(resources.get("GPU", 0) // gpus) if gpus else int(resources.get("CPU", 1) // p.num_cpus_per_worker)
            n = max(1, n)
        actor_cls = ray.remote(ShardWorker).options(
            num_cpus=p.num_cpus_per_worker, num_gpus=gpus, max_restarts=p.max_restarts,
            max_task_retries=p.max_restarts, runtime_env={"env_vars": self._env()})
        config = pipe.resolved.resolved_dict()
        log.info("Ray: %d worker(s), %g CPU and %g GPU each", n, p.num_cpus_per_worker, gpus)
        self.actors = [actor_cls.remote(rebuild, config, str(Path(pipe.folder).resolve()), os.getcwd())
                       for _ in range(n)]
        self._key = key
        try:  # wait until every worker has loaded the model: a worker that cannot says why, once
            ray.get([a.getpid.remote() for a in self.actors])
        except Exception as exc:
            from ray.exceptions import RayTaskError

            cause = getattr(exc, "cause", None) if isinstance(exc, RayTaskError) else None
            self.close_actors()
            raise GDAError(f"a Ray worker could not load the run: {cause or exc}") from exc
        return self.actors

    def run_shards(self, task: ShardTask, indices: Sequence[int]) -> Iterator[tuple[int, list[Any]]]:
        """Generate shards on the actors when ``task`` is the run's synthetic set, else locally."""
        indices = list(indices)
        if not indices:
            return
        if task.generator is not task.pipeline.resolved.generator:
            log.info("%s: a baseline (fitted here, not saved) is generated locally", task.set_name)
            yield from super().run_shards(task, indices)
            return
        ray = _import_ray()
        actors = self._workers(task.pipeline, task.rebuild)
        queue = list(reversed(indices))
        pending: dict[Any, tuple[int, int]] = {}
        free = [a for _ in range(2) for a in range(len(actors))]  # two shards in flight per actor
        while queue or pending:
            while queue and free:
                a, i = free.pop(0), queue.pop()
                ref = actors[a].generate.remote(task.set_name, task.set_index, list(task.shards[i]), i)
                pending[ref] = (a, i)
            done, _ = ray.wait(list(pending), num_returns=1)
            a, i = pending.pop(done[0])
            free.append(a)
            yield i, self._result(ray, done[0], f"generating shard {i} of {task.set_name}")

    def map(self, pipeline: Any, method: str, calls: Sequence[tuple[Any, ...]], *, rebuild: Any = None) -> list[Any]:
        """``pipeline.<method>(*args)`` for each of ``calls`` on the actors (handed out in turn; an
        actor runs its calls one after another), results in the order of ``calls``."""
        if not calls:
            return []
        if rebuild is None:
            return super().map(pipeline, method, calls)
        ray = _import_ray()
        actors = self._workers(pipeline, rebuild)
        refs = [actors[i % len(actors)].call.remote(method, list(args)) for i, args in enumerate(calls)]
        return [self._result(ray, ref, f"on {method} ({i + 1} of {len(calls)})") for i, ref in enumerate(refs)]

    def _result(self, ray: Any, ref: Any, what: str) -> Any:
        from ray.exceptions import RayActorError, RayTaskError

        try:
            return ray.get(ref)
        except RayTaskError as exc:  # the call itself failed: raise what it raised
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else None
            if isinstance(cause, GDAError):
                raise cause from None
            raise GDAError(f"Ray worker failed {what}: {cause or exc}") from exc
        except RayActorError as exc:
            raise GDAError(
                f"a Ray worker died {what} (restarted up to "
                f"executor.params.max_restarts={self.params.max_restarts} times); finished shards are kept: run "
                f"the same command again to do the rest ({str(exc).splitlines()[0]})") from exc

    def close_actors(self) -> None:
        """Stop this executor's actors."""
        if self.actors:
            ray = _import_ray()
            for actor in self.actors:
                ray.kill(actor, no_restart=True)
        self.actors = []
        self._key = None

    def close(self) -> None:
        """Stop the actors, and Ray itself when this executor started it."""
        if not self.actors and not self._started_ray:
            return
        self.close_actors()
        if self._started_ray:
            _import_ray().shutdown()
            self._started_ray = False
