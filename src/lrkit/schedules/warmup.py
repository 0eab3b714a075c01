"""A linear warmup: a phase that ramps up to whatever follows it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrkit.schedules.base import TICK, Array, Schedule, check_length, check_range
from lrkit.schedules.registry import register


@register("linear_warmup", "warm", "warmup_linear")
@dataclass(frozen=True)
class Warmup(Schedule):
    """Linear ramp from ``start_factor * target`` to ``target`` over ``steps``, then ``target``.

    In a sequence (``warmup:500 > cosine:10000``) the target is the next phase's first value, so a
    warmup composes with any schedule; alone or in a product, the target is ``base_lr``. The ramp
    is ``(t + 1) / (steps + 1)`` (as in nanoGPT) so that no step trains at a zero LR.

    Example:
        >>> s = Warmup(steps=4)
        >>> [round(s(t, base_lr=1.0), 6) for t in (0, 1, 3, 4, 100)]
        [0.2, 0.4, 0.8, 1.0, 1.0]
    """

    name = "warmup"
    steps: float
    start_factor: float = 0.0

    def __post_init__(self) -> None:
        check_length("steps", self.steps)
        check_range("start_factor", self.start_factor, 0.0, 1.0)

    @property
    def length(self) -> float:
        return float(self.steps)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        tick = TICK.get()  # one step ahead: one batch ahead for a warmup in epochs
        # before step 0 (a SequentialLR child not started yet): step 0's LR, as every schedule
        ramp = np.clip((np.maximum(t, 0.0) + tick) / (self.steps + tick), 0.0, 1.0)
        return base * (self.start_factor + (1.0 - self.start_factor) * ramp)
