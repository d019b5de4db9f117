"""signal.timegan: TimeGAN (Yoon et al., NeurIPS 2019), class-conditional, in torch."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from gda_core.components import SAMPLING
from gda_core.torch.accelerators import DeviceParams
from gda_core.torch.diffusion import CheckpointedGenerator, CheckpointParams

from .._series import ScalingParams, SeriesGenerator


class TimeGANParams(ScalingParams, CheckpointParams, DeviceParams):
    hidden_dim: int = Field(24, gt=0, description="hidden and latent size of every network (the reference's 24)")
    num_layers: int = Field(3, gt=0, description="recurrent layers per network (the supervisor has one fewer)")
    module: Literal["gru", "lstm"] = Field("gru", description="recurrent cell")
    noise_dim: int | None = Field(None, gt=0, description="noise channels per step (default: the series' channels, "
                                  "as the reference)")
    steps: int = Field(2000, gt=0, description="iterations of the joint phase (each: two generator and "
                       "embedding updates, one discriminator update)")
    embedding_steps: int | None = Field(None, gt=0, description="iterations of the autoencoder phase (default: "
                                        "steps)")
    supervised_steps: int | None = Field(None, gt=0, description="iterations of the supervisor phase (default: "
                                         "steps)")
    batch_size: int = Field(128, gt=0, description="series per batch")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate of every optimizer")
    gamma: float = Field(1.0, ge=0, description="weight of the adversarial terms on the generator's latent "
                         "sequence before supervision")
    moment_weight: float = Field(100.0, ge=0, description="weight of the moment-matching terms of the generator "
                                 "loss (mean and standard deviation per step and channel)")
    supervised_weight: float = Field(100.0, ge=0, description="weight of the root supervised (next-step) loss in "
                                     "the generator loss")
    d_threshold: float = Field(0.15, ge=0, description="the discriminator is updated only while its loss is above "
                               "this (the reference's 0.15)")
    sample_batch_size: int = Field(256, gt=0, description="series generated together", json_schema_extra=SAMPLING)

    @model_validator(mode="after")
    def _gan_checkpoints(self):
        if self.checkpoint == "heldout-loss":
            raise ValueError("checkpoint: a GAN has no held-out likelihood; use 'last' or 'copy-share'")
        return self


class TimeGANGenerator(CheckpointedGenerator, SeriesGenerator):
    """TimeGAN over (channels, length) series, class-conditional.

    An embedder and a recovery network learn a latent space (autoencoder phase); a supervisor learns
    its step-ahead dynamics from real latents (supervised phase); then the generator (noise and class
    to latents), supervisor, discriminator and autoencoder train jointly: unsupervised adversarial
    loss in latent space, the supervised loss and moment matching for the generator, reconstruction +
    0.1 x supervised for the autoencoder, and the discriminator updated only while its loss exceeds
    ``d_threshold``, all as in the reference code, except that the moments are matched within each
    class. The class is a one-hot input of the generator, supervisor and discriminator at every step.
    Series are min-max scaled to [0, 1] per channel.
    ``pretrain`` runs all three phases on an unlabelled pool as the "no class" and ``fine_tune`` all
    three again on the labelled series, ``steps`` scaling them together. TSGM's Keras TimeGAN was
    not used: its torch-backend training fails (0.1.0) and it has no class input."""

    Params = TimeGANParams
    version = "1"
    who = "signal.timegan"
    low = 0.0

    def _config(self) -> dict:
        return self.config_

    def _build(self, config):
        from .._recurrent import timegan_net

        self.config_ = dict(config)
        return timegan_net()(**config)

    def _phase_steps(self, steps: int | None) -> tuple[int, int, int]:
        p = self.params
        factor = 1.0 if steps is None else steps / p.steps
        return tuple(max(1, int(round(factor * s))) for s in (p.embedding_steps or p.steps,
                                                               p.supervised_steps or p.steps, p.steps))

    # -- training ---------------------------------------------------------------------

    def _train(self, Z, y, context, *, steps, fresh, desc, select) -> None:
        import torch

        from gda_core.torch.accelerators import seeded
        from gda_core.torch.training import Optim, TrainingLoop, fit_key

        p = self.params
        if fresh:
            cfg = {"dim": int(Z.shape[1]), "hidden": p.hidden_dim, "num_layers": p.num_layers, "module": p.module,
                   "noise_dim": p.noise_dim, "num_classes": len(self.classes_)}
            with seeded(context.seed):
                self.model_ = self._build(cfg)
        net = self.model_
        chooser, y = None, np.asarray(y)
        if select and p.checkpoint != "last":
            Z, y, chooser = self._chooser(Z, y, context.seed)
        x_all = torch.from_numpy(np.ascontiguousarray(Z.transpose(0, 2, 1)))  # (N, T, D)
        y_all = torch.from_numpy(y).long()
        n_embed, n_sup, n_joint = self._phase_steps(steps)
        mse = torch.nn.functional.mse_loss
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        names = ("embedder", "recovery", "generator", "supervisor", "discriminator")
        modules = {n: getattr(net, n) for n in names}

        def batch(s):
            idx = torch.randint(0, len(x_all), (min(p.batch_size, len(x_all)),), generator=s.generator)
            return x_all[idx].to(s.device), y_all[idx].to(s.device)

        def noise(s, x):
            return torch.rand((x.shape[0], x.shape[1], net.noise_dim), generator=s.generator).to(s.device)

        def recon_loss(x):
            h = net.embed(x)
            return 10 * torch.sqrt(mse(net.recover(h), x)), h

        def sup_loss(h, lab):
            return mse(h[:, 1:], net.supervise(h, lab)[:, :-1])

        def moments(x_hat, x, lab):
            """The reference's moment loss (standard deviation and mean per step and channel), within each
            class of the batch (the fake series have the real ones' classes), weighted by class size."""
            total = x.new_zeros(())
            for c in torch.unique(lab):
                on = lab == c
                a, b = x_hat[on], x[on]
                sd = (torch.sqrt(a.var(0, unbiased=False) + 1e-6) - torch.sqrt(b.var(0, unbiased=False) + 1e-6)).abs()
                total = total + (sd.mean() + (a.mean(0) - b.mean(0)).abs().mean()) * on.float().mean()
            return total

        def fake_latents(s, x, lab):
            e_hat = net.generate(noise(s, x), lab)
            return e_hat, net.supervise(e_hat, lab)

        def generator_loss(s, x, lab):
            e_hat, h_hat = fake_latents(s, x, lab)
            y_fake, y_fake_e = net.discriminate(h_hat, lab), net.discriminate(e_hat, lab)
            g_u = bce(y_fake, torch.ones_like(y_fake)) + p.gamma * bce(y_fake_e, torch.ones_like(y_fake_e))
            with torch.no_grad():
                h = net.embed(x)
            g_s = sup_loss(h, lab)
            g_v = moments(net.recover(h_hat), x, lab)
            return g_u + p.supervised_weight * torch.sqrt(g_s) + p.moment_weight * g_v

        def discriminator_loss(s, x, lab):
            with torch.no_grad():
                h = net.embed(x)
                e_hat, h_hat = fake_latents(s, x, lab)
            y_real, y_fake, y_fake_e = (net.discriminate(v, lab) for v in (h, h_hat, e_hat))
            return bce(y_real, torch.ones_like(y_real)) + bce(y_fake, torch.zeros_like(y_fake)) + \
                p.gamma * bce(y_fake_e, torch.zeros_like(y_fake_e))

        def autoencoder_step(s):
            return recon_loss(batch(s)[0])[0]

        def supervisor_step(s):
            x, lab = batch(s)
            with torch.no_grad():
                h = net.embed(x)
            return sup_loss(h, lab)

        def joint_step(s):
            out = {}
            for _ in range(2):
                out["generator"] = generator_loss(s, *batch(s))
                s.update("generator", out["generator"])
                x, lab = batch(s)
                e0, h = recon_loss(x)
                out["autoencoder"] = e0 + 0.1 * sup_loss(h, lab)
                s.update("autoencoder", out["autoencoder"])
            out["discriminator"] = discriminator_loss(s, *batch(s))
            if float(out["discriminator"].detach()) > p.d_threshold:
                s.update("discriminator", out["discriminator"])
            return out

        def optim(*mods):
            return Optim(mods, lr=p.lr, clip=None)

        seed = context.seed * 7919 + (0 if fresh else 1)
        common = {"device": p.device, "context": context, "key": fit_key(self, Z, y)}
        phases = [("autoencoder", autoencoder_step, {"loss": optim("embedder", "recovery")}, n_embed, None),
                  ("supervisor", supervisor_step, {"loss": optim("supervisor")}, n_sup, None),
                  ("joint", joint_step, {"generator": optim("generator", "supervisor"),
                                         "autoencoder": optim("embedder", "recovery"),
                                         "discriminator": optim("discriminator")}, n_joint, chooser)]
        self.losses_ = {}
        for i, (phase, fn, optimizers, n, ch) in enumerate(phases):
            result = TrainingLoop(modules, fn, optimizers, steps=n, seed=seed + 101 * i, chooser=ch,
                                  choose=("generator", "supervisor", "recovery") if ch is not None else None,
                                  desc=f"{desc} ({phase})", **common).run()
            self.losses_.update({f"{phase} {k}" if k == "loss" else k: v for k, v in result.losses.items()})
        self.checkpoints_, self.checkpoint_step_ = result.checkpoints, result.checkpoint_step
        self.model_ = net.eval()

    def _chooser(self, Z: np.ndarray, y: np.ndarray, seed: int):
        """Hold out ``holdout`` of ``Z``; the chooser scores the near-copy share of samples of the kept
        series' classes against the held-out series' own share (``copy-share``)."""
        from gda_core.torch.diffusion import CheckpointChooser, holdout_split

        keep, held = (i.numpy() for i in holdout_split(len(Z), self.params.holdout, seed, who=self.who))
        labels = y[keep][np.random.default_rng(seed).permutation(len(keep))[:200]].tolist()

        def samples(net) -> np.ndarray:
            return self._draw(net, labels, seed)

        chooser = CheckpointChooser(self.params, train=Z[keep], held=Z[held], heldout_loss=lambda _net: 0.0,
                                    sample=samples)
        return Z[keep], y[keep], chooser

    # -- sampling ---------------------------------------------------------------------

    def _draw(self, net, idx: list[int], seed: int, context=None) -> np.ndarray:
        """Scaled series (n, C, L) of classes ``idx``: noise to latents, supervised, recovered."""
        import torch

        from gda_core.torch.accelerators import torch_generator

        p = self.params
        length = int(self.shape_[1])
        dev = next(net.parameters()).device
        was = net.training
        net.eval()
        out = []
        starts = list(range(0, len(idx), p.sample_batch_size))
        it = context.progress(starts, desc=f"{self.who} sample", total=len(starts)) if context is not None else starts
        with torch.no_grad():
            for b in it:
                lab = torch.tensor(idx[b:b + p.sample_batch_size], dtype=torch.long, device=dev)
                z = torch.rand((len(lab), length, net.noise_dim), generator=torch_generator(seed * 1_000_003 + b))
                x_hat = net.recover(net.supervise(net.generate(z.to(dev), lab), lab))
                out.append(x_hat.float().cpu().numpy().transpose(0, 2, 1))
        net.train(was)
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)

    def _sample(self, idx, seed, context) -> np.ndarray:
        return self._draw(self.model_, idx, seed, context)
