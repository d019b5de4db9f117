"""Paired comparisons over run seeds: mean difference, 95% t interval, wins and losses."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class Paired:
    """A method against a reference, paired by run seed."""

    n: int
    mean: float
    low: float
    high: float
    wins: int
    losses: int

    @property
    def significant(self) -> bool:
        """The 95% interval excludes zero, over three or more seeds (two seeds with equal
        differences give a zero-width interval that says little)."""
        return self.n > 2 and (self.low > 0 or self.high < 0)

    def text(self, scale: float = 100.0) -> str:
        """``+1.2 [-0.4, +2.8]`` in points (``scale`` 100 turns accuracy into points)."""
        def f(v: float) -> str:
            return f"{v * scale + 0.0:+.1f}".replace("-0.0", "+0.0")

        if self.n < 2:
            return f"{f(self.mean)} (1 seed)"
        return f"{f(self.mean)} [{f(self.low)}, {f(self.high)}]"


def paired(scores: Mapping[int, float], reference: Mapping[int, float], *, level: float = 0.95) -> Paired | None:
    """Compare ``scores`` with ``reference`` on the seeds both have (paired t interval).

    Returns None when no seed is shared. With one shared seed the interval is that one
    difference (no spread to estimate).
    """
    from scipy import stats

    seeds = sorted(set(scores) & set(reference))
    if not seeds:
        return None
    diffs = [float(scores[s]) - float(reference[s]) for s in seeds]
    n = len(diffs)
    mean = sum(diffs) / n
    if n == 1:
        low = high = mean
    else:
        sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
        half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    eps = 1e-12
    return Paired(n, mean, low, high, sum(d > eps for d in diffs), sum(d < -eps for d in diffs))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    m = sum(values) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return m, sd
