"""Cyclical learning rates (Smith 2015) and the one-cycle policy (Smith & Topin 2017)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lrkit.errors import ConfigError
from lrkit.schedules.base import (
    TICK,
    Array,
    Schedule,
    check_at_least,
    check_bool,
    check_choice,
    check_length,
    check_range,
)
from lrkit.schedules.cosine import _half_cosine
from lrkit.schedules.registry import register


@register("CyclicLR", "clr", "triangular")
@dataclass(frozen=True)
class Cyclic(Schedule):
    """Triangle waves between ``base_lr`` and ``max_factor * base_lr``.

    ``up`` steps rising, ``down`` steps (default: ``up``) falling. ``mode`` shapes the amplitude:
    ``"triangular"`` keeps it, ``"triangular2"`` halves it each cycle, ``"exp_range"`` scales it
    by ``gamma ** t``. Leslie Smith's rule of thumb sets ``max_factor`` between 3 and 4.

    Example:
        >>> s = Cyclic(up=10, max_factor=4.0)
        >>> [round(s(t, base_lr=0.01), 6) for t in (0, 5, 10, 15, 20)]
        [0.01, 0.025, 0.04, 0.025, 0.01]
    """

    name = "cyclic"
    up: float
    down: float | None = None
    max_factor: float = 4.0
    mode: str = "triangular"
    gamma: float = 1.0

    def __post_init__(self) -> None:
        check_length("up", self.up)
        if self.down is not None:
            check_length("down", self.down)
        check_range("max_factor", self.max_factor, 1.0, 1e9)
        check_choice("mode", self.mode, ("triangular", "triangular2", "exp_range"))
        check_range("gamma", self.gamma, 0.0, 1.0, open_low=True)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        t = np.maximum(t, 0.0)
        up = float(self.up)
        down = float(self.down if self.down is not None else up)
        period = up + down
        if math.isfinite(period):
            cycle = np.floor(t / period)
            x = np.mod(t, period)  # exact and in [0, period), where t - cycle * period cancels
        else:  # lengths near the float limit: no finite step ever ends the first cycle
            cycle, x = np.zeros_like(t), t
        height = np.clip(np.where(x <= up, x / up, 1.0 - (x - up) / down), 0.0, 1.0)
        if self.mode == "triangular2":
            height = height * np.exp2(-cycle)  # halves per cycle, to 0 (2.0**cycle overflows)
        elif self.mode == "exp_range":
            height = height * self.gamma**t
        return base + (self.max_factor - 1.0) * base * height


@register("OneCycleLR", "one_cycle", "1cycle")
@dataclass(frozen=True)
class OneCycle(Schedule):
    """One cycle over ``steps``: warm up to ``base_lr`` (the peak), then anneal far below it.

    Starts at ``base_lr / div_factor``, reaches ``base_lr`` at step ``pct_start * steps - 1``,
    and ends at ``base_lr / (div_factor * final_div_factor)`` at step ``steps - 1``, the last of
    ``steps`` steps, as torch's ``OneCycleLR(total_steps=steps)`` does (it holds that value
    after). ``three_phase`` returns to the start value first (fastai's original), at step
    ``2 * pct_start * steps - 2``, then anneals to the end value. ``anneal`` is ``"cos"`` or
    ``"linear"``.

    Example:
        >>> s = OneCycle(steps=100, pct_start=0.25, div_factor=10, final_div_factor=100)
        >>> [round(s(t, base_lr=1.0), 6) for t in (0, 24, 99)]
        [0.1, 1.0, 0.001]
    """

    name = "onecycle"
    steps: float
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal: str = "cos"
    three_phase: bool = False

    def __post_init__(self) -> None:
        check_length("steps", self.steps)
        check_range("pct_start", self.pct_start, 0.0, 1.0, open_low=True)
        check_bool("three_phase", self.three_phase)
        if self.three_phase and self.pct_start >= 0.5:
            raise ConfigError(
                f"pct_start must be < 0.5 with three_phase=True (up and down take "
                f"2 * pct_start of the cycle), got {self.pct_start!r}."
            )
        check_at_least(
            "div_factor", self.div_factor, 1.0, "it starts at base_lr / div_factor, not above"
        )
        check_at_least(
            "final_div_factor",
            self.final_div_factor,
            1.0,
            "it ends at its start LR / final_div_factor, not above",
        )
        check_choice("anneal", self.anneal, ("cos", "linear"))

    @property
    def length(self) -> float:
        return float(self.steps)

    def phase_ends(self) -> list[float]:
        """The step at which each phase ends (torch's ``end_step``): the peak, the return to
        the start value (``three_phase``), and the last step."""
        tick = TICK.get()  # torch's "- 1": one step, one batch for a cycle in epochs
        up = self.pct_start * self.steps - tick
        ends = [up, 2.0 * up] if self.three_phase else [up]
        return [*ends, float(self.steps) - tick]

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        start = base / self.div_factor
        end = start / self.final_div_factor
        values = [start, base, start, end] if self.three_phase else [start, base, end]
        t1 = np.atleast_1d(t)
        out = np.full_like(t1, end)
        todo = np.ones(t1.shape, dtype=bool)  # each step takes the first phase that it is in
        begin, ends = 0.0, self.phase_ends()
        for k, stop in enumerate(ends):
            mask = todo & (t1 <= stop) if k < len(ends) - 1 else todo.copy()
            todo &= ~mask
            v0, v1 = values[k], values[k + 1]
            if stop <= begin:  # a phase shorter than a step: at its end value at once
                p = np.ones(int(mask.sum()))
            else:
                with np.errstate(over="ignore"):  # far shorter than a step: p is clipped
                    p = np.clip((t1[mask] - begin) / (stop - begin), 0.0, 1.0)
            if self.anneal == "cos":  # in torch's order: exactly v1 at p = 1, far below v0
                out[mask] = v1 + (v0 - v1) * _half_cosine(p)
            else:
                out[mask] = v0 + (v1 - v0) * p
            begin = stop
        return out.reshape(np.shape(t))
