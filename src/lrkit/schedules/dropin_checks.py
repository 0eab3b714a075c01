"""The constructor checks the drop-ins add to torch's own.

torch accepts many arguments that fail later or quietly give nonsense: ``StepLR(step_size=0)``
divides by zero at the first ``step()``, ``CosineAnnealingLR(T_max=0)`` too, ``StepLR(gamma=-1)``
gives negative LRs, ``ExponentialLR(gamma="0.9")`` fails with a TypeError deep in ``get_lr``,
``ReduceLROnPlateau(factor=0)`` drops the LR to zero on the first plateau. The drop-ins refuse
these when they are built, with a :class:`~lrkit.errors.ConfigError` (a ``ValueError``, like
torch's own checks) naming the scheduler, the argument, what it must be and what it got. Every
value torch handles correctly is still accepted.

Example:
    >>> import torch
    >>> from lrkit.schedules.dropin import LinearLR
    >>> LinearLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), total_iters=0)
    Traceback (most recent call last):
    ...
    lrkit.errors.ConfigError: LinearLR: total_iters must be a positive integer, got 0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection, Mapping
from typing import Any

from lrkit.checks import bool_or_text
from lrkit.errors import ConfigError

Check = Callable[[Any], bool]


def _number(value: Any) -> bool:
    """A finite real number: an int or float, a NumPy scalar, a one-element tensor; not a bool
    or text (``float("0.9")`` would read it)."""
    if bool_or_text(value):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return False


def whole(value: Any) -> bool:
    """A whole number, as torch's integer arguments take them (``2.0`` works there too).

    Example:
        >>> whole(3), whole(3.0), whole(3.5), whole("3"), whole(True)
        (True, True, False, False, False)
    """
    return _number(value) and float(value) == int(float(value))


def integer(value: Any) -> bool:
    """An integer as a type: an ``int``, a NumPy integer, a one-element integer tensor; not a
    bool, and not ``10.0``, which torch's ``T_0`` and ``total_steps`` refuse.

    Example:
        >>> import numpy as np
        >>> integer(3), integer(np.int64(3)), integer(3.0), integer(True), integer("3")
        (True, True, False, False, False)
    """
    if bool_or_text(value):
        return False
    if isinstance(value, numbers.Integral):  # int, NumPy's integers
        return True
    dtype = str(getattr(value, "dtype", ""))
    return dtype.startswith(("torch.int", "torch.uint")) and getattr(value, "numel", int)() == 1


def _positive_integer(value: Any) -> bool:
    return integer(value) and int(value) > 0


def _in(low: float, high: float, *, open_low: bool = False) -> Check:
    """A finite number from ``low`` to ``high`` (above ``low`` when ``open_low``)."""

    def check(value: Any) -> bool:
        if not _number(value):
            return False
        number = float(value)
        return (low < number if open_low else low <= number) and number <= high

    return check


def _positive_int(value: Any) -> bool:
    return whole(value) and float(value) > 0


def _count(value: Any) -> bool:
    return whole(value) and float(value) >= 0


def _positive(value: Any) -> bool:
    return _number(value) and float(value) > 0


def _non_negative(value: Any) -> bool:
    return _number(value) and float(value) >= 0


def _each(check: Check) -> Check:
    """A number, or a list / tuple of them (one per param group)."""
    return lambda v: check(v) or (isinstance(v, (list, tuple)) and all(check(x) for x in v))


def _milestones(value: Any) -> bool:
    if not isinstance(value, Collection):  # a generator: reading it here would use it up
        return not isinstance(value, (str, bytes)) and hasattr(value, "__iter__")
    return all(whole(m) for m in value)


POSITIVE_INT = (_positive_int, "a positive integer")
COUNT = (_count, "an integer >= 0")
NON_NEGATIVE = (_non_negative, "a finite number >= 0")
GAMMA = (_non_negative, "a finite number >= 0 (the factor the LR is multiplied by)")


def _max_lr(value: Any) -> bool:
    """A finite LR >= 0, or one per param group, not all 0: a group at 0 is a frozen one, which
    torch keeps at 0; every group at 0 trains nothing."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    return all(_non_negative(v) for v in values) and any(float(v) > 0 for v in values)


