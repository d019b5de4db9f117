"""GDA core: hook specs, plugin manager, data model, pipeline and CLI.

Heavy names are imported lazily so that ``gda --help`` starts fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .hookspecs import hookimpl, hookspec

__version__ = "0.1.0"

_LAZY = {
    "Component": "components", "Params": "components", "Generator": "components",
    "Strategy": "components", "Selector": "components", "SelectorParams": "components",
    "Validator": "components", "ValidationResult": "components", "ValidationInputs": "components",
    "Table": "components", "Figure": "components", "Application": "components",
    "DatasetLoader": "components", "DataSplits": "components", "Embedder": "components",
    "Record": "records", "Dataset": "records", "Provenance": "records",
    "RunContext": "context", "RunConfig": "config", "resolve": "config",
    "run": "pipeline", "step": "pipeline", "RunResult": "results",
    "GDAError": "errors", "ConfigError": "errors", "DataError": "errors",
    "RunFolderError": "errors", "PluginError": "errors",
}

__all__ = ["hookimpl", "hookspec", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gda_core' has no attribute {name!r}")
