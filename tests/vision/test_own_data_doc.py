"""docs/own-data.md's config for vision.folder resolves (every component and parameter exists)."""

from tests.own_data_doc import check


def test_own_data_config_resolves():
    check("vision.folder")
