"""How ``lrkit tune`` spends its budget: epochs for the search, the comparison and the final run.

The budget counts training epochs (one epoch of the task's training set, the unit every stage
shares). The final run takes one budget's worth of the task's epochs, the comparison one per
schedule and seed, and the search gets the rest: successive halving stops most trials after
their first epoch, so a trial costs far less than a full run on average (:func:`halving_cost`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lrkit.errors import ConfigError, bad_value

REDUCTION = 3  # successive halving keeps the best third at each rung (lrkit.search's "halving")
MIN_TRIALS = 3
DEFAULT_TRIALS = 16
DEFAULT_SEEDS = 2


def halving_cost(epochs: int, reduction: int = REDUCTION) -> float:
    """Expected epochs per trial under successive halving with rungs at 1, r, r^2, ... epochs.

    Every trial runs the first epoch; a fraction ``1/r^k`` goes on from rung ``r^k`` to the
    next rung (or the end).

    Example:
        >>> round(halving_cost(12), 3)
        2.444
        >>> halving_cost(1)
        1.0
    """
    cost, rung, share = 1.0, 1, 1.0
    while rung < epochs:
        following = min(epochs, rung * reduction)
        share /= reduction
        cost += (following - rung) * share
        rung = following
    return cost


def compare_schedules(epochs: int) -> tuple[str, ...]:
    """The schedules ``tune`` compares at the chosen LR, over ``epochs`` epochs.

    Example:
        >>> for spec in compare_schedules(12):
        ...     print(spec)
        constant
        cosine:12
        warmup:1 > cosine:11
        onecycle:12
        multistep:milestones=[6,9]
    """
    if epochs < 2:
        return ("constant",)
    half, three_quarters = max(1, epochs // 2), max(1, (3 * epochs) // 4)
    milestones = sorted({half, three_quarters})
    return (
        "constant",
        f"cosine:{epochs}",
        f"warmup:1 > cosine:{epochs - 1}",
        f"onecycle:{epochs}",
        f"multistep:milestones=[{','.join(str(m) for m in milestones)}]",
    )


@dataclass(frozen=True)
class TunePlan:
    """The stages' sizes.

    Attributes:
        epochs: Epochs of one training run (the task's budget).
        trials: Search trials (successive halving).
        schedules: Schedules compared at the chosen LR.
        seeds: Seeds per schedule in the comparison.
        budget: The epochs allowed; ``estimated`` the epochs this plan is expected to use.
    """

    epochs: int
    trials: int
    schedules: tuple[str, ...]
    seeds: int
    budget: int
    estimated: int


def plan_budget(epochs: int, budget: int | None = None) -> TunePlan:
    """Splits ``budget`` epochs (``None``: the default plan) over the pipeline's stages.

    Raises:
        ConfigError: The budget cannot fit the smallest pipeline (3 search trials, two
            schedules with one seed, the final run); the message says the minimum.

    Example:
        >>> p = plan_budget(12)
        >>> p.trials, len(p.schedules), p.seeds, p.estimated
        (16, 5, 2, 172)
        >>> small = plan_budget(12, budget=60)
        >>> small.trials, small.schedules, small.seeds
        (4, ('constant', 'cosine:12', 'warmup:1 > cosine:11'), 1)
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise bad_value("epochs", "a positive integer", epochs)
    per_trial = halving_cost(epochs)
    schedules = compare_schedules(epochs)
    if budget is None:
        trials, seeds = DEFAULT_TRIALS, DEFAULT_SEEDS
    else:
        if isinstance(budget, bool) or not isinstance(budget, int):
            raise bad_value("budget", "a whole number of training epochs", budget)
        smallest = _estimate(epochs, MIN_TRIALS, per_trial, min(2, len(schedules)), 1)
        if budget < smallest:
            raise ConfigError(
                f"budget must be at least {smallest} epochs for a task trained {epochs} epochs "
                f"per run (range test, {MIN_TRIALS} search trials, 2 schedules compared, the "
                f"final run), got {budget}."
            )
        seeds = DEFAULT_SEEDS

        def least(n_schedules: int, n_seeds: int) -> int:
            return _estimate(epochs, MIN_TRIALS, per_trial, n_schedules, n_seeds)

        while seeds > 1 and least(len(schedules), seeds) > budget:
            seeds -= 1
        while len(schedules) > 2 and least(len(schedules), 1) > budget:
            schedules = schedules[:-1]
        fixed = _estimate(epochs, 0, per_trial, len(schedules), seeds)
        trials = max(MIN_TRIALS, min(64, math.floor((budget - fixed) / per_trial)))
    estimated = _estimate(epochs, trials, per_trial, len(schedules), seeds)
    return TunePlan(
        epochs=epochs,
        trials=trials,
        schedules=schedules,
        seeds=seeds,
        budget=budget if budget is not None else estimated,
        estimated=estimated,
    )


def _estimate(epochs: int, trials: int, per_trial: float, schedules: int, seeds: int) -> int:
    return math.ceil(trials * per_trial + schedules * seeds * epochs + epochs)
