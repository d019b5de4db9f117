"""Interrupting a fit part-way, for the tests that check a killed fit resumes to the same weights."""

from __future__ import annotations

from gda_core.context import RunContext


class Killed(Exception):
    """What :class:`KillingContext` raises in place of a kill."""


class KillingContext(RunContext):
    """A run context whose progress stops the training loop whose description holds ``phase`` after
    ``kill_after`` steps (None: never)."""

    kill_after: int | None = None
    phase: str = ""

    def progress(self, iterable, desc="", total=None):
        if self.kill_after is None or self.phase not in desc:
            return iterable

        def steps():
            for i, item in enumerate(iterable):
                if i == self.kill_after:
                    raise Killed
                yield item
        return steps()


def save_every_step(monkeypatch) -> None:
    """Make gda_core's training loop save its resumable state after every step (not every 60 s)."""
    from gda_core.torch.training import TrainingLoop

    monkeypatch.setattr(TrainingLoop, "_due", lambda self, done, last: self.scratch is not None)
