"""The one training loop of GDA's torch generators: :class:`TrainingLoop`.

A generator says what one training step does (a function from a :class:`Step` to named losses)
and which modules and optimizers it has; the loop owns the rest, once for every generator:

- AdamW optimizers (:class:`Optim`), one per named group of modules, each with its learning-rate
  :class:`Schedule` (linear warm-up, then constant, cosine or linear decay to a floor) and its
  gradient-norm clip;
- mixed precision and the device (``autocast`` through :mod:`gda_core.torch.accelerators`, a
  gradient scaler for float16 on CUDA), and GDA's CPU thread count, re-asserted at the start of
  every fit (another library may have changed it since: see :func:`~.accelerators.apply_thread_setting`);
- an exponential moving average of chosen modules' weights (:class:`EMA`);
- the held-out checkpoint choice (a :class:`~gda_core.torch.diffusion.CheckpointChooser`, scored
  on the EMA weights where there are some);
- progress output (``context.progress``);
- resumable state: with a ``scratch`` folder (the pipeline gives ``RUN/model.partial/<name>``
  through :meth:`gda_core.context.RunContext.scratch_dir`) the loop writes its whole state
  (weights, optimizers, schedules, EMA, step, random states, losses, the chooser's best weights)
  every ``save_every`` steps or ``save_seconds`` seconds and at the end; a fit killed part-way
  resumes from it and ends with the same weights as a fit never interrupted.

The step function draws its randomness from ``step.generator`` (the loop's seeded CPU
generator, saved with the state) or torch's global generator (saved too), never from a
generator of its own, so that a resumed fit draws what the uninterrupted one would have.

One optimizer: the step returns its loss (a tensor, or a dict whose ``"loss"`` entry is
optimized; the other entries are recorded) and the loop updates. Several (a GAN): the step
calls :meth:`Step.update` for each, in the order it wants, and returns what to record::

    def gan_step(step):
        real = data[torch.randint(0, len(data), (64,), generator=step.generator)]
        z = torch.randn(64, 16, generator=step.generator)
        fake = step.modules["generator"](z)
        d = bce(disc(real), ones) + bce(disc(fake.detach()), zeros)
        step.update("discriminator", d)
        g = bce(disc(fake), ones)
        step.update("generator", g)
        return {"discriminator": d, "generator": g}

    loop = TrainingLoop({"generator": gen, "discriminator": disc}, gan_step,
                        {"generator": Optim("generator", lr=2e-4, betas=(0.5, 0.999)),
                         "discriminator": Optim("discriminator", lr=2e-4, betas=(0.5, 0.999))},
                        steps=2000, seed=context.seed, ema={"generator": EMA(0.999)}, context=context,
                        desc="vision.gan train")
    result = loop.run()
    gen = result.modules["generator"]  # the EMA weights, eval mode

Nothing here imports torch at module import.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

STATE_FILE = "training-state.pt"
"""The loop's resumable state in its scratch folder."""


@dataclass(frozen=True)
class Schedule:
    """A learning-rate factor over the training steps (``lr * factor(step, steps)``).

    The first ``warmup`` steps rise linearly, ``(step + warmup_shift) / warmup`` (diffusers'
    ``get_cosine_schedule_with_warmup`` is ``warmup_shift=0``: the first step has factor 0; 1
    lets the first step learn already); after them the factor is 1 (``decay="constant"``) or
    falls to ``floor`` at the last step along a half cosine or a line.
    """

    warmup: int = 0
    decay: Literal["constant", "cosine", "linear"] = "constant"
    floor: float = 0.0
    warmup_shift: int = 0

    def factor(self, step: int, steps: int) -> float:
        """The factor at ``step`` (0-based) of ``steps``."""
        if step < self.warmup:
            return (step + self.warmup_shift) / self.warmup
        if self.decay == "constant":
            return 1.0
        span = max(1, steps - self.warmup)
        done = min(step - self.warmup, span)
        if self.decay == "cosine":
            return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * done / span))
        return self.floor + (1 - self.floor) * (1 - done / span)


