"""docs/own-data.md's medical.nifti config: it resolves, its quick check shortens training, and it
runs end to end (quick check, then tinier) on NIfTI volumes with masks written here."""

import numpy as np

from tests.own_data_doc import check, run_tiny


def test_own_data_config_resolves_and_its_quick_check_shortens_training():
    check("medical.nifti")


def test_own_data_config_runs_on_a_nifti_folder(tmp_path):
    import nibabel as nib

    rng = np.random.default_rng(0)
    folder = tmp_path / "volumes"
    folder.mkdir()
    zz, yy, xx = np.mgrid[:20, :20, :20]
    for i in range(6):
        centre = rng.integers(7, 13, size=3)
        mask = ((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2) < 16
        image = (mask * 1.0 + 0.2 * rng.standard_normal(mask.shape)).astype(np.float32)
        nib.save(nib.Nifti1Image(image, np.eye(4)), str(folder / f"case{i}.nii.gz"))
        nib.save(nib.Nifti1Image(mask.astype(np.uint8), np.eye(4)), str(folder / f"case{i}_label.nii.gz"))
    res = run_tiny("medical.nifti", folder, tmp_path / "run", "dataset.params.spatial_size=[8,8,8]",
                   "generator.params.steps=3", "generator.params.inference_steps=3", "application.params.steps=3",
                   "application.params.patch_size=[8,8,8]", "generate.per_class=2", "validators.0.params.seeds=1")
    assert res.train[0].data.shape[-3:] == (8, 8, 8) and res.train[0].target is not None
    assert sorted((tmp_path / "run" / "samples").rglob("*.nii.gz"))
    assert (tmp_path / "run" / "report.html").is_file()
