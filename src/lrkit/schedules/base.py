"""The schedule abstraction: a pure function of the step.

A native lrkit schedule maps a step ``t`` (an optimizer step or an epoch, whichever unit it is
bound with) and a base learning rate to a learning rate. It holds no counter: the same schedule
object gives the same value for the same step, whenever it is asked, which is what makes tracing,
plotting and resuming exact.

Each concrete schedule is a frozen dataclass that defines ``_lr(t, base)`` once, vectorised over a
NumPy array of steps, so the scalar path (``schedule(t, base)``) and the traced path
(``schedule.trace(n)``) share a single formula and cannot drift apart: they agree to the last
bit or so (NumPy computes a power of a 0-d array and of a longer one by different routes, a
unit in the last place apart for ``step``, ``multistep``, ``poly``, ``plateau``, ``adaptive``
and products holding them; a long ``cosine_restarts``
trace with ``mult`` near 1 finds its cycles by a closed form, within 1e-8 relative). A bound
schedule sets the scalar path's value.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from abc import ABC, abstractmethod
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from lrkit.checks import plain, whole_number
from lrkit.errors import ConfigError

if TYPE_CHECKING:
    from lrkit.schedules.plateau import Plateau

Array = np.ndarray

TICK: ContextVar[float] = ContextVar("lrkit_schedule_tick", default=1.0)
"""The smallest move of the step, in the schedule's unit: 1, or ``1 / steps_per_epoch`` for a
schedule in epochs stepped per batch (``bind(..., unit="epoch", steps_per_epoch=N)``). The
schedules that count one step ahead (a warmup's first step above zero, a one-cycle's peak on
the step before ``pct_start``) count one tick ahead, not one epoch."""

MAX_TRACE_STEPS = 100_000_000
"""The most steps :meth:`Schedule.trace` evaluates at once: 800 MB of LRs, and as much again for
each intermediate array of a formula, far past any run's step count; past it, the arrays alone
take more memory than a machine has (``trace(10**12)`` asked NumPy for 7 TiB)."""


class Schedule(ABC):
    """Base class of every native schedule.

    Subclasses are frozen dataclasses; they set ``name`` (the registry name) and implement
    ``_lr``. Lengths and milestones are counted in the schedule's unit, which is chosen when the
    schedule is bound to an optimizer (see :func:`lrkit.schedules.bind`).

    Example:
        >>> from lrkit.schedules import Cosine
        >>> s = Cosine(steps=100, min_lr=0.001)
        >>> [round(s(t, base_lr=0.1), 6) for t in (0, 100, 500)]
        [0.1, 0.001, 0.001]
    """

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each schedule's own argument checks first see its arguments as plain Python values:
        ``Cosine(np.int64(100))`` is ``Cosine(100)``, and its ``to_dict`` stays JSON-able."""
        super().__init_subclass__(**kwargs)
        checks = cls.__dict__.get("__post_init__")
        if checks is None:
            return

        @functools.wraps(checks)
        def post_init(self: Schedule) -> None:
            for f in dataclasses.fields(self):  # type: ignore[arg-type]
                value = getattr(self, f.name)
                plain = python_value(value)
                if plain is not value:
                    object.__setattr__(self, f.name, plain)
            checks(self)

        cls.__post_init__ = post_init  # type: ignore[attr-defined]

    @abstractmethod
    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        """The learning rate at float steps ``t`` (an array) for base LR ``base``.

        ``reductions`` (same shape as ``t``) counts the plateau reductions made so far; only
        schedules with a plateau phase use it.
        """

    @property
    def length(self) -> float | None:
        """Steps this schedule lasts when used as a phase of a sequence; ``None`` if unbounded."""
        return None

    def plateau_at(self, t: float) -> Plateau | None:
        """The plateau phase active at step ``t``, if any (it decides when metrics count)."""
        return None

    def __call__(self, step: float, base_lr: float = 1.0, *, reductions: int = 0) -> float:
        """The learning rate at one step."""
        base_lr = _number(base_lr)  # np.float32(0.1), a 0-d tensor: an LR as a float is
        check_positive("base_lr", base_lr)
        t = np.asarray(_finite_step(step), dtype=np.float64)
        red = np.asarray(float(reductions), dtype=np.float64)
        return float(self._lr(t, float(base_lr), red))

    def trace(
        self,
        n_steps: int,
        base_lr: float = 1.0,
        *,
        reductions: Array | None = None,
    ) -> Array:
        """The learning rate at steps ``0 .. n_steps - 1`` as one vectorised NumPy evaluation.

        Raises:
            ConfigError: ``n_steps`` is not a positive integer of at most
                :data:`MAX_TRACE_STEPS`, or ``base_lr`` or ``reductions`` is invalid.

        Example:
            >>> from lrkit.schedules import Step
            >>> Step(step_size=2, gamma=0.5).trace(5, base_lr=1.0).tolist()
            [1.0, 1.0, 0.5, 0.5, 0.25]
        """
        n_steps = whole_number("n_steps", n_steps)
        if n_steps > MAX_TRACE_STEPS:
            raise ConfigError(
                f"n_steps must be at most {MAX_TRACE_STEPS:,} (a trace holds a float per step), "
                f"got {n_steps!r}; call the schedule at the steps you need instead."
            )
        base_lr = _number(base_lr)
        check_positive("base_lr", base_lr)
        t = np.arange(n_steps, dtype=np.float64)
        red = np.zeros_like(t) if reductions is None else _reductions(reductions, n_steps)
        return np.broadcast_to(self._lr(t, float(base_lr), red), t.shape).astype(np.float64)

    # -- composition ---------------------------------------------------------------------------

    def then(self, *others: Schedule) -> Schedule:
        """This schedule for its length, then each of ``others`` in turn (see ``Sequence``)."""
        from lrkit.schedules.compose import Sequence

        return Sequence((self, *others))

    def __rshift__(self, other: Schedule) -> Schedule:
        return self.then(other)

    def __mul__(self, other: Schedule) -> Schedule:
        from lrkit.schedules.compose import Product

        return Product((self, other))

    # -- configs and specs ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict that :func:`lrkit.schedules.from_dict` turns back into this schedule.

        Only parameters that differ from their defaults are written, so configs stay short.
        """
        out: dict[str, Any] = {"name": self.name}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_spec(self) -> str:
        """The one-line spec string that :func:`lrkit.schedules.parse` turns back into this."""
        from lrkit.schedules.spec import spec_text

        return spec_text(self.to_dict())  # a schedule's own config: checked when it was built

    def __str__(self) -> str:
        return self.to_spec()


# -- argument checks shared by the schedules ---------------------------------------------------


def python_value(value: Any) -> Any:
    """:func:`~lrkit.checks.plain` through arrays, lists and tuples: NumPy numbers as Python's,
    an array as a list; anything else, ``value`` itself.

    Example:
        >>> python_value(np.arange(2)), python_value((np.float32(0.5), 2)), python_value("a")
        ([0, 1], (0.5, 2), 'a')
    """
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        items = [python_value(v) for v in value]
        if any(a is not b for a, b in zip(items, value)):
            return type(value)(items)
    return plain(value)


def is_finite_number(value: object) -> bool:
    """Whether ``value`` is an int or float (not a bool) that is finite as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the float range (a spec's 1 followed by 400 zeros)
        return False


def check_positive(name: str, value: float, *, integer: bool = False) -> None:
    """Raises ConfigError unless ``value`` is a finite number > 0 (an integer if asked)."""
    kind = "a positive integer" if integer else "a positive finite number"
    if not is_finite_number(value):
        raise ConfigError(f"{name} must be {kind}, got {value!r}.")
    if value <= 0 or (integer and value != int(value)):
        raise ConfigError(f"{name} must be {kind}, got {value!r}.")


def check_length(name: str, value: float) -> None:
    """Raises ConfigError unless ``value`` is a whole number of steps (or epochs) > 0.

    Lengths, periods and step sizes count whole units: ``step:0.5`` or ``cyclic:up=1e-300``
    would decay or cycle several times between two steps. ``1e3`` and ``1.5k`` are whole.
    """
    check_positive(name, value)  # says why a negative, zero, infinite or non-number is wrong
    if value != math.floor(value):
        raise ConfigError(
            f"{name} must be a positive integer (lengths count whole steps or epochs), "
            f"got {value!r}."
        )


def check_at_least(name: str, value: float, low: float, why: str) -> None:
    """Raises ConfigError unless ``value`` is a finite number >= ``low``; ``why`` says why."""
    if not is_finite_number(value) or value < low:
        raise ConfigError(f"{name} must be a finite number >= {low:g} ({why}), got {value!r}.")


def check_range(
    name: str,
    value: float,
    low: float,
    high: float,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> None:
    """Raises ConfigError unless ``low <= value <= high`` (``low < value`` if ``open_low``,
    ``value < high`` if ``open_high``)."""
    bad = not is_finite_number(value)
    if not bad:
        bad = value > high or value < low or (open_low and value == low)
        bad = bad or (open_high and value == high)
    if bad:
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        if math.isinf(high):  # not "in (0.0, inf]": inf itself is refused
            raise ConfigError(
                f"{name} must be a finite number {'>' if open_low else '>='} {low:g}, "
                f"got {value!r}."
            )
        raise ConfigError(
            f"{name} must be a number in {left}{low:g}, {high:g}{right}, got {value!r}."
        )


def check_non_negative(name: str, value: float) -> None:
    """Raises ConfigError unless ``value`` is a finite number >= 0."""
    if not is_finite_number(value) or value < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}.")


def _reductions(reductions: Any, n_steps: int) -> Array:
    """A trace's plateau reductions: a count per step (or one for all), whole and >= 0."""
    try:
        red = np.asarray(reductions, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"reductions must be counts, one per step, got {reductions!r}.") from None
    if red.shape not in ((), (n_steps,)):
        raise ConfigError(
            f"reductions must hold one count per step ({n_steps}), or one for all, got "
            f"{red.size} (shape {red.shape})."
        )
    if not (np.all(np.isfinite(red)) and np.all(red >= 0) and np.all(red == np.floor(red))):
        raise ConfigError(f"reductions must be whole numbers >= 0, got {reductions!r}.")
    return red


def _number(value: Any) -> Any:
    """A NumPy scalar or a one-element tensor as the Python number it holds; else as it is."""
    value = plain(value)
    if type(value).__module__.startswith("torch") and getattr(value, "numel", lambda: 0)() == 1:
        return value.item()
    return value


def _finite_step(step: object) -> float:
    """``step`` as a float; ConfigError unless it is a finite number (NaN would give a NaN LR);
    text and ``True`` are not steps."""
    if isinstance(step, (str, bytes, bool)):
        raise ConfigError(f"step must be a finite number, got {step!r}.")
    try:
        t = float(step)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"step must be a finite number, got {step!r}.") from None
    if not math.isfinite(t):
        raise ConfigError(f"step must be a finite number, got {step!r}.")
    return t


