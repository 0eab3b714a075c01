"""scikit-learn's ``learning_rate`` rules for SGD and MLP as native schedules: ``invscaling``,
``optimal`` and ``adaptive`` (its ``constant`` is lrkit's ``constant``).

Where scikit-learn's ``t`` counts samples (SGD's per-sample updates; MLP's ``t_``, samples seen
so far), a schedule's ``t`` counts its unit, steps or epochs; ``invscaling``'s ``samples`` says
how many samples one unit is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrkit.errors import bad_value
from lrkit.schedules.base import Array, Schedule, check_non_negative, check_positive
from lrkit.schedules.plateau import Plateau
from lrkit.schedules.registry import register


@register("sklearn_invscaling", "inverse_scaling")
@dataclass(frozen=True)
class InvScaling(Schedule):
    """scikit-learn's ``invscaling``: ``lr = base_lr / (samples * t + 1) ** power_t``.

    ``base_lr`` is scikit-learn's ``eta0`` (``learning_rate_init``); ``t`` counts from 0.

    - ``SGDClassifier`` / ``SGDRegressor`` update once per sample with ``eta0 / t ** power_t``,
      their ``t`` counting from 1: ``samples=1`` (the default), stepped once per sample.
    - ``MLPClassifier`` / ``MLPRegressor`` set ``eta0 / (t_ + 1) ** power_t`` at the end of each
      epoch, ``t_`` being the samples seen so far: ``samples`` = the training set's size, with
      ``unit="epoch"`` (the LR changes once an epoch, as theirs does).

    Example:
        >>> s = InvScaling(power_t=0.5)
        >>> [round(s(t, base_lr=1.0), 6) for t in (0, 3, 99)]
        [1.0, 0.5, 0.1]
        >>> round(InvScaling(power_t=0.5, samples=1079)(1, base_lr=0.05), 6)  # one epoch in
        0.001521
    """

    name = "invscaling"
    power_t: float = 0.5
    samples: float = 1.0

    def __post_init__(self) -> None:
        check_non_negative("power_t", self.power_t)
        check_positive("samples", self.samples)

    def _lr(self, t: Array, base: float, reductions: Array) -> Array:
        with np.errstate(over="ignore"):  # (n t + 1) ** power_t = inf: the LR's limit, 0
            return base / (self.samples * np.maximum(t, 0.0) + 1.0) ** self.power_t


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


@register("sklearn_adaptive")
@dataclass(frozen=True)
class Adaptive(Plateau):
    """scikit-learn's ``adaptive``: ``lr = base_lr * 0.2 ** reductions``, counted as MLP's are.

    A reduction comes after more than ``patience`` (sklearn's ``n_iter_no_change``, 10) reports
    in a row that fail to beat the best by ``threshold`` (its ``tol``, 1e-4, absolute), counted
    as MLPClassifier counts them:
    its test is ``loss > best - tol`` (a report at exactly ``best - tol`` improves, where torch
    needs a strict ``<``) and its best follows every new low, however small the step.

    A plateau phase like ``plateau``, with scikit-learn's defaults and counting; feed it the
    training loss once an epoch (``unit="epoch"``), or the validation score with ``mode=max``
    (MLPClassifier's ``early_stopping``). MLPClassifier stops training once the LR is 1e-6 or
    less and fails again; a schedule cannot stop a loop, so its LR goes on dividing by 5.

    Example:
        >>> from lrkit.schedules.plateau import Plateau, simulate
        >>> losses = [4.0, 3.9, 3.8, 3.7, 3.6]  # each a little lower, never by tol (0.25)
        >>> simulate(Adaptive(patience=2, threshold=0.25), losses).tolist()  # reduced after 3.7
        [0.0, 0.0, 0.0, 0.0, 1.0]
        >>> torch_rule = Plateau(patience=2, threshold=0.25, threshold_mode="abs")
        >>> simulate(torch_rule, losses).tolist()  # 3.7 beats the best it kept, 4.0, by 0.25
        [0.0, 0.0, 0.0, 0.0, 0.0]
    """

    name = "adaptive"
    factor: float = 0.2
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "abs"
    eps: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold_mode != "abs":  # scikit-learn's tol is absolute; there is no other
            raise bad_value("threshold_mode", "'abs' (scikit-learn's tol)", self.threshold_mode)

    def improves(self, metric: float, best: float) -> bool:
        """scikit-learn's test (``_update_no_improvement_count``): not ``loss > best - tol``
        (``score < best + tol`` for ``mode=max``)."""
        if self.mode == "min":
            return not metric > best - self.threshold
        return not metric < best + self.threshold

    def kept_best(self, metric: float, best: float) -> float:
        """The best follows every new low (high, for ``mode=max``), as scikit-learn's does."""
        return min(metric, best) if self.mode == "min" else max(metric, best)
