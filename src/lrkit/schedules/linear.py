"""Linear and polynomial decay to a floor, held there past the end."""

from __future__ import annotations

from dataclasses import dataclass

from lrkit.schedules.base import (
    Array,
    Schedule,
    blend,
    check_length,
    check_non_negative,
    check_positive,
    check_range,
    floor_lr,
    progress,
)
from lrkit.schedules.registry import register


@register("LinearLR", "linear_decay", "LinearDecayLR")
@dataclass(frozen=True)
class Linear(Schedule):
    """Linear change from ``start_factor * base_lr`` to ``end_factor * base_lr`` over ``steps``.

    With the defaults this is seed 003's ``LinearDecayLR``: ``lr = base_lr * (1 - t / steps)``,
    except that it holds its end value past ``steps`` instead of turning negative. Bound per
    epoch, it runs one epoch ahead of the seed's loop, whose ``step(0)`` after the first epoch
    sets the LR it already had: the seed prints 0.1, 0.099, ..., 0.001; this 0.099, ..., 0.

    Example:
        >>> s = Linear(steps=100)
        >>> [round(s(t, base_lr=0.1), 6) for t in (0, 50, 100, 150)]
        [0.1, 0.05, 0.0, 0.0]
    """

    name = "linear"
    steps: float
    start_factor: float = 1.0
    end_factor: float = 0.0

    def __post_init__(self) -> None:
        check_length("steps", self.steps)
        check_range("start_factor", self.start_factor, 0.0, 1e6)
        check_range("end_factor", self.end_factor, 0.0, 1e6)

    @property
    def length(self) -> float:
        return float(self.steps)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        p = progress(t, self.steps)
        return base * (self.start_factor + (self.end_factor - self.start_factor) * p)


@register("PolynomialLR", "polynomial", "polynomial_decay")
@dataclass(frozen=True)
class Polynomial(Schedule):
    """``lr = (base_lr - end_lr) * (1 - t / steps) ** power + end_lr``, held at ``end_lr`` after.

    ``end_lr`` never raises the LR: traced from a base LR below it, the schedule holds the base.

    Example:
        >>> s = Polynomial(steps=10, power=2.0)
        >>> [round(s(t, base_lr=1.0), 6) for t in (0, 5, 10, 20)]
        [1.0, 0.25, 0.0, 0.0]
    """

    name = "poly"
    steps: float
    power: float = 1.0
    end_lr: float = 0.0

    def __post_init__(self) -> None:
        check_length("steps", self.steps)
        check_positive("power", self.power)
        check_non_negative("end_lr", self.end_lr)

    @property
    def length(self) -> float:
        return float(self.steps)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        keep = (1.0 - progress(t, self.steps)) ** self.power
        return blend(base, floor_lr(self.end_lr, base), keep)
