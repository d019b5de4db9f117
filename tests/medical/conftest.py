import pytest


@pytest.fixture(autouse=True)
def _only_this_plugin(monkeypatch):
    """Load gda-core's built-ins and gda-medical only, whatever else is installed."""
    from gda_core import plugins

    monkeypatch.setenv("GDA_LOAD_PLUGINS", "gda-medical")
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """One torch thread: the 3-D convolutions of these tiny nets run faster single-threaded on a
    shared 2-core machine, and results do not depend on the thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def phantoms():
    """16^3 phantoms with labels: 8 train, 8 test (seed 0)."""
    from gda_core.context import RunContext
    from gda_core.records import Dataset
    from gda_medical.datasets import PhantomsDataset

    ctx = RunContext(train=Dataset([]), seed=0, quiet=True)
    splits = PhantomsDataset(size=16, n_train=8, n_test=8, num_objs=3).load(ctx)
    return splits


@pytest.fixture()
def context(phantoms):
    from gda_core.context import RunContext

    return RunContext(train=phantoms.train, test=phantoms.test, seed=0, quiet=True)


@pytest.fixture(autouse=True, scope="module")
def _only_this_plugin_for_module_fixtures():
    """The same restriction for module-scoped fixtures, which run before function-scoped ones."""
    from gda_core import plugins

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GDA_LOAD_PLUGINS", "gda-medical")
        plugins.reset()
        yield
    plugins.reset()
