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


class NotApplicable(DataError):
    """A validator (or the application it trains) cannot apply to this run's data: too few kept
    samples, 1-D features, one class. The pipeline reports ``not applicable: <why>`` for that
    validator and the run goes on; elsewhere it is a data error like any other."""
