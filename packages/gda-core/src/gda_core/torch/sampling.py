"""The one reverse-diffusion loop of GDA's diffusion generators: :func:`sample` and :func:`invert`.

A generator gives its network call and a scheduler adapter; the loop owns what they share:
batching, seeded noise (:class:`Noise`), classifier-free guidance, starting part-way at a
``strength`` (SDEdit / DA-Fusion) or from DDIM-inverted latents, mixed precision, progress, and
decoding latents. It samples with whatever weights the call holds: the EMA weights
:class:`~gda_core.torch.training.TrainingLoop` returns.

- ``call(x, t, labels, **extras)`` returns the network's prediction for the batch ``x`` at timestep
  ``t`` (the scheduler's own timestep value), with ``labels`` the class indices (None when the
  generator has none) and ``extras`` the per-sample inputs sliced with the batch (a mask to
  concatenate, say). With guidance the loop calls it once on the doubled batch (conditional and
  ``null_label`` rows) and mixes ``unc + guidance_scale * (cond - unc)``.
- A scheduler adapter, :class:`DiffusersScheduler` (diffusers' DDPM / DDIM / DPM-Solver...) or
  :class:`MonaiScheduler` (MONAI's DDPM / DDIM, whose ``step`` returns a tuple and which have no
  ``scale_model_input`` or ``init_noise_sigma``), built from a function that makes a fresh
  scheduler (multistep solvers keep state, so each batch gets its own).

DDIM inversion and slerp live in :mod:`gda_core.torch.diffusion`; :func:`invert` runs the
inversion with the same call and adapter. Nothing here imports torch at module import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .diffusion import ddim_invert, ddim_path, eps_from_output, start_index

NetworkCall = Callable[..., Any]


# -- seeded noise ------------------------------------------------------------------------------


class Noise:
    """The seeded randomness of one sampling run (GDA's scheme).

    One CPU generator, ``torch_generator(seed)``: the starting noise of all samples is drawn from it
    at once, so a sample's start does not depend on the batch size, and stochastic scheduler steps
    (DDPM) draw from it after, batch by batch.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._all: Any = None
        self._gen: Any = None

    def generator(self) -> Any:
        from .accelerators import torch_generator

        if self._gen is None:
            self._gen = torch_generator(self.seed)
        return self._gen

    def start(self, lo: int, hi: int, shape: Sequence[int], n: int) -> Any:
        """The starting noise of samples ``lo:hi`` of ``n`` (CPU float32)."""
        import torch

        if self._all is None:
            self._all = torch.randn((n, *shape), generator=self.generator())
        return self._all[lo:hi]

    def step_generator(self, lo: int) -> Any:
        """The generator the stochastic steps of the batch starting at ``lo`` draw from (None: torch's global one)."""
        return self.generator()

    def scope(self, lo: int, device: Any) -> Any:
        """A context around the batch starting at ``lo`` (seeding torch's global generators, where needed)."""
        return contextlib.nullcontext()


class BatchNoise(Noise):
    """gda-medical's scheme, kept so that its seeds give the samples they gave: each batch has its
    own starting noise, ``torch_generator(seed * 1_000_003 + lo)``, and its stochastic steps draw
    from torch's global generators seeded with ``seed + lo`` (MONAI's DDPM draws on the device)."""

    def start(self, lo: int, hi: int, shape: Sequence[int], n: int) -> Any:
        import torch

        from .accelerators import torch_generator

        return torch.randn((hi - lo, *shape), generator=torch_generator(self.seed * 1_000_003 + lo))

    def step_generator(self, lo: int) -> Any:
        return None

    def scope(self, lo: int, device: Any) -> Any:
        from .accelerators import seeded

        return seeded(self.seed + lo, device)


# -- scheduler adapters ----------------------------------------------------------------------------


class DiffusersScheduler:
    """A diffusers scheduler for :func:`sample`; ``make()`` returns a fresh one (same config each time)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def fresh(self, num_inference_steps: int, device: Any) -> Any:
        sched = self.make()
        sched.set_timesteps(num_inference_steps, device=device)
        return sched

    def timesteps(self, sched: Any, skip: int) -> Any:
        """The timesteps left after skipping ``skip`` inference steps (strength < 1)."""
        return sched.timesteps[skip * getattr(sched, "order", 1):]

    def begin(self, sched: Any, skip: int) -> None:
        """Tell the scheduler where a part-way start begins (multistep solvers index by it)."""
        if hasattr(sched, "set_begin_index"):
            sched.set_begin_index(skip * getattr(sched, "order", 1))

    def initial(self, sched: Any, noise: Any) -> Any:
        return noise * sched.init_noise_sigma

    def noised(self, sched: Any, x0: Any, noise: Any, t: Any) -> Any:
        return sched.add_noise(x0, noise, t)

    def model_input(self, sched: Any, x: Any, t: Any) -> Any:
        return sched.scale_model_input(x, t)

    def step(self, sched: Any, output: Any, t: Any, x: Any, generator: Any) -> Any:
        return sched.step(output, t, x, generator=generator).prev_sample

    def inversion_path(self, sched: Any, skip: int, alphas_cumprod: Any) -> list[tuple[int, float, float]]:
        return ddim_path(sched.timesteps, skip, alphas_cumprod)


class MonaiScheduler(DiffusersScheduler):
    """A MONAI scheduler (``monai.networks.schedulers``) for :func:`sample`: ``step`` returns
    ``(previous, predicted original)``, there is no input scaling, timesteps stay on the CPU."""

    def fresh(self, num_inference_steps: int, device: Any) -> Any:
        sched = self.make()
        sched.set_timesteps(num_inference_steps)
        return sched

    def timesteps(self, sched: Any, skip: int) -> Any:
        return sched.timesteps[skip:]

    def begin(self, sched: Any, skip: int) -> None:
        return None

    def initial(self, sched: Any, noise: Any) -> Any:
        return noise

    def noised(self, sched: Any, x0: Any, noise: Any, t: Any) -> Any:
        return sched.add_noise(original_samples=x0, noise=noise, timesteps=t)

    def model_input(self, sched: Any, x: Any, t: Any) -> Any:
        return x

    def step(self, sched: Any, output: Any, t: Any, x: Any, generator: Any) -> Any:
        return sched.step(output, t, x, generator=generator)[0]

    def inversion_path(self, sched: Any, skip: int, alphas_cumprod: Any) -> list[tuple[int, float, float]]:
        """The mirror of MONAI's DDIM steps (each from ``t`` to ``t - num_train_timesteps //
        num_inference_steps``, the last to a clean sample), least noisy first."""
        jump = sched.num_train_timesteps // sched.num_inference_steps
        alphas = sched.alphas_cumprod
        path = []
        for t in [int(t) for t in sched.timesteps[skip:]][::-1]:
            a_from = float(alphas[t - jump]) if t - jump >= 0 else float(sched.final_alpha_cumprod)
            path.append((max(t - jump, 0), a_from, float(alphas[t])))
        return path


# -- the loops ----------------------------------------------------------------------------------------


def _slice(values: Mapping[str, Any] | None, sl: slice, device: Any) -> dict[str, Any]:
    return {k: v[sl].to(device) for k, v in (values or {}).items()}


def _predict(call: NetworkCall, x: Any, t: Any, labels: Any, extras: Mapping[str, Any], null_label: int | None,
             guidance_scale: float, amp: Any) -> Any:
    """The network's prediction at ``x``, guided when ``guidance_scale`` is not 1 and there are labels."""
    import torch

    with amp():
        if labels is not None and guidance_scale != 1.0:
            if null_label is None:
                raise ValueError("sample: classifier-free guidance needs null_label")
            both = call(torch.cat([x, x]), t, torch.cat([labels, torch.full_like(labels, null_label)]),
                        **{k: torch.cat([v, v]) for k, v in extras.items()})
            cond, unc = both.float().chunk(2)
            return unc + guidance_scale * (cond - unc)
        return call(x, t, labels, **extras).float()


