"""Older names of the plugin manager's state, which :mod:`gda_core.host` now holds.

New code uses ``from gda_core.host import host`` (``host.pm``, ``host.failures``,
``host.load()``, ``host.register_plugin``, ``host.list_plugins()``).
"""

from __future__ import annotations

from .host import PluginInfo, host

__all__ = ["PluginInfo", "failures", "list_plugins", "load_plugins", "pm", "register_plugin", "reset",
           "unregister_plugin"]

pm = host.pm
failures = host.failures
load_plugins = host.load
register_plugin = host.register_plugin
unregister_plugin = host.unregister_plugin
list_plugins = host.list_plugins
reset = host.reset
