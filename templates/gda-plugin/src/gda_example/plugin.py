"""Registers this plugin's components with GDA; nothing else.

Components are registered by ``"module:Class"`` strings so that ``gda --help`` and
``gda plugins`` never import them (or the heavy libraries they use); a module is
imported only when a run, or ``gda list``, needs its class.
"""

from __future__ import annotations

from gda_core import hookimpl

P = "gda_example"


@hookimpl
def register_generators(register):
    register("example.jitter", f"{P}.generators.jitter:JitterGenerator")


@hookimpl
def register_selectors(register):
    register("example.margin", f"{P}.selectors.margin:ClassMarginSelector")
