import json
from pathlib import Path

from PIL import Image

import gda_core

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits.yaml"

# the same overrides shrink the demo to a smoke run in the nox session
SMOKE = [
    "generator.params.train_steps=30",
    "generator.params.num_inference_steps=5",
    "generate.per_class=6",
    "validators.0.params.seeds=1",
    "validators.3.params.methods=[pca]",
    "embedder.params.steps=20",
]


def test_digits_example_runs_end_to_end(tmp_path):
    result = gda_core.run(EXAMPLE, tmp_path / "run", quiet=True, overrides=SMOKE)
    folder = result.folder
    assert len(result.synthetic) == 60 and len(result.baselines["vision.classical"]) == 60
    kept = result.kept
    assert 0 < len(kept) < 60  # cluster keeps 75%, confidence 80% of that
    pngs = sorted((folder / "samples").glob("*.png"))
    assert len(pngs) == len(kept)
    assert Image.open(pngs[0]).size == (8, 8)
    metrics = json.loads((folder / "validation.json").read_text())
    down = metrics["core.downstream"]
    for key in ("real.accuracy.mean", "real+synthetic.accuracy.mean", "synthetic.accuracy.mean",
                "real+vision.classical (baseline).accuracy.mean", "real+after core.cluster.accuracy.mean"):
        assert 0 <= down[key] <= 1, key
    assert metrics["vision.fid"]["fid"] >= 0 and "fid.vision.classical" in metrics["vision.fid"]
    assert set(metrics["core.prdc"]) == {"precision", "recall", "density", "coverage"}
    assert (folder / "model" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert "vision.fid" in (folder / "report.md").read_text()
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 60 and rows[0]["generator"] == "vision.ddpm"
