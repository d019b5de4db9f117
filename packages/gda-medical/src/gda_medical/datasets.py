"""Volume data sets: seeded MONAI phantoms (offline default) and folders of NIfTI volumes.

Both write kept synthetic volumes back as NIfTI (``.nii.gz``) with the source
volume's affine, and the paired label as ``<id>_label.nii.gz``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from gda_core.components import DatasetLoader, DataSplits, Params
from gda_core.errors import DataError
from gda_core.records import Dataset, Record

from .volumes import affine_of

if TYPE_CHECKING:
    from gda_core.components import Figure, Table
    from gda_core.context import RunContext

NIFTI_SUFFIXES = (".nii.gz", ".nii")
POOL_SEED = 2**31
"""Root seed offset of medical.phantoms' unlabelled pool volumes (train and test use 2 * seed + 1, + 2)."""


def write_nifti(array: np.ndarray, affine: np.ndarray, path: Path) -> Path:
    """Write a ``(D, H, W)`` or ``(C, D, H, W)`` array as NIfTI with ``affine``."""
    import nibabel as nib

    a = np.asarray(array)
    if a.ndim == 4:
        a = a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)
    if a.dtype.kind in "iub":
        a = a.astype(np.int16 if a.max(initial=0) > 255 else np.uint8)
    else:
        a = a.astype(np.float32)
    img = nib.Nifti1Image(a, np.asarray(affine, dtype=np.float64))
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    nib.save(img, str(path))
    return path


class VolumeDatasetLoader(DatasetLoader):
    """Base of gda-medical's loaders: writes samples as NIfTI with the record's affine."""

    def save_sample(self, record: Record, stem: Path) -> Path | None:
        affine = affine_of(record)
        out = write_nifti(np.asarray(record.data), affine, stem.parent / f"{stem.name}.nii.gz")
        if record.target is not None:
            write_nifti(np.asarray(record.target), affine, stem.parent / f"{stem.name}_label.nii.gz")
        return out

    def preview(self, real: dict[str, list[Record]], kept: dict[str, list[Record]]) -> Figure | Table | None:
        """Mid axial slices: per class, real volumes beside kept synthetic ones, each image in grey with
        its label's outline (red) and area (tinted) on top."""
        from gda_core.previews import sample_grid

        def draw(ax, record: Record) -> None:
            image, label = mid_slice(record.data), mid_slice(record.target) if record.target is not None else None
            ax.imshow(image, cmap="gray", interpolation="nearest")
            if label is not None and np.any(label > 0.5):
                ax.imshow(np.ma.masked_where(label <= 0.5, label), cmap="autumn", alpha=0.35, interpolation="nearest")
                ax.contour(label > 0.5, levels=[0.5], colors="red", linewidths=0.8)

        return sample_grid(real, kept, draw, title="Mid axial slices with the label outlined: real beside kept "
                           "synthetic", cell=(1.4, 1.4))


