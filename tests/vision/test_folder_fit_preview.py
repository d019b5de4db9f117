"""vision.folder keeps the aspect ratio on request (pad or center-crop); the samples preview draws images."""

import numpy as np
import pytest
from PIL import Image

from gda_core.components import Figure
from gda_core.records import Dataset, Record
from gda_vision.datasets import DigitsDataset, ImageFolderDataset

from .helpers import make_context


def _wide_folder(root):
    (root / "wide").mkdir(parents=True)
    Image.fromarray(np.full((20, 40, 3), 255, np.uint8)).save(root / "wide" / "a.png")  # 40 wide, 20 tall


@pytest.mark.parametrize("fit", ["squash", "pad", "crop"])
def test_folder_fit(tmp_path, fit):
    _wide_folder(tmp_path / "imgs")
    loader = ImageFolderDataset(path=str(tmp_path / "imgs"), size=16, channels=1, fit=fit)
    img = loader.load(make_context(Dataset([]))).train.records[0].data[0]
    assert img.shape == (16, 16)
    if fit == "pad":  # the 2:1 image fills the middle 8 rows; 4 black rows above and below
        assert np.allclose(img[:3], 0, atol=0.02) and np.allclose(img[-3:], 0, atol=0.02)
        assert np.allclose(img[6:10], 1, atol=0.02)
    else:  # squashed or cropped, white everywhere
        assert np.allclose(img, 1, atol=0.02)


def test_folder_fit_is_checked():
    with pytest.raises(Exception, match="fit"):
        ImageFolderDataset(path="x", fit="stretch")


def test_preview_is_an_image_grid():
    loader = DigitsDataset(k_shot=2)
    train = loader.load(make_context(Dataset([]))).train
    real = {}
    for r in train:
        real.setdefault(str(r.label), []).append(r)
    kept = {"3": [Record("s-1", np.zeros((1, 8, 8), np.float32), 3)]}
    fig = loader.preview(real, kept)
    assert isinstance(fig, Figure) and fig.png.startswith(b"\x89PNG")
    assert fig.filename == "samples.png"
    w, h = Image.open(__import__("io").BytesIO(fig.png)).size
    assert h > 300 and w > 150  # ten rows of digits
