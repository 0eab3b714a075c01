"""Schedules from a range test (seed 001, example 2): peak and floor taken from its range.

A range test gives Leslie Smith's range ``(low, high)``: ``high`` is the largest LR that still
trains well, ``low`` a safe LR well below it. Each schedule here runs between the two:

- ``"onecycle"``: from ``low`` up to ``high`` over ``pct_start`` of the steps, then down to
  ``low / final_div_factor`` (``final_div_factor=1``: back to ``low``; torch's ``OneCycleLR``
  anneals to ``1e-4`` of that, pass ``final_div_factor=1e4`` for the same).
- ``"warmup_cosine"``: a linear warmup from ``low`` to ``high`` over ``warmup`` steps (default:
  5% of them), then a cosine down to ``low``. As every ``warmup`` phase, the ramp is
  ``(t + 1) / (warmup + 1)`` of the way up at step ``t`` (nanoGPT's), so its first step is
  already a ``warmup + 1``-th of the way from ``low`` to ``high``, never at ``low`` itself.
- ``"step"``: ``high`` until the first milestone (default: half and three quarters of the
  steps), then divided by the same factor at each milestone so that the last phase is ``low``.
- ``"cyclic"``: Smith's cyclical LR, the classic use of the range: triangles from ``low`` up to
  ``high`` and back, ``cycles`` of them (default 3) filling the steps; ``mode="triangular2"``
  halves the height each cycle.

**How the base LR fits.** A native schedule is a pure function ``lr = schedule(step, base_lr)``
(see :mod:`lrkit.schedules`); bound to an optimizer, it scales each param group's own LR. Every
schedule here is built for ``base_lr = high``, so the optimizer's LR must be ``high`` when it is
bound. :class:`RangeSchedule` carries the schedule and that base LR together, and its
:meth:`~RangeSchedule.bind` sets the optimizer's LR before binding (param groups keep their
ratios; only ``"warmup_cosine"``'s floor is the same ``low`` for every group, because a native
cosine's ``min_lr`` is an LR, not a fraction). ``steps`` counts whatever unit the schedule is
bound with, optimizer steps by default; as torch's ``T_max``, a cosine or step schedule reaches
its last value at step ``steps``, after the last of ``steps`` steps; ``"onecycle"`` reaches it on
the last, step ``steps - 1``, as torch's ``OneCycleLR(total_steps=steps)`` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from lrkit.checks import positive_lr, whole_number
from lrkit.errors import ConfigError, UnknownNameError, bad_value
from lrkit.rounding import tidy
from lrkit.schedules import Constant, Cosine, Cyclic, MultiStep, OneCycle, Schedule, Warmup
from lrkit.schedules.compose import Limited
from lrkit.schedules.compose import Sequence as PhaseSequence

if TYPE_CHECKING:
    import numpy as np

    from lrkit.schedules.bound import ScheduledLR, Unit

SCHEDULE_KINDS: tuple[str, ...] = ("onecycle", "warmup_cosine", "step", "cyclic")
"""The kinds :func:`schedule_from_range` builds."""

KIND_ALIASES = {
    "one_cycle": "onecycle",
    "1cycle": "onecycle",
    "warmup-cosine": "warmup_cosine",
    "cosine": "warmup_cosine",
    "multistep": "step",
    "clr": "cyclic",
    "triangular": "cyclic",
}


_DEFAULTS: dict[str, dict[str, Any]] = {
    "onecycle": {"pct_start": 0.3, "final_div_factor": 1.0},
    "warmup_cosine": {"warmup": None},  # 5% of the steps
    "step": {"milestones": (0.5, 0.75)},
    "cyclic": {"cycles": 3, "mode": "triangular"},
}
"""Each kind's options, and the value of each one left out."""


