"""examples/gunpoint.yaml end to end, shrunk by overrides (the same path the nox smoke run takes)."""

import json
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gunpoint.yaml"

SMOKE = [
    "dataset.params.k_shot=4",
    "generator.params.steps=4", "generator.params.base_channels=8", "generator.params.num_inference_steps=3",
    "generate.per_class=4",
    "validators.0.params.seeds=1",
    "validators.1.params.iterations=5", "validators.1.params.repeats=1",
    "validators.2.params.iterations=5", "validators.2.params.repeats=1",
    "application.params.n_kernels=168", "embedder.params.n_kernels=84",
]


def test_gunpoint_example_runs_end_to_end(tmp_path):
    from gda_core.pipeline import run

    res = run(EXAMPLE, tmp_path / "run", quiet=True, overrides=SMOKE)
    assert len(res.train) == 8 and len(res.test) == 150
    assert len(res.synthetic) == 8 and len(res.baselines["signal.classical"]) == 8
    assert all(r.data.shape == (1, 150) for r in res.synthetic)
    m = res.metrics
    down = m["core.downstream"]
    # GunPoint has 2 classes: MiniRocket on 4 real series per class is well above chance, and the
    # classical baseline's jittered and scaled copies keep it there
    assert down["real.accuracy.mean"] > 0.8, down  # 0.93 measured
    assert down["real+signal.classical (baseline).accuracy.mean"] > 0.8, down
    # the baseline series lie nearest real series of their own class (labels carried through)
    X = np.stack([r.data.ravel() for r in res.train.records])
    classical = res.baselines["signal.classical"]
    nearest = [res.train.records[int(np.argmin(np.linalg.norm(X - r.data.ravel(), axis=1)))].label for r in classical]
    assert np.mean([n == r.label for n, r in zip(nearest, classical)]) > 0.8
    assert 0.0 <= m["signal.discriminative"]["discriminative_score"] <= 0.5
    assert m["signal.predictive"]["predictive_score"] > 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "manifest.jsonl").read_text().splitlines()]
    kept = [r for r in rows if r["kept"]]
    assert kept and all(r["path"].endswith(".npy") for r in kept)
    sample = np.load(tmp_path / "run" / kept[0]["path"])
    assert sample.shape == (1, 150) and sample.dtype == np.float32
    report = (tmp_path / "run" / "report.md").read_text()
    assert "discriminative score" in report and "predictive score" in report
    assert (tmp_path / "run" / "model" / "denoiser" / "diffusion_pytorch_model.safetensors").is_file()
    assert not (tmp_path / "run" / "model.partial").exists()  # the fit's resumable state, gone once saved
