"""A round's trials are queued a few slots ahead of the workers, not all at once, and the
search is the same trial for trial as with the whole round queued up front.

Optuna's database storages read every unfinished trial again at each read, and a queued trial
is unfinished: with every trial of a big round queued at its start, each trial's reads cost
seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lrkit.search import SearchResult, search
from lrkit.search import study as study_module
from tests.search.objectives import counts_waiting

AHEAD = study_module.QUEUE_AHEAD


def _trials(result: SearchResult) -> list[tuple[Any, ...]]:
    return [(t.number, t.lr, t.state, t.value, t.seed, t.round) for t in result.trials]


@pytest.mark.parametrize(
    "settings",
    [
        dict(n_trials=3 * AHEAD, pruner="halving"),
        dict(n_trials=2 * AHEAD + 5, rounds=2, sampler="random"),
    ],
)
def test_a_round_waits_a_few_slots_ahead_and_searches_as_if_all_were_queued(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any]
) -> None:
    ahead = search(counts_waiting, 1e-5, 1.0, storage=":memory:", progress=False, **settings)
    with monkeypatch.context() as patched:
        patched.setattr(study_module, "QUEUE_AHEAD", 10_000)  # the whole round at its start
        whole = search(counts_waiting, 1e-5, 1.0, storage=":memory:", progress=False, **settings)
    assert _trials(ahead) == _trials(whole)
    assert ahead.rounds == whole.rounds and ahead.best_lr == whole.best_lr
    assert len(ahead.trials) == settings["n_trials"]
    waiting = [t.attrs["waiting"] for t in ahead.trials]
    assert max(waiting) <= AHEAD < max(t.attrs["waiting"] for t in whole.trials)


def test_workers_keep_the_queue_filled_and_run_every_slot_once(tmp_path: Path) -> None:
    n = 2 * AHEAD + 3
    result = search(
        counts_waiting, 1e-5, 1.0, n, out=tmp_path, n_workers=2, progress=False, pruner="halving"
    )
    alone = search(
        counts_waiting, 1e-5, 1.0, n, storage=":memory:", progress=False, pruner="halving"
    )
    assert [t.lr for t in result.trials] == [t.lr for t in alone.trials]
    assert sorted(t.seed for t in result.trials) == sorted(t.seed for t in alone.trials)
    assert len({t.seed for t in result.trials}) == n
    assert max(t.attrs["waiting"] for t in result.trials) <= AHEAD


def test_a_slot_whose_queueing_raised_after_it_was_stored_is_not_queued_twice() -> None:
    """A database write can be stored and still raise (the connection lost in its commit): the
    queue reads back which slots are in the study instead of queueing that one again."""
    import optuna

    from lrkit.search.space import LogRange
    from lrkit.search.study import RoundQueue, SearchConfig

    study = optuna.create_study()
    config = SearchConfig(
        low=1e-5, high=1.0, n_trials=40, rounds=1, seed=0, sampler="random",
        direction="minimize", narrow=10.0,
    )  # fmt: skip
    queue = RoundQueue(study, config, 0, LogRange(1e-5, 1.0))
    enqueue, calls = study.enqueue_trial, []

    def stored_then_lost(*args: Any, **kwargs: Any) -> None:
        enqueue(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            raise OSError("server closed the connection unexpectedly")

    study.enqueue_trial = stored_then_lost  # type: ignore[method-assign]
    with pytest.raises(OSError, match="closed the connection"):
        queue.top_up()
    lr = {"lr": optuna.distributions.FloatDistribution(1e-5, 1.0)}
    for _ in range(40):  # as workers take them: ask() takes the first WAITING trial
        queue.top_up()
        if study.get_trials(states=(optuna.trial.TrialState.WAITING,)):
            study.tell(study.ask(lr), 1.0)
    slots = [t.user_attrs["lrkit_slot"] for t in study.get_trials()]
    assert sorted(slots) == list(range(40)) and queue.all_queued


def test_a_refill_that_fails_on_a_shared_storage_is_said_once(tmp_path: Path) -> None:
    """The thread that queues trials for the machines that joined, while this process trains
    one, warns of its first error (they may wait) rather than hiding it."""
    import time

    from lrkit.search.storage import StorageSpec
    from lrkit.search.workers import REFILL_EVERY_S, Workers, WorkersWarning

    spec = StorageSpec.parse("postgresql://user@127.0.0.1:1/none")
    workers = Workers(spec, None, counts_waiting, 1, (1e-5, 1.0))  # type: ignore[arg-type]
    calls = []

    def refill() -> int:
        calls.append(1)
        raise OSError("connection refused")

    said = "could not queue more trials.*connection refused"
    with pytest.warns(WorkersWarning, match=said) as record, workers._refilling(refill):
        time.sleep(2.5 * REFILL_EVERY_S)
    assert len(calls) >= 2  # tried each second...
    assert sum(issubclass(w.category, WorkersWarning) for w in record) == 1  # ...said once
