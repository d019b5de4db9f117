"""The conformance kit fails components that break a contract, and the common test fails a plugin
whose component has no contract (gda_core.testing)."""

from __future__ import annotations

import pytest

from gda_core import hookimpl
from gda_core.builtin.generators.gmm import GaussianMixtureGenerator
from gda_core.host import host
from gda_core.testing import GeneratorContract, conformance_suite, planted_vectors


class SavesItsTemperature(GaussianMixtureGenerator):
    """A mixture whose saved state wrongly holds a sampling parameter."""

    def save_state(self, path):
        super().save_state(path)
        (path / "sampling.txt").write_text(str(self.params.temperature))


class PeeksAtTest(GaussianMixtureGenerator):
    """A mixture that reads the test split while fitting."""

    def fit(self, train, context):
        assert context.test is not None
        super().fit(train, context)


class Plugin:
    @hookimpl
    def register_generators(self, register):
        register("kit.saves-temperature", SavesItsTemperature)
        register("kit.peeks", PeeksAtTest)
        register("kit.untested", GaussianMixtureGenerator)


@pytest.fixture(autouse=True)
def planted():
    host.register_plugin(Plugin(), "kit-test")
    yield
    host.unregister_plugin("kit-test")


def _contract(name):
    class Contract(GeneratorContract):
        params = {"n_components": 1}

        def train_data(self):
            return planted_vectors(n=6, dim=3)[0]

    Contract.name = name
    return Contract()


def test_a_sampling_parameter_in_the_saved_model_fails_the_contract(tmp_path):
    from gda_core.components import sampling_fields

    assert "temperature" in sampling_fields(SavesItsTemperature.Params)
    with pytest.raises(AssertionError, match=r"changing sampling parameter \{'temperature': .*\} changed the saved "
                                             r"model \(sampling.txt differs\)"):
        _contract("kit.saves-temperature").test_sampling_parameters_are_not_part_of_the_fitted_model(tmp_path)
    _contract("core.gmm").test_sampling_parameters_are_not_part_of_the_fitted_model(tmp_path / "ok")


def test_reading_the_test_split_fails_the_contract():
    from gda_core.errors import GDAError

    with pytest.raises(GDAError, match="kit.peeks .*read context.test"):
        _contract("kit.peeks").test_one_record_per_condition_like_the_training_records()


def test_the_common_test_fails_a_component_without_a_contract_and_a_stale_skip_entry():
    suite = conformance_suite("kit-test", {"TestPeeks": type(_contract("kit.peeks"))})
    with pytest.raises(AssertionError, match="generator kit.untested has no conformance contract: add a "
                                             "GeneratorContract subclass"):
        suite("generators", "kit.untested")
    suite("generators", "kit.peeks")  # has one: the cheap checks pass
    stale = conformance_suite("kit-test", {}, skip={"kit.gone": "removed"})
    with pytest.raises(AssertionError, match="the skip list names components kit-test does not register: kit.gone"):
        stale("generators", "kit.untested")
    with pytest.raises(pytest.skip.Exception, match="kit.untested: a reason"):
        conformance_suite("kit-test", {}, skip={"kit.untested": "a reason"})("generators", "kit.untested")


def test_the_conformance_device_variables_reach_components_with_a_device(monkeypatch):
    from gda_core.testing import DEVICE_ENV, PRECISION_ENV, device_overrides

    monkeypatch.setenv(DEVICE_ENV, "cuda:1")
    monkeypatch.setenv(PRECISION_ENV, "bfloat16")
    assert device_overrides("generators", "core.gmm") == {}  # no device parameter: nothing changes
    pytest.importorskip("gda_vision")
    from gda_core.testing import only_plugins

    with only_plugins("gda-vision"):
        assert device_overrides("generators", "vision.ddpm") == {"device": "cuda:1", "precision": "bfloat16"}
        monkeypatch.delenv(DEVICE_ENV)
        monkeypatch.delenv(PRECISION_ENV)
        assert device_overrides("generators", "vision.ddpm") == {}
