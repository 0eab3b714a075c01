"""A search interrupted and resumed prunes as an uninterrupted one: the interrupted attempt of a
trial, failed with its retry queued, is not a competitor of its own retry at the pruner's rungs
(Optuna's successive halving reads every trial's rung values, whatever its state)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from lrkit.search import TrialPruned, search
from lrkit.search.study import QUEUE_AHEAD


def _value(lr: float, epoch: int) -> float:
    """A fixed pseudo-random level per LR, improving with the epochs."""
    digest = hashlib.sha256(repr(round(lr, 12)).encode()).hexdigest()
    return int(digest[:8], 16) / 2**32 + 1 / epoch


class Objective:
    """Nine epochs; with ``stop``, a Ctrl-C in epoch ``stop[1]`` of the ``stop[0]``-th trial."""

    def __init__(self, stop: tuple[int, int] | None = None) -> None:
        self.stop, self.calls = stop, 0

    def __call__(self, lr: float, trial: Any) -> float:
        self.calls += 1
        for epoch in range(1, 10):
            value = _value(lr, epoch)
            trial.report(value, epoch)
            if self.stop == (self.calls, epoch):
                self.stop = None
                raise KeyboardInterrupt
            if trial.should_prune():
                raise TrialPruned()
        return value


@pytest.mark.parametrize("pruner", ["halving", "hyperband"])
@pytest.mark.parametrize(
    ("seed", "stop", "n_trials"),
    [(0, (1, 2), 16), (4, (1, 2), 16), (6, (1, 2), 16), (0, (3, 1), 16), (0, (2, 1), 60)],
)
def test_a_resumed_search_prunes_as_an_uninterrupted_one(
    tmp_path: Path, pruner: str, seed: int, stop: tuple[int, int], n_trials: int
) -> None:
    """Hyperband's brackets are set up once the first trial has finished: the 3rd trial's
    retry, with a number of its own, would join another bracket than its slot's. With 60
    trials, the 2nd is interrupted while most slots are still to be queued (a round is queued
    as its trials are taken): its retry's number comes before theirs, and each of theirs is
    one higher than in the uninterrupted search."""
    settings: dict[str, Any] = dict(n_trials=n_trials, pruner=pruner, seed=seed, progress=False)
    plain = search(Objective(), 1e-5, 1.0, out=tmp_path / "plain", **settings)
    with pytest.raises(KeyboardInterrupt):
        search(Objective(stop), 1e-5, 1.0, out=tmp_path / "cut", **settings)
    resumed = search(Objective(), 1e-5, 1.0, out=tmp_path / "cut", resume=True, **settings)

    def outcomes(result: Any) -> list[tuple[float, str, float | None, int]]:
        kept = [t for t in result.trials if t.state != "interrupted"]
        return sorted((t.lr, t.state, t.value, len(t.intermediate)) for t in kept)

    assert [t.state for t in resumed.trials].count("interrupted") == 1
    [cut] = [t for t in resumed.trials if t.state == "interrupted"]
    [retry] = [t for t in resumed.trials if t.seed == cut.seed and t.number != cut.number]
    if n_trials > QUEUE_AHEAD:  # queued before the round's later slots: they were shifted
        assert retry.number < n_trials
    assert outcomes(resumed) == outcomes(plain)
    assert resumed.total_epochs == plain.total_epochs + stop[1]  # the interrupted attempt's


def test_a_trial_that_died_before_taking_its_fixed_lr_is_queued_again_with_it() -> None:
    """start_lr (or the range test's suggestion) is a fixed LR; a worker that died before it
    took it left no params, and the retry drew an LR instead: the first LR was never tried."""
    import optuna

    from lrkit.search.study import fail_interrupted, pop_waiting

    study = optuna.create_study()
    study.enqueue_trial({"lr": 0.02})
    trial_id = pop_waiting(study)
    assert trial_id is not None and study.trials[0].params == {}  # it died here
    assert fail_interrupted(study, trial_id)
    [retry] = [t for t in study.get_trials() if t.state.name == "WAITING"]
    assert retry.system_attrs["fixed_params"] == {"lr": 0.02}
