"""A time limit per trial (``trial_timeout``): a trial past it fails, and the search goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import optuna
import pytest

from lrkit.errors import ConfigError
from lrkit.search import (
    FinishedStudyWarning,
    SearchResult,
    SearchWarning,
    search,
    timeouts,
    trials,
)
from tests.search import objectives

TIMED_OUT = "timed out: ran past trial_timeout="


def _search(
    objective: Any, n_trials: int, storage: Any = ":memory:", **options: Any
) -> SearchResult:
    """A search of ``objective`` over [1e-3, 1], without a progress line."""
    return search(objective, 1e-3, 1.0, n_trials, storage=storage, progress=False, **options)


def _timed_out(result: SearchResult) -> list[int]:
    return [t.number for t in result.trials if t.error and t.error.startswith(TIMED_OUT)]


def test_a_trial_past_its_time_fails_and_the_search_goes_on(tmp_path: Path) -> None:
    """In this process (SIGALRM): a busy loop behind ``except Exception``, a sleep, and a loop
    of storage writes are each stopped; the journal stays readable; the alarm is put back."""
    before = signal.getsignal(signal.SIGALRM)
    journal = tmp_path / "study.journal"
    result = _search(objectives.hangs_above, 6, journal, trial_timeout=1)
    high = [t.number for t in result.trials if t.lr > 0.1]
    assert any(t.lr > 0.3 for t in result.trials) and len(high) >= 2
    assert _timed_out(result) == high
    for trial in result.trials:
        if trial.number in high:
            assert trial.state == "failed" and 1.0 <= trial.duration < 5.0
        else:
            assert trial.state == "complete"
    assert result.best_lr <= 0.1
    assert result.tally() == f"{6 - len(high)} complete, {len(high)} failed, all timed out"
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    # the journal and its lock are whole, and a resumed search runs none of them again
    with pytest.warns(FinishedStudyWarning):
        again = _search(objectives.hangs_above, 6, journal, resume=True)
    assert [(t.number, t.state) for t in again.trials] == [
        (t.number, t.state) for t in result.trials
    ]


def test_a_limit_that_lands_in_a_journal_write_waits_for_its_end(tmp_path: Path) -> None:
    """A trial that does little but write to the journal is stopped between writes, not inside
    one: its file lock is left whole (else the next write waits out the lock's 30 s grace, or
    fails), over many stops."""
    with pytest.warns(SearchWarning, match="no trial completed"):
        result = _search(
            objectives.reports_forever,
            10,
            storage=tmp_path / "study.journal",
            trial_timeout=0.2,
        )
    assert _timed_out(result) == list(range(10))
    # a stop inside a write would leave the lock for the next write to wait out (30 s)
    assert all(len(t.intermediate) > 10 and 0.2 <= t.duration < 10.0 for t in result.trials)


def test_a_worker_deaf_to_the_limit_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With workers, one that ignores SIGALRM and SIGTERM (stuck in a C call) is killed once the
    grace after its time is over, and its trial fails; the search finishes."""
    monkeypatch.setattr(timeouts, "TIMEOUT_GRACE_S", 1.0)
    result = _search(
        objectives.deaf_above,
        4,
        storage=tmp_path / "study.journal",
        n_workers=2,
        trial_timeout=1,
    )
    high = [t for t in result.trials if t.lr > 0.1]
    assert high and _timed_out(result) == [t.number for t in high]
    for trial in high:
        assert trial.error is not None and trial.error.endswith("its worker was killed")
        assert 2.0 <= trial.duration < 10.0
    assert [t.state for t in result.trials if t.lr <= 0.1] == ["complete"] * (4 - len(high))


