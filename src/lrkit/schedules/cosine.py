"""Cosine annealing to a floor, with or without warm restarts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lrkit.schedules.base import (
    Array,
    Schedule,
    check_non_negative,
    check_positive,
    check_range,
    progress,
)
from lrkit.schedules.registry import register


def _half_cosine(p: Array) -> Array:
    """1 at p = 0, 0 at p = 1, following half a cosine wave."""
    return 0.5 * (1.0 + np.cos(math.pi * p))


@register("CosineAnnealingLR", "cos", "cosine_annealing", "cosine_with_min_lr")
@dataclass(frozen=True)
class Cosine(Schedule):
    """Cosine from ``base_lr`` down to ``min_lr`` over ``steps``, then held at ``min_lr``.

    Unlike torch's ``CosineAnnealingLR`` it does not rise again after ``steps``.

    Example:
        >>> s = Cosine(steps=100, min_lr=1e-5)
        >>> [round(s(t, base_lr=0.1), 6) for t in (0, 50, 100, 1000)]
        [0.1, 0.050005, 1e-05, 1e-05]
    """

    name = "cosine"
    steps: float
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        check_positive("steps", self.steps)
        check_non_negative("min_lr", self.min_lr)

    @property
    def length(self) -> float:
        return float(self.steps)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        return self.min_lr + (base - self.min_lr) * _half_cosine(progress(t, self.steps))


@register("CosineAnnealingWarmRestarts", "cosine_with_restarts", "sgdr", "restarts")
@dataclass(frozen=True)
class CosineRestarts(Schedule):
    """Cosine cycles (SGDR): the first lasts ``period`` steps, each next one ``mult`` times longer.

    Each cycle restarts at ``base_lr * decay ** cycle`` and anneals to ``min_lr``.

    Example:
        >>> s = CosineRestarts(period=10, mult=2)  # cycles start at t = 0, 10, 30, 70, ...
        >>> [round(s(t, base_lr=1.0), 6) for t in (0, 5, 10, 20, 30)]
        [1.0, 0.5, 1.0, 0.5, 1.0]
    """

    name = "cosine_restarts"
    period: float
    mult: float = 1.0
    min_lr: float = 0.0
    decay: float = 1.0

    def __post_init__(self) -> None:
        check_positive("period", self.period)
        check_range("mult", self.mult, 1.0, 1e6)
        check_non_negative("min_lr", self.min_lr)
        check_range("decay", self.decay, 0.0, 1.0, open_low=True)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        t = np.maximum(t, 0.0)
        if self.mult == 1.0:
            cycle = np.floor(t / self.period)
            start = cycle * self.period
            phase = (t - start) / self.period
            peak = base * self.decay**cycle if self.decay != 1.0 else base
        else:
            # Cycles grow geometrically, so there are few of them: tabulate each cycle's start,
            # length and peak once and look every step up, instead of per-step logs and powers.
            starts, lengths = [0.0], [float(self.period)]
            horizon = float(np.max(t)) if t.size else 0.0
            while starts[-1] + lengths[-1] <= horizon:
                starts.append(starts[-1] + lengths[-1])
                lengths.append(lengths[-1] * self.mult)
            index = np.searchsorted(np.asarray(starts), t, side="right") - 1
            phase = (t - np.asarray(starts)[index]) / np.asarray(lengths)[index]
            peaks = base * self.decay ** np.arange(len(starts), dtype=np.float64)
            peak = peaks[index]
        return self.min_lr + (peak - self.min_lr) * _half_cosine(phase)
