"""gda_core.torch.diffusion: the held-out checkpoint chooser and the inversion / interpolation helpers
that vision.ddpm, signal.diffusion1d and the 3-D generators share."""

import numpy as np
import pytest

from gda_core.errors import DataError
from gda_core.torch.diffusion import (
    CheckpointChooser,
    CheckpointParams,
    ddim_invert,
    ddim_path,
    eps_from_output,
    holdout_split,
    interpolation_weights,
    slerp,
    start_index,
)


def test_holdout_split_is_seeded_disjoint_and_refuses_too_few():
    keep, held = holdout_split(20, 0.2, seed=3, who="x")
    again = holdout_split(20, 0.2, seed=3, who="x")
    assert keep.tolist() == again[0].tolist() and held.tolist() == again[1].tolist()
    assert len(held) == 4 and sorted(keep.tolist() + held.tolist()) == list(range(20))
    assert held.tolist() != holdout_split(20, 0.2, seed=4, who="x")[1].tolist()
    with pytest.raises(DataError, match="generator.params.holdout"):
        holdout_split(5, 0.1, seed=0, who="x")


class _Model:
    """A stand-in network: its 'weights' are one number, its held-out loss that number."""

    training = True

    def __init__(self):
        self.w = 0.0

    def eval(self):
        self.training = False

    def train(self, mode=True):
        self.training = mode

    def state_dict(self):
        return {"w": self.w}

    def load_state_dict(self, state):
        self.w = state["w"]


def test_heldout_loss_keeps_the_lowest_and_restores_it():
    model = _Model()
    chooser = CheckpointChooser(CheckpointParams(checkpoint="heldout-loss", eval_every=2), train=np.zeros((3, 2)),
                                held=np.ones((2, 2)), heldout_loss=lambda m: m.w, sample=None)
    for step, w in enumerate([5.0, 3.0, 4.0, 1.0, 2.0, 6.0], start=1):
        model.w = w
        chooser.after_step(step, 6, model)
    assert [h["step"] for h in chooser.history] == [2, 4, 6] and chooser.best_step == 4
    assert model.training
    chooser.restore(model)
    assert model.w == 1.0


def test_copy_share_keeps_the_latest_checkpoint_within_tolerance():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(40, 5))
    held = rng.normal(size=(20, 5))
    model = _Model()
    # weights w: samples are training rows (copies) when w >= 1, fresh draws otherwise
    chooser = CheckpointChooser(CheckpointParams(checkpoint="copy-share", eval_every=1, copy_tolerance=0.1),
                                train=train, held=held, heldout_loss=None,
                                sample=lambda m: train[:20] if m.w >= 1 else rng.normal(size=(20, 5)))
    for step, w in enumerate([0.0, 0.0, 1.0], start=1):
        model.w = w
        chooser.after_step(step, 3, model)
    shares = [h["copy_share"] for h in chooser.history]
    assert shares[2] == 1.0 and max(shares[:2]) <= chooser.heldout_share + 0.1
    assert chooser.best_step == 2


def test_start_index_slerp_and_weights():
    assert start_index(10, 1.0) == 0 and start_index(10, 0.3) == 7 and start_index(10, 0.01) == 9
    a, b = np.ones((3, 4)), -np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(slerp(a, b, np.zeros(3)), a, atol=1e-6)
    np.testing.assert_allclose(slerp(a, b, np.ones(3)), b, atol=1e-5)
    w = interpolation_weights(5, 4, (0.2, 0.4))
    assert np.all((w >= 0.2) & (w <= 0.4)) and np.array_equal(w, interpolation_weights(5, 4, (0.2, 0.4)))


def test_ddim_inversion_of_an_exact_noise_oracle_matches_the_forward_process():
    """With a network that knows the noise, DDIM inversion lands on x0 noised with that noise."""
    alphas = np.linspace(0.999, 0.05, 100)
    x0, eps = np.array([0.3, -0.2]), np.array([1.0, -0.5])
    timesteps = list(range(90, -1, -10))
    path = ddim_path(timesteps, 2, alphas)
    assert path[0][0] == 0 and path[-1] == (60, alphas[60], alphas[70])
    out = ddim_invert(x0 * alphas[0] ** 0.5 + (1 - alphas[0]) ** 0.5 * eps, path, lambda x, t: eps)
    np.testing.assert_allclose(out, alphas[70] ** 0.5 * x0 + (1 - alphas[70]) ** 0.5 * eps)
    a, x = 0.7, np.array([0.4])
    v = a ** 0.5 * eps[:1] - (1 - a) ** 0.5 * ((x - (1 - a) ** 0.5 * eps[:1]) / a ** 0.5)
    np.testing.assert_allclose(eps_from_output(v, x, a, "v_prediction"), eps[:1])
    x0_hat = (x - (1 - a) ** 0.5 * eps[:1]) / a ** 0.5
    np.testing.assert_allclose(eps_from_output(x0_hat, x, a, "sample"), eps[:1])