@dataclass(frozen=True)
class Optim:
    """One AdamW optimizer over the trainable parameters (``requires_grad``) of ``modules``.

    ``weight_decay=0`` is Adam. ``clip``: the largest gradient norm over its parameters (None:
    no clipping). ``schedule``: a :class:`Schedule` or a function ``(step, steps) -> factor``.
    """

    modules: str | tuple[str, ...]
    lr: float
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    clip: float | None = 1.0
    schedule: Schedule | Callable[[int, int], float] = field(default_factory=Schedule)

    def names(self) -> tuple[str, ...]:
        return (self.modules,) if isinstance(self.modules, str) else tuple(self.modules)


@dataclass(frozen=True)
class EMA:
    """An exponential moving average of a module's weights, updated after every step.

    The decay at step ``i`` (0-based) is ``min(decay, (1 + i) / (10 + i))`` with ``warmup`` (early
    weights fade fast), else ``decay``. Buffers (batch-norm statistics) are copied, not averaged.
    """

    decay: float
    warmup: bool = True

    def at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay


@dataclass
class TrainResult:
    """What :meth:`TrainingLoop.run` returns.

    ``modules``: the weights to sample with and save, by name, in eval mode: the EMA copy where
    the module has one, holding the checkpoint the chooser kept where there is a chooser.
    ``trained``: the modules as trained (no averaging). ``losses``: each recorded loss, one float
    per step. ``checkpoints`` / ``checkpoint_step``: the chooser's evaluations and the step it
    kept (empty / None without one). ``resumed_from``: the step a saved state resumed at (None: a
    fresh fit).
    """

    modules: dict[str, Any]
    trained: dict[str, Any]
    losses: dict[str, list[float]]
    checkpoints: list[dict[str, float]]
    checkpoint_step: int | None
    resumed_from: int | None

    def tail_loss(self, name: str = "loss", share: float = 0.1) -> float:
        """Mean of the last ``share`` of the recorded ``name`` losses (NaN when none)."""
        values = self.losses.get(name, [])
        if not values:
            return float("nan")
        return float(np.mean(values[-max(1, int(round(len(values) * share, 9))):]))


class Step:
    """What a step function gets: the step ``index`` (0-based) of ``steps``, the ``modules``, the
    loop's seeded CPU ``generator``, the ``device`` and ``dtype``, :meth:`autocast` and :meth:`update`."""

    def __init__(self, loop: TrainingLoop, index: int) -> None:
        self._loop = loop
        self.index = index
        self.steps = loop.steps
        self.modules = loop.modules
        self.generator = loop.generator
        self.device = loop.device
        self.dtype = loop.dtype
        self.optimizers = loop.optimizers
        self.updated: list[str] = []

    def autocast(self) -> Any:
        """Mixed precision for the forward pass (a no-op on CPU or at float32)."""
        from .accelerators import autocast

        return autocast(self.device, self.dtype)

    def update(self, optimizer: str, loss: Any) -> None:
        """One update of ``optimizer`` on ``loss``: zero its gradients, backward, clip, step."""
        self._loop._update(optimizer, loss)
        self.updated.append(optimizer)


StepFunction = Callable[[Step], Any]


