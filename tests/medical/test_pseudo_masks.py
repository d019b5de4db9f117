"""medical.pseudo-mask: segmentation self-training on planted phantoms whose pool masks are known."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.config import resolve
from gda_core.context import RunContext
from gda_core.errors import ConfigError
from gda_core.host import host
from gda_core.records import Dataset
from gda_medical.applications.segmentation import SegmentationApplication
from gda_medical.datasets import POOL_SEED, PhantomsDataset
from gda_medical.strategies.pseudo_masks import PseudoMaskParams, pseudo_masks, volume_confidence

SEG = {"channels": [4, 8], "steps": 40, "batch_size": 2, "device": "cpu"}
N_POOL = 8


def _dice(a, b) -> float:
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    return 2 * float((a & b).sum()) / max(1, int(a.sum() + b.sum()))


@pytest.fixture(scope="module")
def planted():
    """1 labelled phantom, 8 pool phantoms (their true masks kept aside here, never shown to the
    strategy) and 6 test phantoms, seed 0."""
    loader = PhantomsDataset(size=16, n_train=1, n_test=6, n_pool=N_POOL, num_objs=3, noise_max=0.5)
    splits = loader.load(RunContext(train=Dataset([]), seed=0, quiet=True))
    truth = {r.id: r.target for r in loader._records(N_POOL, "phantom-pool", POOL_SEED + 0)}
    assert all(r.target is None for r in splits.pool.records)
    fit = RunContext(train=splits.train, pool=splits.pool, seed=0, quiet=True).fitting("strategy medical.pseudo-mask")
    return splits, truth, fit


def test_confidence_is_one_for_a_certain_prediction_and_lower_for_an_unsure_one():
    certain = np.zeros((1, 2, 4, 4, 4))
    certain[0, 0] = 1.0
    certain[0, 1, :2], certain[0, 0, :2] = 1.0, 0.0
    unsure = np.full((1, 2, 4, 4, 4), 0.5)
    unsure[0, 1, :2] += 0.05
    unsure[0, 0, :2] -= 0.05
    assert volume_confidence(certain)[0] == pytest.approx(1.0)
    assert volume_confidence(unsure)[0] < 0.8


def test_pseudo_masks_are_mostly_right_and_the_retrained_unet_is_no_worse(planted):
    splits, truth, fit = planted
    kept, summary = pseudo_masks(splits.train, splits.pool, fit, PseudoMaskParams(segmenter=SEG, keep=0.5))
    assert len(kept) == N_POOL // 2 == summary["kept"]
    assert all(r.id in truth and r.label == "phantom" and r.target.shape == truth[r.id].shape for r in kept)
    dice = [_dice(r.target, truth[r.id]) for r in kept]
    assert min(dice) > 0.6, dice
    # the confident half is at least as right as the pool on average (the ranking carries information)
    everything, _ = pseudo_masks(splits.train, splits.pool, fit, PseudoMaskParams(segmenter=SEG, keep=1.0))
    assert np.mean(dice) >= np.mean([_dice(r.target, truth[r.id]) for r in everything])
    app = SegmentationApplication(**SEG)
    ctx = RunContext(train=splits.train, test=splits.test, seed=0, quiet=True)
    labelled_only = app.evaluate(splits.train, splits.test, seed=0, context=ctx)["dice"]
    retrained = app.evaluate(splits.train.with_records(list(splits.train.records) + kept), splits.test, seed=0,
                             context=ctx)["dice"]
    assert retrained >= labelled_only, (retrained, labelled_only)


def test_the_same_seed_gives_the_same_pseudo_pairs_and_rounds_relabel(planted):
    splits, _truth, fit = planted
    params = PseudoMaskParams(segmenter={**SEG, "steps": 5}, keep=0.5, rounds=2, threshold=0.0)
    a, summary = pseudo_masks(splits.train, splits.pool, fit, params)
    b, _ = pseudo_masks(splits.train, splits.pool, fit, params)
    assert [r.id for r in a] == [r.id for r in b]
    assert all(np.array_equal(x.target, y.target) for x, y in zip(a, b))
    assert [h["round"] for h in summary["rounds"]] == [1, 2]


def test_the_strategy_hands_its_pseudo_pairs_to_the_bench_and_fits_the_generator_on_them(planted):
    splits, _truth, fit = planted
    strategy = host.create("strategies", "medical.pseudo-mask", {"segmenter": {**SEG, "steps": 5}, "pretrain": False})
    gen = host.create("generators", "medical.mask2image", {"channels": [8, 8], "attention_levels": [False, False],
                                                           "steps": 2, "inference_steps": 2, "batch_size": 2,
                                                           "device": "cpu"})
    strategy.fit(gen, splits.train, fit)
    pseudo = strategy.pseudo_labelled(splits.train, fit)
    assert pseudo and {r.id for r in pseudo} <= {r.id for r in splits.pool.records}
    assert [r.id for r in strategy.fitted_on_.records] == [r.id for r in splits.train.records + pseudo]


@pytest.mark.parametrize(("params", "field"), [({"keep": 0}, "params.keep"),
                                               ({"segmenter": {"steps": 0}}, "params.segmenter.steps"),
                                               ({"rounds": 0}, "params.rounds"),
                                               ({"segmenter": {"chanels": [4, 8]}}, "chanels")])
def test_bad_parameters_name_the_field(params, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        resolve({"strategy": {"name": "medical.pseudo-mask", "params": params}})


def test_a_nifti_folder_with_unmasked_volumes_self_trains_through_the_pipeline(tmp_path):
    """medical.nifti with ``unmasked: pool``: the volumes without a label file are pseudo-masked,
    the generator trains on labelled + pseudo-pairs, and the run folder reports the pool strategy."""
    import json

    import nibabel as nib

    from gda_core.pipeline import run
    from gda_medical.datasets import make_phantom

    for folder, n, masked in (("scans", 6, 2), ("test", 2, 2)):
        (tmp_path / folder).mkdir()
        for i in range(n):
            img, lab = make_phantom(16, 10 * len(folder) + i, num_objs=3)
            nib.save(nib.Nifti1Image(img[0], np.eye(4)), str(tmp_path / folder / f"case{i}.nii.gz"))
            if i < masked:
                nib.save(nib.Nifti1Image(lab[0], np.eye(4)), str(tmp_path / folder / f"case{i}_label.nii.gz"))
    config = {
        "dataset": {"name": "medical.nifti", "params": {"path": str(tmp_path / "scans"),
                                                       "test_path": str(tmp_path / "test"), "unmasked": "pool",
                                                       "intensity": "minmax"}},
        "strategy": {"name": "medical.pseudo-mask", "params": {"segmenter": {**SEG, "steps": 10}, "keep": 0.5}},
        "generator": {"name": "medical.mask2image", "params": {"channels": [8, 8], "attention_levels": [False, False],
                                                              "steps": 2, "inference_steps": 2, "batch_size": 2}},
        "generate": {"per_class": 2}, "selectors": [], "validators": [], "seed": 0,
    }
    res = run(config, tmp_path / "run", quiet=True)
    assert len(res.synthetic) == 2 and all(r.target is not None for r in res.synthetic)
    report = json.loads((tmp_path / "run" / "pool_strategy.json").read_text())
    assert report["strategy"] == "medical.pseudo-mask" and report["pool"] == 4 and report["kept"] == 2
    assert res.pseudo_labels["records"] == 2
    fitted = res.strategy.fitted_on_.records  # the 2 labelled pairs + 2 pseudo-pairs from unmasked volumes
    assert len(fitted) == 4 and all(r.target is not None for r in fitted)
    assert {r.id for r in fitted[2:]} <= {r.id for r in res.pool.records}
