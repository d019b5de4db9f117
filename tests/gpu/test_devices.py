"""The CUDA and bf16 paths of every torch generator (``nox -s gpu``; issue 24).

Runs on ``GDA_TEST_DEVICE`` (default ``cuda``) and is skipped where that device is CUDA and none
is present, so it runs only on a GPU machine, or on the CPU when asked (``GDA_TEST_DEVICE=cpu``,
which checks this file itself: both sides of a cross-device check are then the CPU). Each
generator's tiny conformance setup (the packages' ``tests/*/test_conformance.py``) is reused:

- it fits a few steps and samples on the device in float32 and in bfloat16 (where it has a
  ``precision`` parameter): one finite record per condition like the training records, the same
  samples for the same seed;
- a model fitted on the device samples on the CPU, and one fitted on the CPU samples on the
  device, with the same samples within a tolerance (GDA draws all sampling noise from one seeded
  CPU generator, so only the arithmetic differs between devices).

``torch.compile`` is not offered by any generator (no ``compile`` parameter), so none is checked.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from gda_core.host import host
from gda_core.records import RecordSpec
from gda_core.testing import GeneratorContract

DEVICE = os.environ.get("GDA_TEST_DEVICE", "cuda").strip() or "cuda"
ATOL = float(os.environ.get("GDA_TEST_ATOL", "0.05"))
"""Cross-device tolerance, relative to the samples' value range (TF32 convolutions and reduction
order differ between devices)."""

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(),
                       reason=f"GDA_TEST_DEVICE={DEVICE}: no CUDA device here"),
]

_MODULES = {"gda_vision": "tests.vision.test_conformance", "gda_medical": "tests.medical.test_conformance",
            "gda_signal": "tests.signal.test_conformance", "gda_text": "tests.text.test_conformance"}
# tests/text's modules import their helpers as top-level modules (its conftest puts the folder on
# sys.path, but that conftest is not loaded when only tests/gpu is collected)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "text"))


def _contracts() -> list[type[GeneratorContract]]:
    """Every generator contract of the installed packages' conformance tests whose generator runs
    torch (has a ``device`` parameter). A package that is not installed is left out; one that is
    installed but whose conformance module does not import is an error, not a silent skip."""
    out = []
    for package, name in _MODULES.items():
        if importlib.util.find_spec(package) is None:
            continue
        mod = importlib.import_module(name)
        for obj in vars(mod).values():
            if (isinstance(obj, type) and issubclass(obj, GeneratorContract) and obj is not GeneratorContract
                    and obj.__module__ == name):
                if "device" in host.get("generators", obj.name).Params.model_fields:
                    out.append(obj)
    return out


CONTRACTS = _contracts()


def _fields(contract: type[GeneratorContract]) -> dict:
    return host.get("generators", contract.name).Params.model_fields


def _arrays(records) -> list[np.ndarray]:
    return [np.asarray(r.data, dtype=np.float64) for r in records]


def _close(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """The largest difference between paired samples, relative to their value range."""
    worst = 0.0
    for x, y in zip(a, b):
        scale = max(1.0, float(np.ptp(x)) if x.size else 1.0)
        worst = max(worst, float(np.max(np.abs(x - y))) / scale)
    return worst


def test_every_installed_torch_generator_is_checked():
    names = {c.name for c in CONTRACTS}
    expected = {"gda_vision": {"vision.ddpm", "vision.gan", "vision.vae", "vision.sd"},
                "gda_medical": {"medical.ddpm3d", "medical.mask2image", "medical.ldm3d", "medical.pix2pix",
                                "medical.vae3d"},
                "gda_signal": {"signal.diffusion1d", "signal.timegan", "signal.vae1d", "signal.specdiff"},
                "gda_text": {"text.prompt"}}
    for package, gens in expected.items():
        if importlib.util.find_spec(package) is not None:
            assert gens <= names, f"{package}: {sorted(gens - names)} not checked"


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: f"{c.name}:{c.__name__}")
def test_fits_and_samples_on_the_device(contract, precision):
    c = contract()
    extra = {"device": DEVICE}
    if "precision" in _fields(contract):
        extra["precision"] = precision
    elif precision != "float32":
        pytest.skip(f"{contract.name} has no precision parameter")
    gen, train, ctx = c._fit_fresh(**extra)
    conds = c.conditions(train)
    out = gen.generate(conds, seed=1, context=ctx)
    RecordSpec.of(train).check(out, len(conds), f"generator {contract.name} on {DEVICE} ({precision})")
    if not isinstance(out[0].data, str):
        assert all(np.isfinite(x).all() for x in _arrays(out)), f"{contract.name}: non-finite samples"
    again = gen.generate(conds, seed=1, context=ctx)
    if isinstance(out[0].data, str):
        assert [r.data for r in out] == [r.data for r in again], f"{contract.name}: not deterministic on {DEVICE}"
    else:
        assert _close(_arrays(out), _arrays(again)) == 0.0, f"{contract.name}: not deterministic on {DEVICE}"


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: f"{c.name}:{c.__name__}")
def test_a_model_fitted_on_one_device_samples_on_the_other(contract, tmp_path):
    c = contract()
    fp32 = {"precision": "float32"} if "precision" in _fields(contract) else {}
    for fit_on, load_on in ((DEVICE, "cpu"), ("cpu", DEVICE)):
        gen, train, ctx = c._fit_fresh(device=fit_on, **fp32)
        conds = c.conditions(train)
        here = gen.generate(conds, seed=5, context=ctx)
        folder = tmp_path / f"fitted-on-{fit_on.replace(':', '-')}"
        gen.save_pretrained(folder)
        loaded = type(gen).from_pretrained(folder, device=load_on)
        there = loaded.generate(conds, seed=5, context=ctx)
        RecordSpec.of(train).check(there, len(conds), f"generator {contract.name} fitted on {fit_on}, on {load_on}")
        if isinstance(here[0].data, str):
            continue  # text sampling may legitimately diverge token by token
        diff = _close(_arrays(here), _arrays(there))
        assert diff <= ATOL, f"{contract.name}: fitted on {fit_on}, sampled on {load_on}: differs by {diff:.3g}"
