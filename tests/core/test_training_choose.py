"""gda_core.torch.training: the held-out checkpoint choice over several modules at once (TimeGAN
samples through three of its five networks, so its kept checkpoint must restore all three)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gda_core.torch.diffusion import CheckpointChooser, CheckpointParams  # noqa: E402
from gda_core.torch.training import Optim, TrainingLoop  # noqa: E402


class _Scalar(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))


def test_the_chooser_keeps_and_restores_several_modules_together():
    """a and b both train from 0 towards 10 (c, trained too, is not scored); held-out records say
    a + b = 6 is best: the kept a and b are those of one and the same step, c is its last value."""
    params = CheckpointParams(checkpoint="heldout-loss", eval_every=1)
    seen = []

    def loss(m):
        seen.append(sorted(m.keys()))
        return float((m["a"].w + m["b"].w - 6.0) ** 2)

    chooser = CheckpointChooser(params, train=np.zeros((4, 1)), held=np.zeros((2, 1)), heldout_loss=loss,
                                sample=lambda m: np.zeros((1, 1)))
    nets = {"a": _Scalar(), "b": _Scalar(), "c": _Scalar()}

    def step(s):
        m = s.modules
        return ((m["a"].w - 10) ** 2 + (m["b"].w - 10) ** 2 + (m["c"].w - 10) ** 2)

    result = TrainingLoop(nets, step, {"all": Optim(("a", "b", "c"), lr=0.3, clip=None)}, steps=25, seed=0,
                          chooser=chooser, choose=("a", "b")).run()
    assert seen[0] == ["a", "b"]
    scores = [h["heldout_loss"] for h in result.checkpoints]
    assert 1 < result.checkpoint_step < 25 and result.checkpoint_step == 1 + int(np.argmin(scores))
    a, b, c = (float(result.modules[n].w.detach()) for n in "abc")
    assert a == pytest.approx(b) and (a + b - 6.0) ** 2 == pytest.approx(min(scores))
    assert c > a + 1  # the unscored module keeps its last weights
    assert not result.modules["a"].training and not result.modules["b"].training


def test_the_chooser_names_only_known_modules():
    chooser = CheckpointChooser(CheckpointParams(checkpoint="heldout-loss"), train=np.zeros((4, 1)),
                                held=np.zeros((2, 1)), heldout_loss=lambda m: 0.0, sample=lambda m: np.zeros((1, 1)))
    with pytest.raises(ValueError, match="unknown module"):
        TrainingLoop({"a": _Scalar()}, lambda s: s.modules["a"].w ** 2, {"a": Optim("a", lr=0.1)}, steps=2, seed=0,
                     chooser=chooser, choose=("a", "z"))
