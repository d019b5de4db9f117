"""medical.phantoms and medical.nifti: shapes, seeds, NIfTI round trips, errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import ConfigError, DataError
from gda_core.records import Dataset


def _ctx(seed=0):
    return RunContext(train=Dataset([]), seed=seed, quiet=True)


def test_phantoms_shapes_labels_and_seed():
    from gda_medical.datasets import PhantomsDataset

    ds = PhantomsDataset(size=16, n_train=3, n_test=2, num_objs=3)
    a, b, c = ds.load(_ctx(0)), ds.load(_ctx(0)), ds.load(_ctx(1))
    assert len(a.train) == 3 and len(a.test) == 2
    r = a.train[0]
    assert r.data.shape == (1, 16, 16, 16) and r.data.dtype == np.float32
    assert r.target.shape == (1, 16, 16, 16)
    assert 0.0 <= r.data.min() and r.data.max() <= 1.0
    assert set(np.unique(r.target)) == {0, 1}
    # the label marks the bright spheres
    assert r.data[r.target > 0].mean() > r.data[r.target == 0].mean() + 0.2
    assert np.array_equal(a.train[0].data, b.train[0].data)
    assert not np.array_equal(a.train[0].data, c.train[0].data)
    assert not np.array_equal(a.train[0].data, a.test[0].data)
    assert np.allclose(r.meta["affine"], np.eye(4))


def test_phantoms_bad_param_names_the_field():
    from gda_core.config import resolve

    with pytest.raises(ConfigError, match="size"):
        resolve({"dataset": {"name": "medical.phantoms", "params": {"size": 18}}})
    with pytest.raises(ConfigError, match="sise"):
        resolve({"dataset": {"name": "medical.phantoms", "params": {"sise": 16}}})


AFFINE = np.array([[2.0, 0, 0, -10], [0, 1.5, 0, 5], [0, 0, 3, 7], [0, 0, 0, 1]])


def _write(folder, name, array, affine=AFFINE):
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), str(folder / name))
    return folder / name


def _volumes(folder, n=2, shape=(16, 16, 12), labels=True):
    rng = np.random.default_rng(0)
    for i in range(n):
        _write(folder, f"case{i}.nii.gz", (rng.random(shape) * 100).astype(np.float32))
        if labels:
            _write(folder, f"case{i}_label.nii.gz", (rng.random(shape) > 0.7).astype(np.uint8))


def test_nifti_round_trip_keeps_affine(tmp_path):
    import nibabel as nib

    from gda_medical.datasets import NiftiDataset

    _volumes(tmp_path / "data")
    loader = NiftiDataset(path=str(tmp_path / "data"))
    splits = loader.load(_ctx())
    assert len(splits.train) == 2 and splits.test is None
    r = splits.train[0]
    assert r.data.shape == (1, 16, 16, 12) and r.target.shape == (1, 16, 16, 12)
    assert 0.0 <= r.data.min() and r.data.max() <= 1.0
    np.testing.assert_allclose(r.meta["affine"], AFFINE)
    np.testing.assert_allclose(r.meta["spacing"], [2.0, 1.5, 3.0])
    src = nib.load(str(tmp_path / "data" / "case0_label.nii.gz")).get_fdata()
    assert np.array_equal(r.target[0], src.astype(np.uint8))

    out = loader.save_sample(r, tmp_path / "out")
    assert out == tmp_path / "out.nii.gz"
    img = nib.load(str(out))
    np.testing.assert_allclose(img.affine, AFFINE)
    np.testing.assert_allclose(img.get_fdata(), r.data[0], atol=1e-6)
    lab = nib.load(str(tmp_path / "out_label.nii.gz"))
    np.testing.assert_allclose(lab.affine, AFFINE)
    assert np.array_equal(lab.get_fdata().astype(np.uint8), r.target[0])

    # what was written loads back through the same loader with the same affine
    (tmp_path / "again").mkdir()
    for f in ("out.nii.gz", "out_label.nii.gz"):
        (tmp_path / "again" / f).write_bytes((tmp_path / f).read_bytes())
    back = NiftiDataset(path=str(tmp_path / "again"), intensity="none").load(_ctx()).train[0]
    np.testing.assert_allclose(back.meta["affine"], AFFINE)
    np.testing.assert_allclose(back.data, r.data, atol=1e-6)


def test_nifti_crop_and_resample_update_the_affine(tmp_path):
    from gda_medical.datasets import NiftiDataset

    _volumes(tmp_path / "data", labels=False)
    r = NiftiDataset(path=str(tmp_path / "data"), spatial_size=[8, 8, 8]).load(_ctx()).train[0]
    assert r.data.shape == (1, 8, 8, 8) and r.target is None
    a = np.asarray(r.meta["affine"])
    np.testing.assert_allclose(a[:3, :3], AFFINE[:3, :3])
    # centre crop of (16, 16, 12) to 8^3 moves the origin by 4, 4, 2 voxels
    np.testing.assert_allclose(a[:3, 3], AFFINE[:3, 3] + AFFINE[:3, :3] @ [4, 4, 2])
    r2 = NiftiDataset(path=str(tmp_path / "data"), spacing=[4.0, 3.0, 3.0]).load(_ctx()).train[0]
    assert r2.data.shape[1:] == (8, 8, 12)
    np.testing.assert_allclose(r2.meta["spacing"], [4.0, 3.0, 3.0])


def test_nifti_separate_label_folder_and_test_split(tmp_path):
    from gda_medical.datasets import NiftiDataset

    rng = np.random.default_rng(1)
    for split in ("tr", "te"):
        for i in range(2):
            _write(tmp_path / split / "img", f"s{i}.nii", rng.random((8, 8, 8)).astype(np.float32))
            _write(tmp_path / split / "lab", f"s{i}.nii", (rng.random((8, 8, 8)) > 0.5).astype(np.uint8))
    splits = NiftiDataset(path=str(tmp_path / "tr" / "img"), labels=str(tmp_path / "tr" / "lab"),
                          test_path=str(tmp_path / "te" / "img"), test_labels=str(tmp_path / "te" / "lab")
                          ).load(_ctx())
    assert len(splits.train) == 2 and len(splits.test) == 2
    assert all(r.target is not None for r in splits.train.records + splits.test.records)


def test_nifti_unpaired_label_names_the_file(tmp_path):
    from gda_medical.datasets import NiftiDataset

    _volumes(tmp_path / "data")
    _write(tmp_path / "data", "ghost_label.nii.gz", np.zeros((16, 16, 12), np.uint8))
    with pytest.raises(DataError, match="ghost_label.nii.gz"):
        NiftiDataset(path=str(tmp_path / "data")).load(_ctx())


def test_nifti_volume_missing_its_label_names_the_file(tmp_path):
    from gda_medical.datasets import NiftiDataset

    _volumes(tmp_path / "data")
    _write(tmp_path / "data", "lonely.nii.gz", np.zeros((16, 16, 12), np.float32))
    with pytest.raises(DataError, match="lonely.nii.gz"):
        NiftiDataset(path=str(tmp_path / "data")).load(_ctx())


def test_nifti_wrong_ndim_names_the_file(tmp_path):
    from gda_medical.datasets import NiftiDataset

    _volumes(tmp_path / "data", labels=False)
    _write(tmp_path / "data", "flat.nii.gz", np.zeros((16, 16), np.float32))
    with pytest.raises(DataError, match="flat.nii.gz.*dimensions"):
        NiftiDataset(path=str(tmp_path / "data")).load(_ctx())
    (tmp_path / "data" / "flat.nii.gz").unlink()
    _write(tmp_path / "data", "multi.nii.gz", np.zeros((16, 16, 12, 3), np.float32))
    with pytest.raises(DataError, match="multi.nii.gz"):
        NiftiDataset(path=str(tmp_path / "data")).load(_ctx())


def test_nifti_unreadable_file_names_the_file(tmp_path):
    from gda_medical.datasets import NiftiDataset

    _volumes(tmp_path / "data", labels=False)
    (tmp_path / "data" / "broken.nii.gz").write_bytes(b"this is not a nifti file")
    with pytest.raises(DataError, match="broken.nii.gz"):
        NiftiDataset(path=str(tmp_path / "data")).load(_ctx())


def test_nifti_missing_folder_and_mixed_shapes(tmp_path):
    from gda_medical.datasets import NiftiDataset

    with pytest.raises(DataError, match="nowhere"):
        NiftiDataset(path=str(tmp_path / "nowhere")).load(_ctx())
    _volumes(tmp_path / "data", labels=False)
    _write(tmp_path / "data", "big.nii.gz", np.zeros((20, 16, 12), np.float32))
    with pytest.raises(DataError, match="spatial_size"):
        NiftiDataset(path=str(tmp_path / "data")).load(_ctx())


def test_nifti_reorientation_keeps_world_positions(tmp_path):
    """A volume stored LPS-first is reoriented to RAS; the written sample puts every voxel at
    the same world position as the source file did."""
    import nibabel as nib

    from gda_medical.datasets import NiftiDataset

    lps = np.array([[-2.0, 0, 0, 30], [0, -1.5, 0, 20], [0, 0, 3, -7], [0, 0, 0, 1]])
    vol = np.zeros((12, 10, 8), np.float32)
    vol[2, 7, 5] = 100.0  # one bright voxel
    vol[0, 0, 0] = 1.0
    _write(tmp_path / "data", "lps.nii.gz", vol, affine=lps)
    loader = NiftiDataset(path=str(tmp_path / "data"), intensity="none")
    r = loader.load(_ctx()).train[0]
    a = np.asarray(r.meta["affine"])
    assert np.all(np.diag(a)[:3] > 0)  # RAS after reorientation
    out = nib.load(str(loader.save_sample(r, tmp_path / "out")))
    data = out.get_fdata()
    idx = np.argwhere(data == 100.0)[0]
    world_out = out.affine @ np.r_[idx, 1.0]
    world_src = lps @ np.r_[[2, 7, 5], 1.0]
    np.testing.assert_allclose(world_out, world_src)
