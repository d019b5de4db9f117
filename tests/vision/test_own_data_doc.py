"""docs/own-data.md's vision.folder config: it resolves, its quick check shortens training, and it
runs end to end (quick check, then tinier) on a folder of PNGs of two sizes written here."""

import numpy as np
from PIL import Image

from tests.own_data_doc import check, run_tiny


def test_own_data_config_resolves_and_its_quick_check_shortens_training():
    check("vision.folder")


def test_own_data_config_runs_on_a_png_folder(tmp_path):
    rng = np.random.default_rng(0)
    for c, value in (("cat", 40), ("dog", 200)):
        for i in range(6):
            shape = (20, 14, 3) if i % 2 else (14, 20, 3)  # not square: fit: pad keeps the aspect
            img = np.clip(value + rng.integers(-30, 30, size=shape), 0, 255).astype(np.uint8)
            (tmp_path / "images" / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(tmp_path / "images" / c / f"{i}.png")
    res = run_tiny("vision.folder", tmp_path / "images", tmp_path / "run",
                   "dataset.params.size=8", "generator.params.train_steps=4", "generator.params.num_inference_steps=3",
                   "validators.0.params.seeds=1")
    assert {str(r.label) for r in res.train} == {"cat", "dog"} and res.train[0].data.shape == (3, 8, 8)
    assert res.test is not None and len(res.test) > 0
    assert sorted((tmp_path / "run" / "samples").rglob("*.png"))
    assert (tmp_path / "run" / "report.html").is_file()
