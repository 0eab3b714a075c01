"""Composition: phases in sequence, and schedules multiplied together."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrkit.errors import ConfigError
from lrkit.schedules.base import Array, Schedule, check_length
from lrkit.schedules.plateau import Plateau
from lrkit.schedules.warmup import Warmup


@dataclass(frozen=True)
class Sequence(Schedule):
    """Each phase for its own length, then the next; the last phase may be unbounded.

    Each phase sees its own step count from 0. A ``Warmup`` phase ramps to the next phase's
    first value.

    Example:
        >>> from lrkit.schedules import Cosine, Warmup
        >>> s = Sequence((Warmup(steps=4), Cosine(steps=10, min_lr=0.0)))  # or Warmup(4) >> ...
        >>> [round(s(t, base_lr=1.0), 6) for t in (0, 3, 4, 9, 14, 99)]
        [0.2, 0.8, 1.0, 0.5, 0.0, 0.0]
    """

    name = "sequence"
    phases: tuple[Schedule, ...]

    def __post_init__(self) -> None:
        phases = tuple(self.phases)
        # Flatten nested sequences so that specs and configs have one canonical form.
        flat: list[Schedule] = []
        for p in phases:
            if not isinstance(p, Schedule):
                raise ConfigError(f"phases must be lrkit schedules, got {p!r}.")
            flat.extend(p.phases if isinstance(p, Sequence) else (p,))
        if not flat:
            raise ConfigError("phases must hold at least one schedule, got none.")
        for i, p in enumerate(flat[:-1]):
            if p.length is None:
                raise ConfigError(
                    f"phase {i + 1} must have a length (steps=...) because another phase follows "
                    f"it (only the last phase may run forever), got {p.to_spec()!r}."
                )
        if sum(1 for p in flat if _holds_plateau(p)) > 1:  # one tracker counts its reductions
            raise ConfigError(
                "phases may hold at most one plateau schedule: a second would carry on from "
                "the first's reductions and best metric, which one tracker counts."
            )
        lengths = [p.length for p in flat if p.length is not None]
        if not math.isfinite(sum(lengths)):  # each is finite; their sum overflowed
            raise ConfigError(
                f"phases must last a finite number of steps in all, got lengths adding up to "
                f"more than {sys.float_info.max:.4g}: {lengths[:4]!r}"
                f"{' ...' if len(lengths) > 4 else ''}."
            )
        object.__setattr__(self, "phases", tuple(flat))

    @property
    def length(self) -> float | None:
        last = self.phases[-1].length
        if last is None:
            return None
        return float(sum(p.length or 0.0 for p in self.phases))

    @functools.cached_property
    def _ends(self) -> np.ndarray:
        """Where each phase ends, in steps (the last one's end infinite); each starts where the
        one before it ends."""
        lengths = [float(p.length or 0.0) for p in self.phases[:-1]]
        return np.array([*itertools.accumulate(lengths), np.inf])

    def _start(self, i: int) -> float:
        return float(self._ends[i - 1]) if i else 0.0

    def plateau_at(self, t: float) -> Plateau | None:
        i = int(np.searchsorted(self._ends, t, side="right"))
        if i >= len(self.phases):
            return None
        return self.phases[i].plateau_at(t - self._start(i))

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        t1 = np.atleast_1d(t)
        red = np.broadcast_to(reductions, t1.shape)
        out = np.full_like(t1, np.nan)
        # each step's phase by bisection: a step's cost does not grow with the phases (a bound
        # schedule of 200 phases spent 0.5 ms a step looking at each)
        at = np.searchsorted(self._ends, t1, side="right")
        for i in np.unique(at[at < len(self.phases)]).tolist():
            p, mask = self.phases[i], at == i
            target = base
            if isinstance(p, Warmup) and i + 1 < len(self.phases):
                target = self.phases[i + 1](0, base)
            out[mask] = p._lr(t1[mask] - self._start(i), target, red[mask])
        return out.reshape(np.shape(t))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "phases": [p.to_dict() for p in self.phases]}


@dataclass(frozen=True)
class Limited(Schedule):
    """A schedule with no length of its own, given one: ``steps`` as a phase of a sequence.

    What torch's ``SequentialLR`` milestones do for any scheduler. In a spec, ``steps=`` on a
    part that has no ``steps`` parameter of its own: ``exponential:0.9,steps=100 > cosine:50``.
    Like every schedule with a length, it holds its last value after ``steps``.

    Example:
        >>> from lrkit.schedules import Cosine, Exponential
        >>> s = Limited(Exponential(gamma=0.5), steps=2) >> Cosine(steps=4)
        >>> [round(s(t, base_lr=1.0), 4) for t in range(5)]
        [1.0, 0.5, 1.0, 0.8536, 0.5]
        >>> s.to_spec()
        'exponential:gamma=0.5,steps=2 > cosine:steps=4'
    """

    name = "limited"  # not registered: its config is the schedule's own, with ``steps`` added
    schedule: Schedule
    steps: float

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule) or isinstance(
            self.schedule, (Sequence, Product, Limited)
        ):
            raise ConfigError(
                f"schedule must be one lrkit schedule (not a sequence or product), got "
                f"{self.schedule!r}."
            )
        if self.schedule.length is not None:
            raise ConfigError(
                f"schedule must have no length of its own to be given one, got "
                f"{self.schedule.to_spec()!r} (length {self.schedule.length:g})."
            )
        check_length("steps", self.steps)

    @property
    def length(self) -> float | None:
        return float(self.steps)

    def plateau_at(self, t: float) -> Plateau | None:
        return self.schedule.plateau_at(t)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        # held at its end, as every schedule with a length is (when it is the last phase)
        return self.schedule._lr(np.minimum(t, float(self.steps)), base, reductions)

    def to_dict(self) -> dict[str, Any]:
        return {**self.schedule.to_dict(), "steps": self.steps}


@dataclass(frozen=True)
class Product(Schedule):
    """The product of schedules, as factors of the base LR: ``base * prod(f_i(t) / base)``.

    Example:
        >>> from lrkit.schedules import CosineRestarts, Exponential
        >>> s = Product((CosineRestarts(period=10), Exponential(gamma=0.9)))  # decaying restarts
        >>> round(s(10, base_lr=1.0), 6)
        0.348678
    """

    name = "product"
    factors: tuple[Schedule, ...]

    def __post_init__(self) -> None:
        flat: list[Schedule] = []
        for f in tuple(self.factors):
            if not isinstance(f, Schedule):
                raise ConfigError(f"factors must be lrkit schedules, got {f!r}.")
            flat.extend(f.factors if isinstance(f, Product) else (f,))
        if len(flat) < 2:
            raise ConfigError(f"factors must hold at least two schedules, got {len(flat)}.")
        if sum(1 for f in flat if _holds_plateau(f)) > 1:  # one tracker counts reductions
            raise ConfigError("factors may hold at most one plateau schedule.")
        object.__setattr__(self, "factors", tuple(flat))

    @property
    def length(self) -> float | None:
        lengths = [f.length for f in self.factors if f.length is not None]
        return max(lengths) if lengths else None

    def plateau_at(self, t: float) -> Plateau | None:
        for f in self.factors:
            p = f.plateau_at(t)
            if p is not None:
                return p
        return None

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        # Each factor is divided by base before the next multiplies: lr * lr would underflow
        # to 0 for a base LR of 1e-200 (or overflow to inf for 1e200) before the division. A
        # factor at 0 holds the product there, however far another grew (0 * inf is NaN).
        first, *rest = self.factors
        if np.ndim(t) == 0 and np.ndim(reductions) == 0:  # a bound schedule's step: floats
            lr = float(first._lr(t, base, reductions))
            for f in rest:
                factor = float(f._lr(t, base, reductions))
                lr = 0.0 if lr == 0.0 or factor == 0.0 else lr / base * factor
            return np.array(lr)
        out = np.array(np.broadcast_to(first._lr(t, base, reductions), np.shape(t)), np.float64)
        zero = out == 0
        for f in rest:  # in place: a million-step trace allocates a mask, not a copy, a factor
            out /= base
            value = f._lr(t, base, reductions)
            with np.errstate(invalid="ignore"):  # 0 * inf, set to 0 below
                out *= value
            zero |= value == 0
        out[zero] = 0.0
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "factors": [f.to_dict() for f in self.factors]}


def _holds_plateau(schedule: Schedule) -> bool:
    """Whether ``schedule`` is a plateau schedule or has one inside (a product, a phase)."""
    if isinstance(schedule, Plateau):
        return True
    for field in dataclasses.fields(schedule):  # type: ignore[arg-type]
        value = getattr(schedule, field.name)
        parts = value if isinstance(value, tuple) else (value,)
        if any(isinstance(p, Schedule) and _holds_plateau(p) for p in parts):
            return True
    return False
