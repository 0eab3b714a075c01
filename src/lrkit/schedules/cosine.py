"""Cosine annealing to a floor, with or without warm restarts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lrkit.schedules.base import (
    Array,
    Schedule,
    blend,
    check_length,
    check_non_negative,
    check_range,
    floor_lr,
    progress,
)
from lrkit.schedules.registry import register

_MAX_TABULATED = 10_000
"""CosineRestarts tabulates its cycles when fewer than this many reach the traced horizon."""


def _half_cosine(p: Array) -> Array:
    """1 at p = 0, 0 at p = 1, following half a cosine wave."""
    return 0.5 * (1.0 + np.cos(math.pi * p))


@register("CosineAnnealingLR", "cos", "cosine_annealing", "cosine_with_min_lr")
@dataclass(frozen=True)
class Cosine(Schedule):
    """Cosine from ``base_lr`` down to ``min_lr`` over ``steps``, then held at ``min_lr``.

    Unlike torch's ``CosineAnnealingLR`` it does not rise again after ``steps``, and it never
    rises above ``base_lr``: traced from a base LR below ``min_lr``, it holds the base LR.

    Example:
        >>> s = Cosine(steps=100, min_lr=1e-5)
        >>> [round(s(t, base_lr=0.1), 6) for t in (0, 50, 100, 1000)]
        [0.1, 0.050005, 1e-05, 1e-05]
    """

    name = "cosine"
    steps: float
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        check_length("steps", self.steps)
        check_non_negative("min_lr", self.min_lr)

    @property
    def length(self) -> float:
        return float(self.steps)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        return blend(base, floor_lr(self.min_lr, base), _half_cosine(progress(t, self.steps)))


@register("CosineAnnealingWarmRestarts", "cosine_with_restarts", "sgdr", "restarts")
@dataclass(frozen=True)
class CosineRestarts(Schedule):
    """Cosine cycles (SGDR): the first lasts ``period`` steps, each next one ``mult`` times longer.

    Each cycle restarts at ``base_lr * decay ** cycle`` (never below ``min_lr``) and anneals to
    ``min_lr`` (never above ``base_lr``).

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
        check_length("period", self.period)
        check_range("mult", self.mult, 1.0, 1e6)
        check_non_negative("min_lr", self.min_lr)
        check_range("decay", self.decay, 0.0, 1.0, open_low=True)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        t = np.maximum(t, 0.0)
        period = float(self.period)
        if self.mult == 1.0:
            cycle = np.floor(t / period)
            phase = np.mod(t, period) / period  # exact, where t - cycle * period may cancel
        else:
            cycle, phase = self._cycles(t)
        floor = floor_lr(self.min_lr, base)
        # A decayed peak below the floor would make a cycle rise: hold the floor instead.
        peak = np.maximum(base * self.decay**cycle, floor) if self.decay != 1.0 else base
        return blend(peak, floor, _half_cosine(np.clip(phase, 0.0, 1.0)))

    def _cycles(self, t: Array) -> tuple[Array, Array]:
        """The cycle index and the fraction of it done at each step (``mult > 1``)."""
        period, mult = float(self.period), float(self.mult)
        horizon = float(np.max(t)) if t.size else 0.0
        log_mult = math.log(mult)
        # Cycle k starts at period * (mult**k - 1) / (mult - 1): the cycles up to the horizon.
        needed = math.log1p(horizon / period * (mult - 1.0)) / log_mult
        if needed < _MAX_TABULATED:
            # Few cycles (the usual case): tabulate each cycle's start and length once and look
            # every step up, instead of per-step logs and powers.
            starts, lengths = [0.0], [period]
            while starts[-1] + lengths[-1] <= horizon:
                starts.append(starts[-1] + lengths[-1])
                lengths.append(lengths[-1] * mult)
            index = np.searchsorted(np.asarray(starts), t, side="right") - 1
            phase = (t - np.asarray(starts)[index]) / np.asarray(lengths)[index]
            return index.astype(np.float64), phase
        # A mult barely above 1 makes millions of cycles: solve for each step's cycle instead
        # (log1p(x) as logaddexp(0, log x), which cannot overflow for any finite step).
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            scaled = np.log(t) + math.log((mult - 1.0) / period)
            k = np.floor(np.logaddexp(0.0, scaled) / log_mult)
            for _ in range(2):  # the rounding of the logs can put k one cycle off
                start = period * np.expm1(k * log_mult) / (mult - 1.0)
                length = period * np.exp(k * log_mult)
                k = np.where(start > t, k - 1.0, np.where(start + length <= t, k + 1.0, k))
            start = period * np.expm1(k * log_mult) / (mult - 1.0)
            length = period * np.exp(k * log_mult)
            phase = np.nan_to_num((t - start) / length, nan=0.0, posinf=1.0, neginf=0.0)
        return k, phase