@dataclass(frozen=True)
class RangeSchedule:
    """A native schedule built from a range, and the base LR it must be bound with.

    Attributes:
        schedule: The lrkit schedule (a pure function of the step; its spec is
            ``schedule.to_spec()``).
        base_lr: The LR the schedule scales: the range's ``high``, its peak (the suggestion, for
            a ``"spec"``).
        floor: The range's ``low``.
        kind: ``"onecycle"``, ``"warmup_cosine"``, ``"step"`` or ``"cyclic"``; ``"spec"``
            for any schedule at the suggestion (:func:`schedule_at`).
        steps: The schedule's length, in the unit it is bound with.

    Example:
        >>> s = schedule_from_range(0.01, 0.1, "warmup_cosine", steps=100, warmup=10)
        >>> s.schedule.to_spec(), s.base_lr
        ('warmup:steps=10,start_factor=0.1 > cosine:steps=90,min_lr=0.01', 0.1)
        >>> [round(s.lr(t), 4) for t in (0, 10, 55, 99)]
        [0.0182, 0.1, 0.055, 0.01]
    """

    schedule: Schedule
    base_lr: float
    floor: float
    kind: str
    steps: int

    def lr(self, step: float) -> float:
        """The learning rate at ``step``."""
        return self.schedule(step, self.base_lr)

    def trace(self, n_steps: int | None = None) -> np.ndarray:
        """The LR at steps ``0 .. n_steps - 1`` (default: the whole schedule)."""
        return self.schedule.trace(self.steps if n_steps is None else n_steps, self.base_lr)

    def bind(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        unit: Unit = "step",
        steps_per_epoch: int | None = None,
    ) -> ScheduledLR:
        """Sets the optimizer's LR to ``base_lr`` and binds the schedule to it.

        The first param group whose LR is not 0 gets ``base_lr``; the others keep their ratio to
        it (a group at 0 stays at 0). Call ``step()`` on the returned scheduler after each
        optimizer step (``unit="step"``) or epoch (``unit="epoch"``); ``steps_per_epoch`` as
        :func:`lrkit.schedules.bind` takes it.

        Example:
            >>> model = torch.nn.Linear(2, 1)
            >>> opt = torch.optim.SGD(model.parameters(), lr=1.0)
            >>> sched = schedule_from_range(0.01, 0.1, "onecycle", steps=10).bind(opt)
            >>> round(opt.param_groups[0]["lr"], 6)
            0.01
        """
        from lrkit.schedules import bind

        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}."
            )
        current = [float(group["lr"]) for group in optimizer.param_groups]
        reference = next((lr for lr in current if lr > 0), None)
        for group, lr in zip(optimizer.param_groups, current):
            new = self.base_lr if reference is None else self.base_lr * lr / reference
            group["lr"] = new
            group["initial_lr"] = new  # what a bound schedule scales (set by any earlier one)
        return bind(optimizer, self.schedule, unit=unit, steps_per_epoch=steps_per_epoch)


