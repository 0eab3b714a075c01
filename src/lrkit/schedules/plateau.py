"""Reduce on plateau: a phase whose LR drops by ``factor`` when a metric stops improving.

The phase itself is a pure function of the step and of how many reductions have happened; the
counting lives in :class:`PlateauTracker`, whose state is plain data that resumes exactly. Because
it is a phase, it can follow a warmup (``warmup:5 > plateau:patience=3``), which torch refuses.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from lrkit.checks import bool_or_text, whole_number
from lrkit.errors import ConfigError, bad_value
from lrkit.schedules.base import (
    Array,
    Schedule,
    check_choice,
    check_non_negative,
    check_range,
    floor_lr,
    is_finite_number,
)
from lrkit.schedules.registry import register

MAX_REDUCTIONS = 100_000
"""More reductions than any run makes: a factor of 0.9 takes an LR of 1 below ``eps`` in 175."""


@register("ReduceLROnPlateau", "reduce_on_plateau", "reduce_lr_on_plateau")
@dataclass(frozen=True)
class Plateau(Schedule):
    """``lr = max(base_lr * factor ** reductions, min_lr)``; reductions follow ReduceLROnPlateau.

    A reduction happens when the metric has not improved (by ``threshold``, relative or absolute)
    for more than ``patience`` reports, then ``cooldown`` reports are ignored. As in torch, a
    reduction never raises the LR: from a base LR below ``min_lr``, the LR stays at the base;
    and one that would lower it by ``eps`` or less is not made, nor any after it. Improvement is
    judged by torch's own comparisons (``metric < best * (1 - threshold)`` for ``min`` and
    ``rel``, and so on), so the reductions come where the drop-in's come.

    Example:
        >>> p = Plateau(factor=0.5, patience=1)
        >>> p.trace(5, base_lr=1.0, reductions=simulate(p, [1.0, 1.0, 1.0, 1.0, 1.0])).tolist()
        [1.0, 1.0, 1.0, 0.5, 0.5]
    """

    name = "plateau"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    mode: str = "min"
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = 1e-8

    def __post_init__(self) -> None:
        check_range("factor", self.factor, 0.0, 1.0, open_low=True, open_high=True)
        for name in ("patience", "cooldown"):
            value = getattr(self, name)
            if isinstance(value, float) and math.isfinite(value) and value == int(value):
                value = int(value)  # patience=1e3 in a spec, as 1k is
            value = whole_number(name, value, least=0)
            if not is_finite_number(value):  # a state's counters are read as floats
                raise bad_value(
                    name, "a whole number of reports that a float holds (0 to 1e308)", value
                )
            object.__setattr__(self, name, value)
        check_non_negative("threshold", self.threshold)
        check_choice("threshold_mode", self.threshold_mode, ("rel", "abs"))
        check_choice("mode", self.mode, ("min", "max"))
        check_non_negative("min_lr", self.min_lr)
        check_non_negative("eps", self.eps)

    def plateau_at(self, t: float) -> Plateau:
        return self

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        floor = floor_lr(self.min_lr, base)
        reductions = np.minimum(reductions, _last_reduction(base, self.factor, floor, self.eps))
        reduced = np.maximum(base * self.factor**reductions, floor)
        return np.broadcast_to(np.where(reductions > 0, reduced, base), np.shape(t)).copy()

    def improves(self, metric: float, best: float) -> bool:
        """Whether ``metric`` counts as better than ``best``: torch's ``is_better``."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return metric < best * (1.0 - self.threshold)
            return metric < best - self.threshold
        if self.threshold_mode == "rel":
            return metric > best * (self.threshold + 1.0)
        return metric > best + self.threshold

    def kept_best(self, metric: float, best: float) -> float:
        """The best metric after a report of ``metric`` that did not improve on ``best``:
        torch's stays; scikit-learn's (:class:`Adaptive`) follows every new low."""
        return best


