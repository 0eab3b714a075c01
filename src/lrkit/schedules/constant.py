"""The constant schedule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrkit.schedules.base import Array, Schedule, check_positive
from lrkit.schedules.registry import register


@register("ConstantLR", "const", "fixed", "none", "timm:constant")
@dataclass(frozen=True)
class Constant(Schedule):
    """``lr = base_lr * factor`` at every step.

    Example:
        >>> Constant(factor=0.5)(1000, base_lr=0.1)
        0.05
    """

    name = "constant"
    factor: float = 1.0

    def __post_init__(self) -> None:
        check_positive("factor", self.factor)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        return np.full_like(t, base * self.factor)
