"""Warmup-stable-decay's stable and decay parts (put a ``warmup`` phase before it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrkit.schedules.base import (
    Array,
    Schedule,
    blend,
    check_choice,
    check_length,
    check_non_negative,
    check_range,
    floor_lr,
)
from lrkit.schedules.cosine import _half_cosine
from lrkit.schedules.registry import register

COOLDOWNS = ("linear", "cosine", "1-sqrt")


@register("warmup_stable_decay", "trapezoid", "stable_decay")
@dataclass(frozen=True)
class WSD(Schedule):
    """Hold ``base_lr``, then cool down to ``min_lr`` over the last ``decay`` fraction of ``steps``.

    ``cooldown`` is ``"linear"``, ``"cosine"`` or ``"1-sqrt"`` (``1 - sqrt(p)``, which Hägele et
    al. 2024 found matches cosine). Held at ``min_lr`` after ``steps``; never above ``base_lr``
    (traced from a base LR below ``min_lr``, it holds the base LR).

    Example:
        >>> s = WSD(steps=100, decay=0.2)  # stable for 80 steps, linear to 0 over the last 20
        >>> [round(s(t, base_lr=1.0), 6) for t in (0, 80, 90, 100)]
        [1.0, 1.0, 0.5, 0.0]
    """

    name = "wsd"
    steps: float
    decay: float = 0.2
    cooldown: str = "linear"
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        check_length("steps", self.steps)
        check_range("decay", self.decay, 0.0, 1.0, open_low=True)
        check_choice("cooldown", self.cooldown, COOLDOWNS)
        check_non_negative("min_lr", self.min_lr)

    @property
    def length(self) -> float:
        return float(self.steps)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        decay_start = self.steps * (1.0 - self.decay)
        width = self.steps - decay_start  # 0 when decay is below the float resolution of steps
        if width > 0:
            p = np.clip((t - decay_start) / width, 0.0, 1.0)
        else:  # a cooldown shorter than a float can tell: the LR drops at steps
            p = (t >= self.steps).astype(np.float64)
        if self.cooldown == "linear":
            keep = 1.0 - p
        elif self.cooldown == "cosine":
            keep = _half_cosine(p)
        else:
            keep = 1.0 - np.sqrt(p)
        return blend(base, floor_lr(self.min_lr, base), keep)