def schedule_from_range(
    low: float,
    high: float,
    kind: str,
    steps: int,
    *,
    pct_start: float | None = None,
    final_div_factor: float | None = None,
    warmup: int | None = None,
    milestones: Sequence[float] | None = None,
    cycles: int | None = None,
    mode: str | None = None,
) -> RangeSchedule:
    """A schedule between ``low`` and ``high`` (see the module docstring for the kinds).

    Args:
        low: The floor, ``0 < low <= high``.
        high: The peak; the schedule's base LR.
        kind: ``"onecycle"``, ``"warmup_cosine"``, ``"step"`` or ``"cyclic"`` (aliases:
            ``"1cycle"``, ``"one_cycle"``, ``"cosine"``, ``"multistep"``, ``"clr"``,
            ``"triangular"``).
        steps: Length of the schedule (>= 2).
        pct_start: ``"onecycle"``: the fraction of the steps spent rising (default 0.3).
        final_div_factor: ``"onecycle"``: it ends at ``low / final_div_factor`` (default 1).
        warmup: ``"warmup_cosine"``: warmup steps, ``0 <= warmup < steps``; default 5% of them.
        milestones: ``"step"``: where the LR drops, as fractions of ``steps`` in ``(0, 1)``
            (default ``(0.5, 0.75)``).
        cycles: ``"cyclic"``: how many up-and-down cycles fill the steps (each half-cycle lasts
            ``steps // (2 * cycles)`` steps, at least 1; default 3).
        mode: ``"cyclic"``: ``"triangular"`` (default) or ``"triangular2"`` (the height halves
            each cycle).

    Raises:
        ConfigError: An argument is invalid, or an option given is not the kind's
            (``warmup=`` for ``"onecycle"``).
        UnknownNameError: ``kind`` is not one of the kinds.

    Example:
        >>> s = schedule_from_range(0.001, 0.1, "step", steps=100)
        >>> [round(s.lr(t), 6) for t in (0, 49, 50, 75, 99)]
        [0.1, 0.1, 0.01, 0.001, 0.001]
        >>> s = schedule_from_range(0.001, 0.1, "onecycle", steps=100)
        >>> [round(s.lr(t), 6) for t in (0, 29, 64, 99)]
        [0.001, 0.1, 0.0505, 0.001]
    """
    name = KIND_ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    if name not in SCHEDULE_KINDS:
        raise UnknownNameError(
            f"Unknown schedule kind {kind!r}; valid kinds: {', '.join(SCHEDULE_KINDS)}."
        )
    positive_lr("low", low)
    positive_lr("high", high)
    if low > high:
        raise ConfigError(f"low must be <= high ({high!r}), got {low!r}.")
    steps = whole_number("steps", steps, least=2)
    given: dict[str, Any] = {
        "pct_start": pct_start,
        "final_div_factor": final_div_factor,
        "warmup": warmup,
        "milestones": milestones,
        "cycles": cycles,
        "mode": mode,
    }
    foreign = [k for k, v in given.items() if v is not None and k not in _DEFAULTS[name]]
    if foreign:
        mine = ", ".join(_DEFAULTS[name])
        owner = next(k for k, options in _DEFAULTS.items() if foreign[0] in options)
        raise ConfigError(
            f"{foreign[0]} is an option of the {owner!r} kind, got it for {name!r}, whose "
            f"options are: {mine}."
        )
    option = {k: given[k] if given[k] is not None else v for k, v in _DEFAULTS[name].items()}
    low, high = float(low), float(high)
    schedule: Schedule
    if name == "onecycle":
        schedule = OneCycle(
            steps=steps,
            pct_start=option["pct_start"],
            div_factor=high / low,
            final_div_factor=option["final_div_factor"],
        )
    elif name == "warmup_cosine":
        n_warm = option["warmup"]
        n_warm = max(1, round(0.05 * steps)) if n_warm is None else n_warm
        expected = f"an integer in [0, {steps - 1}]"
        n_warm = whole_number("warmup", n_warm, least=0, most=steps - 1, expected=expected)
        cosine = Cosine(steps=steps - n_warm, min_lr=low)
        schedule = (
            cosine
            if n_warm == 0
            # 12 digits: the spec reads start_factor=0.1, not 0.09999999999999999
            else PhaseSequence((Warmup(steps=n_warm, start_factor=tidy(low / high)), cosine))
        )
    elif name == "cyclic":
        expected = f"an integer from 1 to {steps // 2} (steps // 2)"
        cycles = whole_number("cycles", option["cycles"], most=steps // 2, expected=expected)
        shape = option["mode"]
        if shape not in ("triangular", "triangular2"):
            raise bad_value("mode", "'triangular' or 'triangular2'", shape)
        half = steps // (2 * cycles)
        # at base_lr=high: a constant factor low/high, times triangles from 1 to high/low; the
        # steps left over by whole cycles stay at low, so the schedule ends there
        triangles: Schedule = Cyclic(up=half, max_factor=tidy(high / low), mode=shape)
        if 2 * cycles * half < steps:
            triangles = Limited(triangles, 2 * cycles * half).then(Constant())
        schedule = Constant(factor=tidy(low / high)) * triangles
    else:
        drops = option["milestones"]
        fractions = [float(m) for m in drops]
        if not fractions or any(not 0 < m < 1 for m in fractions) or fractions != sorted(fractions):
            raise bad_value("milestones", "increasing fractions of the steps in (0, 1)", drops)
        schedule = MultiStep(
            milestones=tuple(round(m * steps) for m in fractions),
            gamma=(low / high) ** (1.0 / len(fractions)),
        )
    return RangeSchedule(schedule=schedule, base_lr=high, floor=low, kind=name, steps=steps)


def schedule_at(
    spec: str | Schedule, lr: float, floor: float, steps: int | None = None, **options: Any
) -> RangeSchedule:
    """Any schedule (a spec or a ``Schedule``) with ``lr`` as its base LR: what
    ``RangeTestResult.to_schedule("warmup:10 > cosine:90")`` gives at the suggestion.

    Args:
        spec: The schedule, e.g. ``"warmup:5 > cosine:95"``.
        lr: Its base LR (the suggestion).
        floor: The range's low end (the suggestion where there is no range).
        steps: Its length; by default the schedule's own, which one without an end needs.

    Raises:
        ConfigError: An option was given (a spec carries its own settings), or ``steps`` is
            not the schedule's length, or missing for one without an end.
        SpecError: The spec is malformed.

    Example:
        >>> s = schedule_at("warmup:5 > cosine:95", 0.02, 0.005)
        >>> s.kind, s.steps, s.base_lr, round(s.lr(5), 4), round(s.lr(100), 4)
        ('spec', 100, 0.02, 0.02, 0.0)
    """
    from lrkit.schedules import parse

    if options:
        raise ConfigError(
            f"{next(iter(options))} is an option of the range's kinds "
            f"({', '.join(SCHEDULE_KINDS)}), got it with the schedule {spec!r}, which carries "
            "its own settings in its spec."
        )
    schedule = parse(spec)
    positive_lr("lr", lr)
    length = schedule.length
    own = int(length) if length is not None and math.isfinite(length) else None
    if steps is None:
        if own is None:
            raise ConfigError(
                f"steps must be given for a schedule without an end, got none for "
                f"{schedule.to_spec()!r}."
            )
        steps = own
    steps = whole_number("steps", steps)
    if own is not None and steps != own:
        raise ConfigError(
            f"steps must be the schedule's own length ({own}) or left out, got {steps} for "
            f"{schedule.to_spec()!r}."
        )
    return RangeSchedule(
        schedule=schedule, base_lr=float(lr), floor=float(floor), kind="spec", steps=steps
    )
