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
from collections.abc import Callable, Collection, Mapping
from typing import Any

from lrkit.errors import ConfigError, bool_or_text

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
POSITIVE = (_positive, "a positive finite number")
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
    "ConstantLR": {"total_iters": COUNT},
    "LinearLR": {"total_iters": POSITIVE_INT},
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
    "CosineAnnealingWarmRestarts": {"eta_min": NON_NEGATIVE},
    "OneCycleLR": {
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
    if scheduler == "CyclicLR" and arguments.get("scale_fn") is None:
        mode = arguments.get("mode")
        if mode not in CYCLIC_MODES:
            raise ConfigError(
                f"CyclicLR: mode must be one of {', '.join(map(repr, CYCLIC_MODES))} (or give "
                f"scale_fn), got {mode!r}."
            )
