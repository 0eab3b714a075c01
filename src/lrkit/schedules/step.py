"""Decay by a constant factor: every ``step_size`` steps, at milestones, or every step."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lrkit.errors import ConfigError
from lrkit.schedules.base import (
    Array,
    Schedule,
    check_length,
    check_positive,
    check_range,
    is_finite_number,
)
from lrkit.schedules.registry import register


@register("StepLR", "step_lr")
@dataclass(frozen=True)
class Step(Schedule):
    """Multiply by ``gamma`` every ``step_size`` steps.

    Example:
        >>> s = Step(step_size=30, gamma=0.1)  # lr = 0.05 if t < 30, 0.005 if 30 <= t < 60, ...
        >>> [round(s(t, base_lr=0.05), 6) for t in (0, 29, 30, 60)]
        [0.05, 0.05, 0.005, 0.0005]
    """

    name = "step"
    step_size: float
    gamma: float = 0.1

    def __post_init__(self) -> None:
        check_length("step_size", self.step_size)
        check_positive("gamma", self.gamma)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        return base * self.gamma ** np.floor(np.maximum(t, 0.0) / self.step_size)


@register("MultiStepLR", "multi_step", "milestones")
@dataclass(frozen=True)
class MultiStep(Schedule):
    """Multiply by ``gamma`` at each milestone (repeated milestones multiply again).

    Example:
        >>> s = MultiStep(milestones=[30, 80], gamma=0.1)  # a list or a tuple
        >>> [round(s(t, base_lr=0.05), 6) for t in (0, 30, 80)]
        [0.05, 0.005, 0.0005]
    """

    name = "multistep"
    milestones: Sequence[float]  # any list or tuple; kept as a tuple, so the schedule hashes
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.milestones, (int, float)):
            if is_finite_number(self.gamma) and self.gamma > 1:  # multistep:30,60
                m, g = self.milestones, self.gamma
                two = (
                    f"multistep:[{int(m)},{int(g)}] for two milestones, or "
                    if g == int(g) and 0 <= m < g
                    else ""
                )
                raise ConfigError(
                    f"milestones must be a list, got a single milestone {m!r} with gamma={g!r}, "
                    f"which would raise the LR {g:g}x; write {two}milestones=[{m!r}] as a list "
                    "to raise it on purpose."
                )
            object.__setattr__(self, "milestones", (self.milestones,))
        if not isinstance(self.milestones, (list, tuple)):
            raise ConfigError(
                f"milestones must be a list of whole steps >= 0 such as [30, 60], "
                f"got {self.milestones!r}."
            )
        object.__setattr__(self, "milestones", tuple(self.milestones))
        if not self.milestones:
            raise ConfigError("milestones must be a non-empty list of steps >= 0, got [].")
        for m in self.milestones:
            if not is_finite_number(m) or m < 0 or m != math.floor(m):
                raise ConfigError(
                    f"milestones must be whole numbers of steps >= 0, "
                    f"got {list(self.milestones)!r}."
                )
        if list(self.milestones) != sorted(self.milestones):
            raise ConfigError(
                f"milestones must be sorted in increasing order, got {list(self.milestones)!r}; "
                f"did you mean {sorted(self.milestones)!r}?"
            )
        check_positive("gamma", self.gamma)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        passed = np.searchsorted(np.asarray(self.milestones, np.float64), t, side="right")
        return base * self.gamma ** passed.astype(np.float64)


@register("ExponentialLR", "exp", "exponential_decay")
@dataclass(frozen=True)
class Exponential(Schedule):
    """Multiply by ``gamma`` every step: ``lr = base_lr * gamma ** t``.

    Example:
        >>> round(Exponential(gamma=0.9)(2, base_lr=1.0), 6)
        0.81
    """

    name = "exponential"
    gamma: float

    def __post_init__(self) -> None:
        check_range("gamma", self.gamma, 0.0, float("inf"), open_low=True)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        # exp(t log gamma) is the same number as gamma**t and several times faster on arrays.
        return base * np.exp(np.maximum(t, 0.0) * math.log(self.gamma))
