import pytest

from gda_core.testing import restrict_plugins

_plugins_for_module, _plugins_for_test = restrict_plugins("gda-medical")


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
