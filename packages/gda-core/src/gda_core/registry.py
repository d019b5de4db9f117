"""Older names of the component registry, which :mod:`gda_core.host` now holds.

New code uses ``from gda_core.host import host`` and ``host.components(kind)``,
``host.get``, ``host.create``, ``host.describe``.
"""

from __future__ import annotations

from .host import NAME_RE, ComponentInfo, host, unknown_message

__all__ = ["NAME_RE", "ComponentInfo", "describe", "get", "registry", "unknown_message"]

registry = host.components
get = host.get
describe = host.describe
