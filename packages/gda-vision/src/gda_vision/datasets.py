"""Image data set loaders: scikit-learn's handwritten digits and a folder of class subfolders.

Vision records hold float32 arrays ``(C, H, W)`` with values in [0, 1]; kept
synthetic samples are written back as PNG files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from gda_core.components import DatasetLoader, DataSplits, Params
from gda_core.errors import DataError
from gda_core.records import Dataset, Record
from gda_core.splits import class_folders, k_shot, k_shot_with_pool

from ._images import to_pil

if TYPE_CHECKING:
    from gda_core.components import Figure, Table
    from gda_core.context import RunContext

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _resize_np(images: np.ndarray, size: int | None) -> np.ndarray:
    """Resize ``(n, C, H, W)`` [0, 1] arrays to ``size`` x ``size`` with Pillow (bicubic)."""
    if size is None or images.shape[-1] == size and images.shape[-2] == size:
        return images
    from PIL import Image

    out = np.empty(images.shape[:2] + (size, size), dtype=np.float32)
    for i, img in enumerate(images):
        for c, ch in enumerate(img):
            pil = Image.fromarray(ch.astype(np.float32), mode="F")
            out[i, c] = np.asarray(pil.resize((size, size), Image.BICUBIC), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def _square(im, size: int, fit: str):
    """``im`` as a ``size`` x ``size`` Pillow image: squashed, padded (``ImageOps.pad``) or
    center-cropped (``ImageOps.fit``)."""
    from PIL import Image, ImageOps

    if fit == "pad":
        return ImageOps.pad(im, (size, size), method=Image.BICUBIC, color=0, centering=(0.5, 0.5))
    if fit == "crop":
        return ImageOps.fit(im, (size, size), method=Image.BICUBIC, centering=(0.5, 0.5))
    return im.resize((size, size), Image.BICUBIC)


class ImageDatasetLoader(DatasetLoader):
    """Base of the vision loaders: writes a kept sample as an 8-bit PNG (L or RGB)."""

    def save_sample(self, record: Record, stem: Path) -> Path | None:
        out = stem.with_suffix(".png")
        to_pil(record.data).save(out, format="PNG")
        return out

    def preview(self, real: dict[str, list[Record]], kept: dict[str, list[Record]]) -> Figure | Table | None:
        """An image grid: per class, real images beside kept synthetic ones."""
        from gda_core.previews import sample_grid

        from ._images import to_uint8_hwc

        def draw(ax, record: Record) -> None:
            ax.imshow(to_uint8_hwc(np.asarray(record.data)), cmap="gray", vmin=0, vmax=255, interpolation="nearest")

        return sample_grid(real, kept, draw, title="Images: real beside kept synthetic, per class")


class DigitsParams(Params):
    k_shot: int | None = Field(None, gt=0, description="keep only this many training images per class (seeded)")
    test_size: float = Field(0.3, gt=0, lt=1, description="held-out share, drawn before the k-shot subset")
    size: int | None = Field(None, gt=1, description="resize the 8x8 images to size x size (default: keep 8x8)")
    classes: list[int] | None = Field(None, description="keep only these digits (default: all ten)")
    pool: bool = Field(True, description="with k_shot, offer the other training images as an unlabelled "
                       "pool (DataSplits.pool; never a test image) for pool strategies such as core.pseudo-label")


class DigitsDataset(ImageDatasetLoader):
    """scikit-learn's handwritten digits (1797 grey 8x8 images, 10 classes; ships offline).

    Pixel values 0..16 are scaled to [0, 1]. A stratified held-out test split is
    drawn with the run seed first; ``k_shot`` then keeps k training images per class, and
    the other training images form an unlabelled pool (``pool``: label None, true label kept
    in ``meta["hidden_label"]`` for reports only).
    """

    Params = DigitsParams
    pool_hint = ("set dataset.params.k_shot: the training images beyond it form the pool (with pool: true, the "
                 "default)")

    def load(self, context: RunContext) -> DataSplits:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        p = self.params
        bunch = load_digits()
        X = (bunch.images.astype(np.float32) / 16.0)[:, None]  # (n, 1, 8, 8)
        y = bunch.target.astype(int)
        if p.classes is not None:
            bad = [c for c in p.classes if c not in range(10)]
            if bad:
                raise DataError(f"dataset.params.classes: {bad} are not digits 0..9")
            mask = np.isin(y, p.classes)
            X, y = X[mask], y[mask]
        X = _resize_np(X, p.size)
        tr, te = train_test_split(np.arange(len(y)), test_size=p.test_size, random_state=context.seed, stratify=y)
        classes = sorted(set(y.tolist()))
        meta = {"channels": 1, "height": int(X.shape[-2]), "width": int(X.shape[-1]), "source": "sklearn digits"}

        def records(idx: np.ndarray, prefix: str) -> list[Record]:
            return [Record(id=f"{prefix}-{i:05d}", data=X[i], label=int(y[i])) for i in sorted(idx)]

        train = Dataset(records(tr, "digits-train"), modality="image", classes=classes, meta=meta)
        test = Dataset(records(te, "digits-test"), modality="image", classes=classes, meta=meta)
        if p.k_shot is None or not p.pool:
            return DataSplits(k_shot(train, p.k_shot, context.seed), test)
        labelled, pool = k_shot_with_pool(train, p.k_shot, context.seed)
        return DataSplits(labelled, test, pool=pool if len(pool) else None)


class FolderParams(Params):
    path: str = Field(..., description="folder with one subfolder of images per class")
    test_path: str | None = Field(None, description="a test folder laid out the same way (else a split is held out)")
    size: int = Field(32, gt=1, description="every image is resized to size x size")
    fit: Literal["squash", "pad", "crop"] = Field(
        "squash", description="how a non-square image becomes size x size: squash (resize, aspect ratio lost), "
        "pad (keep the aspect ratio, pad the short side with black), crop (keep it, center-crop the long side)")
    channels: Literal[1, 3] = Field(3, description="1 for grey, 3 for RGB")
    k_shot: int | None = Field(None, gt=0, description="keep only this many training images per class (seeded)")
    test_size: float = Field(0.3, gt=0, lt=1, description="held-out share when k_shot is set and no test_path")
    unlabelled: str | None = Field(None, description="a folder of images without labels (searched recursively; "
                                   "may sit inside path) for the unlabelled pool")
    pool: bool = Field(True, description="with k_shot, the other training images join the unlabelled pool too")


class ImageFolderDataset(ImageDatasetLoader):
    """A folder of PNG/JPEG images, one subfolder per class (the subfolder name is the label),
    converted to ``size`` x ``size`` (``fit``: squashed, padded or center-cropped) and ``channels``
    channels."""

    Params = FolderParams
    pool_hint = ("set dataset.params.unlabelled to a folder of images without labels, or "
                 "dataset.params.k_shot: the training images beyond it join the pool (with pool: true, the "
                 "default)")

    def _read(self, path_str: str, field: str) -> Dataset:
        root = Path(path_str).expanduser()
        if not root.is_dir():
            raise DataError(f"dataset.params.{field}: {root} is not a folder")
        class_dirs = class_folders(root, self.params.unlabelled, field)
        if not class_dirs:
            raise DataError(f"dataset.params.{field}: {root} has no class subfolders")
        p = self.params
        records: list[Record] = []
        for d in class_dirs:
            files = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            for f in files:
                split = "test" if field == "test_path" else "train"  # in the id: unique across splits and suffixes
                records.append(Record(id=f"{split}:{d.name}/{f.name}", data=self._image(f), label=d.name,
                                      meta={"file": str(f)}))
        if not records:
            raise DataError(f"dataset.params.{field}: {root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        meta = {"channels": p.channels, "height": p.size, "width": p.size, "source": str(root)}
        return Dataset(records, modality="image", classes=[d.name for d in class_dirs], meta=meta)

    def _image(self, f: Path) -> np.ndarray:
        """One image file as a ``(C, size, size)`` float array in [0, 1]; errors name the file."""
        from PIL import Image, UnidentifiedImageError

        p = self.params
        try:
            with Image.open(f) as im:
                im = _square(im.convert("L" if p.channels == 1 else "RGB"), p.size, p.fit)
                a = np.asarray(im, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(f"cannot read image {f}: {exc}") from exc
        return np.ascontiguousarray(a[None] if a.ndim == 2 else np.transpose(a, (2, 0, 1)))

    def _unlabelled(self, test: Dataset | None) -> list[Record]:
        """The ``unlabelled`` folder's images as pool records; one identical to a test image is an error."""
        root = Path(self.params.unlabelled or "").expanduser()
        if not root.is_dir():
            raise DataError(f"dataset.params.unlabelled: {root} is not a folder")
        files = sorted(f for f in root.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                       and not any(part.startswith(".") for part in f.relative_to(root).parts))
        if not files:
            raise DataError(f"dataset.params.unlabelled: {root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        test_images = {np.asarray(r.data).tobytes(): r.id for r in test or []}
        out = []
        for f in files:
            a = self._image(f)
            if a.tobytes() in test_images:
                raise DataError(f"dataset.params.unlabelled: {f} is the test image {test_images[a.tobytes()]!r}; "
                                "the unlabelled pool must hold no test image")
            rel = f.relative_to(root).with_suffix("").as_posix()
            out.append(Record(id=f"unlabelled:{rel}", data=a, label=None, meta={"file": str(f)}))
        return out

    def load(self, context: RunContext) -> DataSplits:
        train = self._read(self.params.path, "path")
        test = None
        if self.params.test_path:
            t = self._read(self.params.test_path, "test_path")
            unknown = sorted(set(t.classes) - set(train.classes))
            if unknown:
                raise DataError(f"dataset.params.test_path: classes {unknown} are not in the training folder")
            test = Dataset(t.records, modality="image", classes=train.classes, meta=t.meta)
        pool: list[Record] = []
        if self.params.k_shot is not None:
            if test is None:  # hold out the test split first, so it is not limited to k per class
                from gda_core.splits import split_train_test

                train, test = split_train_test(train, self.params.test_size, context.seed)
            if self.params.pool:
                train, remainder = k_shot_with_pool(train, self.params.k_shot, context.seed)
                pool.extend(remainder.records)
            else:
                train = k_shot(train, self.params.k_shot, context.seed)
        if self.params.unlabelled:
            pool.extend(self._unlabelled(test))
        return DataSplits(train, test, Dataset(pool, modality="image", classes=train.classes, meta=train.meta)
                          if pool else None)
