import pytest


@pytest.fixture(autouse=True)
def _only_this_plugin(monkeypatch):
    """Load only gda-core's built-ins and this plugin, whatever else is installed."""
    from gda_core import plugins

    monkeypatch.setenv("GDA_LOAD_PLUGINS", "gda-example")
    plugins.reset()
    yield
    plugins.reset()
