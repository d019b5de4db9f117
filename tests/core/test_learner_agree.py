"""core.learner-agree: DPT's filter, a learner trained on real + pseudo-labelled pool."""

from __future__ import annotations

import numpy as np
import pytest

from gda_core.context import RunContext
from gda_core.errors import ConfigError
from gda_core.host import host
from gda_core.records import Dataset, Record
from gda_core.splits import as_pool


def _line(xs, label, prefix):
    return [Record(f"{prefix}-{i}", np.asarray([x, 0.0], dtype=np.float32), label) for i, x in enumerate(xs)]


def _planted():
    """Labelled: class a at x = 0, class b at x = 10 (3 each). The pool shows that class a reaches
    out to x = 7 (a dense chain from 0) and b covers 9 to 12. Synthetic a samples at x = 6.5: the
    labelled few alone put them on b's side of the midpoint (5); the pool says they are a's."""
    train = Dataset(_line([0.0, 0.2, -0.2], "a", "la") + _line([10.0, 10.2, 9.8], "b", "lb"))
    pool = as_pool(Dataset(_line(np.linspace(0, 7, 36), "a", "pa") + _line(np.linspace(9, 12, 16), "b", "pb")))
    synthetic = _line([6.4, 6.5, 6.6], "a", "sa") + _line([6.5], "b", "sb")
    return train, pool, synthetic


def _context(train, pool):
    return RunContext(train=train, pool=pool, seed=0, quiet=True).fitting("selector under test")


def _kept(name, params, train, pool, synthetic):
    sel = host.create("selectors", name, params)
    ctx = _context(train, pool)
    sel.fit(train, ctx)
    scores = sel.score(synthetic, ctx)
    return sel, scores, [r.id for r, k in zip(synthetic, sel.select(scores, synthetic, ctx)) if k]


def test_the_learner_learns_from_the_pool_what_the_labelled_few_cannot_tell():
    train, pool, synthetic = _planted()
    params = {"features": "raw", "labeller": "label-spreading", "pool_keep": 1.0, "model": "logreg"}
    sel, scores, kept = _kept("core.learner-agree", params, train, pool, synthetic)
    assert sel.fitted_on_ == {"labelled": 6, "pseudo_labelled": 52}
    assert kept == ["sa-0", "sa-1", "sa-2"]  # a's samples at 6.5 kept; the b sample there dropped
    assert np.all(scores[:3] > 0.5) and scores[3] < 0.5
    # a classifier of the labelled few (core.confidence) puts them on b's side and drops them
    _, _, by_labelled = _kept("core.confidence", {"threshold": 0.5}, train, pool, synthetic)
    assert "sa-1" not in by_labelled and "sb-0" in by_labelled
    # without a pool the learner has only the labelled few, and agrees with core.confidence
    sel, _, alone = _kept("core.learner-agree", params, train, None, synthetic)
    assert sel.fitted_on_ == {"labelled": 6, "pseudo_labelled": 0} and alone == ["sb-0"]


def test_agree_drops_a_sample_the_learner_assigns_elsewhere_whatever_the_threshold():
    train, pool, synthetic = _planted()
    params = {"features": "raw", "pool_keep": 1.0, "model": "logreg", "threshold": None}
    _, _, kept = _kept("core.learner-agree", params, train, pool, synthetic)
    assert "sb-0" not in kept and set(kept) == {"sa-0", "sa-1", "sa-2"}
    _, _, everything = _kept("core.learner-agree", {**params, "agree": False}, train, pool, synthetic)
    assert len(everything) == 4


@pytest.mark.parametrize(("params", "field"), [({"threshold": 1.5}, "threshold"), ({"model": "tree"}, "model"),
                                               ({"pool_keep": 0}, "pool_keep"), ({"rounds": 0}, "rounds"),
                                               ({"labeller": "magic"}, "labeller")])
def test_bad_parameters_name_the_field(params, field):
    from gda_core.config import resolve

    from .helpers import small_config

    with pytest.raises(ConfigError) as info:
        resolve(small_config(selectors=[{"name": "core.learner-agree", "params": params}]))
    msg = str(info.value)
    assert "core.learner-agree" in msg and field in msg and "\n" not in msg.strip()
