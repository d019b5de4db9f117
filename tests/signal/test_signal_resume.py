"""A signal.diffusion1d fit killed part-way in a run folder resumes from RUN/model.partial and ends
with the same weights as an uninterrupted fit (gda_core.torch.training's resumable state)."""

import numpy as np
import pytest

from gda_core.context import RunContext

TINY = dict(base_channels=16, channel_mults=[1, 2], attention=False, lr=3e-3, num_inference_steps=4, device="cpu",
            steps=12, checkpoint="heldout-loss", eval_every=4, holdout=0.25)


def _weights(model) -> dict:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def _fit(data, workdir):
    from gda_signal.generators.diffusion1d import Diffusion1DGenerator

    gen = Diffusion1DGenerator(**TINY)
    gen.fit(data, RunContext(train=data, seed=0, quiet=True, workdir=workdir))
    return gen


def test_a_killed_fit_resumes_to_the_weights_of_an_uninterrupted_one(sine_factory, tmp_path, monkeypatch):
    from gda_core.torch import training

    data = sine_factory(6, length=32)
    whole = _fit(data, None)
    original = training.TrainingLoop._one_step

    def killed(self, i):
        if i == 9:
            raise KeyboardInterrupt("Ctrl-C at step 9")
        original(self, i)

    monkeypatch.setattr(training.TrainingLoop, "_one_step", killed)
    monkeypatch.setattr(training.TrainingLoop, "__init__", _saving_every(3, training.TrainingLoop.__init__))
    with pytest.raises(KeyboardInterrupt):
        _fit(data, tmp_path)
    saved = list((tmp_path / "model.partial").glob("*/training-state.pt"))
    assert [p.parent.name for p in saved] == ["signal.diffusion1d-fit"]
    monkeypatch.setattr(training.TrainingLoop, "_one_step", original)
    run, starts = training.TrainingLoop.run, []

    def recording(self):
        result = run(self)
        starts.append(result.resumed_from)
        return result

    monkeypatch.setattr(training.TrainingLoop, "run", recording)
    resumed = _fit(data, tmp_path)
    assert starts == [9]  # steps 0-8 were not run again
    a, b = _weights(whole.model_), _weights(resumed.model_)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert resumed.losses_ == whole.losses_ and resumed.checkpoints_ == whole.checkpoints_
    x = [r.data for r in whole.generate([{"label": 0}, {"label": 1}], seed=2, context=None)]
    y = [r.data for r in resumed.generate([{"label": 0}, {"label": 1}], seed=2, context=None)]
    assert all(np.array_equal(u, v) for u, v in zip(x, y))


def _saving_every(n, init):
    def patched(self, *args, **kwargs):
        kwargs.setdefault("save_every", n)
        init(self, *args, **kwargs)
    return patched
