import pytest


@pytest.fixture(autouse=True)
def _only_this_plugin(monkeypatch):
    """Load gda-core's built-ins and gda-medical only, whatever else is installed."""
    from gda_core import plugins

    monkeypatch.setenv("GDA_LOAD_PLUGINS", "gda-medical")
    plugins.reset()
    yield
    plugins.reset()
