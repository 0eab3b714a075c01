"""The constant schedule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrkit.schedules.base import Array, Schedule, check_length, check_positive
from lrkit.schedules.registry import register


@register("ConstantLR", "const", "fixed", "constant_with_warmup")
@dataclass(frozen=True)
class Constant(Schedule):
    """``lr = base_lr * factor`` at every step; ``steps`` gives it a length as a phase.

    Example:
        >>> Constant(factor=0.5)(1000, base_lr=0.1)
        0.05
    """

    name = "constant"
    factor: float = 1.0
    steps: float | None = None

    def __post_init__(self) -> None:
        check_positive("factor", self.factor)
        if self.steps is not None:
            check_length("steps", self.steps)

    @property
    def length(self) -> float | None:
        return None if self.steps is None else float(self.steps)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        return np.full_like(t, base * self.factor)
