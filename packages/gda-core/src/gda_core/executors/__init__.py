"""Executors: where the shards of a generated set are made, and the synthetic records embedded
and scored.

The pipeline cuts each set into shards (``generate.shard_size`` records each, seeded from
``(seed, set, shard index)``, written atomically) and hands the unfinished ones to an executor:

- ``local`` (the default): one after another in this process (:mod:`gda_core.executors.local`);
- ``ray``: Ray actors, each holding the fitted generator loaded once from the run folder's
  ``model/`` (:mod:`gda_core.executors.ray`; ``pip install 'gda-core[ray]'``).

The same executor embeds the synthetic records (in chunks of ``generate.shard_size``) for the
selectors that use features, and scores them for the selectors whose scores are per sample
(:attr:`gda_core.Selector.per_sample`), through :meth:`Executor.map`; whole-set decisions
(dedup, clustering, ranking) stay in the driver.

Config: ``executor: {name: ray, params: {address: auto, num_workers: 4, num_gpus_per_worker: 1}}``,
or ``gda run CONFIG --executor ray``. The executor decides only *where* shards run, never what they
hold: it is left out of the run's saved config and its hash, and the same config and seed give
the same manifest with any executor.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    from gda_core.records import Record

EXECUTORS = ("local", "ray")


class LocalParams(BaseModel):
    """The local executor takes no parameters."""

    model_config = ConfigDict(extra="forbid")


class RayParams(BaseModel):
    """Parameters of the Ray executor."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(None, description="Ray cluster to join: 'auto' (the one started with `ray start` "
                                "on this machine), 'ray://host:10001', or none: RAY_ADDRESS when set, else a "
                                "local Ray instance for this run")
    num_workers: int | None = Field(None, gt=0, description="actors, each holding one copy of the generator "
                                    "(default: as many as the cluster's CPUs, or GPUs / num_gpus_per_worker)")
    num_gpus_per_worker: float | None = Field(None, ge=0, description="GPUs per actor (default: 1 when the "
                                              "cluster has GPUs, else 0)")
    num_cpus_per_worker: float = Field(1, gt=0, description="CPUs per actor")
    max_restarts: int = Field(3, ge=0, description="times Ray restarts a worker that died (its shard is "
                              "retried); past that the run stops with an error and resumes when run again")


PARAMS: dict[str, type[BaseModel]] = {"local": LocalParams, "ray": RayParams}


class ExecutorRef(BaseModel):
    """The ``executor`` section of a config: ``{name: local | ray, params: {...}}`` or just the name."""

    model_config = ConfigDict(extra="forbid")

    name: str = "local"
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known(self) -> ExecutorRef:
        if self.name not in PARAMS:
            raise ValueError(f"unknown executor {self.name!r}; executors: {', '.join(EXECUTORS)}")
        if self.name == "ray" and importlib.util.find_spec("ray") is None:  # say so before any fitting
            raise ValueError("executor ray needs Ray, which is not installed: pip install 'gda-core[ray]'")
        try:
            PARAMS[self.name].model_validate(self.params)
        except ValidationError as exc:
            from ..field_errors import format_validation_error

            raise ValueError(format_validation_error(exc, PARAMS[self.name], "params")) from None
        return self


@dataclasses.dataclass
class ShardTask:
    """One set's shards to generate: what :meth:`Pipeline.generate_shard` needs for each index."""

    pipeline: Any
    """The :class:`~gda_core.pipeline.Pipeline` (its config, run folder and context)."""
    set_name: str
    set_index: int
    generator: Any
    shards: Sequence[Sequence[Any]]
    """Each shard's conditions, by shard index."""
    strategy: Any
    rebuild: Any = None
    """``rebuild(resolved_config, folder) -> pipeline`` with its model loaded, for executors whose
    workers live in other processes (:func:`gda_core.pipeline.worker_pipeline`)."""

    def run_here(self, index: int) -> list[Record]:
        """Generate and write shard ``index`` in this process."""
        return self.pipeline.generate_shard(self.set_name, self.set_index, self.generator, self.shards[index],
                                            index, self.strategy)


class Executor:
    """Where shards run (the interface; :class:`~gda_core.executors.local.LocalExecutor` runs them
    in this process, :class:`~gda_core.executors.ray.RayExecutor` on Ray actors); a context
    manager (``close`` frees what it started)."""

    name = ""

    def run_shards(self, task: ShardTask, indices: Sequence[int]) -> Iterator[tuple[int, list[Record]]]:
        """Generate (and write) the shards ``indices`` of ``task``; yield ``(index, records)`` as each
        finishes, in any order."""
        raise NotImplementedError

    def map(self, pipeline: Any, method: str, calls: Sequence[tuple[Any, ...]], *, rebuild: Any = None) -> list[Any]:
        """``[pipeline.<method>(*args) for args in calls]``, wherever this executor runs them
        (``rebuild(resolved_config, folder)`` makes a copy of the run in another process, as for
        :class:`ShardTask`). The pipeline uses it to embed and score synthetic records in chunks."""
        raise NotImplementedError

    def close(self) -> None:
        """Free workers and connections this executor started."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_executor(ref: ExecutorRef | dict[str, Any] | str | None) -> Executor:
    """The executor a config's ``executor`` section names (nothing starts until shards are run)."""
    ref = ExecutorRef.model_validate(ref or "local") if not isinstance(ref, ExecutorRef) else ref
    if ref.name == "ray":
        from .ray import RayExecutor

        return RayExecutor(RayParams.model_validate(ref.params))
    from .local import LocalExecutor

    return LocalExecutor()
