"""Registration and import discipline."""

import json
import os
import subprocess
import sys

import pytest

NAMES = {
    "generators": ["signal.diffusion1d", "signal.classical", "signal.specdiff", "signal.timegan", "signal.vae1d"],
    "validators": ["signal.discriminative", "signal.predictive"],
    "applications": ["signal.classifier", "signal.mel-cnn"],
    "selectors": ["signal.noise-filter"],
    "datasets": ["signal.ucr", "signal.arrays", "signal.audio"],
    "embedders": ["signal.embedder"],
}


def test_components_registered():
    from gda_core.host import host

    for kind, names in NAMES.items():
        for name in names:
            assert host.components(kind)[name].plugin == "gda_signal"


def test_describe_does_not_import_heavy_libraries():
    code = (
        "import json, sys\n"
        "from gda_core.host import host\n"
        f"names = {json.dumps(NAMES)}\n"
        "out = [host.describe(k, n)['name'] for k, ns in names.items() for n in ns]\n"
        "heavy = [m for m in ('torch', 'torchaudio', 'diffusers', 'aeon', 'soundfile') if m in sys.modules]\n"
        "print(json.dumps({'described': out, 'heavy': heavy}))\n"
    )
    env = {**os.environ, "GDA_LOAD_PLUGINS": "gda-signal"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(out["described"]) == sum(len(v) for v in NAMES.values())
    assert out["heavy"] == []


@pytest.mark.parametrize("kind,name,params,field", [
    ("generators", "signal.diffusion1d", {"steps": 0}, "steps"),
    ("generators", "signal.diffusion1d", {"sampler": "euler"}, "sampler"),
    ("generators", "signal.classical", {"methods": ["shuffle"]}, "methods"),
    ("validators", "signal.discriminative", {"iterations": -1}, "iterations"),
    ("applications", "signal.classifier", {"model": "lstm"}, "model"),
    ("datasets", "signal.audio", {"path": "x", "on_rate_mismatch": "ignore"}, "on_rate_mismatch"),
    ("embedders", "signal.embedder", {"n_kernels": 10}, "n_kernels"),
])
def test_bad_params_name_the_field(kind, name, params, field):
    from gda_core.config import ComponentRef, build
    from gda_core.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"params\.{field}"):
        build(kind, ComponentRef(name=name, params=params), kind[:-1])
