"""The plugin host: the plugin manager, what failed, where plugins came from, and the components.

One :class:`PluginHost` (the module-level :data:`host`) loads the ``gda`` entry points once,
calls every ``register_*`` hook through pluggy (so hook wrappers, ``tryfirst``/``trylast``
and tracing apply) and builds the components of every kind in one pass. A plugin that fails
to import, or raises in any of its hooks, is recorded in :attr:`PluginHost.failures`, shown by
``gda plugins`` and left out of every kind alike, so what a command lists never depends on
which kind was looked up first.

Environment:

- ``GDA_LOAD_PLUGINS`` (comma-separated distribution names) restricts which plugin
  distributions load; an empty string loads none but the core's built-ins, which always load.
- ``GDA_TRACE_PLUGINS=1`` writes every hook call (hook, plugin, arguments, result) to stderr,
  through pluggy's tracer.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import ConfigError, PluginError
from .hookspecs import KIND_LABELS, KIND_NAMES, SUITE_KIND

if TYPE_CHECKING:  # the host itself stays light: `gda --help` loads plugins without numpy or pydantic
    from .bench.suite import Suite
    from .components import Component

ENTRY_POINT_GROUP = "gda"
CORE_PLUGIN = "gda_core"
CORE_DISTRIBUTION = "gda-core"
TRACE_ENV = "GDA_TRACE_PLUGINS"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
"""A component's name: dotted and lower case (``vision.ddpm``)."""
SUITE_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$")
"""A bench suite's name: lower case, dots optional (``digits``: the name of its cells and results)."""


def kind_label(kind: str) -> str:
    """One of ``kind`` in words: ``"strategies"`` -> ``"strategy"``."""
    return KIND_LABELS.get(kind, kind.rstrip("s"))


