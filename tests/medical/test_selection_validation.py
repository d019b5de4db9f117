"""medical.realism, medical.mmd, medical.msssim-diversity, medical.pooled, medical.segmentation."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.components import ValidationInputs
from gda_core.records import Record


def _noise_like(records, seed=0, prefix="noise"):
    rng = np.random.default_rng(seed)
    return [Record(id=f"{prefix}-{i}", data=rng.random(r.data.shape).astype(np.float32), label=r.label,
                   target=r.target) for i, r in enumerate(records)]


def _relabel(records, prefix):
    return [Record(id=f"{prefix}-{i}", data=r.data, label=r.label, target=r.target, meta=r.meta)
            for i, r in enumerate(records)]


def test_ms_ssim_settings_fit_small_volumes():
    from gda_medical.metrics import ms_ssim_matrix, ms_ssim_settings

    w, k = ms_ssim_settings((16, 16, 16), 3, 7)
    assert len(w) == 3 and abs(sum(w) - 1) < 1e-9 and k == 3
    w, k = ms_ssim_settings((64, 64, 64), 3, 7)
    assert len(w) == 3 and k == 7
    a = np.random.default_rng(0).random((2, 1, 16, 16, 16)).astype(np.float32)
    m = ms_ssim_matrix(a, a)
    assert m.shape == (2, 2) and np.allclose(np.diag(m), 1.0, atol=1e-4) and m[0, 1] < 0.5


@pytest.mark.parametrize("size", [4, 6, 8, 10, 12])
def test_ms_ssim_runs_on_volumes_smaller_than_16(size):
    """Every size from the doc's 'start small' range gets settings MONAI can compute: at 8^3 two
    scales with a 7-kernel passed MONAI's check, then failed on the 4^3 second scale."""
    from gda_medical.metrics import ms_ssim_matrix, ms_ssim_settings

    w, k = ms_ssim_settings((size,) * 3, 3, 7)
    assert size // 2 ** (len(w) - 1) >= k
    a = np.random.default_rng(0).random((2, 1, size, size, size)).astype(np.float32)
    m = ms_ssim_matrix(a, a)
    assert m.shape == (2, 2) and np.allclose(np.diag(m), 1.0, atol=1e-3)


@pytest.mark.parametrize("metric", ["ms-ssim", "embedding"])
def test_realism_keeps_the_real_half_of_a_planted_mix(phantoms, context, metric):
    from gda_medical.selectors.realism import RealismSelector

    good = _relabel(phantoms.test.records, "good")
    bad = _noise_like(phantoms.test.records, prefix="bad")
    mix = [r for pair in zip(bad, good) for r in pair]
    sel = RealismSelector(metric=metric, keep=0.5, embedder="medical.pooled" if metric == "embedding" else None)
    if metric == "embedding":  # the config builds named embedders; a hand-made context is given them
        from gda_core.host import host

        context.embedders["medical.pooled"] = host.create("embedders", "medical.pooled")
    sel.fit(phantoms.train, context)
    scores = sel.score(mix, context)
    keep = sel.select(scores, mix, context)
    kept = {r.id.split("-")[0] for r, k in zip(mix, keep) if k}
    assert keep.sum() == len(good) and kept == {"good"}


def test_realism_copy_threshold_drops_training_copies(phantoms, context):
    from gda_medical.selectors.realism import RealismSelector

    copies = _relabel(phantoms.train.records[:3], "copy")
    fresh = _relabel(phantoms.test.records[:3], "fresh")
    sel = RealismSelector(copy_threshold=0.99)
    sel.fit(phantoms.train, context)
    mix = copies + fresh
    keep = sel.select(sel.score(mix, context), mix, context)
    assert keep.tolist() == [False] * 3 + [True] * 3


def test_mmd_validator_ranks_noise_far_from_real(phantoms, context):
    from gda_medical.validators.mmd import VolumeMMDValidator

    good = _relabel(phantoms.test.records, "good")
    noise = _noise_like(phantoms.test.records)
    v = VolumeMMDValidator(pool=2)
    res_good = v.evaluate(ValidationInputs(phantoms.train, phantoms.test, good, baselines={"noise": noise}), context)
    assert res_good.metrics["mmd"] < res_good.metrics["mmd_baseline_noise"]
    assert abs(res_good.metrics["mmd"] - res_good.metrics["mmd_real_test"]) < 1e-6
    assert res_good.tables and res_good.tables[0].rows


def test_msssim_diversity_flags_a_collapsed_set(phantoms, context):
    from gda_medical.validators.msssim_diversity import MSSSIMDiversityValidator

    r0 = phantoms.test[0]
    collapsed = [Record(id=f"c{i}", data=r0.data + 0.01 * i, label=r0.label) for i in range(4)]
    diverse = _relabel(phantoms.test.records, "d")
    v = MSSSIMDiversityValidator()
    a = v.evaluate(ValidationInputs(phantoms.train, phantoms.test, collapsed), context).metrics
    b = v.evaluate(ValidationInputs(phantoms.train, phantoms.test, diverse), context).metrics
    assert a["ms_ssim"] > 0.9 > b["ms_ssim"]
    assert abs(b["ms_ssim"] - b["ms_ssim_real"]) < 0.2


def test_pooled_embedder_shapes(phantoms, context):
    from gda_medical.embedders import PooledVolumeEmbedder

    f = PooledVolumeEmbedder(grid=4, with_label=True).embed(phantoms.train.records[:3], context)
    assert f.shape == (3, 2 * 4**3)


def test_segmentation_learns_and_sliding_window_matches(phantoms, context):
    from gda_core.records import Dataset
    from gda_medical.applications.segmentation import SegmentationApplication

    app = SegmentationApplication(channels=[8, 16], steps=60, lr=1e-2)
    trained = app.evaluate(phantoms.train, phantoms.test, seed=0, context=context)
    assert trained["dice"] > 0.6, trained
    again = app.evaluate(phantoms.train, phantoms.test, seed=0, context=context)
    assert again["dice"] == trained["dice"]
    untrained = SegmentationApplication(channels=[8, 16], steps=1).evaluate(phantoms.train, phantoms.test, seed=0,
                                                                            context=context)
    assert trained["dice"] > untrained["dice"] + 0.2
    # patches + sliding-window inference on the same data
    patched = SegmentationApplication(channels=[8, 16], steps=60, lr=1e-2, patch_size=[8, 8, 8]).evaluate(
        phantoms.train, phantoms.test, seed=0, context=context)
    assert patched["dice"] > 0.5, patched
    # records without a label volume are left out of training
    unlabeled = [Record(id="u", data=phantoms.train[0].data, label="phantom")]
    mixed = Dataset(list(phantoms.train.records) + unlabeled, modality="volume")
    assert app.evaluate(mixed, phantoms.test, seed=0, context=context)["train_volumes"] == len(phantoms.train)
