import pytest


@pytest.fixture(autouse=True)
def _core_only(monkeypatch):
    """Load only gda-core's built-ins unless a test asks for more."""
    from gda_core import plugins

    monkeypatch.setenv("GDA_LOAD_PLUGINS", "")
    plugins.reset()
    yield
    plugins.reset()
