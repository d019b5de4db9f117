"""docs/own-data.md's configs for signal.audio and signal.arrays resolve (every component and parameter exists)."""

import pytest

from tests.own_data_doc import check


@pytest.mark.parametrize("loader", ["signal.audio", "signal.arrays"])
def test_own_data_config_resolves(loader):
    check(loader)
