"""The local executor: every shard, embedding and score in this process, one after another."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from . import Executor, ShardTask

if TYPE_CHECKING:
    from gda_core.records import Record


class LocalExecutor(Executor):
    """Runs shards and calls here, in order (the default ``executor: local``)."""

    name = "local"

    def run_shards(self, task: ShardTask, indices: Sequence[int]) -> Iterator[tuple[int, list[Record]]]:
        """Generate (and write) the shards ``indices`` of ``task`` one after another."""
        for i in indices:
            yield i, task.run_here(i)

    def map(self, pipeline: Any, method: str, calls: Sequence[tuple[Any, ...]], *, rebuild: Any = None) -> list[Any]:
        """``[pipeline.<method>(*args) for args in calls]`` in this process."""
        return [getattr(pipeline, method)(*args) for args in calls]
