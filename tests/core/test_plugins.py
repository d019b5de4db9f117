import pytest

from gda_core import hookimpl, hookspecs, plugins, registry
from gda_core.components import Generator
from gda_core.errors import PluginError


def test_only_core_loads_when_told_to():
    names = [p.name for p in plugins.list_plugins()]
    assert names == ["gda_core"]


def test_every_hookspec_has_a_docstring():
    specs = [f for name, f in vars(hookspecs).items() if name.startswith("register_")]
    assert len(specs) == 8
    assert all(f.__doc__ and f.__doc__.strip() for f in specs)


class _Noise(Generator):
    """A test generator."""


class _PluginA:
    @hookimpl
    def register_generators(self, register):
        register("test.noise", _Noise)


class _PluginB:
    @hookimpl
    def register_generators(self, register):
        register("test.noise", _Noise)


class _Raises:
    @hookimpl
    def register_selectors(self, register):
        raise RuntimeError("boom")


def test_registered_plugin_components_are_found_and_clashes_name_both():
    plugins.register_plugin(_PluginA(), "plugin_a")
    try:
        assert registry.get("generators", "test.noise") is _Noise
        assert _Noise.name == "test.noise"
        plugins.register_plugin(_PluginB(), "plugin_b")
        with pytest.raises(PluginError, match="'plugin_a' and 'plugin_b'|'plugin_b' and 'plugin_a'"):
            registry.registry("generators")
    finally:
        plugins.unregister_plugin("plugin_a")
        plugins.unregister_plugin("plugin_b")


def test_plugin_raising_in_a_hook_is_reported_not_fatal():
    plugins.register_plugin(_Raises(), "raiser")
    try:
        assert "core.topk" in registry.registry("selectors")
        info = {p.name: p for p in plugins.list_plugins()}
        assert "boom" in info["raiser"].error
    finally:
        plugins.unregister_plugin("raiser")


def test_misspelt_hook_is_caught():
    class Typo:
        @hookimpl
        def register_generator(self, register):  # missing "s"
            pass

    with pytest.raises(Exception, match="register_generator"):
        plugins.register_plugin(Typo(), "typo")
    plugins.unregister_plugin("typo")


def test_bad_names_are_refused():
    class BadName:
        @hookimpl
        def register_generators(self, register):
            register("NoDots", _Noise)

    plugins.register_plugin(BadName(), "badname")
    try:
        registry.registry("generators")
        assert "dotted" in {p.name: p for p in plugins.list_plugins()}["badname"].error
    finally:
        plugins.unregister_plugin("badname")


def test_accelerator_helpers_need_no_torch_to_import_and_check_settings(monkeypatch):
    import subprocess
    import sys

    from gda_core import accelerators
    from gda_core.errors import ConfigError

    code = "import sys, gda_core.accelerators; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    monkeypatch.setenv("GDA_TORCH_THREADS", "two")
    with pytest.raises(ConfigError, match="GDA_TORCH_THREADS"):
        accelerators.apply_thread_setting()
    monkeypatch.setenv("GDA_TORCH_THREADS", "")
    accelerators.apply_thread_setting()  # unset: nothing to do, torch not needed
