"""The searched interval of learning rates, in log space, and how it narrows between rounds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lrkit.checks import positive_lr
from lrkit.errors import ConfigError
from lrkit.rounding import tidy

MIN_DECADES = 1e-3
"""Narrowing stops at this width in decades (0.23% from low to high): LRs closer than that train
alike, and a float's digits run out not far below."""


@dataclass(frozen=True)
class LogRange:
    """A closed interval ``[low, high]`` of learning rates, searched evenly in ``log10``.

    Example:
        >>> LogRange(1e-4, 1e-1).log_low
        -4.0
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            positive_lr(name, getattr(self, name))
        if self.low >= self.high:
            raise ConfigError(
                f"low must be below high, got low={self.low!r} >= high={self.high!r}; "
                "swap them or widen the range."
            )

    @property
    def log_low(self) -> float:
        return math.log10(self.low)

    @property
    def log_high(self) -> float:
        return math.log10(self.high)

    def narrowed(self, best_lrs: Sequence[float], factor: float) -> LogRange:
        """The interval for the next round: ``factor`` times narrower, around the best LRs.

        The new window is centred on the geometric mean of ``best_lrs`` (the best few trials of
        the round), widened to cover all of them, and shifted back inside this interval when it
        would stick out: narrowing never searches where the first round was told not to. It
        never goes below :data:`MIN_DECADES`: a range that narrow is kept as it is.

        Example:
            >>> LogRange(1e-5, 1.0).narrowed([1e-2], factor=2.5)
            LogRange(low=0.001, high=0.1)
            >>> LogRange(0.01, 0.010001).narrowed([0.01], factor=4)
            LogRange(low=0.01, high=0.010001)
        """
        span = self.log_high - self.log_low
        if not best_lrs or span <= MIN_DECADES:
            return self
        logs = [math.log10(lr) for lr in best_lrs]
        centre = sum(logs) / len(logs)
        width = max(span / factor, max(logs) - min(logs), MIN_DECADES)
        lo = min(max(centre - width / 2, self.log_low), self.log_high - width)
        lo = max(lo, self.log_low)
        hi = min(lo + width, self.log_high)
        return LogRange(tidy(10.0**lo), tidy(10.0**hi))
