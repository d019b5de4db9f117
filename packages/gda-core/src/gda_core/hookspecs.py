"""The hook specifications every GDA plugin implements a subset of.

Hooks are grouped by the five modules of the GDA framework, in the survey's
order, then the supporting hooks. Each takes a ``register`` callback rather than
returning values, so that hooks can gain arguments later without breaking
plugins (pluggy passes only the arguments an implementation asks for).

``register(name, component)`` takes a unique dotted name (``"vision.ddpm"``) and
either the component class or an import path ``"package.module:ClassName"``;
the path form keeps ``gda plugins`` from importing the component's module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

hookspec = pluggy.HookspecMarker("gda")
hookimpl = pluggy.HookimplMarker("gda")

COMPONENT_KINDS: tuple[str, ...] = ("generators", "strategies", "selectors", "validators", "applications",
                                    "datasets", "embedders")
"""The kinds of pipeline components (subclasses of :class:`gda_core.Component`)."""

SUITE_KIND = "bench_suites"
"""The kind of ``gda bench`` suites (:class:`gda_core.bench.Suite` objects, not component classes)."""

KIND_NAMES: tuple[str, ...] = (*COMPONENT_KINDS, SUITE_KIND)
"""Every kind the plugin host builds, each registered through its own ``register_<kind>`` hook (no
heavy import, so the CLI can offer them before loading anything)."""

KIND_LABELS: dict[str, str] = {"generators": "generator", "strategies": "strategy", "selectors": "selector",
                               "validators": "validator", "applications": "application", "datasets": "dataset",
                               "embedders": "embedder", SUITE_KIND: "bench suite"}
"""One of each kind, in words (for messages: "unknown strategy 'x'")."""


# --- 1. generative model selection -----------------------------------------


@hookspec
def register_generators(register: Callable[[str, Any], None]) -> None:
    """Register generators (subclasses of ``gda_core.Generator``) with ``register(name, cls)``."""


# --- 2. model utilization --------------------------------------------------


@hookspec
def register_strategies(register: Callable[[str, Any], None]) -> None:
    """Register strategies (subclasses of ``gda_core.Strategy``): how a generator is fitted and driven."""


# --- 3. data selection -----------------------------------------------------


@hookspec
def register_selectors(register: Callable[[str, Any], None]) -> None:
    """Register selectors (subclasses of ``gda_core.Selector``) that score and filter synthetic samples."""


# --- 4. validation ---------------------------------------------------------


@hookspec
def register_validators(register: Callable[[str, Any], None]) -> None:
    """Register validators (subclasses of ``gda_core.Validator``) that measure fidelity and usefulness."""


# --- 5. applications -------------------------------------------------------


@hookspec
def register_applications(register: Callable[[str, Any], None]) -> None:
    """Register applications (subclasses of ``gda_core.Application``): downstream tasks validators train."""


# --- supporting hooks ------------------------------------------------------


@hookspec
def register_datasets(register: Callable[[str, Any], None]) -> None:
    """Register data set loaders (subclasses of ``gda_core.DatasetLoader``)."""


@hookspec
def register_embedders(register: Callable[[str, Any], None]) -> None:
    """Register embedders (subclasses of ``gda_core.Embedder``): feature extractors for selectors and validators."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``gda`` CLI; ``cli`` is its ``click.Group``."""


@hookspec
def register_bench_suites(register: Callable[[str, Any], None]) -> None:
    """Register ``gda bench`` suites with ``register(name, suite)``: a ``gda_core.bench.Suite``, a
    function returning one, or its import path ``"module:attr"``. Names are lower case, dots
    optional (``"digits"``). Keep the suite's module free of heavy imports: ``gda bench --list``
    and ``gda list`` load it."""
