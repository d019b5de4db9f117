"""Fixtures for integration tests: the plugin template installed into the test environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gda_core.testing import restrict_plugins

_plugins_for_module, _plugins_for_test = restrict_plugins()


REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "templates" / "gda-plugin"
TEMPLATE_DIST = "gda-example"

def _gda_command() -> list[str]:
    """The ``gda`` console script of the running interpreter's environment."""
    script = Path(sys.executable).parent / ("gda.exe" if os.name == "nt" else "gda")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "gda_core.cli"]


def _env(load: str) -> dict[str, str]:
    """The environment for a subprocess that loads the plugin distributions ``load``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"GDA_LOAD_PLUGINS": load, "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"})
    return env


@pytest.fixture
def gda():
    """Run ``gda ARGS...`` in a subprocess that loads gda-core and the template plugin."""

    def run(*args: str, cwd: Path | None = None, load: str = TEMPLATE_DIST) -> subprocess.CompletedProcess:
        return subprocess.run([*_gda_command(), *args], capture_output=True, text=True, timeout=300,
                              env=_env(load), cwd=cwd)

    return run


@pytest.fixture
def template_env() -> dict[str, str]:
    """The environment of a subprocess that loads gda-core and the template plugin."""
    return _env(TEMPLATE_DIST)


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)


@pytest.fixture(scope="session")
def template_copy(tmp_path_factory) -> Path:
    """A copy of ``templates/gda-plugin`` (so no build files land in the repository)."""
    dest = tmp_path_factory.mktemp("template") / "gda-plugin"
    shutil.copytree(TEMPLATE, dest, ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", ".pytest_cache", "build", "dist", "*.egg-info"))
    return dest


@pytest.fixture(scope="session")
def installed_template(template_copy) -> Path:
    """Pip-install the template plugin into this environment; uninstall it afterwards."""
    done = _pip("install", "--no-deps", "--no-build-isolation", "-q", str(template_copy))
    if done.returncode != 0:
        pytest.fail(f"pip install of the template failed:\n{done.stdout}\n{done.stderr}")
    try:
        yield template_copy
    finally:
        _pip("uninstall", "-y", "-q", TEMPLATE_DIST)