def sample(call: NetworkCall, scheduler: DiffusersScheduler, shape: Sequence[int], n: int, *,
           num_inference_steps: int, noise: Noise | int, batch_size: int, device: Any = "cpu",
           precision: Any = "float32", labels: Any = None, null_label: int | None = None,
           guidance_scale: float = 1.0, strength: float = 1.0, init: Any = None, latents: Any = None,
           extras: Mapping[str, Any] | None = None, decode: Callable[[Any], Any] | None = None,
           progress: Callable[..., Any] | None = None, desc: str = "sample") -> Any:
    """Denoise ``n`` samples of ``shape`` in batches of ``batch_size``; a CPU float32 tensor.

    ``noise``: a :class:`Noise` or a seed (``Noise(seed)``); deterministic given it. ``labels``
    (n,) class indices, ``null_label`` the unconditional class for ``guidance_scale`` != 1.
    ``strength`` < 1 with ``init`` (n, *shape, clean samples in model space) starts part-way:
    ``init`` noised with the seeded noise to that level (SDEdit); ``latents`` (n, *shape), states
    at that level (:func:`invert`), start there (give a DDIM scheduler). ``extras``: per-sample
    tensors passed to ``call`` by name. ``decode`` maps each denoised batch (latents) to outputs.
    ``progress`` (``context.progress``) wraps each batch's denoising steps.
    """
    import torch

    from .accelerators import autocast

    noise = noise if isinstance(noise, Noise) else Noise(noise)
    if strength < 1.0 and init is None and latents is None:
        raise ValueError("sample: strength below 1 needs init or latents")
    varied = latents is not None or (init is not None and strength < 1.0)
    skip = start_index(num_inference_steps, strength) if varied else 0
    labels_all = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
    out = []
    starts = list(range(0, n, batch_size))
    for k, lo in enumerate(starts):
        hi = min(n, lo + batch_size)
        sl = slice(lo, hi)
        sched = scheduler.fresh(num_inference_steps, device)
        steps = scheduler.timesteps(sched, skip)
        x = noise.start(lo, hi, shape, n).to(device)
        if varied:
            scheduler.begin(sched, skip)
            if latents is not None:
                x = latents[sl].to(device)
            else:
                x = scheduler.noised(sched, init[sl].to(device), x, steps[:1].repeat(hi - lo).to(x.device))
        else:
            x = scheduler.initial(sched, x)
        lab = None if labels_all is None else labels_all[sl].to(device)
        ext = _slice(extras, sl, device)
        gen = noise.step_generator(lo)
        if progress is not None:
            steps = progress(steps, desc=desc if len(starts) == 1 else f"{desc} {k + 1}/{len(starts)}",
                             total=len(steps))
        with torch.no_grad(), noise.scope(lo, device):
            for t in steps:
                pred = _predict(call, scheduler.model_input(sched, x, t), t, lab, ext, null_label, guidance_scale,
                                lambda: autocast(device, precision))
                x = scheduler.step(sched, pred, t, x, gen)
            if decode is not None:
                with autocast(device, precision):
                    x = decode(x)
        out.append(x.float().cpu())
    return torch.cat(out) if out else torch.zeros((0, *shape))


