"""Learning-rate schedules: exact torch drop-ins, and native schedules as pure functions.

Native schedules map a step to an LR with no hidden counter, compose (``>`` in sequence, ``*``
multiplied), round-trip through one-line specs and JSON-able dicts, trace a million steps in tens of
milliseconds, and bind to any torch optimizer as a real ``LRScheduler``.

Example:
    >>> from lrkit.schedules import parse
    >>> s = parse("warmup:500 > cosine:10k,min_lr=1e-5")
    >>> lrs = s.trace(11_000, base_lr=0.1)  # one vectorised evaluation
    >>> float(lrs[500]), float(lrs[10_500])
    (0.1, 1e-05)
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any

from lrkit.schedules.base import Schedule
from lrkit.schedules.compose import Limited, Product, Sequence
from lrkit.schedules.constant import Constant
from lrkit.schedules.cosine import Cosine, CosineRestarts
from lrkit.schedules.cyclic import Cyclic, OneCycle
from lrkit.schedules.inverse_sqrt import InverseSqrt
from lrkit.schedules.linear import Linear, Polynomial
from lrkit.schedules.plateau import Plateau, PlateauTracker, simulate
from lrkit.schedules.registry import schedule_class, schedule_names
from lrkit.schedules.sklearn_rules import Adaptive, InvScaling, Optimal
from lrkit.schedules.spec import format_spec, from_dict, parse
from lrkit.schedules.step import Exponential, MultiStep, Step
from lrkit.schedules.warmup import Warmup
from lrkit.schedules.wsd import WSD

if TYPE_CHECKING:
    from lrkit.schedules.bound import ScheduledLR, bind
    from lrkit.schedules.dropin import (
        ChainedScheduler,
        ConstantLR,
        CosineAnnealingLR,
        CosineAnnealingWarmRestarts,
        CyclicLR,
        ExponentialLR,
        LambdaLR,
        LinearLR,
        MultiplicativeLR,
        MultiStepLR,
        OneCycleLR,
        PolynomialLR,
        ReduceLROnPlateau,
        SequentialLR,
        StepLR,
    )

# Everything that needs torch loads on first use, so that specs, traces and plots (and the CLI's
# `schedule` commands) start without importing torch.
_LAZY = {
    "ScheduledLR": "lrkit.schedules.bound",
    "bind": "lrkit.schedules.bound",
    **{
        name: "lrkit.schedules.dropin"
        for name in (
            "ChainedScheduler",
            "ConstantLR",
            "CosineAnnealingLR",
            "CosineAnnealingWarmRestarts",
            "CyclicLR",
            "ExponentialLR",
            "LambdaLR",
            "LinearLR",
            "MultiStepLR",
            "MultiplicativeLR",
            "OneCycleLR",
            "PolynomialLR",
            "ReduceLROnPlateau",
            "SequentialLR",
            "StepLR",
        )
    },
}


if not TYPE_CHECKING:  # a type checker reads the imports above instead: a module __getattr__
    # it can see would make any name, typos included, type-check as Any

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'lrkit.schedules' has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """The module's names with the lazily loaded ones, for ``dir()``, ``help()`` and completion.

    Its public names and submodules: not what it imports to work (``Any``, ``importlib``).

    Example:
        >>> import lrkit.schedules
        >>> "StepLR" in dir(lrkit.schedules), "bind" in dir(lrkit.schedules)
        (True, True)
        >>> "importlib" in dir(lrkit.schedules), "TYPE_CHECKING" in dir(lrkit.schedules)
        (False, False)
    """
    own = {name for name, value in globals().items() if isinstance(value, types.ModuleType)}
    own -= {"importlib", "types"}  # what this module imports to work
    return sorted({*__all__, *_LAZY, *own})


__all__ = [
    "WSD",
    "Adaptive",
    "ChainedScheduler",
    "Constant",
    "ConstantLR",
    "Cosine",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CosineRestarts",
    "Cyclic",
    "CyclicLR",
    "Exponential",
    "ExponentialLR",
    "InvScaling",
    "InverseSqrt",
    "LambdaLR",
    "Limited",
    "Linear",
    "LinearLR",
    "MultiStep",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycle",
    "OneCycleLR",
    "Optimal",
    "Plateau",
    "PlateauTracker",
    "Polynomial",
    "PolynomialLR",
    "Product",
    "ReduceLROnPlateau",
    "Schedule",
    "ScheduledLR",
    "Sequence",
    "SequentialLR",
    "Step",
    "StepLR",
    "Warmup",
    "bind",
    "format_spec",
    "from_dict",
    "parse",
    "schedule_class",
    "schedule_names",
    "simulate",
]