MAX_LR = (_max_lr, "a positive finite LR, or one per param group (some may be 0, not all)")

RULES: Mapping[str, Mapping[str, tuple[Check, str]]] = {
    "StepLR": {
        "step_size": (_positive_int, "a positive integer (steps between decays)"),
        "gamma": GAMMA,
    },
    "MultiStepLR": {
        "milestones": (_milestones, "a list of whole numbers (the steps to decay at)"),
        "gamma": GAMMA,
    },
    "ConstantLR": {
        "factor": (_in(0, 1), "a number in [0, 1] (the LR is multiplied by it until total_iters)"),
        "total_iters": COUNT,
    },
    "LinearLR": {
        "start_factor": (_in(0, 1, open_low=True), "a number in (0, 1] (the factor it starts at)"),
        "end_factor": (_in(0, 1), "a number in [0, 1] (the factor it ends at)"),
        "total_iters": POSITIVE_INT,
    },
    "ExponentialLR": {"gamma": GAMMA},
    "PolynomialLR": {"total_iters": COUNT, "power": NON_NEGATIVE},
    "CosineAnnealingLR": {
        "T_max": (_positive, "a positive number of steps (half a cosine period)"),
        "eta_min": NON_NEGATIVE,
    },
    "CyclicLR": {
        "base_lr": (_each(_non_negative), "a finite LR >= 0, or one per param group"),
        "max_lr": MAX_LR,
        "step_size_up": (_positive, "a positive number of steps"),
        "step_size_down": (
            lambda v: v is None or _non_negative(v),
            "None or a number of steps >= 0",
        ),
        "gamma": GAMMA,
    },
    "CosineAnnealingWarmRestarts": {
        "T_0": (_positive_integer, "a positive integer (the steps to the first restart)"),
        "T_mult": (
            lambda v: integer(v) and int(v) >= 1,
            "an integer >= 1 (each period is T_mult times the last)",
        ),
        "eta_min": NON_NEGATIVE,
    },
    "OneCycleLR": {
        "total_steps": (
            lambda v: v is None or _positive_integer(v),
            "a positive integer, or None to give epochs and steps_per_epoch",
        ),
        "pct_start": (_in(0, 1), "a number in [0, 1] (the part of the cycle spent rising)"),
        "max_lr": MAX_LR,
        "div_factor": (_positive, "a positive finite number (it starts at max_lr / div_factor)"),
        "final_div_factor": (
            _positive,
            "a positive finite number (it ends at its start LR / final_div_factor)",
        ),
    },
    "ReduceLROnPlateau": {
        "factor": (
            lambda v: _number(v) and 0 < float(v) < 1,
            "a number between 0 and 1 (exclusive)",
        ),
        "patience": (_non_negative, "a number of epochs >= 0"),  # 2.5: reduce after 3
        "threshold": NON_NEGATIVE,
        "cooldown": COUNT,
        "min_lr": (_each(_non_negative), "a finite LR >= 0, or one per param group"),
        "eps": NON_NEGATIVE,
    },
}
CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def check_arguments(scheduler: str, arguments: Mapping[str, Any]) -> None:
    """Raises a ConfigError for the first argument of ``scheduler`` that torch would mishandle.

    ``arguments``: the constructor's arguments by name, defaults included.
    """
    for name, (check, expected) in RULES.get(scheduler, {}).items():
        if name in arguments and not check(arguments[name]):
            raise ConfigError(f"{scheduler}: {name} must be {expected}, got {arguments[name]!r}.")
    factor, total = arguments.get("factor", 1), arguments.get("total_iters", 0)
    stuck = _number(factor) and float(factor) == 0 and whole(total) and float(total) > 0
    if scheduler == "ConstantLR" and stuck:  # torch divides by it to restore the LR at the end
        raise ConfigError(
            f"ConstantLR: factor must be in (0, 1] (0 divides by zero at step total_iters="
            f"{total}), got {factor!r}."
        )
    if scheduler == "OneCycleLR" and arguments.get("total_steps") is None:
        _check_one_cycle_length(arguments)  # only then does torch read epochs, steps_per_epoch
    if scheduler == "OneCycleLR":
        _check_one_cycle_phases(arguments)
    if scheduler == "CyclicLR" and arguments.get("scale_fn") is None:
        mode = arguments.get("mode")
        if mode not in CYCLIC_MODES:
            raise ConfigError(
                f"CyclicLR: mode must be one of {', '.join(map(repr, CYCLIC_MODES))} (or give "
                f"scale_fn), got {mode!r}."
            )


