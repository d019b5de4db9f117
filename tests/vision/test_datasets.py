import numpy as np
import pytest
from PIL import Image

from gda_core.errors import DataError
from gda_core.records import Dataset
from gda_vision.datasets import DigitsDataset, ImageFolderDataset

from .helpers import make_context


def _load(loader, seed=0):
    return loader.load(make_context(Dataset([]), seed=seed))


def test_digits_k_shot_and_held_out_test():
    splits = _load(DigitsDataset(k_shot=5, test_size=0.3))
    train, test = splits.train, splits.test
    assert len(train) == 50 and train.classes == list(range(10))
    assert all(len(v) == 5 for v in train.by_class().values())
    assert len(test) == round(0.3 * 1797) or abs(len(test) - 0.3 * 1797) < 2
    assert not {r.id for r in train} & {r.id for r in test}
    x = train.arrays()
    assert x.shape == (50, 1, 8, 8) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.9
    assert train.modality == "image"


def test_digits_k_shot_is_seeded():
    a = [r.id for r in _load(DigitsDataset(k_shot=3), seed=1).train]
    b = [r.id for r in _load(DigitsDataset(k_shot=3), seed=1).train]
    c = [r.id for r in _load(DigitsDataset(k_shot=3), seed=2).train]
    assert a == b and a != c


def test_digits_resize_and_class_subset():
    splits = _load(DigitsDataset(k_shot=2, size=16, classes=[3, 7]))
    assert splits.train.classes == [3, 7]
    assert splits.train.arrays().shape == (4, 1, 16, 16)
    with pytest.raises(DataError, match="classes"):
        _load(DigitsDataset(classes=[11]))


def _write_folder(root, size_a=(12, 10), size_b=(20, 20)):
    rng = np.random.default_rng(0)
    for cls, size in (("cat", size_a), ("dog", size_b)):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            arr = (rng.uniform(0, 1, size=(*size[::-1], 3)) * 255).astype(np.uint8)
            if cls == "dog":
                arr[:] = 200  # bright, so the classes differ
            Image.fromarray(arr).save(root / cls / f"{i}.{'png' if i % 2 else 'jpg'}")
    (root / "cat" / "notes.txt").write_text("not an image, ignored by suffix")


def test_folder_loads_converts_and_splits(tmp_path):
    _write_folder(tmp_path / "imgs")
    splits = _load(ImageFolderDataset(path=str(tmp_path / "imgs"), size=8, channels=1))
    assert splits.test is None  # the pipeline holds out a split
    train = splits.train
    assert train.classes == ["cat", "dog"] and len(train) == 8
    assert train.arrays().shape == (8, 1, 8, 8)
    dog = np.stack([r.data for r in train if r.label == "dog"])
    assert np.allclose(dog, 200 / 255, atol=0.02)
    rgb = _load(ImageFolderDataset(path=str(tmp_path / "imgs"), size=6, channels=3, k_shot=2, test_size=0.5))
    assert rgb.train.arrays().shape == (4, 3, 6, 6) and len(rgb.test) == 4


def test_folder_errors_name_the_file(tmp_path):
    _write_folder(tmp_path / "imgs")
    bad = tmp_path / "imgs" / "dog" / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="broken.png"):
        _load(ImageFolderDataset(path=str(tmp_path / "imgs")))
    with pytest.raises(DataError, match="is not a folder"):
        _load(ImageFolderDataset(path=str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class subfolders"):
        _load(ImageFolderDataset(path=str(tmp_path / "empty")))


def test_save_sample_writes_png(tmp_path):
    splits = _load(DigitsDataset(k_shot=1))
    rec = splits.train[0]
    out = DigitsDataset().save_sample(rec, tmp_path / "sample")
    assert out.suffix == ".png"
    back = np.asarray(Image.open(out), dtype=np.float32) / 255
    assert back.shape == (8, 8)
    assert np.allclose(back, rec.data[0], atol=1 / 255)
    rgb = rec.__class__(id="x", data=np.random.default_rng(0).uniform(0, 1, (3, 5, 4)).astype(np.float32))
    out = DigitsDataset().save_sample(rgb, tmp_path / "rgb")
    assert Image.open(out).mode == "RGB" and Image.open(out).size == (4, 5)
