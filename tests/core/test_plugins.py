import pytest

from gda_core import hookimpl, hookspecs
from gda_core.components import Generator
from gda_core.errors import PluginError
from gda_core.host import host


def test_only_core_loads_when_told_to():
    names = [p.name for p in host.list_plugins()]
    assert names == ["gda_core"]


def test_every_hookspec_has_a_docstring():
    specs = [f for name, f in vars(hookspecs).items() if name.startswith("register_")]
    assert {f"register_{k}" for k in hookspecs.KIND_NAMES} <= {f.__name__ for f in specs}
    assert len(specs) >= len(hookspecs.KIND_NAMES) + 1  # the kinds and register_commands
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
    host.register_plugin(_PluginA(), "plugin_a")
    try:
        assert host.get("generators", "test.noise") is _Noise
        assert host.create("generators", "test.noise").name == "test.noise"
        assert _Noise.name == "" and "name" not in vars(_Noise)  # the class is never changed
        host.register_plugin(_PluginB(), "plugin_b")
        with pytest.raises(PluginError, match="'plugin_a' and 'plugin_b'|'plugin_b' and 'plugin_a'"):
            host.components("generators")
    finally:
        host.unregister_plugin("plugin_a")
        host.unregister_plugin("plugin_b")


def test_plugin_raising_in_a_hook_is_reported_not_fatal():
    host.register_plugin(_Raises(), "raiser")
    try:
        assert "core.topk" in host.components("selectors")
        info = {p.name: p for p in host.list_plugins()}
        assert "boom" in info["raiser"].error
    finally:
        host.unregister_plugin("raiser")


def test_misspelt_hook_is_caught():
    class Typo:
        @hookimpl
        def register_generator(self, register):  # missing "s"
            pass

    with pytest.raises(Exception, match="register_generator"):
        host.register_plugin(Typo(), "typo")
    host.unregister_plugin("typo")


def test_bad_names_are_refused():
    class BadName:
        @hookimpl
        def register_generators(self, register):
            register("NoDots", _Noise)

    host.register_plugin(BadName(), "badname")
    try:
        host.components("generators")
        assert "dotted" in {p.name: p for p in host.list_plugins()}["badname"].error
    finally:
        host.unregister_plugin("badname")


class _Also:
    @hookimpl
    def register_generators(self, register):
        register("test.also-noise", _Noise)


def test_one_class_under_two_names_gets_each_name_on_its_instances():
    host.register_plugin(_PluginA(), "plugin_a")
    host.register_plugin(_Also(), "plugin_also")
    try:
        one, two = host.create("generators", "test.noise"), host.create("generators", "test.also-noise")
        assert (type(one), type(two)) == (_Noise, _Noise)
        assert (one.name, two.name) == ("test.noise", "test.also-noise")
    finally:
        host.unregister_plugin("plugin_a")
        host.unregister_plugin("plugin_also")


class _HalfBroken:
    @hookimpl
    def register_selectors(self, register):
        register("half.sel", "gda_core.builtin.selectors.topk:TopKSelector")

    @hookimpl
    def register_generators(self, register):
        raise RuntimeError("no licence")


@pytest.mark.parametrize("first", ["selectors", "generators", "validators"])
def test_a_plugin_raising_in_one_hook_is_left_out_of_every_kind_whatever_is_looked_up_first(first):
    host.register_plugin(_HalfBroken(), "half")
    try:
        host.components(first)
        assert "half.sel" not in host.components("selectors")
        assert "no licence" in {p.name: p for p in host.list_plugins()}["half"].error
    finally:
        host.unregister_plugin("half")
    assert "half" not in {p.name for p in host.list_plugins()}


class _Wrapper:
    """A hook wrapper: sees every plugin's registration, as pluggy's wrappers do."""

    def __init__(self):
        self.calls = 0

    @hookimpl(wrapper=True)
    def register_generators(self, register):
        self.calls += 1
        return (yield)


class _Late:
    @hookimpl(trylast=True)
    def register_generators(self, register):
        register("late.noise", _Noise)


class _Early:
    @hookimpl(tryfirst=True)
    def register_generators(self, register):
        register("late.noise", _Noise)


def test_hooks_are_called_through_pluggy_so_wrappers_and_tryfirst_apply():
    wrapper = _Wrapper()
    host.register_plugin(wrapper, "wrapper")
    host.register_plugin(_Late(), "late")
    host.register_plugin(_Early(), "early")
    try:
        with pytest.raises(PluginError, match="'early' and 'late'"):  # tryfirst registers first
            host.components("generators")
        assert wrapper.calls >= 3  # wrapped the core's, late's and early's registration
    finally:
        for name in ("wrapper", "late", "early"):
            host.unregister_plugin(name)
    assert "core.gmm" in host.components("generators")


def test_gda_trace_plugins_writes_every_hook_call(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "GDA_TRACE_PLUGINS": "1", "GDA_LOAD_PLUGINS": ""}
    code = "from gda_core.host import host; host.components('selectors')"
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stderr
    assert "register_selectors [hook]" in err and "<register selectors of plugin 'gda_core'>" in err
    env["GDA_TRACE_PLUGINS"] = "0"
    assert "[hook]" not in subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          env=env).stderr


def test_embedders_named_by_selectors_and_validators_are_built_when_the_config_is_resolved():
    from gda_core.config import resolve
    from gda_core.context import RunContext
    from gda_core.errors import ConfigError
    from gda_core.records import Dataset, Record

    resolved = resolve({"selectors": [{"name": "core.dedup", "params": {"embedder": "core.pca"}}],
                        "validators": [{"name": "core.prdc", "params": {"embedder": "core.pca"}}]})
    named = resolved.named_embedders()
    assert set(named) == {"core.flatten", "core.pca"} and named["core.pca"].name == "core.pca"
    assert "implicit_embedders" not in resolved.resolved_dict()  # the run folder's config is unchanged
    with pytest.raises(ConfigError, match=r"selectors\[0\]\.params\.embedder: unknown embedder 'core.pcaa'"):
        resolve({"selectors": [{"name": "core.dedup", "params": {"embedder": "core.pcaa"}}]})
    ctx = RunContext(train=Dataset([Record("a", [1.0, 2.0], 0)]))
    with pytest.raises(ConfigError, match="embedder 'core.pca' was not built"):
        ctx.embed(ctx.train.records, "core.pca")  # never looked up quietly
    assert ctx.embed(ctx.train.records).tolist() == [[1.0, 2.0]]  # no embedder: flattened values


def test_small_contract_points():
    import numpy as np

    from gda_core.components import Validator
    from gda_core.config import parse
    from gda_core.errors import ConfigError
    from gda_core.records import label_key

    assert label_key(np.int64(3)) == label_key(3) == "3" and label_key("cat") == "cat"
    assert Validator.accepts_empty is False
    assert host.get("validators", "core.downstream").accepts_empty is True
    with pytest.raises(ConfigError, match=r"generate\.per_class: .*number of samples per class"):
        parse({"generate": {"per_class": True}})  # the selectors' per_class is the switch
