"""What the diffusion generators of every package share, whatever their network: held-out
checkpoint choice, DDIM inversion, spherical interpolation of latents.

``vision.ddpm``, ``signal.diffusion1d`` and the 3-D generators of gda-medical train their own
networks in their own loops and sample with their own schedulers (diffusers or MONAI). The parts
that do not depend on the network live here, once:

- :class:`CheckpointParams` (``checkpoint``, ``holdout``, ``eval_every``, ``copy_tolerance``) and
  :class:`CheckpointChooser`, which holds out a seeded share of the *training* records (test
  records never reach a generator), scores the weights every ``eval_every`` steps by the denoising
  loss on the held-out records or by the near-copy share of samples, and keeps the best weights;
- :class:`InterpolationParams` and :func:`interpolation_weights`, :func:`slerp`;
- :func:`start_index` (where sampling at a ``strength`` starts), :func:`ddim_path`,
  :func:`ddim_invert` and :func:`eps_from_output`.

Nothing here imports torch at module import: tensors are used through their operators, and the
few torch calls import it inside the function.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from ..components import SAMPLING, Params
from ..errors import DataError

Checkpoint = Literal["last", "heldout-loss", "copy-share"]


class CheckpointParams(Params):
    """Held-out checkpoint choice, shared by the diffusion generators (see :class:`CheckpointChooser`)."""

    checkpoint: Checkpoint = Field(
        "last", description="which weights to keep: the last step's ('last'), the checkpoint with the lowest "
        "denoising loss on held-out training records ('heldout-loss'), or the latest checkpoint whose samples' "
        "near-copy share is within copy_tolerance of held-out records' share ('copy-share'); the held-out "
        "records are a seeded share of the training data, never test records")
    holdout: float = Field(0.1, gt=0, lt=1, description="share of the training records held out for the "
                           "checkpoint criterion (only when checkpoint is not 'last')")
    eval_every: int = Field(250, gt=0, description="training steps between checkpoint evaluations")
    copy_tolerance: float = Field(0.05, ge=0, le=1, description="copy-share checkpointing: largest excess of the "
                                  "samples' near-copy share over held-out records' share")


class InterpolationParams(Params):
    """Latent interpolation (DDIM inversion of two real samples of one class, slerp, decoding)."""

    interpolate: bool = Field(
        False, description="latent interpolation: DDIM-invert the condition's source and a random training "
        "sample of the same class (to the strength level, the whole way at strength 1), interpolate the two "
        "latents spherically, decode with DDIM", json_schema_extra=SAMPLING)
    interpolation_weights: tuple[float, float] = Field(
        (0.3, 0.7), description="range of the partner's spherical-interpolation weight (drawn uniformly; "
        "0: the source's own inversion round trip)", json_schema_extra=SAMPLING)

    @model_validator(mode="after")
    def _check_weights(self):
        lo, hi = self.interpolation_weights
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"interpolation_weights: need 0 <= low <= high <= 1, got {[lo, hi]}")
        return self


# -- held-out checkpoint choice --------------------------------------------------


def holdout_split(n: int, share: float, seed: int, *, who: str) -> tuple[Any, Any]:
    """``(kept, held)``: torch index tensors splitting ``n`` training records, ``share`` of them held
    out; seeded, and an error naming ``generator.params.holdout`` when either side has under two."""
    import torch

    from .accelerators import torch_generator

    n_out = int(round(share * n))
    if n_out < 2 or n - n_out < 2:
        raise DataError(f"generator.params.holdout: {share} of {n} training records leaves too few to hold out "
                        f"or to train on ({who}: checkpoint is not 'last')")
    perm = torch.randperm(n, generator=torch_generator(seed + 1))
    return perm[n_out:], perm[:n_out]


def heldout_draws(n_held: int, shape: Sequence[int], num_train_timesteps: int, seed: int, total: int = 256
                  ) -> tuple[Any, Any, Any]:
    """Fixed noise for the held-out loss, the same at every evaluation: ``(index, t, noise)``, each
    held-out record ``max(1, total // n_held)`` times with its own timestep and noise (CPU tensors)."""
    import torch

    from .accelerators import torch_generator

    g = torch_generator(seed + 2)
    reps = max(1, total // n_held)
    t = torch.randint(0, num_train_timesteps, (reps * n_held,), generator=g)
    noise = torch.randn((reps * n_held, *shape), generator=g)
    return torch.arange(reps * n_held) % n_held, t, noise


def mean_loss(per_sample: Callable[[Any, Any, Any], Any], draws: tuple[Any, Any, Any], batch: int) -> float:
    """Mean of ``per_sample(index, t, noise)`` (one loss per row) over :func:`heldout_draws`, in batches."""
    idx, t, noise = draws
    total = 0.0
    for i in range(0, len(idx), batch):
        sl = slice(i, i + batch)
        total += float(per_sample(idx[sl], t[sl], noise[sl]).double().sum())
    return total / max(1, len(idx))


class CheckpointChooser:
    """Scores the weights during training and keeps the best checkpoint (``params.checkpoint``).

    ``train`` and ``held``: the kept and held-out training records as ``(n, d)`` arrays, in the space
    ``sample`` returns (for the copy-share threshold: the 5% quantile of held-out records' distances to
    the kept ones, so about 5% of held-out records count as near-copies). ``heldout_loss(model)`` gives
    the denoising loss on the held-out records, ``sample(model)`` an ``(m, d)`` array of samples.

    A training loop calls :meth:`after_step` after every optimizer step and :meth:`restore` at the
    end. ``history`` lists each evaluation, ``best_step`` the step whose weights were kept.
    """

    def __init__(self, params: CheckpointParams, *, train: np.ndarray, held: np.ndarray,
                 heldout_loss: Callable[[Any], float], sample: Callable[[Any], np.ndarray]) -> None:
        from ..near_copies import nn_distances

        self.params = params
        self.train = np.asarray(train, dtype=np.float32).reshape(len(train), -1)
        self._loss, self._sample = heldout_loss, sample
        self.history: list[dict[str, float]] = []
        self.best_step: int | None = None
        self._best: tuple[float, Any] | None = None
        if params.checkpoint == "copy-share":
            held_d = nn_distances(np.asarray(held, dtype=np.float32).reshape(len(held), -1), self.train)
            self.threshold = float(np.quantile(held_d, 0.05))
            self.heldout_share = float(np.mean(held_d < self.threshold))

    def due(self, step: int, steps: int) -> bool:
        """Whether ``step`` (1-based) is an evaluation step: every ``eval_every``, and the last."""
        return step % self.params.eval_every == 0 or step == steps

    def score(self, step: int, model: Any) -> float:
        """Evaluate ``model`` (lower is better) and record it in ``history``."""
        from ..near_copies import nn_distances

        if self.params.checkpoint == "heldout-loss":
            loss = float(self._loss(model))
            self.history.append({"step": step, "heldout_loss": loss})
            return loss
        xs = np.asarray(self._sample(model), dtype=np.float32)
        share = float(np.mean(nn_distances(xs.reshape(len(xs), -1), self.train) < self.threshold))
        self.history.append({"step": step, "copy_share": share, "heldout_share": self.heldout_share})
        # the latest checkpoint within tolerance wins; past it, the least copying one
        return -step if share <= self.heldout_share + self.params.copy_tolerance else 1e9 + share

    def after_step(self, step: int, steps: int, model: Any) -> None:
        """At an evaluation step, score ``model`` (in eval mode, without gradients) and keep its
        weights when they are the best so far (ties: the later)."""
        import torch

        if not self.due(step, steps):
            return
        was_training = model.training
        model.eval()
        with torch.no_grad():
            s = self.score(step, model)
        model.train(was_training)
        if self._best is None or s <= self._best[0]:
            self._best = (s, copy.deepcopy(model.state_dict()))
            self.best_step = step

    def restore(self, model: Any) -> Any:
        """Load the kept weights into ``model`` (unchanged when nothing was scored); returns it."""
        if self._best is not None:
            model.load_state_dict(self._best[1])
        return model

    def state_dict(self) -> dict[str, Any]:
        """The evaluations so far and the kept weights (for a resumable training loop)."""
        best = None if self._best is None else {"score": self._best[0], "weights": self._best[1]}
        return {"history": [dict(h) for h in self.history], "best_step": self.best_step, "best": best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s evaluations and kept weights."""
        self.history = [dict(h) for h in state["history"]]
        self.best_step = state["best_step"]
        best = state["best"]
        self._best = None if best is None else (float(best["score"]), best["weights"])


def heldout_chooser(params: CheckpointParams, data: Sequence[Any], *, seed: int, who: str,
                    num_train_timesteps: int, loss: Callable[[Any, tuple[Any, ...], Any, Any], Any],
                    sample: Callable[[Any, tuple[Any, ...]], np.ndarray], draws: int = 256, batch: int = 256,
                    samples: int = 200) -> tuple[tuple[Any, ...], CheckpointChooser]:
    """Hold out ``params.holdout`` of the training records and build the :class:`CheckpointChooser`
    scoring on them: the one wiring of the held-out checkpoint choice of every diffusion generator.

    ``data``: aligned per-record tensors or arrays (first the records, in the space ``sample``
    returns; then labels, conditioning masks..., None where absent). Returns the kept part of each
    and the chooser. ``loss(model, held, t, noise)`` is the per-row denoising loss of a batch of
    held-out records (``held``: the fields of ``data`` for those rows; ``t`` and ``noise``: fixed CPU
    draws, the same at every evaluation: :func:`heldout_draws`, ``draws`` in all, in batches of
    ``batch``). ``sample(model, picked)`` gives samples for ``picked``, the fields of a seeded
    subset of at most ``samples`` kept records (for ``copy-share``).
    """
    import torch

    from .accelerators import torch_generator

    keep, held = holdout_split(len(data[0]), params.holdout, seed, who=who)

    def take(fields: Sequence[Any], idx: Any) -> tuple[Any, ...]:
        return tuple(None if f is None else f[idx.numpy()] if isinstance(f, np.ndarray) else f[idx.to(f.device)]
                     for f in fields)

    kept, out = take(data, keep), take(data, held)
    fixed = heldout_draws(len(held), tuple(out[0].shape[1:]), num_train_timesteps, seed, total=draws)

    def heldout_loss(model: Any) -> float:
        return mean_loss(lambda i, t, noise: loss(model, take(out, i), t, noise), fixed, batch)

    pick = torch.randperm(len(keep), generator=torch_generator(seed))[:samples]

    def samples_of(model: Any) -> np.ndarray:
        return sample(model, take(kept, pick))

    def flat(x: Any) -> np.ndarray:
        a = x.detach().float().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=np.float32)
        return a.reshape(len(a), -1)

    chooser = CheckpointChooser(params, train=flat(kept[0]), held=flat(out[0]), heldout_loss=heldout_loss,
                                sample=samples_of)
    return kept, chooser


# -- strength, inversion, interpolation -----------------------------------------------


def start_index(num_inference_steps: int, strength: float) -> int:
    """Index into the sampler's timesteps where denoising starts at ``strength`` in (0, 1] (0 at
    strength 1; at least one denoising step is always left, as in diffusers' img2img)."""
    keep = min(num_inference_steps, max(1, int(round(num_inference_steps * strength))))
    return num_inference_steps - keep


def eps_from_output(output: Any, x: Any, alpha_cumprod: float, prediction_type: str) -> Any:
    """The noise a network's ``output`` at ``x`` implies, for its ``prediction_type`` (``epsilon``,
    ``sample`` or ``v_prediction``), with ``alpha_cumprod`` the noise level's signal share."""
    a = float(alpha_cumprod)
    if prediction_type == "epsilon":
        return output
    if prediction_type == "sample":
        return (x - a ** 0.5 * output) / max(1 - a, 1e-12) ** 0.5
    if prediction_type == "v_prediction":
        return a ** 0.5 * output + (1 - a) ** 0.5 * x
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


def ddim_path(timesteps: Sequence[Any], start: int, alphas_cumprod: Any) -> list[tuple[int, float, float]]:
    """The inversion path of DDIM sampling over the (descending, evenly spaced) ``timesteps`` from
    ``timesteps[start]``: ``(t, alpha_from, alpha_to)`` steps up the sampler's own timesteps, from
    the least noisy one (where the clean sample stands in for its state) to ``timesteps[start]``."""
    path = [int(t) for t in timesteps[start:]][::-1]  # ascending noise
    return [(t, float(alphas_cumprod[t]), float(alphas_cumprod[u])) for t, u in zip(path[:-1], path[1:])]


def ddim_invert(x: Any, path: Sequence[tuple[int, float, float]], predict_eps: Callable[[Any, int], Any]) -> Any:
    """Deterministic DDIM inversion of clean samples ``x`` (a tensor batch) along ``path`` (see
    :func:`ddim_path`): at each step the noise ``predict_eps(x, t)`` estimates moves ``x`` from
    signal share ``alpha_from`` to ``alpha_to``. Decoding the result with DDIM from the path's last
    timestep gives back about ``x``. Call it under ``torch.no_grad()``."""
    for t, a_cur, a_next in path:
        eps = predict_eps(x, t)
        x0_hat = (x - (1 - a_cur) ** 0.5 * eps) / a_cur ** 0.5
        x = a_next ** 0.5 * x0_hat + (1 - a_next) ** 0.5 * eps
    return x


def interpolation_weights(seed: int, n: int, bounds: Sequence[float]) -> np.ndarray:
    """``n`` partner weights drawn uniformly in ``bounds`` (low, high), seeded."""
    lo, hi = bounds
    return np.random.default_rng(np.random.SeedSequence([int(seed), 11])).uniform(lo, hi, n)


def slerp(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Spherical interpolation between rows of ``a`` and ``b`` (n, ...) with weights ``w`` (n,) in [0, 1]
    (linear where the two are parallel); float32, shaped as ``a``."""
    fa = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    fb = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    na, nb = np.linalg.norm(fa, axis=1), np.linalg.norm(fb, axis=1)
    cos = np.clip(np.sum(fa * fb, axis=1) / np.maximum(na * nb, 1e-12), -1.0, 1.0)
    theta = np.arccos(cos)
    w = np.asarray(w, dtype=np.float64)
    sin = np.sin(theta)
    small = sin < 1e-6
    wa = np.where(small, 1 - w, np.sin((1 - w) * theta) / np.where(small, 1.0, sin))
    wb = np.where(small, w, np.sin(w * theta) / np.where(small, 1.0, sin))
    return (wa[:, None] * fa + wb[:, None] * fb).reshape(np.shape(a)).astype(np.float32)


class CheckpointedGenerator:
    """Mixin for a generator with :class:`CheckpointParams` (list it before ``Generator``): with
    ``checkpoint: copy-share`` fitting samples, so the sampling parameters shape the kept weights
    and are part of the fitted model (none is sampling-only then)."""

    def sampling_params(self) -> dict[str, Any]:
        if getattr(self.params, "checkpoint", "last") == "copy-share":  # type: ignore[attr-defined]
            return {}
        return super().sampling_params()  # type: ignore[misc]
