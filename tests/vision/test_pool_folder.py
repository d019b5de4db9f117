"""vision.folder's unlabelled pool: an `unlabelled` folder and the training images beyond k_shot."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gda_core.context import RunContext
from gda_core.errors import DataError
from gda_core.host import host
from gda_core.records import Dataset


def _png(path, value: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(np.clip(value + rng.integers(-20, 20, size=(12, 12)), 0, 255).astype(np.uint8)).save(path)


@pytest.fixture
def folders(tmp_path):
    for c, v in (("a", 40), ("b", 200)):
        for i in range(6):
            _png(tmp_path / "train" / c / f"{i}.png", v, seed=i)
        _png(tmp_path / "test" / c / "t0.png", v, seed=100)
    for i in range(5):
        _png(tmp_path / "train" / "unlabelled" / ("deep" if i > 2 else ".") / f"u{i}.png", 120, seed=50 + i)
    return tmp_path


def load(seed: int = 0, **params):
    loader = host.get("datasets", "vision.folder").from_params({"size": 8, "channels": 1, **params})
    return loader.load(RunContext(train=Dataset([]), seed=seed, quiet=True))


def test_unlabelled_folder_becomes_the_pool_and_is_no_class(folders):
    splits = load(path=str(folders / "train"), test_path=str(folders / "test"),
                  unlabelled=str(folders / "train" / "unlabelled"))
    assert splits.train.classes == ["a", "b"] and len(splits.train) == 12
    pool = splits.pool
    assert len(pool) == 5 and all(r.label is None for r in pool)
    assert all(r.data.shape == (1, 8, 8) for r in pool)
    assert not {r.id for r in pool} & {r.id for r in [*splits.train, *splits.test]}


def test_k_shot_remainder_joins_the_pool_and_never_a_test_image(folders):
    splits = load(path=str(folders / "train"), k_shot=2, unlabelled=str(folders / "train" / "unlabelled"))
    assert len(splits.train) == 4
    test_ids = {r.id for r in splits.test}
    pool_ids = {r.id for r in splits.pool}
    assert len(splits.pool) == 12 - len(splits.test) - 4 + 5
    assert not pool_ids & test_ids and not pool_ids & {r.id for r in splits.train}
    assert all(r.label is None for r in splits.pool)
    (folders / "train" / "unlabelled").rename(folders / "elsewhere")  # else it would be refused as a class
    assert load(path=str(folders / "train"), k_shot=2, pool=False).pool is None


def test_unlabelled_errors_name_the_folder_or_file(folders):
    with pytest.raises(DataError, match="unlabelled: .*nowhere is not a folder"):
        load(path=str(folders / "train"), unlabelled=str(folders / "nowhere"))
    (folders / "empty").mkdir()
    with pytest.raises(DataError, match="unlabelled: .*empty holds no images"):
        load(path=str(folders / "train"), unlabelled=str(folders / "empty"))
    _png(folders / "leak" / "copy.png", 40, seed=100)  # the same pixels as test/a/t0.png
    with pytest.raises(DataError, match="leak/copy.png is the test image"):
        load(path=str(folders / "train"), test_path=str(folders / "test"), unlabelled=str(folders / "leak"))
    (folders / "broken").mkdir()
    (folders / "broken" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image .*broken/x.png"):
        load(path=str(folders / "train"), unlabelled=str(folders / "broken"))


def test_an_unlabelled_subfolder_without_the_unlabelled_param_is_refused_with_the_fix(folders):
    with pytest.raises(DataError, match=r"path: the subfolder .*train/unlabelled would become a class named "
                       r"'unlabelled'; .*set dataset.params.unlabelled: .*train/unlabelled"):
        load(path=str(folders / "train"), test_path=str(folders / "test"))
    (folders / "train" / "unlabelled").rename(folders / "train" / "Unlabeled-images")
    with pytest.raises(DataError, match="would become a class named 'Unlabeled-images'"):
        load(path=str(folders / "train"), test_path=str(folders / "test"))
    splits = load(path=str(folders / "train"), test_path=str(folders / "test"),
                  unlabelled=str(folders / "train" / "Unlabeled-images"))
    assert splits.train.classes == ["a", "b"] and len(splits.pool) == 5


def test_pseudo_label_without_a_pool_names_vision_folders_parameters(folders, tmp_path):
    import gda_core
    from gda_core.errors import ConfigError

    (folders / "train" / "unlabelled").rename(folders / "elsewhere")
    cfg = {"dataset": {"name": "vision.folder", "params": {"path": str(folders / "train"), "size": 8,
                                                          "channels": 1, "test_path": str(folders / "test")}},
           "generator": "core.gmm", "strategy": "core.pseudo-label", "generate": {"per_class": 2}}
    with pytest.raises(ConfigError, match="dataset vision.folder offers none: set dataset.params.unlabelled to a "
                       "folder of images without labels, or dataset.params.k_shot") as err:
        gda_core.run(cfg, tmp_path / "run", quiet=True)
    assert "vision.digits" not in str(err.value) and not (tmp_path / "run").exists()
