"""scikit-learn's ``learning_rate`` rules for SGD and MLP, as schedules of the step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrkit.schedules.base import Array, Schedule, check_non_negative, check_positive
from lrkit.schedules.registry import register


@register("sklearn_invscaling", "inverse_scaling")
@dataclass(frozen=True)
class InvScaling(Schedule):
    """scikit-learn's ``invscaling``: ``lr = eta0 / (t + 1) ** power_t`` with ``eta0 = base_lr``.

    scikit-learn counts t from 1; lrkit counts from 0, hence ``t + 1``.

    Example:
        >>> s = InvScaling(power_t=0.5)
        >>> [round(s(t, base_lr=1.0), 6) for t in (0, 3, 99)]
        [1.0, 0.5, 0.1]
    """

    name = "invscaling"
    power_t: float = 0.5

    def __post_init__(self) -> None:
        check_non_negative("power_t", self.power_t)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        with np.errstate(over="ignore"):  # (t + 1) ** power_t = inf: the LR's limit, 0
            return base / (np.maximum(t, 0.0) + 1.0) ** self.power_t


@register("sklearn_optimal", "bottou")
@dataclass(frozen=True)
class Optimal(Schedule):
    """scikit-learn's ``optimal`` rule, ``lr = 1 / (alpha * (t + t0))``, anchored at ``base_lr``.

    scikit-learn picks ``t0`` by a heuristic on the loss; lrkit picks ``t0 = 1 / (alpha *
    base_lr)`` so the schedule starts at ``base_lr``: ``lr = base_lr / (1 + alpha * base_lr * t)``.
    ``alpha`` is the L2 regularisation strength of the model (scikit-learn's default 1e-4).

    Example:
        >>> s = Optimal(alpha=0.01)
        >>> [round(s(t, base_lr=1.0), 6) for t in (0, 100, 900)]
        [1.0, 0.5, 0.1]
    """

    name = "optimal"
    alpha: float = 1e-4

    def __post_init__(self) -> None:
        check_positive("alpha", self.alpha)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        # alpha * (base * t), not (alpha * base) * t: a huge alpha * base is inf, and inf * 0 at
        # step 0 would be NaN; this way an overflow only drives the LR to its limit, 0.
        with np.errstate(over="ignore"):
            return base / (1.0 + self.alpha * (base * np.maximum(t, 0.0)))
