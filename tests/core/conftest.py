
import os

import pytest

from gda_core.testing import restrict_plugins

_plugins_for_module, _plugins_for_test = restrict_plugins()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance (2 CPUs) for a test module (Ray takes seconds to start); skips the
    module's Ray tests where Ray is not installed."""
    ray = pytest.importorskip("ray", reason="the Ray executor is optional: pip install 'gda-core[ray]'")
    before = os.environ.get("RAY_worker_niceness")
    os.environ["RAY_worker_niceness"] = "0"  # Ray's default +15 starves the workers on a busy machine
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    finally:
        if before is None:
            os.environ.pop("RAY_worker_niceness")
        else:
            os.environ["RAY_worker_niceness"] = before
    yield ray
    ray.shutdown()
