"""How ``tune`` splits its budget."""

from __future__ import annotations

import pytest

from lrkit.errors import ConfigError
from lrkit.tune import compare_schedules, halving_cost, plan_budget


def test_halving_cost_matches_a_simulated_ladder() -> None:
    # 81 trials at rungs 1, 3, 9 of a 12-epoch budget: 81 run 1 epoch, 27 reach 3, 9 reach 9,
    # 3 finish
    epochs = 81 * 1 + 27 * 2 + 9 * 6 + 3 * 3
    assert halving_cost(12) == pytest.approx(epochs / 81)
    assert halving_cost(1) == 1.0
    assert halving_cost(3) == pytest.approx(1 + 2 / 3)


@pytest.mark.parametrize("budget", [44, 60, 100, 200, 400])
def test_a_given_budget_is_never_overspent(budget: int) -> None:
    plan = plan_budget(12, budget)
    assert plan.estimated <= budget
    assert plan.trials >= 3 and len(plan.schedules) >= 2 and plan.seeds >= 1
    assert plan.schedules[:2] == ("constant", "cosine:12")


def test_more_budget_buys_more_trials() -> None:
    trials = [plan_budget(12, b).trials for b in (100, 200, 400)]
    assert trials == sorted(trials) and trials[0] < trials[-1]


def test_a_budget_too_small_names_the_minimum() -> None:
    with pytest.raises(ConfigError, match=r"budget must be at least 44 epochs .* got 20"):
        plan_budget(12, 20)


def test_every_compared_schedule_parses_and_fits_the_budget() -> None:
    from lrkit.schedules import parse

    for epochs in (2, 5, 12, 30):
        for spec in compare_schedules(epochs):
            trace = parse(spec).trace(epochs)
            assert len(trace) == epochs and trace.min() > 0
