"""How ``lrkit tune`` spends its budget: epochs for the range test, the search, the comparison
and the final run.

The budget counts training epochs (one epoch of the task's training set, the unit every stage
shares). The range test costs its steps (100, or 300 when a noisy curve is swept again), the
final run one budget's worth of the task's epochs, the comparison one per schedule and seed, and
the search gets the rest. Successive halving stops most trials early, but trials run one after
another, so the first ones at each rung have few rivals and go on further than the ideal third
(:func:`halving_cost`): a small search costs far more per trial than a large one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from lrkit.checks import MAX_EPOCHS, whole_number
from lrkit.errors import ConfigError

REDUCTION = 3  # successive halving keeps the best third at each rung (lrkit.search's "halving")
MIN_TRIALS = 3
DEFAULT_TRIALS = 16
DEFAULT_SEEDS = 2
MAX_TRIALS = 64
SAMPLES = 4000  # simulated searches behind halving_cost


@cache
def halving_cost(epochs: int, trials: int, reduction: int = REDUCTION) -> float:
    """Expected epochs per trial when ``trials`` trials run one after another under Optuna's
    successive halving (``lrkit.search``'s ``"halving"``: rungs at 1, r, r^2, ... epochs).

    At each rung a trial goes on if its value is among the best ``1/r`` of the values reported
    at that rung so far, its own included; while fewer than ``r`` are there, only if it is the
    best of them (Optuna's rule: it cannot pause a trial to wait for rivals). Computed over
    simulated searches in which each trial keeps the same rank at every rung and trials come in
    random order. Same ranks throughout is the costly case: a trial good at the first rung is
    good at the next. Real searches cost a little less: their trials' ranks change, and
    a diverging LR stops before its first epoch ends.

    Example:
        >>> round(halving_cost(12, 3), 1), round(halving_cost(12, 16), 1)
        (7.7, 3.7)
        >>> halving_cost(1, 8)
        1.0
    """
    import numpy as np  # here: `lrkit --help` reads this module's limits, not its model

    epochs = whole_number("epochs", epochs)
    trials = whole_number("trials", trials)
    reduction = whole_number("reduction", reduction, least=2)
    rungs = []
    rung = 1
    while rung < epochs:
        rungs.append(rung)
        rung *= reduction
    # trial k draws the same values whatever the count (common random numbers): a search of
    # n + 1 trials then costs more than one of n, as a real one does
    values = np.random.default_rng(0).random((trials, SAMPLES)).T
    reached = np.ones((SAMPLES, trials), dtype=bool)  # who reported at the current rung
    spent = np.full((SAMPLES, trials), float(epochs))
    for step in rungs:
        going = np.zeros_like(reached)
        for k in range(trials):
            rivals = reached[:, :k]  # earlier trials, all done with this rung
            beaten_by = (rivals & (values[:, :k] < values[:, k : k + 1])).sum(axis=1)
            allowed = np.maximum((rivals.sum(axis=1) + 1) // reduction - 1, 0)
            going[:, k] = reached[:, k] & (beaten_by <= allowed)
            spent[reached[:, k] & ~going[:, k], k] = step
        reached = going
    return float(spent.mean())


def search_cost(epochs: int, trials: int) -> float:
    """Expected epochs of a successive-halving search of ``trials`` trials (see halving_cost)."""
    return trials * halving_cost(epochs, trials)


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
        budget: The epochs allowed; ``estimated`` the epochs this plan is expected to use, the
            range test's ``range_epochs`` included.
    """

    epochs: int
    trials: int
    schedules: tuple[str, ...]
    seeds: int
    budget: int
    estimated: int
    range_epochs: float = 0.0

    @property
    def search_schedule(self) -> str:
        """The schedule each search trial trains under: a cosine over the whole run, so that
        successive halving compares trials at the same point of the same schedule."""
        return f"cosine:{self.epochs}"


def plan_budget(
    epochs: int, budget: int | None = None, *, range_epochs: float = 0.0, strict: bool = True
) -> TunePlan:
    """Splits ``budget`` epochs (``None``: the default plan) over the pipeline's stages.

    Args:
        epochs: Epochs of one training run.
        budget: Training epochs for the whole pipeline, or ``None``.
        range_epochs: What the range test costs (or is expected to), in epochs.
        strict: A budget too small for the smallest pipeline is an error; with ``False``, the
            smallest plan (``estimated`` then exceeds ``budget``).

    Raises:
        ConfigError: The budget cannot fit the smallest pipeline (the range test, 3 search
            trials, two schedules with one seed, the final run); the message says the minimum.

    Example:
        >>> p = plan_budget(12, range_epochs=6)
        >>> p.trials, len(p.schedules), p.seeds, p.estimated
        (16, 5, 2, 198)
        >>> small = plan_budget(12, budget=100, range_epochs=6)
        >>> small.trials, small.schedules, small.seeds, small.estimated
        (6, ('constant', 'cosine:12', 'warmup:1 > cosine:11', 'onecycle:12'), 1, 100)
    """
    epochs = whole_number("epochs", epochs)
    schedules = compare_schedules(epochs)
    if budget is None:
        trials, seeds = DEFAULT_TRIALS, _most_seeds(len(schedules))
    else:
        expected = f"a whole number of training epochs up to {MAX_EPOCHS:,}"
        budget = whole_number("budget", budget, least=0, most=MAX_EPOCHS, expected=expected)
        ladder = _ladder(len(schedules))

        def cost(rung: int) -> int:
            return _estimate(epochs, *ladder[rung], range_epochs)

        if budget < cost(0) and strict:
            least = ladder[0][1]
            if cost(0) > MAX_EPOCHS:  # no budget can be given that is large enough
                raise ConfigError(
                    f"budget cannot cover a task trained {epochs} epochs per run: its smallest "
                    f"pipeline needs {cost(0)} epochs, more than a budget can be "
                    f"({MAX_EPOCHS:,}); give the task fewer epochs per run, got budget {budget}."
                )
            raise ConfigError(
                f"budget must be at least {cost(0)} epochs for a task trained {epochs} "
                f"epoch{'s' if epochs > 1 else ''} per run (range test, {MIN_TRIALS} search "
                f"trials, {least} schedule{'s' if least > 1 else ''} compared, the final run), "
                f"got {budget}."
            )
        # the highest rung that fits; each rung costs more than the one below, so bisect
        fits, over = 0, len(ladder)
        while over - fits > 1:
            middle = (fits + over) // 2
            fits, over = (middle, over) if cost(middle) <= budget else (fits, middle)
        trials, n_schedules, seeds = ladder[fits]
        schedules = schedules[:n_schedules]
    estimated = _estimate(epochs, trials, len(schedules), seeds, range_epochs)
    return TunePlan(
        epochs=epochs,
        trials=trials,
        schedules=schedules,
        seeds=seeds,
        budget=budget if budget is not None else estimated,
        estimated=estimated,
        range_epochs=range_epochs,
    )


def _most_seeds(n_schedules: int) -> int:
    """Seeds per schedule compared: a second where there is a choice for it to judge; one
    schedule alone (a run of one epoch) has none (QA 154)."""
    return DEFAULT_SEEDS if n_schedules > 1 else 1


def _ladder(n_schedules: int) -> list[tuple[int, int, int]]:
    """``(trials, schedules, seeds)`` from the smallest pipeline up, one step at a time: search
    trials to 6, then the schedules, trials to the default 16, a second seed, more trials.

    A larger budget climbs higher and no stage ever shrinks as the budget grows. The search
    comes first: without a good LR, comparing schedules compares them at a poor one.
    """
    least = min(2, n_schedules)
    rungs = [(trials, least, 1) for trials in range(MIN_TRIALS, 7)]
    rungs += [(6, schedules, 1) for schedules in range(least + 1, n_schedules + 1)]
    rungs += [(trials, n_schedules, 1) for trials in range(7, DEFAULT_TRIALS + 1)]
    more = range(DEFAULT_TRIALS, MAX_TRIALS + 1)
    rungs += [(trials, n_schedules, _most_seeds(n_schedules)) for trials in more]
    return rungs


def _estimate(epochs: int, trials: int, schedules: int, seeds: int, range_epochs: float) -> int:
    return math.ceil(range_epochs + search_cost(epochs, trials) + (schedules * seeds + 1) * epochs)