class TrainingLoop:
    """The training loop every torch generator of GDA configures (see the module doc).

    ``modules``: the networks by name (moved to ``device``). ``step``: the step function.
    ``optimizers``: :class:`Optim` by name. ``steps``: how many steps; ``seed`` seeds
    ``step.generator``. ``precision``: a precision name (``auto``, ``float32``, ``bfloat16``,
    ``float16``) or a torch dtype. ``ema``: :class:`EMA` (or a decay) by module name; a decay of 0
    means none. ``chooser`` scores the ``choose`` module (default: the only module, or the only
    one with an EMA) after every step and its kept checkpoint is restored at the end; ``choose``
    may name several modules (a tuple: TimeGAN samples through three of its five networks), which
    the chooser then scores, keeps and restores together as one ``ModuleDict`` sharing their weights.
    ``context`` gives ``progress`` and, unless ``scratch`` is given, the scratch folder
    (``context.scratch_dir(desc)``); ``resume=False`` turns saving off. ``key`` is anything else
    that must match for a saved state to be resumed (the loop already checks the module
    shapes, optimizers, steps and seed).
    """

    def __init__(self, modules: Mapping[str, Any], step: StepFunction, optimizers: Mapping[str, Optim], *,
                 steps: int, seed: int, device: Any = "cpu", precision: Any = "auto",
                 ema: Mapping[str, EMA | float] | None = None, chooser: Any = None,
                 choose: str | tuple[str, ...] | None = None,
                 context: Any = None, progress: Callable[..., Any] | None = None, desc: str = "train",
                 scratch: str | os.PathLike[str] | None = None, resume: bool = True, save_every: int | None = None,
                 save_seconds: float | None = 60.0, key: Any = None) -> None:
        import torch

        from .accelerators import pick_device, pick_dtype

        if not modules:
            raise ValueError("TrainingLoop: give at least one module")
        for name, opt in optimizers.items():
            missing = [m for m in opt.names() if m not in modules]
            if missing:
                raise ValueError(f"TrainingLoop: optimizer {name!r} names unknown module(s) {missing}")
        self.device = pick_device(device) if isinstance(device, str) else torch.device(device)
        self.dtype = pick_dtype(self.device, precision) if isinstance(precision, str) else precision
        self.modules = {name: m.to(self.device) for name, m in modules.items()}
        self.step_fn, self.steps, self.seed = step, int(steps), int(seed)
        self.specs = dict(optimizers)
        self.ema_specs = {n: e if isinstance(e, EMA) else EMA(float(e)) for n, e in (ema or {}).items()}
        self.ema_specs = {n: e for n, e in self.ema_specs.items() if e.decay > 0}
        unknown = [n for n in self.ema_specs if n not in self.modules]
        if unknown:
            raise ValueError(f"TrainingLoop: EMA of unknown module(s) {unknown}")
        self.chooser = chooser
        if chooser is not None and choose is None:
            only = list(self.ema_specs) if len(self.ema_specs) == 1 else list(self.modules)
            if len(only) != 1:
                raise ValueError("TrainingLoop: name the module the chooser scores (choose=...)")
            choose = only[0]
        unknown = [n for n in ((choose,) if isinstance(choose, str) else choose or ()) if n not in self.modules]
        if unknown:
            raise ValueError(f"TrainingLoop: the chooser scores unknown module(s) {unknown}")
        self.choose = choose
        self.desc = desc
        self.progress = progress or (context.progress if context is not None else None)
        if scratch is None and resume and context is not None and hasattr(context, "scratch_dir"):
            scratch = context.scratch_dir(desc)
        self.scratch = Path(scratch) if resume and scratch is not None else None
        self.save_every, self.save_seconds = save_every, save_seconds
        self.key = key
        self.generator = None  # set in run()

    # -- building ---------------------------------------------------------------

    def _build(self) -> None:
        import torch

        from .accelerators import torch_generator

        self.generator = torch_generator(self.seed)
        self.params: dict[str, list[Any]] = {}
        self.optimizers: dict[str, Any] = {}
        self.schedulers: dict[str, Any] = {}
        for name, spec in self.specs.items():
            params = [p for m in spec.names() for p in self.modules[m].parameters() if p.requires_grad]
            self.params[name] = params
            opt = torch.optim.AdamW(params, lr=spec.lr, betas=spec.betas, eps=spec.eps,
                                    weight_decay=spec.weight_decay)
            sched = spec.schedule
            fn = sched.factor if isinstance(sched, Schedule) else sched
            self.optimizers[name] = opt
            self.schedulers[name] = torch.optim.lr_scheduler.LambdaLR(opt, lambda i, fn=fn: fn(i, self.steps))
        # the averaged copies keep the modules' trainable flags, so a fine-tune of one trains what the
        # module trained (they are updated under no_grad and never optimized here)
        self.ema = {n: copy.deepcopy(self.modules[n]).eval() for n in self.ema_specs}
        half = self.device.type == "cuda" and self.dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if half else None
        self.losses: dict[str, list[float]] = {}

    def fingerprint(self) -> str:
        """What a saved state must match to be resumed: module shapes, optimizers, EMA, steps, seed, key."""
        shapes = {n: [[k, list(v.shape)] for k, v in m.state_dict().items()] for n, m in self.modules.items()}
        optims = {n: {**{k: v for k, v in vars(s).items() if k != "schedule"},
                      "schedule": repr(s.schedule) if isinstance(s.schedule, Schedule) else "callable"}
                  for n, s in self.specs.items()}
        blob = {"modules": shapes, "optimizers": optims, "ema": {n: vars(e) for n, e in self.ema_specs.items()},
                "steps": self.steps, "seed": self.seed, "chooser": self.chooser is not None, "key": repr(self.key)}
        return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()

    # -- one step -------------------------------------------------------------------

    def _update(self, name: str, loss: Any) -> None:
        import torch

        if name not in self.optimizers:
            raise KeyError(f"TrainingLoop: no optimizer {name!r} (optimizers: {', '.join(self.optimizers)})")
        opt, clip = self.optimizers[name], self.specs[name].clip
        opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(opt)
        else:
            loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params[name], clip)
        if self.scaler is not None:
            self.scaler.step(opt)
        else:
            opt.step()

    def _one_step(self, i: int) -> None:
        import torch

        step = Step(self, i)
        out = self.step_fn(step)
        losses = out if isinstance(out, Mapping) else {"loss": out}
        if not step.updated:
            if len(self.optimizers) != 1:
                raise RuntimeError("TrainingLoop: with several optimizers the step calls step.update(name, loss)")
            if "loss" not in losses:
                raise RuntimeError("TrainingLoop: the step returned no 'loss' to optimize and called no update")
            step.update(next(iter(self.optimizers)), losses["loss"])
        if self.scaler is not None:
            self.scaler.update()
        for sched in self.schedulers.values():
            sched.step()
        if self.ema:
            with torch.no_grad():
                for name, avg in self.ema.items():
                    decay = self.ema_specs[name].at(i)
                    for pe, pm in zip(avg.parameters(), self.modules[name].parameters()):
                        pe.lerp_(pm, 1.0 - decay)
                    for be, bm in zip(avg.buffers(), self.modules[name].buffers()):
                        be.copy_(bm)
        for k, v in losses.items():
            self.losses.setdefault(k, []).append(float(v.detach()) if hasattr(v, "detach") else float(v))
        if self.chooser is not None:
            self.chooser.after_step(i + 1, self.steps, self._scored())

    def _scored(self, modules: Mapping[str, Any] | None = None) -> Any:
        """The module the chooser scores (of ``modules``, default the EMA copies where there are
        some); several named in ``choose`` come together as one ``ModuleDict`` sharing their weights."""
        import torch

        pick = modules if modules is not None else {n: self.ema.get(n, m) for n, m in self.modules.items()}
        if isinstance(self.choose, str):
            return pick[self.choose]
        together = torch.nn.ModuleDict({n: pick[n] for n in self.choose})
        together.training = all(pick[n].training for n in self.choose)
        return together

    # -- running ----------------------------------------------------------------------

    def run(self) -> TrainResult:
        """Train for ``steps`` (resuming a saved state of this fit when there is one)."""
        from .accelerators import apply_thread_setting

        apply_thread_setting()  # another library may have changed torch's thread count since the last fit
        self._build()
        start = self._resume()
        for m in self.modules.values():
            m.train()
        last_save = time.monotonic()
        for i in self._progress(range(start, self.steps), initial=start):
            self._one_step(i)
            if self._due(i + 1, last_save):
                self._save(i + 1)
                last_save = time.monotonic()
        return self._result(start)

    def _progress(self, steps: range, initial: int) -> Iterator[int]:
        if self.progress is None:
            return iter(steps)
        desc = f"{self.desc} (resumed at {initial})" if initial else self.desc
        return iter(self.progress(steps, desc=desc, total=len(steps)))

    def _due(self, done: int, last_save: float) -> bool:
        if self.scratch is None:
            return False
        if done == self.steps:
            return True
        if self.save_every and done % self.save_every == 0:
            return True
        return self.save_seconds is not None and time.monotonic() - last_save >= self.save_seconds

    def _result(self, start: int) -> TrainResult:
        final = {n: self.ema.get(n, m) for n, m in self.modules.items()}
        history, best = [], None
        if self.chooser is not None:
            self.chooser.restore(self._scored(final))
            history, best = list(self.chooser.history), self.chooser.best_step
        for m in final.values():
            m.eval()
        return TrainResult(modules=final, trained=dict(self.modules), losses=self.losses, checkpoints=history,
                           checkpoint_step=best, resumed_from=start or None)

    # -- resumable state ------------------------------------------------------------

    def state_dict(self, step: int) -> dict[str, Any]:
        """Everything a resumed fit needs to continue exactly (tensors and plain values only)."""
        import torch

        state = {
            "fingerprint": self.fingerprint(), "step": step,
            "modules": {n: m.state_dict() for n, m in self.modules.items()},
            "ema": {n: m.state_dict() for n, m in self.ema.items()},
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "losses": self.losses,
            "chooser": self.chooser.state_dict() if self.chooser is not None else None,
            "rng": _rng_state(self.generator),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def _save(self, step: int) -> None:
        import torch

        from ..runfolder import atomic_file

        assert self.scratch is not None
        with atomic_file(self.scratch / STATE_FILE) as f:  # whole or absent; listed as gda's in a run folder
            torch.save(self.state_dict(step), f)

    def _resume(self) -> int:
        """Load a saved state of this same fit from ``scratch``; the step to start at (0: none)."""
        import torch

        from .weights import torch_load

        path = self.scratch / STATE_FILE if self.scratch is not None else None
        if path is None or not path.is_file():
            return 0
        try:
            state = torch_load(path)
        except Exception as exc:  # a damaged file: start again rather than fail the run
            log.warning("%s: ignoring the unreadable training state %s (%s)", self.desc, path, exc)
            return 0
        if state.get("fingerprint") != self.fingerprint():
            log.warning("%s: the training state in %s is of another fit; starting afresh", self.desc, path)
            return 0
        for n, m in self.modules.items():
            m.load_state_dict(state["modules"][n])
        for n, m in self.ema.items():
            m.load_state_dict(state["ema"][n])
        for n, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][n])
        for n, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][n])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        if self.chooser is not None and state.get("chooser") is not None:
            self.chooser.load_state_dict(state["chooser"])
        self.losses = {k: list(v) for k, v in state["losses"].items()}
        _set_rng_state(self.generator, state["rng"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        log.info("%s: resuming at step %d of %d from %s", self.desc, state["step"], self.steps, path)
        return int(state["step"])


def fit_key(component: Any, *data: Any) -> str:
    """A ``key`` for :class:`TrainingLoop`: the component's name and fitted parameters (sampling
    ones left out) and a digest of the training ``data`` (tensors or arrays), so that a saved
    state resumes only the same fit of the same data."""
    h = hashlib.sha256()
    params = component.params.model_dump(mode="json", exclude=set(component.sampling_params()))
    h.update(json.dumps([getattr(component, "name", None), params], sort_keys=True, default=str).encode())
    for x in data:
        if x is None:
            h.update(b"none")
            continue
        a = x.detach().cpu().contiguous().numpy() if hasattr(x, "detach") else np.ascontiguousarray(x)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _rng_state(generator: Any) -> dict[str, Any]:
    import torch

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"loop": generator.get_state(), "torch": torch.get_rng_state(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "python": _plain(random.getstate())}


def _set_rng_state(generator: Any, rng: Mapping[str, Any]) -> None:
    import torch

    generator.set_state(rng["loop"])
    torch.set_rng_state(rng["torch"])
    n = rng["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    random.setstate(_tuples(rng["python"]))


def _plain(v: Any) -> Any:
    return [_plain(x) for x in v] if isinstance(v, (tuple, list)) else v


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v