@dataclasses.dataclass
class PluginInfo:
    """What ``gda plugins`` shows of one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    error: str | None = None


@dataclasses.dataclass
class ComponentInfo:
    """A registered component: its dotted name, kind, owning plugin and class (or import path).

    For the ``bench_suites`` kind, the target is a :class:`gda_core.bench.Suite`, a function
    returning one, or the import path of either."""

    name: str
    kind: str
    plugin: str
    target: type[Component] | Suite | Callable[[], Suite] | str
    _suite: Suite | None = dataclasses.field(default=None, repr=False, compare=False)

    def load(self) -> Any:
        """Import (if registered by path) and return the component class, unchanged; for a bench
        suite, the :class:`~gda_core.bench.Suite` (its ``name`` and ``plugin`` set)."""
        target = self.target
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                obj = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise PluginError(
                    f"{kind_label(self.kind)} {self.name!r} of plugin {self.plugin!r} cannot be imported "
                    f"from {target!r}: {exc}"
                ) from exc
            self.target = target = obj
        if self.kind == SUITE_KIND:
            if self._suite is None:
                from .bench.suite import registered_suite

                self._suite = registered_suite(target, self.name, self.plugin)
            return self._suite
        from .components import KINDS

        base = KINDS[self.kind]
        if not (isinstance(target, type) and issubclass(target, base)):
            raise PluginError(
                f"{self.name!r} of plugin {self.plugin!r} is registered as one of the {self.kind} "
                f"but is not a subclass of {base.__name__}"
            )
        return target

    @property
    def qualname(self) -> str:
        """``module:QualName`` of what is registered (its import path when not imported yet)."""
        t = self.target
        if isinstance(t, str):
            return t
        named = t if hasattr(t, "__qualname__") else type(t)
        return f"{named.__module__}:{named.__qualname__}"


class _Register:
    """The ``register`` callback one plugin's ``register_<kind>`` hook receives."""

    def __init__(self, plugin: str, kind: str) -> None:
        self.plugin, self.kind = plugin, kind
        self.found: dict[str, ComponentInfo] = {}

    def __call__(self, name: str, component: Any) -> None:
        suite = self.kind == SUITE_KIND
        if not isinstance(name, str) or not (SUITE_NAME_RE if suite else NAME_RE).match(name):
            like = "are lower case, like 'digits'" if suite else "are dotted and lower case, like 'vision.ddpm'"
            raise PluginError(f"plugin {self.plugin!r} registered {kind_label(self.kind)} {name!r}: names {like}")
        if name in self.found:
            raise PluginError(f"plugin {self.plugin!r} registered {kind_label(self.kind)} {name!r} twice")
        self.found[name] = ComponentInfo(name, self.kind, self.plugin, component)

    def __repr__(self) -> str:  # what GDA_TRACE_PLUGINS shows as the hook's argument
        return f"<register {self.kind} of plugin {self.plugin!r}>"


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _describe_exception(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def doc_summary(doc: str | None) -> str:
    """The first sentence of a docstring, whole: its first paragraph joined into one line and cut
    after the first full stop that ends a sentence (a docstring's first line often ends mid-sentence)."""
    lines = []
    for line in (doc or "").strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    text = " ".join(lines)
    match = re.search(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)[.!?](?=\s+[A-Z(`])", text)
    return text[:match.end()] if match else text


def unknown_message(kind: str, name: str, known: list[str]) -> str:
    """``unknown generator 'x'; did you mean ...`` (or the registered names when none is close)."""
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listing = f" (registered: {', '.join(known)})" if known and not close else ""
    return f"unknown {kind_label(kind)} {name!r}{hint}{listing}"


class PluginHost:
    """Holds the plugin manager, the failures, the distributions and the component registry."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("gda")
        self.pm.add_hookspecs(hookspecs)
        self.failures: dict[str, PluginInfo] = {}
        self.distributions: dict[str, tuple[str | None, str | None]] = {}
        self._loaded = False
        self._components: dict[str, dict[str, ComponentInfo]] | None = None
        self._clash: PluginError | None = None
        self._undo_trace: Callable[[], None] | None = None
        self._lock = threading.RLock()

    # --- loading -------------------------------------------------------------

    def load(self) -> pluggy.PluginManager:
        """Load every allowed plugin once and return the plugin manager."""
        with self._lock:
            if self._loaded:
                return self.pm
            self._loaded = True
            self._set_tracing()
            raw = os.environ.get("GDA_LOAD_PLUGINS")
            allowed = None if raw is None else {_normalise(n) for n in raw.split(",") if n.strip()}
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                dist = getattr(ep, "dist", None)
                dist_name = dist.metadata["Name"] if dist is not None else None
                version = dist.version if dist is not None else None
                if ep.name == CORE_PLUGIN:  # the built-ins load from this package, whatever path the metadata names
                    continue
                if allowed is not None and _normalise(dist_name or ep.name) not in allowed:
                    continue
                if self.pm.get_plugin(ep.name) is not None or ep.name in self.failures:
                    continue
                try:
                    self._register(ep.load(), ep.name)
                except Exception as exc:  # a broken plugin must not stop the others
                    self.failures[ep.name] = PluginInfo(ep.name, dist_name, version, [],
                                                        error=_describe_exception(exc))
                    continue
                self.distributions[ep.name] = (dist_name, version)
            if self.pm.get_plugin(CORE_PLUGIN) is None:
                # always, and from this package (an editable or path install may have no entry-point
                # metadata, or metadata naming the module of another version)
                from . import __version__
                from .builtin import plugin as core_plugin

                self._register(core_plugin, CORE_PLUGIN)
                self.distributions[CORE_PLUGIN] = (CORE_DISTRIBUTION, __version__)
            return self.pm

    def _set_tracing(self) -> None:
        wanted = os.environ.get(TRACE_ENV, "").strip().lower() not in ("", "0", "false", "no")
        if wanted and self._undo_trace is None:
            self.pm.trace.root.setwriter(sys.stderr.write)
            self._undo_trace = self.pm.enable_tracing()
        elif not wanted and self._undo_trace is not None:
            self._undo_trace()
            self._undo_trace = None
            self.pm.trace.root.setwriter(None)

    def _register(self, plugin: object, name: str) -> None:
        self.pm.register(plugin, name=name)
        unknown = [c.name for c in self.pm.get_hookcallers(plugin) or [] if not c.has_spec()]
        if unknown:
            self.pm.unregister(plugin)
            raise PluginError(f"unknown hook(s) {', '.join(unknown)} (misspelt?)")

    def register_plugin(self, plugin: object, name: str) -> None:
        """Register a plugin object by hand (tests and notebooks); the components are rebuilt."""
        self.load()
        with self._lock:
            self._register(plugin, name)
            self._components = None

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin registered by :meth:`register_plugin` (and any failure noted for it)."""
        with self._lock:
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                self.pm.unregister(plugin)
            self.failures.pop(name, None)
            self._components = None

    def reset(self) -> None:
        """Forget every loaded plugin (for tests that change ``GDA_LOAD_PLUGINS``)."""
        with self._lock:
            for _name, plugin in list(self.pm.list_name_plugin()):
                self.pm.unregister(plugin)
            self.failures.clear()
            self.distributions.clear()
            self._components = None
            self._clash = None
            self._loaded = False

    # --- calling hooks -------------------------------------------------------

    def call_each(self, hook_name: str, kwargs_for: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """Call hook ``hook_name`` once per implementing plugin, in pluggy's call order.

        Each call goes through pluggy (``pm.subset_hook_caller``) with the other plugins'
        plain implementations left out, so hook wrappers wrap every plugin's call and tracing
        shows it. ``kwargs_for(plugin_name)`` gives that plugin's arguments. A plugin that
        raises is recorded in :attr:`failures` and left out of the result; plugins already
        failed are skipped. Returns each plugin's result by plugin name.
        """
        pm = self.load()
        caller = getattr(pm.hook, hook_name)
        plain = [impl for impl in caller.get_hookimpls() if not (impl.hookwrapper or impl.wrapper)]
        out: dict[str, Any] = {}
        for impl in reversed(plain):  # pluggy calls the last of this list first
            name = impl.plugin_name
            if name in self.failures:
                continue
            others = [o.plugin for o in plain if o.plugin is not impl.plugin]
            try:
                out[name] = pm.subset_hook_caller(hook_name, others)(**kwargs_for(name))
            except Exception as exc:  # one plugin's broken hook must not hide the others
                self.record_failure(name, exc)
        return out

    def record_failure(self, name: str, exc: BaseException) -> None:
        """Note that plugin ``name`` raised in a hook; its components are left out everywhere."""
        with self._lock:
            dist, version = self.distributions.get(name, (None, None))
            self.failures[name] = PluginInfo(name, dist, version, self.hook_names(name),
                                             error=_describe_exception(exc))
            self._components = None

    # --- components ----------------------------------------------------------

    def _build(self) -> dict[str, dict[str, ComponentInfo]]:
        """Every kind's components, from one call of every plugin's ``register_*`` hooks."""
        by_plugin: dict[str, dict[str, dict[str, ComponentInfo]]] = {}
        for kind in KIND_NAMES:
            callbacks: dict[str, _Register] = {}

            def kwargs_for(plugin: str, _kind: str = kind, _cbs: dict = callbacks) -> dict[str, Any]:
                _cbs[plugin] = _Register(plugin, _kind)
                return {"register": _cbs[plugin]}

            done = self.call_each(f"register_{kind}", kwargs_for)
            for plugin in done:
                by_plugin.setdefault(plugin, {})[kind] = callbacks[plugin].found
        out: dict[str, dict[str, ComponentInfo]] = {kind: {} for kind in KIND_NAMES}
        self._clash = None
        for plugin, kinds in by_plugin.items():
            if plugin in self.failures:  # raised in another kind's hook: left out of every kind
                continue
            for kind, found in kinds.items():
                for name, info in found.items():
                    if name in out[kind] and self._clash is None:
                        self._clash = PluginError(
                            f"{kind_label(kind)} {name!r} is registered by two plugins: "
                            f"{out[kind][name].plugin!r} and {info.plugin!r}"
                        )
                    out[kind].setdefault(name, info)
        return {kind: dict(sorted(found.items())) for kind, found in out.items()}

    def components(self, kind: str) -> dict[str, ComponentInfo]:
        """All components of ``kind`` (``"generators"``, ``"selectors"``, ..., ``"bench_suites"``), by name.

        Raises :class:`PluginError` when two plugins registered one name (of any kind).
        """
        if kind not in KIND_NAMES:
            raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KIND_NAMES)}")
        with self._lock:
            if self._components is None:
                self._components = self._build()
            if self._clash is not None:
                raise self._clash
            return self._components[kind]

    def get(self, kind: str, name: str) -> type[Component]:
        """The class registered as ``name`` (for ``bench_suites``, the suite); an unknown name
        suggests the closest ones."""
        reg = self.components(kind)
        if name not in reg:
            raise ConfigError(unknown_message(kind, name, list(reg)))
        return reg[name].load()

    def create(self, kind: str, name: str, params: dict[str, Any] | None = None) -> Component:
        """Build the component registered as ``name`` from ``params``, its ``name`` set on the instance."""
        if kind == SUITE_KIND:
            raise ConfigError(f"bench suite {name!r} is not built from parameters: gda_core.bench.get_suite({name!r})")
        component = self.get(kind, name).from_params(params)
        component.name = name
        return component

    def describe(self, kind: str, name: str) -> dict[str, Any]:
        """Name, plugin, docstring and parameters (with defaults) of a component; of a bench
        suite, its summary, methods and downstream models."""
        info = self.components(kind)[name]
        cls = info.load()
        if kind == SUITE_KIND:
            return {"name": name, "kind": kind, "plugin": info.plugin, "class": info.qualname,
                    "summary": cls.summary, "params": [], "methods": [m.name for m in cls.methods],
                    "downstream": [d.label for d in cls.downstream]}
        params = []
        from .components import sampling_fields

        sampling = sampling_fields(cls.Params)
        for field, f in cls.Params.model_fields.items():
            default = None if f.is_required() else f.get_default(call_default_factory=True)
            params.append({
                "name": field,
                "type": _type_name(f.annotation),
                "default": default,
                "required": f.is_required(),
                "description": f.description or "",
                "sampling": field in sampling,  # a generator's sampling parameter (not part of the fitted model)
            })
        return {"name": name, "kind": kind, "plugin": info.plugin, "class": info.qualname,
                "summary": doc_summary(cls.__doc__), "params": params}

    # --- plugins -------------------------------------------------------------

    def hook_names(self, plugin_name: str) -> list[str]:
        """The hooks plugin ``plugin_name`` implements."""
        plugin = self.pm.get_plugin(plugin_name)
        if plugin is None:
            return []
        return sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])

    def list_plugins(self) -> list[PluginInfo]:
        """Every loaded plugin, then every failed one, by name."""
        self.load()
        out = []
        for name, _plugin in self.pm.list_name_plugin():
            dist, version = self.distributions.get(name, (None, None))
            err = self.failures[name].error if name in self.failures else None
            out.append(PluginInfo(name, dist, version, self.hook_names(name), error=err))
        for name, info in self.failures.items():
            if self.pm.get_plugin(name) is None:
                out.append(info)
        return sorted(out, key=lambda p: p.name)


host = PluginHost()
"""The process's plugin host."""