def check_bool(name: str, value: bool) -> None:
    """Raises ConfigError unless ``value`` is ``True`` or ``False`` (a spec: true or false)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}.")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raises ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}.")


def progress(t: Array, steps: float) -> Array:
    """Fraction of ``steps`` done at ``t``, clipped to [0, 1] (schedules hold their end value)."""
    return np.clip(t / steps, 0.0, 1.0)


def floor_lr(floor: float, base: float) -> float:
    """A schedule's floor (``min_lr``, ``end_lr``) for base LR ``base``: at most ``base``.

    A floor is an absolute LR, so a param group whose base LR is below it (or a spec such as
    ``cosine:100,min_lr=1e300`` traced at ``base_lr=1``) would otherwise *rise* towards it. As
    torch's ``ReduceLROnPlateau`` never raises an LR to reach ``min_lr``, the schedule instead
    holds its base LR: a decay never goes above where it started.
    """
    return min(float(floor), base)


def blend(high: float | Array, low: float, weight: Array) -> Array:
    """``high`` where ``weight`` is 1, ``low`` where it is 0, linear in between.

    Written ``high * w + low * (1 - w)`` rather than ``low + (high - low) * w``: the latter
    cancels catastrophically when ``low`` dwarfs ``high`` and is not exactly ``high`` at w = 1.
    """
    if low == 0.0:  # the usual floor: one multiplication per step
        return high * weight
    return high * weight + low * (1.0 - weight)
