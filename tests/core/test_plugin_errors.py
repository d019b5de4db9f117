"""Broken plugins are reported, not fatal; clashing names are an error naming both plugins.

Installed plugins are faked with a ``*.dist-info`` folder (METADATA and an
``entry_points.txt`` in the ``gda`` group) next to the plugin's package, on the
``PYTHONPATH`` of a ``gda`` subprocess: exactly what ``importlib.metadata`` sees
of a pip-installed distribution.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gda_core import hookimpl
from gda_core.builtin.generators.gmm import GaussianMixtureGenerator
from gda_core.config import resolve
from gda_core.errors import ConfigError, PluginError
from gda_core.hookspecs import KIND_NAMES
from gda_core.host import host

HEALTHY = '''
from gda_core import hookimpl


@hookimpl
def register_generators(register):
    register("healthy.gmm", "gda_healthy.gen:HealthyGenerator")


@hookimpl
def register_commands(cli):
    @cli.command(name="healthy-hello")
    def hello():
        """Say hello from a plugin command."""
        print("hello from gda_healthy")
'''

HEALTHY_GEN = '''
from gda_core.builtin.generators.gmm import GaussianMixtureGenerator


class HealthyGenerator(GaussianMixtureGenerator):
    """A Gaussian mixture under another name."""
'''

BROKEN_IMPORT = '''
import gda_core

raise RuntimeError("the broken plugin needs libfoo")
'''

BROKEN_REGISTER = '''
from gda_core import hookimpl


@hookimpl
def register_generators(register):
    register("broken.first", "gda_broken_register.gen:Nothing")
    raise ValueError("cannot register: no licence key")


@hookimpl
def register_selectors(register):
    register("broken.sel", "gda_broken_register.sel:Nothing")
'''

BROKEN_COMMAND = '''
from gda_core import hookimpl


@hookimpl
def register_commands(cli):
    raise KeyError("no such command group")
'''

LAZY_BROKEN = '''
from gda_core import hookimpl


@hookimpl
def register_generators(register):
    register("lazy.gen", "gda_lazy.gen:LazyGenerator")
'''

LAZY_BROKEN_GEN = '''
import a_library_that_is_not_installed  # noqa: F401
'''

TYPO = '''
from gda_core import hookimpl


@hookimpl
def register_generator(register):  # misspelt: register_generators
    register("typo.gmm", "gda_core.builtin.generators.gmm:GaussianMixtureGenerator")
'''


def clash(module: str) -> str:
    return f'''
from gda_core import hookimpl


@hookimpl
def register_generators(register):
    register("shared.gmm", "gda_core.builtin.generators.gmm:GaussianMixtureGenerator")
    register("{module}.own", "gda_core.builtin.generators.kde:KernelDensityGenerator")
'''


def fake_distribution(site: Path, dist: str, plugin_source: str, extra: dict[str, str] | None = None) -> str:
    """Write a package ``gda_x`` (for ``dist`` ``gda-x``) and its dist-info into ``site``."""
    module = dist.replace("-", "_")
    pkg = site / module
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(textwrap.dedent(plugin_source))
    for name, source in (extra or {}).items():
        (pkg / name).write_text(textwrap.dedent(source))
    info = site / f"{module}-0.3.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3.1\n")
    (info / "entry_points.txt").write_text(f"[gda]\n{module} = {module}.plugin\n")
    return module


def gda(site: Path, *args: str, load: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"PYTHONPATH": str(site), "GDA_LOAD_PLUGINS": load, "PYTHONDONTWRITEBYTECODE": "1"})
    return subprocess.run([sys.executable, "-c", "from gda_core.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def site(tmp_path) -> Path:
    fake_distribution(tmp_path, "gda-healthy", HEALTHY, {"gen.py": HEALTHY_GEN})
    fake_distribution(tmp_path, "gda-broken-import", BROKEN_IMPORT)
    fake_distribution(tmp_path, "gda-broken-register", BROKEN_REGISTER)
    fake_distribution(tmp_path, "gda-broken-command", BROKEN_COMMAND)
    return tmp_path


ALL = "gda-healthy,gda-broken-import,gda-broken-register,gda-broken-command"


def test_plugins_that_raise_are_listed_with_their_error_and_the_rest_load(site):
    done = gda(site, "plugins", "--json", load=ALL)
    assert done.returncode == 0, done.stderr
    found = {p["name"]: p for p in json.loads(done.stdout)}
    assert set(found) == {"gda_core", "gda_healthy", "gda_broken_import", "gda_broken_register",
                          "gda_broken_command"}

    broken = found["gda_broken_import"]
    assert broken["distribution"] == "gda-broken-import" and broken["version"] == "0.3.1"
    assert broken["hooks"] == []
    assert broken["error"].startswith("RuntimeError: the broken plugin needs libfoo")
    assert "plugin.py" in broken["error"]  # where it was raised

    raiser = found["gda_broken_register"]
    assert "ValueError: cannot register: no licence key" in raiser["error"]
    assert raiser["hooks"] == ["register_generators", "register_selectors"]

    assert "KeyError" in found["gda_broken_command"]["error"]

    for name in ("gda_core", "gda_healthy"):
        assert "error" not in found[name]
    assert found["gda_healthy"]["hooks"] == ["register_commands", "register_generators"]
    assert {f"register_{k}" for k in KIND_NAMES} <= set(found["gda_core"]["hooks"])


def test_plain_gda_plugins_shows_the_error_line(site):
    done = gda(site, "plugins", load=ALL)
    assert done.returncode == 0, done.stderr
    block = done.stdout.split("gda_broken_import (gda-broken-import 0.3.1)")[1].split("\n")[1]
    assert block.strip().startswith("error: RuntimeError: the broken plugin needs libfoo")


def test_components_of_healthy_plugins_stay_usable(site):
    done = gda(site, "list", "--json", load=ALL)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    generators = {g["name"]: g for g in listing["generators"]}
    assert generators["healthy.gmm"]["plugin"] == "gda_healthy"
    assert "core.gmm" in generators
    # a plugin that raised while registering contributes nothing, not half its components
    names = {c["name"] for items in listing.values() for c in items}
    assert not {n for n in names if n.startswith("broken.")}

    helped = gda(site, "--help", load=ALL)
    assert helped.returncode == 0, helped.stderr
    assert "healthy-hello" in helped.stdout
    hello = gda(site, "healthy-hello", load=ALL)
    assert hello.returncode == 0 and hello.stdout.strip() == "hello from gda_healthy"


def test_a_plugin_raising_in_one_hook_is_left_out_of_list_selectors_list_and_run_alike(site):
    load = "gda-healthy,gda-broken-register"
    # its register_generators raises; its register_selectors would have worked
    selectors = gda(site, "list", "selectors", "--json", load=load)
    assert selectors.returncode == 0, selectors.stderr
    assert "broken.sel" not in {s["name"] for s in json.loads(selectors.stdout)["selectors"]}
    everything = gda(site, "list", "--json", load=load)
    assert "broken.sel" not in {s["name"] for s in json.loads(everything.stdout)["selectors"]}
    config = site / "broken.yaml"
    config.write_text("selectors: [broken.sel]\n")
    ran = gda(site, "run", str(config), "-o", str(site / "run"), load=load)
    assert ran.returncode == 2 and "unknown selector 'broken.sel'" in ran.stderr
    listed = gda(site, "plugins", "--json", load=load)
    assert "no licence key" in {p["name"]: p for p in json.loads(listed.stdout)}["gda_broken_register"]["error"]


def test_gda_load_plugins_selects_distributions(site):
    done = gda(site, "plugins", "--json", load="gda-healthy")
    assert done.returncode == 0, done.stderr
    assert [p["name"] for p in json.loads(done.stdout)] == ["gda_core", "gda_healthy"]
    done = gda(site, "plugins", "--json", load="")
    assert [p["name"] for p in json.loads(done.stdout)] == ["gda_core"]


def test_two_installed_plugins_with_one_name_is_an_error_naming_both(tmp_path):
    fake_distribution(tmp_path, "gda-clash-a", clash("clash-a"))
    fake_distribution(tmp_path, "gda-clash-b", clash("clash-b"))
    load = "gda-clash-a,gda-clash-b"

    done = gda(tmp_path, "plugins", "--json", load=load)
    assert done.returncode == 2
    assert {p["name"] for p in json.loads(done.stdout)} == {"gda_core", "gda_clash_a", "gda_clash_b"}
    assert "'shared.gmm'" in done.stderr
    assert "'gda_clash_a'" in done.stderr and "'gda_clash_b'" in done.stderr

    listed = gda(tmp_path, "list", "generators", load=load)
    assert listed.returncode == 2
    assert len(listed.stderr.strip().splitlines()) == 1
    assert "'gda_clash_a'" in listed.stderr and "'gda_clash_b'" in listed.stderr
    assert "Traceback" not in listed.stderr


def test_a_component_whose_module_fails_to_import_is_reported_when_needed(tmp_path):
    fake_distribution(tmp_path, "gda-lazy", LAZY_BROKEN, {"gen.py": LAZY_BROKEN_GEN})

    plugins_done = gda(tmp_path, "plugins", "--json", load="gda-lazy")  # registering imports nothing
    assert plugins_done.returncode == 0, plugins_done.stderr
    assert all("error" not in p for p in json.loads(plugins_done.stdout))

    listed = gda(tmp_path, "list", "generators", "--json", load="gda-lazy")
    assert listed.returncode == 0, listed.stderr
    generators = {g["name"]: g for g in json.loads(listed.stdout)["generators"]}
    assert "a_library_that_is_not_installed" in generators["lazy.gen"]["error"]
    assert generators["core.gmm"]["params"] and "error" not in generators["core.gmm"]

    config = tmp_path / "lazy.yaml"
    config.write_text("generator: lazy.gen\n")
    ran = gda(tmp_path, "run", str(config), "-o", str(tmp_path / "run"), load="gda-lazy")
    assert ran.returncode == 2
    assert len(ran.stderr.strip().splitlines()) == 1
    assert "'gda_lazy'" in ran.stderr and "a_library_that_is_not_installed" in ran.stderr
    assert not (tmp_path / "run").exists()


def test_an_installed_plugin_with_a_misspelt_hook_is_reported_not_fatal(site):
    fake_distribution(site, "gda-typo", TYPO)
    done = gda(site, "plugins", "--json", load="gda-healthy,gda-typo")
    assert done.returncode == 0, done.stderr
    found = {p["name"]: p for p in json.loads(done.stdout)}
    assert "register_generator" in found["gda_typo"]["error"]
    assert "error" not in found["gda_healthy"]


# --- in process -------------------------------------------------------------


class _Shadow(GaussianMixtureGenerator):
    """A plugin generator that takes a name the core already uses."""


class _ShadowsCore:
    @hookimpl
    def register_generators(self, register):
        register("core.gmm", _Shadow)


def test_taking_a_core_name_names_the_core_and_the_plugin():
    host.register_plugin(_ShadowsCore(), "gda_shadow")
    try:
        with pytest.raises(PluginError) as err:
            host.components("generators")
        assert "'core.gmm'" in str(err.value)
        assert "'gda_core'" in str(err.value) and "'gda_shadow'" in str(err.value)
        # a run that needs a generator fails before any work, with the same message
        with pytest.raises(ConfigError, match="gda_shadow"):
            resolve({"generator": "core.gmm"})
    finally:
        host.unregister_plugin("gda_shadow")
    assert host.get("generators", "core.gmm") is GaussianMixtureGenerator
