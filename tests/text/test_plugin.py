"""Registration, import discipline and the docs of gda-text's components."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gda_core.host import host

EXPECTED = {
    "generators": {"text.prompt", "text.nlpaug"},
    "strategies": {"text.lora"},
    "selectors": {"text.perplexity", "text.format"},
    "validators": {"text.diversity"},
    "applications": {"text.classifier"},
    "datasets": {"text.builtin", "text.table"},
    "embedders": {"text.embedder", "text.tfidf"},
}


def test_components_are_registered_by_this_plugin():
    for kind, names in EXPECTED.items():
        reg = host.components(kind)
        for name in names:
            assert name in reg, (kind, name)
            assert reg[name].plugin == "gda_text"


def test_describing_every_component_imports_no_heavy_library():
    code = f"""
import json, sys
from gda_core.host import host
expected = {json.dumps({k: sorted(v) for k, v in EXPECTED.items()})}
out = {{}}
for kind, names in expected.items():
    for name in names:
        d = host.describe(kind, name)
        assert d["summary"], name
        out[name] = [p["name"] for p in d["params"]]
heavy = [m for m in ("torch", "transformers", "peft", "nlpaug", "sentence_transformers", "tokenizers")
         if m in sys.modules]
print(json.dumps({{"heavy": heavy, "params": out}}))
"""
    env = {**os.environ, "GDA_LOAD_PLUGINS": "gda-text"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout.strip().splitlines()[-1])
    assert data["heavy"] == []
    assert "template" in data["params"]["text.prompt"] and "r" in data["params"]["text.lora"]


def test_docs_mention_every_component_and_parameter():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "text.md").read_text()
    for kind, names in EXPECTED.items():
        for name in names:
            assert f"`{name}`" in docs, name
            for field in host.get(kind, name).Params.model_fields:
                assert f"`{field}`" in docs, (name, field)
