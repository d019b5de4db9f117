import json
from pathlib import Path

import numpy as np
from PIL import Image

import gda_core

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits.yaml"

# the same overrides shrink the demo to a smoke run in the nox session (noxfile.py VISION_SMOKE)
SMOKE = [
    "generator.params.train_steps=30",
    "generator.params.num_inference_steps=5",
    "generate.per_class=6",
]


def test_digits_example_runs_end_to_end(tmp_path):
    result = gda_core.run(EXAMPLE, tmp_path / "run", quiet=True, overrides=SMOKE)
    folder = result.folder
    assert len(result.synthetic) == 60 and len(result.baselines["vision.classical"]) == 60
    kept = result.kept
    assert 0 < len(kept) <= 60
    pngs = sorted((folder / "samples").glob("*.png"))
    assert len(pngs) == len(kept)
    assert Image.open(pngs[0]).size == (8, 8)
    metrics = json.loads((folder / "validation.json").read_text())
    down = metrics["core.downstream"]
    # 10 classes: the 5-shot SVM on the real test split is far above chance (0.1), and so is it with
    # the classical baseline's images added (affine + noise copies that keep their class)
    assert down["real.accuracy.mean"] > 0.5, down
    assert down["real+vision.classical (baseline).accuracy.mean"] > down["real.accuracy.mean"] - 0.1, down
    # the baseline images lie nearest real images of their own class (labels carried through)
    from sklearn.neighbors import KNeighborsClassifier

    flat = lambda recs: np.stack([np.asarray(r.data, dtype=float).ravel() for r in recs])  # noqa: E731
    knn = KNeighborsClassifier(1).fit(flat(result.train.records), [r.label for r in result.train.records])
    classical = result.baselines["vision.classical"]
    assert np.mean(knn.predict(flat(classical)) == np.asarray([r.label for r in classical])) > 0.6  # chance: 0.1
    # the DDPM learnt from labelled + pool images pseudo-labelled by label spreading: nearly all right
    # against the hidden labels the pipeline kept aside
    assert json.loads((folder / "pool_strategy.json").read_text())["accuracy_vs_hidden_labels"] > 0.9
    assert set(metrics["core.prdc"]) == {"precision", "recall", "density", "coverage"}
    # every run measures near-copies of what the generator trained on: the 50 shots + the kept pool
    mem = metrics["core.memorization"]
    assert 0 <= mem["near_copy_share"] <= 1 and 0 <= mem["near_copy_share_real"] <= 1
    trained_on = json.loads((folder / "model" / "trained_on.json").read_text())
    assert len(trained_on["ids"]) > 50
    assert (folder / "model" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    report = (folder / "report.md").read_text()
    assert "near-cop" in report.lower()
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 60 and rows[0]["generator"] == "vision.ddpm"
    assert rows[0]["strategy"] == "core.pseudo-label"
