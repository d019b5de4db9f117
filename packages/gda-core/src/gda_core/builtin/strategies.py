"""Core strategies: train a generator from scratch, or load a fitted one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from gda_core.components import Generator, Params, Strategy
from gda_core.errors import ConfigError, GDAError

if TYPE_CHECKING:
    from gda_core.context import RunContext
    from gda_core.records import Dataset


class TrainFromScratch(Strategy):
    """Fit the generator on the real training records, then ask for each class in turn."""


class PretrainedParams(Params):
    path: str = Field(..., description="folder written by a generator's save_pretrained")


class Pretrained(Strategy):
    """Skip fitting: load the generator's state from ``path`` (a save_pretrained folder).

    The folder's saved parameters are used, except the generator's sampling parameters
    (:data:`gda_core.components.SAMPLING`), which come from the config.
    """

    Params = PretrainedParams

    def _path(self):
        from pathlib import Path

        path = Path(self.params.path).expanduser()
        if not path.is_dir():
            raise ConfigError(f"strategy.params.path: {path} is not a folder")
        return path

    def check(self, generator: Generator, train: Dataset) -> None:
        """The folder must hold a model saved by the configured generator (no weights are loaded)."""
        path = self._path()
        try:
            type(generator).pretrained_config(path, **generator.sampling_params())
        except GDAError as exc:
            raise ConfigError(f"strategy.params.path: {exc} (generator is {generator.name})") from exc

    def fit(self, generator: Generator, train: Dataset, context: RunContext) -> Generator:
        path = self._path()
        try:
            loaded = type(generator).from_pretrained(path, **generator.sampling_params())
        except GDAError as exc:
            raise ConfigError(f"strategy.params.path: {exc}") from exc
        loaded.name = generator.name
        return loaded