@functools.lru_cache(maxsize=256)
def _last_reduction(base: float, factor: float, floor: float, eps: float) -> int:
    """How many reductions change the LR from ``base``: torch skips one that would lower it by
    ``eps`` or less (at the floor, or at a tiny LR), and so every one after it. (Cached: with a
    factor near 1 it takes thousands of steps to find, and a bound schedule asks every step.)"""
    lr = base
    for made in range(MAX_REDUCTIONS):
        lower = max(lr * factor, floor)
        if lr - lower <= eps:
            return made
        lr = lower
    return MAX_REDUCTIONS


@dataclass
class PlateauTracker:
    """The counting half of reduce-on-plateau: plain data, saved and restored exactly."""

    best: float | None = None
    num_bad_epochs: int = 0
    cooldown_counter: int = 0
    reductions: int = 0

    def update(self, metric: float, plateau: Plateau) -> bool:
        """Counts one report of ``metric``; returns True when it triggers a reduction.

        Raises:
            ConfigError: the metric is not a finite number (a NaN would otherwise silently count
                as "no improvement" and decay the LR).
        """
        value = finite_metric(metric)
        if self.best is None or plateau.improves(value, self.best):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.best = plateau.kept_best(value, self.best)
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > plateau.patience:
            self.reductions += 1
            self.cooldown_counter = plateau.cooldown
            self.num_bad_epochs = 0
            return True
        return False

    def state_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, float | int | None]) -> None:
        best = state.get("best")
        self.best = None if best is None else float(best)
        self.num_bad_epochs = int(state.get("num_bad_epochs") or 0)
        self.cooldown_counter = int(state.get("cooldown_counter") or 0)
        self.reductions = int(state.get("reductions") or 0)


def finite_metric(metric: object, position: int | None = None) -> float:
    """``metric`` as a float; ConfigError unless it is a finite number.

    A NaN would otherwise silently count as "no improvement" and decay the LR.
    """
    where = "" if position is None else f" at position {position}"
    try:
        if bool_or_text(metric):  # float("0.5") and float(True) read, but are no loss
            raise TypeError
        value = float(metric)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of several values
        raise ConfigError(f"metrics must be a finite number, got {metric!r}{where}.") from None
    if not math.isfinite(value):
        raise ConfigError(
            f"metrics must be a finite number, got {value!r}{where}: check the validation loss "
            "for divergence before passing it to a plateau schedule."
        )
    return value


def simulate(schedule: Schedule | str, metrics: Iterable[float]) -> Array:
    """Reductions in force at steps ``0 .. len(metrics) - 1`` when metric ``i`` ends step ``i``.

    Only reports made while a plateau phase is active count (a warmup's losses are not compared).
    Use it to trace or plot a plateau schedule against a recorded metric series.

    Args:
        schedule: A schedule, or a spec string such as ``"warmup:2 > plateau:patience=1"``.
        metrics: One metric value per step.

    Raises:
        ConfigError: ``schedule`` is neither, ``metrics`` is not a sequence of values, or a
            metric a plateau phase reads is not a finite number.
        SpecError: the spec string is malformed or names an unknown schedule.

    Example:
        >>> simulate("warmup:2 > plateau:patience=1", [1, 1, 1, 1, 1, 1]).tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    """
    if isinstance(schedule, str):
        from lrkit.schedules.spec import parse

        schedule = parse(schedule)
    if not isinstance(schedule, Schedule):
        raise bad_value(
            "schedule", "an lrkit Schedule or a spec string such as 'plateau:patience=3'", schedule
        )
    if isinstance(metrics, (str, bytes)) or not isinstance(metrics, Iterable):
        raise bad_value("metrics", "a sequence of metric values, one per step", metrics)
    tracker = PlateauTracker()
    values = list(metrics)
    out = np.zeros(len(values), dtype=np.float64)
    for i, metric in enumerate(values):
        out[i] = tracker.reductions
        plateau = schedule.plateau_at(i)
        if plateau is not None:
            tracker.update(metric, plateau)
    return out
