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
    for round_ in range(settings.get("rounds", 1)):  # never short before the round's end
        early = [t.attrs["waiting"] for t in ahead.trials if t.round == round_][:-AHEAD]
        assert early and min(early) == AHEAD - 1  # the one running taken from AHEAD


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