def invert(call: NetworkCall, scheduler: DiffusersScheduler, x0: Any, *, num_inference_steps: int,
           strength: float, alphas_cumprod: Any, prediction_type: str, batch_size: int, device: Any = "cpu",
           precision: Any = "float32", labels: Any = None, extras: Mapping[str, Any] | None = None) -> Any:
    """Deterministic DDIM inversion of clean samples ``x0`` (n, ...) in model space (with their class
    ``labels`` and ``extras``) to the noise level where :func:`sample` at ``strength`` starts:
    ``sample(..., latents=invert(...))`` with a DDIM scheduler gives back about ``x0``. The
    scheduler is the sampling DDIM's adapter; ``alphas_cumprod`` the training noise schedule's.
    A CPU float32 tensor."""
    import torch

    from .accelerators import autocast

    sched = scheduler.fresh(num_inference_steps, None)
    path = scheduler.inversion_path(sched, start_index(num_inference_steps, strength), alphas_cumprod)
    labels_all = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
    out = []
    with torch.no_grad():
        for lo in range(0, len(x0), batch_size):
            sl = slice(lo, lo + batch_size)
            lab = None if labels_all is None else labels_all[sl].to(device)
            ext = _slice(extras, sl, device)

            def eps(x: Any, t: int, lab: Any = lab, ext: dict[str, Any] = ext) -> Any:
                with autocast(device, precision):
                    pred = call(x, torch.tensor(t, device=device), lab, **ext).float()
                return eps_from_output(pred, x, float(alphas_cumprod[t]), prediction_type)

            out.append(ddim_invert(x0[sl].float().to(device), path, eps).float().cpu())
    return torch.cat(out) if out else torch.zeros((0, *x0.shape[1:]))
