"""Errors that GDA reports to users as one line and exit code 2."""

from __future__ import annotations


class GDAError(Exception):
    """A problem with the user's input (config, data, run folder).

    The CLI prints the message on one line and exits with code 2; no work has
    been done, or what was done has been kept intact for a resume.
    """

    exit_code = 2


class ConfigError(GDAError):
    """The configuration names an unknown component or an invalid parameter."""


class DataError(GDAError):
    """The data set is missing, unreadable, empty or holds invalid values."""


class RunFolderError(GDAError):
    """The output folder holds another run or is otherwise unusable."""


class PluginError(GDAError):
    """Plugins clash (two components with one name) or misbehave."""