def test_the_limit_counts_from_the_trials_start_not_its_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that takes longer to start its trial than the limit and the grace together
    (a script's heavy top level) is not killed for it: the clock starts with the trial."""
    monkeypatch.setattr(timeouts, "TIMEOUT_GRACE_S", 0.5)
    result = _search(
        objectives.SlowToUnpickle(0.2, setup=2.5),
        2,
        storage=tmp_path / "study.journal",
        n_workers=2,
        trial_timeout=1,
    )
    assert [t.state for t in result.trials] == ["complete", "complete"]


def test_a_swallowed_stop_comes_again(tmp_path: Path) -> None:
    """One TrialTimeout swallowed (a library's ``except BaseException``) does not lift the
    limit: it comes again a second later."""
    with pytest.warns(SearchWarning, match="no trial completed"):
        result = _search(
            objectives.swallows_the_first_stop,
            1,
            trial_timeout=0.5,
        )
    # stopped again a second after the swallowed stop (not one more trial_timeout later)
    assert _timed_out(result) == [0] and 1.4 < result.trials[0].duration < 10.0


def test_a_trial_that_swallowed_its_stop_and_returned_still_fails() -> None:
    """It ran past its time: a value returned after swallowing TrialTimeout is not a result."""
    with pytest.warns(SearchWarning, match="no trial completed"):
        result = _search(
            objectives.swallows_and_returns,
            1,
            trial_timeout=0.3,
        )
    assert _timed_out(result) == [0]


def test_a_workers_objective_starts_its_own_processes_the_platforms_way(
    tmp_path: Path,
) -> None:
    """Not through the fork server the worker came from: a DataLoader with num_workers > 0
    would start a server of its own each epoch, seconds each."""
    import multiprocessing

    result = _search(
        objectives.start_method,
        2,
        storage=tmp_path / "study.journal",
        n_workers=2,
    )
    default = multiprocessing.get_all_start_methods()[0]  # the platform's own
    assert [t.attrs["start_method"] for t in result.trials] == [default, default]


def test_the_callers_own_alarm_is_put_back() -> None:
    """A script's own timer (a job's time limit by signal.alarm) runs on after the search."""
    rang: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: rang.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 100.0)
        _search(objectives.quadratic, 2, trial_timeout=5)
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 90.0 < left <= 100.0 and not rang
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("bad", [0, -1.5, "10", True, float("nan")])
def test_a_bad_trial_timeout_is_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^trial_timeout must be a number of seconds > 0"):
        _search(objectives.quadratic, 2, trial_timeout=bad)


def test_one_worker_outside_the_main_thread_is_refused() -> None:
    """SIGALRM reaches only the main thread: said at once, not a trial that never stops."""
    caught: list[BaseException] = []

    def run() -> None:
        try:
            _search(objectives.quadratic, 2, trial_timeout=5)
        except BaseException as error:
            caught.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert len(caught) == 1 and isinstance(caught[0], ConfigError)
    assert "main thread" in str(caught[0]) and "n_workers >= 2" in str(caught[0])


SLOW_TASK = """
import time
import torch
from torch import nn
from torch.utils.data import TensorDataset
from lrkit.tasks import Task


class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x):
        time.sleep(0.2)
        return self.linear(x)


g = torch.Generator().manual_seed(0)
x = torch.randn(64, 4, generator=g)
y = (x[:, 0] > 0).long()
task = Task(name="slow", model=Slow, train_data=TensorDataset(x[:48], y[:48]),
            val_data=TensorDataset(x[48:], y[48:]), epochs=20, batch_size=16)
"""


def test_cli_trial_timeout(tmp_path: Path) -> None:
    """``--trial-timeout``: every trial of a task too slow for it fails saying so (exit 1);
    a bad value is one line and exit 2."""
    task = tmp_path / "slow.py"
    task.write_text(SLOW_TASK)
    lrkit = [str(Path(sys.executable).with_name("lrkit"))]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "out"
    ran = subprocess.run(
        [*lrkit, "search", str(task), "--trials", "2", "--trial-timeout", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.startswith("lrkit: error: No trial completed (2 failed, all timed out)")
    assert TIMED_OUT + "1 s" in ran.stderr
    stored = optuna.load_study(
        study_name="lrkit-search",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(out / "study.journal"))
        ),
    )
    assert [t.state for t in stored.trials] == [optuna.trial.TrialState.FAIL] * 2
    bad = subprocess.run(
        [*lrkit, "search", "--trial-timeout", "0"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "--trial-timeout" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


WRITER = """
import sys
import optuna
from lrkit.search.storage import StorageSpec

optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.load_study(study_name="theirs", storage=StorageSpec("journal", sys.argv[1]).open())
print("ready", flush=True)
while True:
    trial = study.ask()
    study.tell(trial, 1.0)
"""


def reads_the_study(lr: float, trial: optuna.Trial) -> float:
    while True:  # as a pruner's should_prune() does, replaying what other processes wrote
        trial.study.get_trials(deepcopy=False)


def test_a_limit_that_lands_in_the_journals_replay_loses_no_record(tmp_path: Path) -> None:
    """Optuna counts a journal record as read before it applies it: a time limit that landed
    between the two would leave this process's view of the study without it for good (another
    process's finished trial seen running forever). Here another process writes all along."""
    from lrkit.search.storage import StorageSpec

    path = str(tmp_path / "shared.journal")
    spec = StorageSpec("journal", path)
    storage = spec.open(first=True)
    mine = optuna.create_study(study_name="mine", storage=storage)
    optuna.create_study(study_name="theirs", storage=storage)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        for _ in range(40):
            trial_id = mine.ask()._trial_id
            trials.run_trial(mine, trial_id, reads_the_study, (1e-3, 1.0), timeout=0.05)
    finally:
        writer.kill()
        writer.wait()
    theirs = storage.get_study_id_from_name("theirs")
    seen = storage.get_all_trials(theirs, deepcopy=False)
    written = spec.open().get_all_trials(theirs, deepcopy=False)
    assert len(seen) == len(written) > 100
    assert [t.state for t in seen] == [t.state for t in written]
