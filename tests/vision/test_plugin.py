import json
import subprocess
import sys

from gda_core.host import host

COMPONENTS = {
    "generators": ["vision.ddpm", "vision.gan", "vision.vae", "vision.sd", "vision.classical"],
    "strategies": ["vision.lora"],
    "selectors": ["vision.clip-filter"],
    "validators": ["vision.fid"],
    "applications": ["vision.cnn"],
    "datasets": ["vision.digits", "vision.folder"],
    "embedders": ["vision.cnn-embedder", "vision.clip-embedder"],
}


def test_every_component_is_registered_by_gda_vision():
    for kind, names in COMPONENTS.items():
        reg = host.components(kind)
        for name in names:
            assert name in reg, f"{name} missing from {kind}"
            assert reg[name].plugin == "gda_vision"
    own = {n for kind in COMPONENTS for n, info in host.components(kind).items() if info.plugin == "gda_vision"}
    assert own == {n for names in COMPONENTS.values() for n in names}


def test_describing_every_component_does_not_import_torch():
    code = (
        "import json, sys\n"
        "from gda_core.host import host\n"
        f"names = {json.dumps(COMPONENTS)}\n"
        "out = [host.describe(k, n) for k, ns in names.items() for n in ns]\n"
        "assert all(d['summary'] for d in out), [d['name'] for d in out if not d['summary']]\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'peft') if m in sys.modules]\n"
        "print(json.dumps({'n': len(out), 'heavy': heavy}))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "GDA_LOAD_PLUGINS": "gda-vision"})
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["n"] == sum(len(v) for v in COMPONENTS.values())
    assert report["heavy"] == []
