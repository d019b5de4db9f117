"""examples/phantoms.yaml end to end, shrunk with --set style overrides."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "phantoms.yaml"

SMALL = [
    "dataset.params.size=16", "dataset.params.n_train=4", "dataset.params.n_test=4", "dataset.params.num_objs=3",
    "generator.params.steps=20", "generator.params.channels=[8,8]", "generator.params.inference_steps=4",
    "generate.per_class=4", "generate.shard_size=2",
    "application.params.steps=10", "application.params.channels=[8,16]", "application.params.patch_size=[8,8,8]",
    "validators.0.params.seeds=2",
]


def test_phantoms_example_runs_end_to_end(tmp_path):
    import nibabel as nib

    from gda_core.pipeline import run

    res = run(EXAMPLE, tmp_path / "run", quiet=True, overrides=SMALL)
    assert len(res.synthetic) == 4 and 1 <= len(res.kept) <= 4
    m = res.metrics["core.downstream"]
    for key in ("real.dice.mean", "real+synthetic.dice.mean", "real+medical.classical (baseline).dice.mean"):
        assert 0.0 <= m[key] <= 1.0
    assert "mmd" in res.metrics["medical.mmd"] and "ms_ssim" in res.metrics["medical.msssim-diversity"]
    rows = [json.loads(line) for line in (tmp_path / "run" / "manifest.jsonl").read_text().splitlines()]
    kept = [r for r in rows if r["kept"]]
    assert len(kept) == len(res.kept)
    for row in kept:
        img = nib.load(str(tmp_path / "run" / row["path"]))
        lab = nib.load(str(tmp_path / "run" / row["path"].replace(".nii.gz", "_label.nii.gz")))
        assert img.shape == (16, 16, 16) and lab.shape == (16, 16, 16)
        np.testing.assert_allclose(img.affine, np.eye(4))
        assert set(np.unique(lab.get_fdata())) <= {0.0, 1.0}
        assert "medical.realism" in row["scores"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "real+synthetic" in report and "medical.classical" in report and "dice" in report
    # a second run on the same folder resumes from the saved model and shards, with the same result
    again = run(EXAMPLE, tmp_path / "run", quiet=True, overrides=SMALL)
    assert [r.id for r in again.kept] == [r.id for r in res.kept]
    assert np.array_equal(again.kept[0].data, res.kept[0].data)
