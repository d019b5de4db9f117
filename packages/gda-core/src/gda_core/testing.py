"""Test helpers for plugin authors: load only the plugins a test suite names.

In a plugin's ``tests/conftest.py``::

    from gda_core.testing import restrict_plugins

    _plugins_for_module, _plugins_for_test = restrict_plugins("gda-example")

Both fixtures are autouse: the first covers module-scoped fixtures (which run before
function-scoped ones), the second every test, so a plugin that a test registers by hand
is gone by the next test.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .host import host


@contextlib.contextmanager
def only_plugins(*distributions: str) -> Iterator[None]:
    """Inside the block, load gda-core's built-ins and only these plugin distributions."""
    before = os.environ.get("GDA_LOAD_PLUGINS")
    os.environ["GDA_LOAD_PLUGINS"] = ",".join(distributions)
    host.reset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("GDA_LOAD_PLUGINS", None)
        else:
            os.environ["GDA_LOAD_PLUGINS"] = before
        host.reset()


def restrict_plugins(*distributions: str) -> tuple[Any, Any]:
    """Two autouse pytest fixtures (module and function scope) wrapping :func:`only_plugins`."""
    import pytest

    @pytest.fixture(autouse=True, scope="module")
    def _gda_plugins_for_module() -> Iterator[None]:
        with only_plugins(*distributions):
            yield

    @pytest.fixture(autouse=True)
    def _gda_plugins_for_test() -> Iterator[None]:
        with only_plugins(*distributions):
            yield

    return _gda_plugins_for_module, _gda_plugins_for_test