def _check_one_cycle_length(arguments: Mapping[str, Any]) -> None:
    """OneCycleLR without ``total_steps``: ``epochs`` and ``steps_per_epoch`` must both be
    positive integers (torch multiplies them)."""
    given = {name: arguments.get(name) for name in ("epochs", "steps_per_epoch")}
    if any(value is None for value in given.values()):
        said = ", ".join(f"{name}={value!r}" for name, value in given.items())
        raise ConfigError(
            f"OneCycleLR: give total_steps, or epochs and steps_per_epoch, got total_steps=None, "
            f"{said}."
        )
    for name, value in given.items():
        if not _positive_integer(value):
            raise ConfigError(f"OneCycleLR: {name} must be a positive integer, got {value!r}.")


def _check_one_cycle_phases(arguments: Mapping[str, Any]) -> None:
    """Refuses a ``pct_start`` that gives a phase torch divides by its length of 0 (a rise of
    one step, ``pct_start * total_steps == 1``, at once; ``pct_start=1`` at the last step).

    Example:
        >>> _check_one_cycle_phases({"total_steps": 10, "pct_start": 0.1})
        Traceback (most recent call last):
        ...
        lrkit.errors.ConfigError: OneCycleLR: pct_start must leave each phase at least one ...
    """
    total = arguments.get("total_steps")
    if total is None:
        total = int(arguments["epochs"]) * int(arguments["steps_per_epoch"])
    pct, total = float(arguments.get("pct_start", 0.3)), int(total)
    three = bool(arguments.get("three_phase", False))
    ends = (
        [pct * total - 1, 2 * pct * total - 2, total - 1] if three else [pct * total - 1, total - 1]
    )
    names = ["rise", "fall", "annealing"] if three else ["rise", "annealing"]
    start = 0.0
    for i, (end, name) in enumerate(zip(ends, names, strict=True)):
        reached = end >= 0 or i == len(ends) - 1  # a phase that ends before step 0 is skipped
        if reached and end == start:
            raise ConfigError(
                f"OneCycleLR: pct_start must leave each phase at least one step, got "
                f"{arguments.get('pct_start')!r} with {total} steps: its {name} is 0 steps long, "
                "and torch divides by that length."
            )
        start = end


TORCH_TYPES: Mapping[str, Mapping[str, tuple[type, ...]]] = {
    "CosineAnnealingWarmRestarts": {"T_0": (int,), "T_mult": (int,), "eta_min": (int, float)},
    "OneCycleLR": {
        "total_steps": (int,),
        "epochs": (int,),
        "steps_per_epoch": (int,),
        "pct_start": (float,),
    },
}
"""The arguments torch checks by type (``isinstance(T_0, int)``), and the types it takes there:
it refuses a NumPy number or a tensor, with a message that shows a valid value (``Expected
positive integer T_0, but got 10``), and ``pct_start=1``."""


def torch_values(scheduler: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments given to ``scheduler`` that torch would refuse for their type alone, as the
    Python number torch takes; call it after :func:`check_arguments` has checked them.

    A value torch takes stays as it is (``eta_min=0``, ``pct_start=np.float64(0.3)``), so that
    the LRs are torch's own for every value torch takes.

    Example:
        >>> import numpy as np
        >>> torch_values("CosineAnnealingWarmRestarts", {"T_0": np.int64(10), "T_mult": 2})
        {'T_0': 10}
        >>> torch_values("OneCycleLR", {"pct_start": 1, "total_steps": None})
        {'pct_start': 1.0}
    """
    out: dict[str, Any] = {}
    for name, kinds in TORCH_TYPES.get(scheduler, {}).items():
        value = arguments.get(name)
        if value is None or isinstance(value, kinds):
            continue
        if kinds == (int,) and integer(value):
            out[name] = int(value)
        elif float in kinds and _number(value):
            out[name] = float(value)
    return out
