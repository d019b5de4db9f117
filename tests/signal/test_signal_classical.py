"""signal.classical: every augmentation keeps the shape, changes the series, is seeded."""

import numpy as np
import pytest

from gda_signal.generators.classical import SERIES_METHODS

ALL = SERIES_METHODS + ["time-mask", "frequency-mask"]


@pytest.mark.parametrize("method", ALL)
def test_each_method_changes_series_and_keeps_shape(method, sines, ctx):
    from gda_signal.generators.classical import ClassicalAugmentation

    gen = ClassicalAugmentation(methods=[method], n_fft=32, time_mask=4, freq_mask=4)
    gen.fit(sines, ctx)
    src = sines[0]
    conds = [{"label": src.label, "source_id": src.id}] * 4
    out = gen.generate(conds, seed=0, context=ctx)
    again = gen.generate(conds, seed=0, context=ctx)
    for r, r2 in zip(out, again):
        assert r.data.shape == src.data.shape and r.data.dtype == np.float32
        np.testing.assert_array_equal(r.data, r2.data)
        assert np.all(np.isfinite(r.data))
    assert any(not np.allclose(r.data, src.data, atol=1e-4) for r in out)
    # an augmentation, not a new series: still close to its source
    err = np.mean([np.abs(r.data - src.data).mean() for r in out])
    assert err < 0.6 * np.abs(src.data).mean() + 0.3


def test_warps_keep_dominant_frequency(sines, ctx, freq_of):
    from gda_signal.generators.classical import ClassicalAugmentation

    gen = ClassicalAugmentation(methods=["jitter", "scaling", "magnitude-warp", "time-warp"], per_sample=2)
    gen.fit(sines, ctx)
    conds = [{"label": r.label, "source_id": r.id} for r in sines.records[:20]]
    out = gen.generate(conds, seed=1, context=ctx)
    same = np.mean([abs(freq_of(o.data) - freq_of(s.data)) <= 1 for o, s in zip(out, sines.records[:20])])
    assert same >= 0.9


def test_save_load_round_trip(sines, ctx, tmp_path):
    from gda_signal.generators.classical import ClassicalAugmentation

    gen = ClassicalAugmentation()
    gen.fit(sines, ctx)
    gen.save_pretrained(tmp_path / "m")
    loaded = ClassicalAugmentation.from_pretrained(tmp_path / "m")
    conds = [{"label": 1, "source_id": sines[1].id}, {"label": 0}]
    a = [r.data for r in gen.generate(conds, seed=4, context=ctx)]
    b = [r.data for r in loaded.generate(conds, seed=4, context=ctx)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
