import os

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: runs on a CUDA device (nox -s gpu); skipped where there is none")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The CPU side of the cross-device checks: tiny models, one thread (see gda_core.torch.accelerators)."""
    os.environ.setdefault("GDA_TORCH_THREADS", "1")
