"""Core strategies: train a generator from scratch, or load a fitted one."""

from __future__ import annotations

from pydantic import Field

from gda_core.components import Generator, Params, Strategy
from gda_core.errors import ConfigError


class TrainFromScratch(Strategy):
    """Fit the generator on the real training records, then ask for each class in turn."""


class PretrainedParams(Params):
    path: str = Field(..., description="folder written by a generator's save_pretrained")


class Pretrained(Strategy):
    """Skip fitting: load the generator's state from ``path`` (a save_pretrained folder)."""

    Params = PretrainedParams

    def fit(self, generator: Generator, train, context) -> Generator:
        from pathlib import Path

        path = Path(self.params.path).expanduser()
        if not path.is_dir():
            raise ConfigError(f"strategy.params.path: {path} is not a folder")
        # parameters the config sets explicitly (sampling steps, guidance) override the saved ones
        overrides = generator.params.model_dump(exclude_unset=True)
        loaded = type(generator).from_pretrained(path, **overrides)
        loaded.name = generator.name
        return loaded
