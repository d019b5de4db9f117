"""The plugin registers every component lazily: describing them all imports no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

EXPECTED = {
    "generators": {"medical.ddpm3d", "medical.mask2image", "medical.ldm3d", "medical.classical", "medical.pix2pix",
                   "medical.vae3d"},
    "selectors": {"medical.realism"},
    "validators": {"medical.mmd", "medical.msssim-diversity"},
    "applications": {"medical.segmentation"},
    "datasets": {"medical.phantoms", "medical.nifti"},
    "embedders": {"medical.pooled"},
}

SCRIPT = """
import json, sys
KINDS = sys.argv[1].split(",")
from gda_core.host import host
out = {}
for kind in KINDS:
    names = [n for n in host.components(kind) if n.startswith("medical.")]
    out[kind] = {n: host.describe(kind, n) for n in names}
print(json.dumps({"described": out, "torch": "torch" in sys.modules, "monai": "monai" in sys.modules}))
"""


def test_describe_every_component_without_importing_torch():
    env = {**os.environ, "GDA_LOAD_PLUGINS": "gda-medical"}
    res = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(sorted(EXPECTED))], capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["torch"] is False and out["monai"] is False
    for kind, names in EXPECTED.items():
        assert set(out["described"][kind]) == names
        for desc in out["described"][kind].values():
            assert desc["summary"] and desc["plugin"] == "gda_medical"


def test_plugin_is_listed():
    from gda_core.host import host

    pm = host.load()
    assert pm.get_plugin("gda_medical") is not None
    assert "gda_medical" not in host.failures
