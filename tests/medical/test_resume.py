"""A medical.ldm3d fit (two training loops: the autoencoder, then the latent UNet) killed during
the second loop resumes in its run folder: the finished autoencoder is not trained again and both
networks end with the weights of an uninterrupted fit."""

import numpy as np
import pytest

from gda_core.context import RunContext

LDM = dict(channels=[8, 8], attention_levels=[False, False], inference_steps=4, lr=3e-3, batch_size=4, steps=8,
           ae_channels=[8, 8], latent_channels=2, ae_steps=6)


def _weights(module) -> dict:
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _fit(train, workdir):
    from gda_medical.generators.ldm3d import LatentDiffusion3DGenerator

    gen = LatentDiffusion3DGenerator(**LDM)
    gen.fit(train, RunContext(train=train, seed=0, quiet=True, workdir=workdir))
    return gen


def test_a_killed_two_stage_fit_resumes_where_it_stopped(phantoms, tmp_path, monkeypatch):
    from gda_core.torch import training

    whole = _fit(phantoms.train, None)
    original, runs = training.TrainingLoop._one_step, []

    def killed(self, i):
        if self.desc == "train latent diffusion" and i == 5:
            raise KeyboardInterrupt("killed in the latent UNet's step 5")
        original(self, i)

    monkeypatch.setattr(training.TrainingLoop, "_one_step", killed)
    init = training.TrainingLoop.__init__

    def every_two(self, *args, **kwargs):
        kwargs.setdefault("save_every", 2)
        init(self, *args, **kwargs)

    monkeypatch.setattr(training.TrainingLoop, "__init__", every_two)
    with pytest.raises(KeyboardInterrupt):
        _fit(phantoms.train, tmp_path)
    monkeypatch.setattr(training.TrainingLoop, "_one_step", original)
    run = training.TrainingLoop.run

    def recording(self):
        result = run(self)
        runs.append((self.desc, result.resumed_from))
        return result

    monkeypatch.setattr(training.TrainingLoop, "run", recording)
    resumed = _fit(phantoms.train, tmp_path)
    assert runs == [("train autoencoder", 6), ("train latent diffusion", 4)]  # nothing trained twice
    assert _same(_weights(whole.autoencoder), _weights(resumed.autoencoder))
    assert _same(_weights(whole.unet), _weights(resumed.unet))
    assert resumed.info["final_loss"] == whole.info["final_loss"]