def mid_slice(volume: Any) -> np.ndarray:
    """The middle slice along the first spatial axis of a ``(D, H, W)`` or ``(C, D, H, W)`` volume (channel 0)."""
    a = np.asarray(volume, dtype=np.float32)
    if a.ndim == 4:
        a = a[0]
    return a[a.shape[0] // 2] if a.ndim == 3 else a


# ---------------------------------------------------------------------------
# phantoms
# ---------------------------------------------------------------------------


class PhantomParams(Params):
    size: int = Field(16, ge=8, le=256, description="edge of the cubic volume in voxels (16: a 3-D model trains "
                      "in minutes on CPU; 32 takes about 8 times longer per step)")
    n_train: int = Field(8, gt=0, description="training volumes (scarce on purpose)")
    n_test: int = Field(16, gt=0, description="held-out test volumes")
    num_objs: int = Field(6, gt=0, description="spheres per volume")
    rad_min: int | None = Field(None, ge=1, description="smallest sphere radius (default size/8)")
    rad_max: int | None = Field(None, ge=2, description="largest sphere radius (default size/4)")
    noise_max: float = Field(0.3, ge=0, description="uniform background noise level (MONAI's noise_max)")
    num_seg_classes: int = Field(1, ge=1, le=10, description="label classes besides background")
    spacing: float = Field(1.0, gt=0, description="voxel size in mm, written into the affine")
    label: str = Field("phantom", description="the class name every record carries")
    n_pool: int = Field(0, ge=0, description="extra phantom volumes without masks for the unlabelled pool (their "
                        "own seeds, never a test volume)")

    @field_validator("size")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 4:
            raise ValueError("must be a multiple of 4 (the networks halve it twice)")
        return v


def make_phantom(size: int, seed: int, *, num_objs: int = 6, rad_min: int | None = None, rad_max: int | None = None,
                 noise_max: float = 0.3, num_seg_classes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One seeded MONAI test volume: image ``(1, S, S, S)`` in [0, 1] and label ``(1, S, S, S)``."""
    from monai.data import create_test_image_3d

    rmax = rad_max or max(3, size // 4)
    rmin = rad_min or max(1, size // 8)
    if rmax <= rmin:
        raise DataError(f"dataset.params: rad_max ({rmax}) must exceed rad_min ({rmin})")
    if size <= 2 * rmax:
        raise DataError(f"dataset.params: size {size} must exceed 2 * rad_max ({2 * rmax})")
    img, lab = create_test_image_3d(size, size, size, num_objs=num_objs, rad_max=rmax, rad_min=rmin,
                                    noise_max=noise_max, num_seg_classes=num_seg_classes, channel_dim=0,
                                    random_state=np.random.RandomState(seed))
    return img.astype(np.float32), lab.astype(np.uint8)


class PhantomsDataset(VolumeDatasetLoader):
    """Seeded 3-D phantoms with segmentation labels (MONAI create_test_image_3d), offline.

    Seeded 3-D phantoms from ``monai.data.create_test_image_3d``: noisy spheres with their
    segmentation labels. Works offline; the default data set of gda-medical."""

    Params = PhantomParams
    pool_hint = "set dataset.params.n_pool: that many extra phantom volumes without masks"

    def _records(self, n: int, prefix: str, seed: int) -> list[Record]:
        p = self.params
        seeds = np.random.SeedSequence([seed]).generate_state(n)
        affine = np.diag([p.spacing, p.spacing, p.spacing, 1.0])
        out = []
        for i, s in enumerate(seeds):
            img, lab = make_phantom(p.size, int(s), num_objs=p.num_objs, rad_min=p.rad_min, rad_max=p.rad_max,
                                    noise_max=p.noise_max, num_seg_classes=p.num_seg_classes)
            out.append(Record(id=f"{prefix}-{i:04d}", data=img, label=p.label, target=lab,
                              meta={"affine": affine.tolist(), "spacing": [p.spacing] * 3}))
        return out

    def load(self, context: RunContext) -> DataSplits:
        train = Dataset(self._records(self.params.n_train, "phantom-train", context.seed * 2 + 1),
                        modality="volume", classes=[self.params.label])
        test = Dataset(self._records(self.params.n_test, "phantom-test", context.seed * 2 + 2),
                       modality="volume", classes=[self.params.label])
        pool = None
        if self.params.n_pool:  # a seed stream of its own: 2 * seed + 1 and + 2 stay below POOL_SEED
            records = self._records(self.params.n_pool, "phantom-pool", POOL_SEED + context.seed)
            pool = Dataset([dataclasses.replace(r, label=None, target=None) for r in records], modality="volume",
                           classes=[self.params.label])
        return DataSplits(train, test, pool)


# ---------------------------------------------------------------------------
# NIfTI folders
# ---------------------------------------------------------------------------


class NiftiParams(Params):
    path: str = Field(..., description="folder of NIfTI volumes (.nii / .nii.gz)")
    labels: str | None = Field(None, description="folder of label volumes with the same file names "
                               "(default: <name><label_suffix>.nii.gz beside each volume)")
    label_suffix: str = Field("_label", description="suffix of label files kept beside the volumes")
    test_path: str | None = Field(None, description="a second folder, laid out the same way, used as the test split")
    test_labels: str | None = Field(None, description="label folder of test_path (like labels)")
    spatial_size: list[int] | None = Field(None, min_length=3, max_length=3,
                                           description="crop or pad (resize: resize) every volume to this shape")
    resize_mode: Literal["crop", "resize"] = Field("crop", description="crop/pad around the centre, or resample")
    spacing: list[float] | None = Field(None, min_length=3, max_length=3,
                                        description="resample to this voxel size in mm (default: keep)")
    orientation: str | None = Field("RAS", description="reorient to these axis codes (None: keep)")
    intensity: Literal["minmax", "percentile", "none"] = Field(
        "percentile", description="scale intensities to [0, 1]: min-max, 0.5-99.5 percentiles (clipped), or keep")
    label_name: str = Field("volume", description="the class name every record carries")
    unlabelled: str | None = Field(None, description="a folder of volumes without label volumes for the unlabelled "
                                   "pool (read like path)")
    unmasked: Literal["error", "pool"] = Field(
        "error", description="a volume in path without a label volume while others have one: an error, or a "
        "member of the unlabelled pool")


def _strip_nifti(name: str) -> str | None:
    for suf in NIFTI_SUFFIXES:
        if name.endswith(suf):
            return name[: -len(suf)]
    return None


class NiftiDataset(VolumeDatasetLoader):
    """A folder of NIfTI volumes (.nii/.nii.gz) with optional label volumes paired by name.

    A folder of NIfTI volumes with optional label volumes paired by file name, read with
    MONAI transforms (channel first, orientation, spacing, intensity scaling, crop or resize).
    The affine of each volume is kept and written back to the synthetic volumes."""

    Params = NiftiParams
    pool_hint = ("set dataset.params.unlabelled to a folder of volumes without label volumes, or "
                 "dataset.params.unmasked: pool")

    def _pairs(self, folder: Path, labels: str | None, field: str) -> list[tuple[Path, Path | None]]:
        p = self.params
        if not folder.is_dir():
            raise DataError(f"dataset.params.{field}: {folder} is not a folder")
        files = sorted(f for f in folder.iterdir() if f.is_file() and _strip_nifti(f.name) is not None)
        label_dir = Path(labels).expanduser() if labels else None
        suffix = p.label_suffix
        if label_dir is None and suffix:
            label_files = {f for f in files if _strip_nifti(f.name).endswith(suffix)}
        else:
            label_files = set()
        images = [f for f in files if f not in label_files]
        if not images:
            raise DataError(f"{folder} holds no NIfTI volumes (.nii or .nii.gz)")
        by_stem = {_strip_nifti(f.name): f for f in images}
        pairs: dict[Path, Path | None] = {f: None for f in images}
        if label_dir is not None:
            if not label_dir.is_dir():
                raise DataError(f"dataset.params: label folder {label_dir} is not a folder")
            for lab in sorted(label_dir.iterdir()):
                stem = _strip_nifti(lab.name)
                if stem is None:
                    continue
                if stem not in by_stem:
                    raise DataError(f"label {lab} has no volume named {stem}.nii(.gz) in {folder}")
                pairs[by_stem[stem]] = lab
        else:
            for lab in sorted(label_files):
                stem = _strip_nifti(lab.name)[: -len(suffix)]
                if stem not in by_stem:
                    raise DataError(f"label {lab} has no volume named {stem}.nii(.gz) in {folder}")
                pairs[by_stem[stem]] = lab
        with_labels = [f for f, lab in pairs.items() if lab is not None]
        if field == "unlabelled" and with_labels:
            raise DataError(f"dataset.params.unlabelled: {pairs[with_labels[0]]} is a label volume; this folder "
                            "holds volumes without masks")
        if with_labels and len(with_labels) != len(pairs) and not (field == "path" and p.unmasked == "pool"):
            missing = next(f for f, lab in pairs.items() if lab is None)
            raise DataError(f"volume {missing} has no label volume, while others have one")
        return sorted(pairs.items())

    def _transform(self, has_label: bool):
        from monai import transforms as T

        p = self.params
        keys = ["image", "label"] if has_label else ["image"]
        modes = ["bilinear", "nearest"] if has_label else ["bilinear"]
        chain: list[Any] = [T.EnsureChannelFirstd(keys)]
        if p.orientation:
            chain.append(T.Orientationd(keys, axcodes=p.orientation, labels=None))
        if p.spacing:
            chain.append(T.Spacingd(keys, pixdim=p.spacing, mode=modes))
        if p.intensity == "minmax":
            chain.append(T.ScaleIntensityd(["image"], minv=0.0, maxv=1.0))
        elif p.intensity == "percentile":
            chain.append(T.ScaleIntensityRangePercentilesd(["image"], lower=0.5, upper=99.5, b_min=0.0, b_max=1.0,
                                                            clip=True))
        if p.spatial_size:
            if p.resize_mode == "crop":
                chain.append(T.ResizeWithPadOrCropd(keys, spatial_size=p.spatial_size))
            else:
                chain.append(T.Resized(keys, spatial_size=p.spatial_size, mode=["trilinear", "nearest"][: len(keys)]))
        return T.Compose(chain)

    def _read(self, path: Path, loader) -> Any:
        try:
            return loader(str(path))
        except Exception as exc:
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise DataError(f"cannot read {path}: {msg[:200]}") from exc

    def _records(self, folder: Path, labels: str | None, prefix: str, field: str) -> list[Record]:
        from monai.transforms import LoadImage

        loader = LoadImage(image_only=True, reader="NibabelReader")
        out = []
        for img_path, lab_path in self._pairs(folder, labels, field):
            img = self._read(img_path, loader)
            if img.ndim not in (3, 4) or (img.ndim == 4 and img.shape[-1] != 1):
                raise DataError(f"{img_path} has {img.ndim} dimensions {tuple(img.shape)}; "
                                "expected a 3-D volume")
            if img.ndim == 4:
                img = img[..., 0]
            sample: dict[str, Any] = {"image": img}
            if lab_path is not None:
                lab = self._read(lab_path, loader)
                if lab.ndim == 4 and lab.shape[-1] == 1:
                    lab = lab[..., 0]
                if lab.ndim != 3:
                    raise DataError(f"{lab_path} has {lab.ndim} dimensions {tuple(lab.shape)}; "
                                    "expected a 3-D label volume")
                if tuple(lab.shape) != tuple(img.shape):
                    raise DataError(f"{lab_path} has shape {tuple(lab.shape)}, its volume {img_path.name} "
                                    f"{tuple(img.shape)}")
                sample["label"] = lab
            try:
                res = self._transform(lab_path is not None)(sample)
            except Exception as exc:
                raise DataError(f"cannot preprocess {img_path}: {str(exc).strip().splitlines()[-1][:200]}") from exc
            image = res["image"]
            affine = np.asarray(image.affine, dtype=np.float64)
            data = np.asarray(image.detach().cpu().numpy(), dtype=np.float32)
            if not np.all(np.isfinite(data)):
                raise DataError(f"{img_path} holds NaN or infinite values")
            target = None
            if lab_path is not None:
                target = np.rint(np.asarray(res["label"].detach().cpu().numpy())).astype(np.int64)
                if target.min() < 0:
                    raise DataError(f"{lab_path} holds negative labels")
                target = target.astype(np.uint8 if target.max() < 256 else np.int16)
            spacing = np.sqrt((affine[:3, :3] ** 2).sum(0)).tolist()
            # the file's name, whole: unique in its folder (two files may share a stem: a.nii, a.nii.gz)
            out.append(Record(id=f"{prefix}:{img_path.name}", data=data, label=self.params.label_name, target=target,
                              meta={"affine": affine.tolist(), "spacing": spacing, "source_file": str(img_path)}))
        return out

    def load(self, context: RunContext) -> DataSplits:
        p = self.params
        records = self._records(Path(p.path).expanduser(), p.labels, "train", "path")
        masked = any(r.target is not None for r in records)
        pool = [r for r in records if masked and r.target is None]  # unmasked: "pool"
        train = Dataset([r for r in records if not masked or r.target is not None], modality="volume",
                        classes=[p.label_name])
        test = None
        if p.test_path:
            test = Dataset(self._records(Path(p.test_path).expanduser(), p.test_labels, "test", "test_path"),
                           modality="volume", classes=[p.label_name])
        if p.unlabelled:
            pool += self._records(Path(p.unlabelled).expanduser(), None, "pool", "unlabelled")
            test_volumes = {np.asarray(r.data).tobytes(): r.meta["source_file"] for r in test or []}
            for r in pool:
                if np.asarray(r.data).tobytes() in test_volumes:
                    raise DataError(f"dataset.params.unlabelled: {r.meta['source_file']} is the test volume "
                                    f"{test_volumes[np.asarray(r.data).tobytes()]}; the pool must hold no test volume")
        pool = [dataclasses.replace(r, label=None, target=None) for r in pool]
        shapes = {np.asarray(r.data).shape for r in train.records + pool + (test.records if test else [])}
        if len(shapes) > 1:
            raise DataError(f"dataset {p.path}: volumes have different shapes {sorted(shapes)}; "
                            "set dataset.params.spatial_size")
        _hint_cpu_size(next(iter(shapes)), p.spatial_size)
        return DataSplits(train, test, Dataset(pool, modality="volume", classes=[p.label_name]) if pool else None)


CPU_VOXELS = 24**3
"""Above this many voxels per volume a CPU user is told about ``spatial_size`` (16^3 trains in minutes)."""


def _hint_cpu_size(shape: tuple[int, ...], spatial_size: list[int] | None) -> None:
    """Log a warning when large volumes are about to be trained on a machine without CUDA."""
    import logging

    import torch

    spatial = shape[-3:]
    if spatial_size is None and int(np.prod(spatial)) > CPU_VOXELS and not torch.cuda.is_available():
        logging.getLogger("gda").warning(
            "volumes of %s voxels train slowly on CPU (about 5 s per step at 32^3); for a first run set "
            "dataset.params.spatial_size: [16, 16, 16] and resize_mode: resize (see docs/medical.md)",
            "x".join(map(str, spatial)))
