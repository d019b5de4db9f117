"""The medical samples preview (mid slices with labels) and the CPU size hint of medical.nifti."""

from __future__ import annotations

import logging

import numpy as np

from gda_core.components import Figure
from gda_core.context import RunContext
from gda_core.records import Dataset, Record


def _ctx():
    return RunContext(train=Dataset([]), seed=0, quiet=True)


def test_preview_draws_mid_slices_of_image_and_label():
    from gda_medical.datasets import PhantomsDataset, mid_slice

    ds = PhantomsDataset(n_train=2, n_test=1, num_objs=3)
    assert ds.params.size == 16  # the CPU-friendly default
    train = ds.load(_ctx()).train
    vol = train[0]
    assert mid_slice(vol.data).shape == (16, 16)
    assert np.array_equal(mid_slice(vol.target), vol.target[0, 8])
    fake = Record("s-0", vol.data[0] * 0.5, vol.label, target=vol.target[0])  # (D, H, W) works too
    fig = ds.preview({vol.label: list(train)}, {vol.label: [fake]})
    assert isinstance(fig, Figure) and fig.png.startswith(b"\x89PNG")


def _nifti_folder(root, size):
    from gda_medical.datasets import write_nifti

    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        write_nifti(rng.uniform(size=(size, size, size)).astype(np.float32), np.eye(4), root / f"v{i}.nii.gz")


def test_nifti_hints_at_spatial_size_for_large_volumes_on_cpu(tmp_path, caplog):
    from gda_medical.datasets import NiftiDataset

    _nifti_folder(tmp_path / "big", 32)
    with caplog.at_level(logging.WARNING, logger="gda"):
        NiftiDataset(path=str(tmp_path / "big")).load(_ctx())
    assert any("spatial_size: [16, 16, 16]" in r.getMessage() and "32x32x32" in r.getMessage()
               for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gda"):
        splits = NiftiDataset(path=str(tmp_path / "big"), spatial_size=[16, 16, 16], resize_mode="resize").load(_ctx())
    assert splits.train[0].data.shape == (1, 16, 16, 16)
    assert not [r for r in caplog.records if "spatial_size" in r.getMessage()]
