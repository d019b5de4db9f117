"""The plugin manager: one lazily loaded singleton, fed by the ``gda`` entry points.

``GDA_LOAD_PLUGINS`` (comma-separated distribution names) restricts which
plugin distributions load; set it to an empty string to load none but the
core's built-ins, which always load. A plugin that fails to import is recorded
in :data:`failures` (and shown by ``gda plugins``) instead of stopping the rest.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import os
import threading
import traceback

import pluggy

from . import hookspecs
from .errors import PluginError

ENTRY_POINT_GROUP = "gda"
CORE_PLUGIN = "gda_core"
CORE_DISTRIBUTION = "gda-core"


@dataclasses.dataclass
class PluginInfo:
    """What ``gda plugins`` shows of one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    error: str | None = None


pm = pluggy.PluginManager("gda")
pm.add_hookspecs(hookspecs)
failures: dict[str, PluginInfo] = {}
_distributions: dict[str, tuple[str | None, str | None]] = {}
_loaded = False
_lock = threading.RLock()


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _allowed() -> set[str] | None:
    raw = os.environ.get("GDA_LOAD_PLUGINS")
    if raw is None:
        return None
    return {_normalise(n) for n in raw.split(",") if n.strip()}


def load_plugins() -> pluggy.PluginManager:
    """Load every allowed plugin once and return the plugin manager."""
    global _loaded
    with _lock:
        if _loaded:
            return pm
        _loaded = True
        allowed = _allowed()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            is_core = ep.name == CORE_PLUGIN
            if not is_core and allowed is not None and _normalise(dist_name or ep.name) not in allowed:
                continue
            if pm.get_plugin(ep.name) is not None or ep.name in failures:
                continue
            try:
                module = ep.load()
                pm.register(module, name=ep.name)
                unknown = [c.name for c in pm.get_hookcallers(module) or [] if not c.has_spec()]
                if unknown:
                    raise PluginError(f"unknown hook(s) {', '.join(unknown)} (misspelt?)")
            except Exception as exc:  # a broken plugin must not stop the others
                if pm.get_plugin(ep.name) is not None:
                    pm.unregister(name=ep.name)
                failures[ep.name] = PluginInfo(ep.name, dist_name, version, [], error=_describe(exc))
                continue
            _distributions[ep.name] = (dist_name, version)
        if pm.get_plugin(CORE_PLUGIN) is None and CORE_PLUGIN not in failures:
            # an editable or path install without entry-point metadata
            from . import plugin as core_plugin

            pm.register(core_plugin, name=CORE_PLUGIN)
            from . import __version__

            _distributions[CORE_PLUGIN] = (CORE_DISTRIBUTION, __version__)
        pm.check_pending()
        return pm


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def register_plugin(module: object, name: str) -> None:
    """Register a plugin object by hand (tests and notebooks); drops cached registries."""
    load_plugins()
    pm.register(module, name=name)
    pm.check_pending()
    from . import registry

    registry.reset()


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered by :func:`register_plugin`."""
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    from . import registry

    registry.reset()


def record_failure(name: str, exc: BaseException) -> None:
    """Note that plugin ``name`` raised while registering components."""
    dist, version = _distributions.get(name, (None, None))
    failures[name] = PluginInfo(name, dist, version, hook_names(name), error=_describe(exc))


def hook_names(plugin_name: str) -> list[str]:
    plugin = pm.get_plugin(plugin_name)
    if plugin is None:
        return []
    return sorted(impl.name for impl in pm.get_hookcallers(plugin) or [])


def list_plugins() -> list[PluginInfo]:
    """Every loaded plugin, then every failed one, by name."""
    load_plugins()
    out = []
    for name, _plugin in pm.list_name_plugin():
        dist, version = _distributions.get(name, (None, None))
        err = failures[name].error if name in failures else None
        out.append(PluginInfo(name, dist, version, hook_names(name), error=err))
    for name, info in failures.items():
        if pm.get_plugin(name) is None:
            out.append(info)
    return sorted(out, key=lambda p: p.name)


def reset() -> None:
    """Forget every loaded plugin (for tests that change ``GDA_LOAD_PLUGINS``)."""
    global _loaded
    with _lock:
        for _name, plugin in list(pm.list_name_plugin()):
            pm.unregister(plugin)
        failures.clear()
        _distributions.clear()
        _loaded = False
    from . import registry

    registry.reset()
