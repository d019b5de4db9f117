"""Registries of components, built by calling every plugin's ``register_*`` hooks.

Each hook implementation is called on its own with a ``register`` callback bound
to its plugin, so a clash names both plugins and a plugin that raises while
registering is reported by ``gda plugins`` without hiding the others.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import re
import threading
from typing import Any

from .components import KINDS, Component
from .errors import ConfigError, PluginError

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")


@dataclasses.dataclass
class ComponentInfo:
    """A registered component: its dotted name, kind, owning plugin and class."""

    name: str
    kind: str
    plugin: str
    target: type[Component] | str

    def load(self) -> type[Component]:
        """Import (if registered by path) and return the component class."""
        target = self.target
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                obj = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise PluginError(
                    f"{self.kind[:-1]} {self.name!r} of plugin {self.plugin!r} cannot be imported "
                    f"from {target!r}: {exc}"
                ) from exc
            self.target = target = obj
        base = KINDS[self.kind]
        if not (isinstance(target, type) and issubclass(target, base)):
            raise PluginError(
                f"{self.name!r} of plugin {self.plugin!r} is registered as one of the {self.kind} "
                f"but is not a subclass of {base.__name__}"
            )
        if target.name and target.name != self.name:
            # one class registered under two names: each name gets its own subclass
            target = type(target.__name__, (target,), {"name": self.name, "__doc__": target.__doc__,
                                                       "__module__": target.__module__})
            self.target = target
        target.name = self.name
        return target

    @property
    def qualname(self) -> str:
        t = self.target
        return t if isinstance(t, str) else f"{t.__module__}:{t.__qualname__}"


_cache: dict[str, dict[str, ComponentInfo]] = {}
_lock = threading.RLock()


def reset() -> None:
    with _lock:
        _cache.clear()


def registry(kind: str) -> dict[str, ComponentInfo]:
    """All components of ``kind`` (``"generators"``, ``"selectors"``, ...), by name."""
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    with _lock:
        if kind not in _cache:
            _cache[kind] = _build(kind)
        return _cache[kind]


def _build(kind: str) -> dict[str, ComponentInfo]:
    from . import plugins

    pm = plugins.load_plugins()
    hook = getattr(pm.hook, f"register_{kind}")
    found: dict[str, ComponentInfo] = {}
    for impl in reversed(hook.get_hookimpls()):  # pluggy lists the last registered first
        plugin_name = impl.plugin_name
        if plugin_name in plugins.failures:
            continue
        mine: dict[str, ComponentInfo] = {}

        def register(name: str, component: type[Component] | str, _mine=mine, _plugin=plugin_name) -> None:
            if not isinstance(name, str) or not NAME_RE.match(name):
                raise PluginError(
                    f"plugin {_plugin!r} registered {name!r}: names are dotted and lower case, "
                    "like 'vision.ddpm'"
                )
            if name in _mine:
                raise PluginError(f"plugin {_plugin!r} registered {kind[:-1]} {name!r} twice")
            _mine[name] = ComponentInfo(name, kind, _plugin, component)

        try:
            impl.function(**{arg: register for arg in impl.argnames})
        except Exception as exc:
            plugins.record_failure(plugin_name, exc)
            continue
        for name, info in mine.items():
            if name in found:
                raise PluginError(
                    f"{kind[:-1]} {name!r} is registered by two plugins: "
                    f"{found[name].plugin!r} and {info.plugin!r}"
                )
            found[name] = info
    return dict(sorted(found.items()))


def get(kind: str, name: str) -> type[Component]:
    """The class registered as ``name``; an unknown name suggests the closest ones."""
    reg = registry(kind)
    if name not in reg:
        raise ConfigError(unknown_message(kind, name, list(reg)))
    return reg[name].load()


def unknown_message(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listing = f" (registered: {', '.join(known)})" if known and not close else ""
    return f"unknown {kind[:-1]} {name!r}{hint}{listing}"


def describe(kind: str, name: str) -> dict[str, Any]:
    """Name, plugin, docstring and parameters (with defaults) of a component."""
    info = registry(kind)[name]
    cls = info.load()
    params = []
    for field, f in cls.Params.model_fields.items():
        default = None if f.is_required() else f.get_default(call_default_factory=True)
        params.append({
            "name": field,
            "type": _type_name(f.annotation),
            "default": default,
            "required": f.is_required(),
            "description": f.description or "",
        })
    doc = (cls.__doc__ or "").strip().splitlines()
    return {"name": name, "kind": kind, "plugin": info.plugin, "class": info.qualname,
            "summary": doc[0] if doc else "", "params": params}


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
