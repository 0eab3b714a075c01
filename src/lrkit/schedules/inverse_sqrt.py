"""Inverse square-root decay (the original Transformer's, and Hugging Face's ``inverse_sqrt``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrkit.schedules.base import Array, Schedule, check_positive
from lrkit.schedules.registry import register


@register("rsqrt", "inverse_square_root", "noam")
@dataclass(frozen=True)
class InverseSqrt(Schedule):
    """``lr = base_lr / sqrt((t + timescale) / timescale)``: ``base_lr`` at t = 0, then ~1/sqrt(t).

    Put a warmup before it (``warmup:4000 > inverse_sqrt:timescale=4000``) for the usual shape.

    Example:
        >>> s = InverseSqrt(timescale=100)
        >>> [round(s(t, base_lr=1.0), 6) for t in (0, 300, 9900)]
        [1.0, 0.5, 0.1]
    """

    name = "inverse_sqrt"
    timescale: float = 1000.0

    def __post_init__(self) -> None:
        check_positive("timescale", self.timescale)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        # 1 + t / timescale, not (t + timescale) / timescale: the same number, without the sum
        # overflowing for a timescale near the float limit. A tiny timescale overflows the ratio
        # to inf far out, which is the right limit (an LR of 0), not a cause for a warning.
        with np.errstate(over="ignore"):
            return base / np.sqrt(1.0 + np.maximum(t, 0.0) / self.timescale)
