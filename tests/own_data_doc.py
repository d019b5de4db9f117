"""The configs of docs/own-data.md, by loader name, for the packages' tests to resolve."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

DOC = Path(__file__).resolve().parents[1] / "docs" / "own-data.md"


def own_data_configs() -> dict[str, dict]:
    """Every YAML block of docs/own-data.md that names a data set, keyed by the loader's name."""
    out = {}
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S):
        cfg = yaml.safe_load(block)
        out[cfg["dataset"]["name"]] = cfg
    return out


def check(loader: str) -> None:
    """The doc's config for ``loader`` resolves: every component and parameter exists."""
    from gda_core.config import resolve

    cfg = own_data_configs()[loader]
    resolved = resolve(cfg)
    assert resolved.dataset.name == loader
