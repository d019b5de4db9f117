"""Unlabelled pools of medical.phantoms (extra volumes without masks) and medical.nifti (volumes
without label volumes): no label, no mask, never a test volume, errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import DataError
from gda_core.records import Dataset

from .test_datasets import _volumes, _write


def _ctx(seed=0):
    return RunContext(train=Dataset([]), seed=seed, quiet=True)


def _disjoint(splits) -> None:
    pool = splits.pool
    assert pool is not None and all(r.label is None and r.target is None for r in pool)
    others = [*splits.train, *(splits.test or [])]
    assert not {r.id for r in pool} & {r.id for r in others}
    seen = {np.asarray(r.data).tobytes() for r in others}
    assert not any(np.asarray(r.data).tobytes() in seen for r in pool)


@pytest.mark.parametrize("seed", [0, 1])
def test_phantom_pool_is_extra_unmasked_volumes(seed):
    from gda_medical.datasets import PhantomsDataset

    splits = PhantomsDataset(size=16, n_train=2, n_test=2, n_pool=3, num_objs=2).load(_ctx(seed))
    assert len(splits.pool) == 3 and splits.pool[0].data.shape == (1, 16, 16, 16)
    _disjoint(splits)
    assert PhantomsDataset(size=16, n_train=2, n_test=2, num_objs=2).load(_ctx(seed)).pool is None
    # the labelled volumes do not change when a pool is asked for
    plain = PhantomsDataset(size=16, n_train=2, n_test=2, num_objs=2).load(_ctx(seed))
    assert np.array_equal(plain.train[0].data, splits.train[0].data)


def test_nifti_unmasked_volumes_and_unlabelled_folder_form_the_pool(tmp_path):
    from gda_medical.datasets import NiftiDataset

    _volumes(tmp_path / "data", n=2)
    _write(tmp_path / "data", "lonely.nii.gz", np.ones((16, 16, 12), np.float32))
    _volumes(tmp_path / "test", n=1)
    rng = np.random.default_rng(5)
    for name in ("u0.nii.gz", "u1.nii"):
        _write(tmp_path / "extra", name, (rng.random((16, 16, 12)) * 100).astype(np.float32))
    splits = NiftiDataset(path=str(tmp_path / "data"), test_path=str(tmp_path / "test"), unmasked="pool",
                          unlabelled=str(tmp_path / "extra")).load(_ctx())
    assert len(splits.train) == 2 and all(r.target is not None for r in splits.train)
    assert len(splits.pool) == 3
    _disjoint(splits)


def test_nifti_pool_errors_name_the_file(tmp_path):
    from gda_medical.datasets import NiftiDataset

    _volumes(tmp_path / "data", n=2)
    _volumes(tmp_path / "test", n=1)
    with pytest.raises(DataError, match="unlabelled: .*nowhere is not a folder"):
        NiftiDataset(path=str(tmp_path / "data"), unlabelled=str(tmp_path / "nowhere")).load(_ctx())
    _volumes(tmp_path / "masked", n=1)
    with pytest.raises(DataError, match="masked/case0_label.nii.gz is a label volume"):
        NiftiDataset(path=str(tmp_path / "data"), unlabelled=str(tmp_path / "masked")).load(_ctx())
    _volumes(tmp_path / "copy", n=1, labels=False)  # the same voxels as test/case0.nii.gz
    with pytest.raises(DataError, match="copy/case0.nii.gz is the test volume"):
        NiftiDataset(path=str(tmp_path / "data"), test_path=str(tmp_path / "test"),
                     unlabelled=str(tmp_path / "copy")).load(_ctx())
    _write(tmp_path / "test", "bare.nii.gz", np.ones((16, 16, 12), np.float32))
    with pytest.raises(DataError, match="bare.nii.gz"):  # a test volume still needs its label
        NiftiDataset(path=str(tmp_path / "data"), test_path=str(tmp_path / "test"), unmasked="pool").load(_ctx())
