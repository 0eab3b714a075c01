"""lrkit.search: the API, failures, pruning, narrowing, workers, storages, resuming."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState

import lrkit
from lrkit.errors import ConfigError
from lrkit.search import FinishedStudyWarning, SearchResult, SearchWarning, search
from lrkit.search.study import fail_interrupted
from tests.search import objectives
from tests.task_files import FLAT_TASK


def _quietly(make: Any) -> Any:
    """``make()`` without Optuna's ExperimentalWarning, which would show in every test run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return make()


def run(objective, n=8, **kwargs) -> SearchResult:  # type: ignore[no-untyped-def]
    kwargs.setdefault("storage", ":memory:")
    kwargs.setdefault("progress", False)
    return search(objective, kwargs.pop("low", 1e-5), kwargs.pop("high", 1.0), n, **kwargs)


def test_lrkit_search_is_callable_and_finds_the_bowls_minimum() -> None:
    result = lrkit.search(
        objectives.quadratic, 1e-5, 1.0, n_trials=10, storage=":memory:", progress=False
    )
    assert isinstance(result, SearchResult)
    assert [t.number for t in result.trials] == list(range(10))
    assert result.count("complete") == 10
    best = min(result.trials, key=lambda t: t.value or math.inf)
    assert result.best_trial == best
    assert result.best_lr == best.lr and result.best_value == best.value
    assert abs(math.log10(result.best_lr) + 2) < 0.5  # 10 stratified trials: within a slice


def test_direction_maximize_picks_the_largest() -> None:
    result = run(lambda lr: -objectives.quadratic(lr), 8, direction="maximize")
    assert result.best_value == max(t.value for t in result.trials if t.value is not None)


def test_an_objective_may_return_the_loss_tensor_itself() -> None:
    import torch

    def objective(lr: float) -> torch.Tensor:
        w = torch.tensor(math.log10(lr) + 2.0, requires_grad=True)
        return w * w  # a loss with a grad_fn: read without autograd's warning (an error here)

    result = run(objective, 6)
    assert result.count("complete") == 6
    assert all(isinstance(t.value, float) for t in result.trials)
    assert result.best_value == min(t.value for t in result.trials if t.value is not None)


def test_failures_are_recorded_and_the_search_goes_on() -> None:
    result = run(objectives.flaky, 12)
    failed = [t for t in result.trials if t.state == "failed"]
    raised = [t for t in failed if t.lr > 0.1]
    nan = [t for t in failed if t.lr < 1e-4]
    assert raised and nan and len(failed) == len(raised) + len(nan)
    assert all(t.error is not None and "ValueError: exploded at lr=" in t.error for t in raised)
    assert all(t.error is not None and "nan" in t.error.lower() for t in nan)
    assert result.count("complete") == 12 - len(failed)
    assert result.best_lr is not None and 1e-4 <= result.best_lr <= 0.1  # NaN is never best


def test_halving_prunes_and_saves_compute() -> None:
    full = run(objectives.curve, 18)
    halved = run(objectives.curve, 18, pruner="halving")
    assert halved.count("pruned") >= 9
    assert halved.total_epochs < 0.6 * full.total_epochs
    pruned = [t for t in halved.trials if t.state == "pruned"]
    assert all(t.intermediate and t.value is None for t in pruned)
    # both keep the same best: pruning drops only trials already behind at an early rung
    assert halved.best_lr == full.best_lr


@pytest.mark.parametrize("pruner", ["hyperband", "median"])
def test_other_pruners_run(pruner: str) -> None:
    result = run(objectives.curve, 12, pruner=pruner)
    assert result.count("complete") + result.count("pruned") == 12
    assert result.count("complete") >= 1
    # the pruner is in use, not just accepted: half the bowl is far behind after one epoch
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert len(pruned) >= 3
    assert all(t.value is None and 1 <= len(t.intermediate) < 5 for t in pruned)


def test_rounds_narrow_around_the_best() -> None:
    result = run(objectives.quadratic, 15, rounds=3, narrow=4.0)
    assert len(result.rounds) == 3
    widths = [math.log10(b / a) for a, b in result.rounds]
    assert widths[0] == pytest.approx(5.0)
    assert widths[1] == pytest.approx(5.0 / 4, rel=1e-6)
    assert widths[2] == pytest.approx(5.0 / 16, rel=1e-6)
    for r, (a, b) in enumerate(result.rounds):
        in_round = [t for t in result.trials if t.round == r]
        assert len(in_round) == 5
        assert all(a <= t.lr <= b for t in in_round)
    earlier = [t for t in result.trials if t.round < 2]
    best_before = min(earlier, key=lambda t: t.value or math.inf)
    assert result.rounds[2][0] <= best_before.lr <= result.rounds[2][1]
    assert abs(math.log10(result.best_lr or 1) + 2) < 0.1


def test_rounds_stop_narrowing_at_a_thousandth_of_a_decade() -> None:
    # 4 ** 20 times narrower than 5 decades would be past a float's digits: low == high
    result = run(objectives.quadratic, 25, rounds=25)
    assert result.count("complete") == 25
    widths = [math.log10(b / a) for a, b in result.rounds]
    assert min(widths) == pytest.approx(1e-3, rel=1e-6)
    assert widths == sorted(widths, reverse=True)
    assert all(a <= t.lr <= b for t in result.trials for a, b in [result.rounds[t.round]])


def test_workers_give_the_same_lrs_seeds_and_values(tmp_path: Path) -> None:
    one = run(objectives.with_seed, 4, storage=str(tmp_path / "one.journal"))
    two = run(objectives.with_seed, 4, storage=str(tmp_path / "two.journal"), n_workers=2)
    assert [(t.lr, t.seed, t.value, t.attrs["draw"]) for t in one.trials] == [
        (t.lr, t.seed, t.value, t.attrs["draw"]) for t in two.trials
    ]
    assert len({t.attrs["pid"] for t in two.trials}) == 4  # a fresh process per trial
    for t in one.trials:  # torch's generator seeded with the trial's seed, in either
        assert t.seed is not None
        seeded = torch.Generator().manual_seed(t.seed)
        assert t.attrs["draw"] == float(torch.rand((), generator=seeded))


def _states_by_workers(
    objective: Any, pruner: str, n_workers: int, tmp_path: Path
) -> list[tuple[float, str]]:
    """Each trial's LR and state after a search of 6 trials with ``n_workers`` workers."""
    storage = str(tmp_path / f"{pruner}-{n_workers}.journal")
    found = run(objective, 6, pruner=pruner, storage=storage, n_workers=n_workers)
    return [(t.lr, t.state) for t in found.trials]


@pytest.mark.parametrize("pruner", ["halving", "median", "hyperband"])
def test_workers_stop_the_same_trials_as_one_worker(pruner: str, tmp_path: Path) -> None:
    # the pruners judged a trial against the reports so far: with two workers the odd slot's
    # first epoch ended first, so it survived where one worker stopped it (and the even one was
    # stopped instead), and two runs of a search kept different trials
    one = _states_by_workers(objectives.even_slots_report_late, pruner, 1, tmp_path)
    assert "pruned" in {state for _, state in one}  # the test compares something
    assert _states_by_workers(objectives.even_slots_report_late, pruner, 2, tmp_path) == one


@pytest.mark.parametrize("pruner", ["halving", "hyperband"])
def test_workers_wait_for_an_earlier_trial_s_judgement_not_its_report(
    pruner: str, tmp_path: Path
) -> None:
    # halving stores a rung value when the trial is judged: a later slot that stopped waiting
    # at the report was judged without it, and survived where one worker stopped it
    objective = objectives.even_slots_save_before_judgement
    one = _states_by_workers(objective, pruner, 1, tmp_path)
    assert "pruned" in {state for _, state in one}
    assert _states_by_workers(objective, pruner, 2, tmp_path) == one


def test_a_hung_earlier_trial_holds_a_later_one_up_once_not_at_every_epoch(
    tmp_path: Path,
) -> None:
    # the wait's limit applied again at every epoch, and grew with the trial's time, waits
    # included: 10 s, then 10 s more, and so on while the first slot hung
    result = run(
        objectives.first_slot_hangs,
        3,
        pruner="halving",
        storage=str(tmp_path / "s.journal"),
        n_workers=2,
    )
    later = [t for t in result.trials if t.number > 0]
    assert all(t.duration is not None and t.duration < 15 for t in later), [
        t.duration for t in later
    ]


@pytest.mark.parametrize("sampler", ["stratified", "random"])
def test_parameters_besides_the_lr_are_drawn_on_their_own(sampler: str, tmp_path: Path) -> None:
    """The slot's position gave every parameter the LR's place in its range (momentum 0.45
    with every LR 0.45 of the way up), and a categorical one failed every trial."""
    result = run(objectives.with_more_params, 16, sampler=sampler)
    assert result.count("complete") == 16
    lrs = [math.log10(t.lr) for t in result.trials]
    for name in ("momentum", "decay", "layers"):
        drawn = [float(t.params[name]) for t in result.trials]
        assert abs(float(np.corrcoef(lrs, drawn)[0, 1])) < 0.6, name  # not the LR's position
    assert {t.params["act"] for t in result.trials} == {"relu", "gelu"}
    assert len({t.params["momentum"] for t in result.trials}) == 16
    with_workers = run(
        objectives.with_more_params,
        2,
        sampler=sampler,
        storage=str(tmp_path / "s.journal"),
        n_workers=2,
    )
    assert [t.params for t in with_workers.trials] == [t.params for t in result.trials[:2]]
    row = result.rows()[0]
    assert [row[k] for k in ("momentum", "decay", "layers", "act")] == [
        result.trials[0].params[k] for k in ("momentum", "decay", "layers", "act")
    ]


def test_an_objective_s_attrs_never_overwrite_lrkit_s_columns() -> None:
    def noted(lr: float, trial: optuna.Trial) -> float:
        for key, value in (
            ("lr", "after warmup"),
            ("value", 99.0),
            ("error", "my note"),
            ("attr_lr", "its own"),  # where lrkit would write its renamed lr
        ):
            trial.set_user_attr(key, value)
        return lr  # (one of lrkit's own names fails the trial: see the test of writes_lrkit_slot)

    result = run(noted, 2)
    assert result.count("complete") == 2
    t, row = result.trials[0], result.rows()[0]
    assert (row["lr"], row["value"], row["error"], row["round"]) == (t.lr, t.value, None, 0)
    assert (row["attr_value"], row["attr_error"]) == (99.0, "my note")
    assert row["attr_attr_lr"] == "after warmup" and row["attr_lr"] == "its own"
    assert t.error is None and t.attrs["error"] == "my note"


def test_threads_the_objective_leaves_running_do_not_hold_its_worker(tmp_path: Path) -> None:
    """Python's exit joins a thread that is not a daemon: the worker waited 120 s on it, with
    its trial recorded long before. A thread pool's exit hook joins its threads without a
    limit: called as is, it held the worker (and the search) for ever; each gets the grace
    (STRAY_GRACE_S), as any thread does. One worker holds each kind."""
    started = time.monotonic()
    storage = str(tmp_path / "s.journal")
    result = run(objectives.leaves_a_thread_or_a_pool_task, 2, storage=storage, n_workers=2)
    assert result.count("complete") == 2
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("workers", [1, 2])
def test_an_objective_that_changes_the_working_directory(
    workers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative journal path was read from the objective's folder: a FileNotFoundError
    traceback with one worker, every trial lost with two."""
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    result = run(objectives.changes_directory, 3, storage="s.journal", n_workers=workers)
    assert result.count("complete") == 3
    assert Path.cwd() == tmp_path / "here"  # put back after each trial
    assert [p.name for p in Path.cwd().iterdir()] == ["s.journal"]
    assert not (tmp_path / "s.journal").exists()  # nothing written from the objective's folder


def test_an_objective_s_change_of_thread_count_ends_with_its_trial() -> None:
    import torch

    before = torch.get_num_threads()

    def more_threads(lr: float) -> float:
        assert torch.get_num_threads() == before  # each trial starts with the search's
        torch.set_num_threads(before + 1)
        return lr

    assert run(more_threads, 2).count("complete") == 2
    assert torch.get_num_threads() == before


def test_odd_exceptions_fail_their_trial(tmp_path: Path) -> None:
    with pytest.warns(SearchWarning, match="no trial completed"):
        unreadable = run(objectives.raises_unreadable, 2)
    assert [t.error for t in unreadable.trials] == [
        "Unreadable: <its text could not be read: RuntimeError>"
    ] * 2

    def stops_a_generator(lr: float) -> float:
        raise GeneratorExit("odd")

    journal = str(tmp_path / "s.journal")
    with pytest.raises(GeneratorExit):  # a BaseException: it goes on up, its trial recorded
        run(stops_a_generator, 2, storage=journal)
    [trial] = optuna.load_study(study_name="lrkit-search", storage=_journal(journal)).trials[:1]
    assert trial.state == TrialState.FAIL and trial.user_attrs["error"] == "GeneratorExit: odd"


def test_a_second_parameter_with_a_default_keeps_it_and_optuna_s_signature_is_refused() -> None:
    def with_epochs(lr: float, epochs: int = 3) -> float:
        return lr * epochs

    def with_trial_default(lr: float, trial: optuna.Trial | None = None) -> float:
        assert trial is not None
        return lr

    def named_otherwise(lr: float, optuna_trial: Any = None) -> float:
        assert optuna_trial is not None
        return lr

    def annotated(lr: float, t: optuna.Trial = None) -> float:  # type: ignore[assignment]
        assert t is not None
        return lr

    def with_count(lr: float, n_trials: int = 3) -> float:  # a name with "trial" in it
        return lr * n_trials

    assert run(with_epochs, 2).count("complete") == 2
    assert run(with_count, 2).count("complete") == 2
    for takes_it in (with_trial_default, named_otherwise, annotated):
        assert run(takes_it, 2).count("complete") == 2, takes_it.__name__

    def optuna_style(trial: optuna.Trial) -> float:
        return trial.suggest_float("lr", 1e-5, 1.0)

    with pytest.raises(
        ConfigError, match=r"objective must take the LR first, .*first is named 'trial'"
    ):
        run(optuna_style, 2)


def test_partials_of_two_functions_are_two_objectives(tmp_path: Path) -> None:
    """Every partial was stored as "functools.partial": the second search returned the first's
    trials as its own."""
    import functools

    storage = str(tmp_path / "s.journal")
    run(functools.partial(objectives.shifted, shift=0.0), 2, storage=storage)
    with pytest.raises(ConfigError, match=r"functools\.partial of tests\.search\.objectives\.qua"):
        run(functools.partial(objectives.quadratic), 2, storage=storage, resume=True)


@pytest.mark.parametrize(
    ("returned", "value"),
    [(np.array([0.25]), 0.25), (np.float32(0.5), 0.5), (np.complex128(1 + 0j), None)],
)
@pytest.mark.filterwarnings("ignore:no trial completed")
def test_what_an_objective_returns(returned: Any, value: float | None) -> None:
    result = run(lambda lr: returned, 1)
    assert result.trials[0].value == value
    if value is None:
        assert "a complex number" in (result.trials[0].error or "")


@pytest.mark.filterwarnings("ignore:no trial completed")
def test_an_error_naming_an_undecodable_file_is_written_to_csv(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.txt")  # a lone surrogate where the byte was

    def cannot_parse(lr: float) -> float:
        raise ValueError(f"cannot parse {name}")

    run(cannot_parse, 1).to_csv(tmp_path / "t.csv")
    assert "cannot parse caf\\udce9.txt" in (tmp_path / "t.csv").read_text()


def test_a_seed_past_64_bits_is_refused_not_searched_as_another() -> None:
    with pytest.raises(ConfigError, match=r"seed must be an integer from -2\*\*63 to 2\*\*63"):
        run(objectives.quadratic, 1, seed=2**64)


def test_a_search_leaves_the_caller_s_python_rng_as_it_was() -> None:
    """The first search imported a library that drew from it (rich)."""
    code = (
        "import random\n"
        "from lrkit.search import search\n"
        "from tests.search.objectives import quadratic\n"
        "random.seed(7)\n"
        "search(quadratic, 1e-5, 1.0, 2, storage=':memory:')\n"
        "drawn = random.random()\n"
        "random.seed(7)\n"
        "print(drawn == random.random())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        timeout=120,
    )
    assert done.stdout.split() == ["True"], done.stderr


def test_work_an_objective_hands_to_a_thread_pool_is_finished_in_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that ended at once at a stray thread lost a checkpoint written in the
    background: the pool is shut down as Python's exit does it, and waited for."""
    monkeypatch.setenv("CKPT_DIR", str(tmp_path))
    storage = str(tmp_path / "s.journal")
    result = run(objectives.saves_in_background, 2, storage=storage, n_workers=2)
    assert result.count("complete") == 2
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == ["ckpt-0", "ckpt-1"]


def test_a_task_trial_trained_in_full_is_never_pruned() -> None:
    """Hyperband's top rung is the budget: trials that had trained every epoch were marked
    pruned there, their value left out of the best."""
    result = run("digits", 9, low=1e-3, high=1.0, pruner="hyperband", epochs=3)
    full = [t for t in result.trials if t.epochs_run == 3]
    assert full and all(t.state == "complete" for t in full), [
        (t.state, t.epochs_run) for t in full
    ]
    assert result.count("pruned") >= 1  # the pruner still stopped some early
    # a task trial's pruning says nothing its state and epochs do not: no error text (the
    # report's table would grow an error column of "pruned after epoch 1")
    assert all(t.error is None for t in result.trials)


def test_workers_refuse_an_unpicklable_objective(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="objective must be picklable"):
        run(lambda lr: lr, 2, storage=str(tmp_path / "s.journal"), n_workers=2)


_MAIN_OBJECTIVE = """
import lrkit

def objective(lr, trial):
    return (lr - 0.01) ** 2

if __name__ == "__main__":
    lrkit.search(objective, n_trials=2, n_workers=2, progress=False)
"""


_GUARDED_OBJECTIVE = """
import lrkit

if __name__ == "__main__":
    def objective(lr, trial):
        return (lr - 0.01) ** 2

    lrkit.search(objective, n_trials=2, n_workers=2, progress=False)
"""


@pytest.mark.parametrize(
    ("how", "where"),
    [
        ("stdin", "is defined in a script read from stdin"),
        ("-c", "is defined in __main__ of a notebook, an interactive session or `python -c`"),
        ("-m", "is defined in the __main__.py of a package, folder or zip file run as a program"),
        ("guard", "is defined inside that block"),
    ],
)
def test_workers_refuse_an_objective_no_fresh_process_can_import(
    tmp_path: Path, how: str, where: str
) -> None:
    # a notebook's objective is in the same place as -c's: a __main__ with no file to import
    stdin = _MAIN_OBJECTIVE if how == "stdin" else None
    args = {"stdin": ["-"], "-c": ["-c", _MAIN_OBJECTIVE], "-m": ["-m", "app"]}.get(how)
    if how == "-m":  # python -m app runs app/__main__.py, which no worker imports again
        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "__init__.py").write_text("")
        (tmp_path / "app" / "__main__.py").write_text(_MAIN_OBJECTIVE)
    if how == "guard":  # a worker imports the script without running the guarded block
        (tmp_path / "guarded.py").write_text(_GUARDED_OBJECTIVE)
        args = ["guarded.py"]
    before = set(tmp_path.iterdir())
    done = subprocess.run(
        [sys.executable, *(args or [])], input=stdin, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("lrkit.errors.ConfigError: n_workers > 1 runs each trial")
    assert f"but objective {where}" in last
    assert set(tmp_path.iterdir()) == before  # refused before any storage was made


def test_an_unguarded_script_stops_saying_why_and_resumes_once_fixed(tmp_path: Path) -> None:
    """Its workers die before their trials begin: not the trials' doing, so they are queued
    again and the search stops; it failed them and marked the study done, so the fixed script
    found a finished study of failures."""

    def load() -> optuna.Study:
        journal = str(tmp_path / "lrkit-out/search/study.journal")
        return optuna.load_study(study_name="lrkit-search", storage=_journal(journal))

    script = tmp_path / "unguarded.py"
    script.write_text(_MAIN_OBJECTIVE.replace('if __name__ == "__main__":\n    ', ""))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 1
    # the worker re-imports the script: its search call is refused, not a second search
    assert "lrkit.search was called while a worker process imported the script" in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("lrkit.errors.RunError: the worker process died (exit code 1) before")
    assert 'must start it under `if __name__ == "__main__":`' in last
    assert "The trial is queued again: once the cause is mended, resume the search" in last
    study = load()
    assert TrialState.COMPLETE not in {t.state for t in study.trials}
    assert "WAITING" in {t.state.name for t in study.trials}  # the retries

    script.write_text(_MAIN_OBJECTIVE.replace("progress=False", "progress=False, resume=True"))
    fixed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert fixed.returncode == 0, fixed.stderr
    study = load()
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 2


def test_ctrl_c_keeps_finished_trials_and_resume_redoes_only_the_interrupted(
    tmp_path: Path,
) -> None:
    log = tmp_path / "ran.log"
    storage = str(tmp_path / "study.journal")
    with pytest.raises(KeyboardInterrupt):
        run(objectives.InterruptAt(3, log), 6, storage=storage)
    before = {
        t.number: t
        for t in optuna.load_study(study_name="lrkit-search", storage=_journal(storage)).trials
    }
    states = sorted(t.state.name for t in before.values())
    assert states.count("COMPLETE") == 3 and states.count("FAIL") == 1
    assert "RUNNING" not in states
    with pytest.raises(ConfigError, match="resume"):
        run(objectives.InterruptAt(3, log), 6, storage=storage)  # unfinished, no resume
    result = run(objectives.InterruptAt(3, log), 6, storage=storage, resume=True)
    finished = [t for t in result.trials if t.state == "complete"]
    assert len(finished) == 6
    interrupted = [t for t in result.trials if t.state == "interrupted"]
    assert len(interrupted) == 1 and interrupted[0].error is not None
    assert interrupted[0].error.startswith("interrupted")
    assert result.count("failed") == 0 and result.n_trials == 6
    assert result.tally() == "6 complete; and 1 interrupted, run again"
    retry = next(t for t in finished if t.lr == interrupted[0].lr)
    assert retry.seed == interrupted[0].seed
    ran = [int(x) for x in log.read_text().split()]
    assert len(ran) == len(set(ran)) == 6  # no finished trial ran twice
    for number, trial in before.items():  # finished trials untouched
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert result.trials[number].value == trial.value


def test_a_finished_study_run_again_says_it_ran_nothing(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.journal")
    first = run(objectives.quadratic, 4, storage=storage)
    with pytest.warns(FinishedStudyWarning, match="already finished with these settings") as w:
        again = run(objectives.quadratic, 4, storage=storage)
    assert w[0].filename == __file__  # points at the caller's line, not into lrkit
    assert [t.value for t in again.trials] == [t.value for t in first.trials]
    with pytest.warns(FinishedStudyWarning, match="no trial ran"):  # nothing left to resume
        resumed = run(objectives.quadratic, 4, storage=storage, resume=True)
    assert [t.value for t in resumed.trials] == [t.value for t in first.trials]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a new name: a new search, no warning
        run(objectives.quadratic, 4, storage=storage, study_name="other")


@pytest.mark.parametrize("then", ["report", "raise"])
def test_a_trial_ended_by_another_process_stops_quietly(then: str) -> None:
    # A --resume started beside a live search fails the live search's running trial as
    # interrupted and queues its retry; the live worker's next write must not crash the search.
    def objective(lr: float, trial: optuna.Trial) -> float:
        if trial.number == 2:
            assert fail_interrupted(trial.study, trial._trial_id)  # as that other process does
            if then == "report":
                trial.report(1.0, 1)
            raise ValueError("the objective's own error, after its trial was ended elsewhere")
        return objectives.quadratic(lr)

    result = run(objective, 5)
    assert result.count("complete") == 5 and result.count("failed") == 0
    (lost,) = [t for t in result.trials if t.state == "interrupted"]
    assert lost.number == 2 and lost.error is not None and lost.error.startswith("interrupted")
    assert "traceback" not in lost.attrs and not lost.intermediate


def test_a_worker_stopped_by_ctrl_c_has_its_trial_queued_again(tmp_path: Path) -> None:
    # exit code 130 without telling the study: the worker got Ctrl-C (or SIGINT alone) before
    # the parent did; an interruption, not a crash of the trial
    result = run(
        objectives.exits_as_interrupted, 4, storage=str(tmp_path / "s.journal"), n_workers=2
    )
    assert result.count("complete") == 4 and result.count("failed") == 0
    (lost,) = [t for t in result.trials if t.state == "interrupted"]
    retry = next(t for t in result.trials if t.number > 1 and t.lr == lost.lr)
    assert retry.state == "complete" and retry.seed == lost.seed


def test_a_study_with_other_settings_is_refused_and_left_intact(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.journal")
    first = run(objectives.quadratic, 4, storage=storage)
    with pytest.raises(ConfigError, match=r"low=1e-05 \(this search: 0.001\)"):
        run(objectives.quadratic, 4, storage=storage, low=1e-3)
    with pytest.warns(FinishedStudyWarning):  # finished: read back, not rerun
        again = run(objectives.quadratic, 4, storage=storage)
    assert [(t.lr, t.value, t.duration) for t in again.trials] == [
        (t.lr, t.value, t.duration) for t in first.trials
    ]
    journal = Path(storage).read_bytes()
    for resume in (True, "auto"):  # the same answer, and the same warning, when resuming
        with pytest.warns(FinishedStudyWarning):
            again = run(objectives.quadratic, 4, storage=storage, resume=resume)
        assert [t.value for t in again.trials] == [t.value for t in first.trials]
    assert Path(storage).read_bytes() == journal  # read back: nothing written


def test_a_study_is_resumed_whatever_the_spelling_of_its_sampler_and_pruner(
    tmp_path: Path,
) -> None:
    storage = str(tmp_path / "study.journal")
    first = run(objectives.quadratic, 4, storage=storage, sampler="LHS", pruner=None)
    for sampler, pruner in [
        ("stratified", "none"),
        (" Latin", "OFF"),
        ("lhs", optuna.pruners.NopPruner()),
    ]:
        with pytest.warns(FinishedStudyWarning):  # the same search: read back, not refused
            again = run(objectives.quadratic, 4, storage=storage, sampler=sampler, pruner=pruner)
        assert [t.lr for t in again.trials] == [t.lr for t in first.trials]
    with pytest.raises(
        ConfigError, match=r"pruner: the study's is 'none', this search's 'halving'"
    ):
        run(objectives.quadratic, 4, storage=storage, sampler="stratified", pruner="SHA")
    # QA 130: an object's class, stored by its name, was said as one ("sampler='tpesampler'")
    with pytest.raises(
        ConfigError,
        match=r"sampler: the study's is 'stratified', this search's an Optuna tpesampler object",
    ):
        run(objectives.quadratic, 4, storage=storage, sampler=optuna.samplers.TPESampler())


def test_machines_that_started_at_once_take_the_range_test_of_the_first(
    tmp_path: Path,
) -> None:
    # each ran its own range test, on other threads or devices: the last digits differ
    from lrkit.search import StorageSpec
    from lrkit.search.study import SearchConfig, open_study

    spec = StorageSpec.parse(str(tmp_path / "study.journal"))
    first = SearchConfig(
        low=0.0123,
        high=0.98,
        n_trials=4,
        rounds=1,
        seed=0,
        sampler="stratified",
        direction="minimize",
        narrow=4.0,
        auto_ends="low,high",
        start_lr=0.1392,
    )
    parts = (optuna.samplers.RandomSampler(), optuna.pruners.NopPruner())
    open_study(spec, spec.open(), "s", first, *parts, resume=False)
    mine = dataclasses.replace(first, low=0.0123000001, high=0.9800001, start_lr=0.13920001)
    derived = ("low", "high", "start_lr")
    _, role = open_study(spec, spec.open(), "s", mine, *parts, resume=True, derived=derived)
    assert role == "coordinator"
    with pytest.raises(ConfigError, match=r"first trial at 0.1392 \(this search: 0.13920001\)"):
        open_study(spec, spec.open(), "s", mine, *parts, resume=True)  # given, not derived
    other = dataclasses.replace(mine, n_trials=5)  # a setting still counts
    with pytest.raises(ConfigError, match=r"n_trials=4 \(this search: 5\)"):
        open_study(spec, spec.open(), "s", other, *parts, resume=True, derived=derived)


def test_resume_of_a_study_that_is_not_there(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.journal")
    with pytest.raises(ConfigError, match=r"resume: there is no study 'lrkit-search' in .*study"):
        run(objectives.quadratic, 4, storage=storage, resume=True)
    assert not Path(storage).exists()  # a mistyped folder is not left behind with a journal
    Path(storage).touch()
    with pytest.raises(ConfigError, match=r"resume: there is no study"):
        run(objectives.quadratic, 4, storage=storage, resume=True)
    assert not optuna.get_all_study_names(_journal(storage))  # nothing was started
    flat = tmp_path / "flat.py"
    flat.write_text(FLAT_TASK)  # its range test finds no range: that error would come first
    with pytest.raises(ConfigError, match=r"resume: there is no study"):
        search(str(flat), "auto", "auto", 2, storage=storage, progress=False, resume=True)
    started = run(objectives.quadratic, 4, storage=storage, resume="auto")  # start, or resume
    with pytest.warns(FinishedStudyWarning):
        again = run(objectives.quadratic, 4, storage=storage, resume="auto")
    assert [t.value for t in again.trials] == [t.value for t in started.trials]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"low": 0.0}, "low must be a positive finite learning rate, got 0.0"),
        ({"low": 1.0, "high": 0.1}, "low must be below high"),
        ({"n_trials": 0}, "n_trials must be a positive integer, got 0"),
        ({"rounds": 9}, "rounds must be at most n_trials"),
        ({"narrow": 1.0}, "narrow must be a finite number > 1"),
        ({"narrow": math.inf}, "narrow must be a finite number > 1"),
        ({"join_timeout": math.nan}, "join_timeout must be a number of seconds >= 0"),
        ({"join_timeout": True}, "join_timeout must be a number of seconds >= 0"),
        ({"progress": "no"}, "progress must be True or False, got 'no'"),
        ({"n_workers": 0}, "n_workers must be a positive integer"),
        # a PostgreSQL study name column holds 512: the cluster refused what the laptop took
        ({"study_name": "s" * 513}, "study_name must be a non-empty string of at most 512"),
        ({"pruner": "sometimes"}, "valid pruners: none, halving, hyperband, median"),
        ({"direction": "up"}, "direction must be 'minimize', 'maximize' or None, got 'up'"),
        ({"storage": "redis://x"}, "storage must be a sqlite://, postgresql://"),
        (  # a driver SQLAlchemy knows, not installed here
            {"storage": "postgresql+pg8000://me:secret@127.0.0.1:1/x"},
            r"storage: the database driver for 'postgresql\+pg8000://me@127.0.0.1:1/x' is "
            r"missing .*install the pg8000 driver, or write the URL as postgresql://",
        ),
        ({"storage": "postgresq://me:secret@db/x"}, r"got 'postgresq://me@db/x'\.$"),
        ({"low": "auto"}, "the objective must be a task"),
        ({"resume": "yes"}, "resume must be True, False or 'auto', got 'yes'"),
        ({"resume": 1}, "resume must be True, False or 'auto', got 1"),
        ({"storage": 5}, "storage must be a database URL, a journal file path or ':memory:'"),
        (
            {"study_name": 3},
            "study_name must be a non-empty string of at most 512 characters .*, got 3",
        ),
        (
            {"study_name": " "},
            "study_name must be a non-empty string of at most 512 characters .*, got ' '",
        ),
        (
            {"sampler": optuna.samplers.GridSampler({"lr": [1e-3, 1e-2]})},
            "sampler must be a sampler that draws the LR .*, got an Optuna GridSampler[.]$",
        ),
        (
            {"sampler": _quietly(optuna.samplers.BruteForceSampler)},
            "sampler must be a sampler that draws the LR",
        ),
    ],
)
def test_bad_arguments_name_the_parameter(
    kwargs: dict, match: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    n = kwargs.pop("n_trials", 4)
    with pytest.raises(ConfigError, match=match):
        run(objectives.quadratic, n, **kwargs)
    assert list(tmp_path.iterdir()) == []  # no journal named "5", nothing stored


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"schedule": 5}, "schedule must be None, a spec string, an lrkit Schedule or a call"),
        ({"epochs": 10**9}, "epochs must be a positive integer up to 100,000, or None"),
        ({"device": "gpu"}, "device must be a torch device such as 'cpu' or 'cuda:0', got 'gpu'"),
        ({"device": None}, "device must be a torch device such as 'cpu' or 'cuda:0', got None"),
        ({"device": "meta"}, "device must be a device that holds data"),
    ],
)
def test_bad_task_form_arguments_are_refused_before_any_trial(
    kwargs: dict, match: str, tmp_path: Path
) -> None:
    storage = tmp_path / "study.journal"
    with pytest.raises(ConfigError, match=re.escape(match)):
        search("digits", 1e-3, 0.3, 2, storage=str(storage), progress=False, **kwargs)
    assert not storage.exists()


def test_result_helpers_refuse_what_they_cannot_mean() -> None:
    result = run(objectives.quadratic, 3)
    with pytest.raises(ConfigError, match="state must be one of complete, pruned"):
        result.count("completed")  # type: ignore[arg-type]
    for top in (-1, "3", True):
        with pytest.raises(ConfigError, match="top must be a whole number of trials"):
            result.table(top=top)  # type: ignore[arg-type]
    assert result.table(top=0).splitlines()[-1].startswith("... and 3 more trials")
    with pytest.raises(ConfigError, match="ax must be a matplotlib Axes, or None"):
        result.plot(ax=5)


def test_sys_exit_in_the_objective_fails_its_trial_then_exits(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.journal")
    with pytest.raises(SystemExit):
        run(objectives.exits, 3, storage=storage)
    trials = optuna.load_study(study_name="lrkit-search", storage=_journal(storage)).trials
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs["error"] == "SystemExit: 3"
    assert all(t.state == TrialState.WAITING for t in trials[1:])  # resumable, none RUNNING


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("storage: cannot connect to 'postgresql://x@127.0.0.1:1/nope'")
    ):
        run(objectives.quadratic, 2, storage="postgresql://x:secret@127.0.0.1:1/nope")


def test_a_missing_driver_is_named_with_advice_for_its_database() -> None:
    with pytest.raises(ConfigError, match=r"driver .* missing") as raised:
        run(objectives.quadratic, 2, storage="mysql://user:secret@127.0.0.1:1/db")
    assert "pymysql" in str(raised.value) and "psycopg" not in str(raised.value)
    assert "secret" not in str(raised.value)


def test_sqlite_storage_works(tmp_path: Path) -> None:
    result = run(objectives.quadratic, 3, storage=f"sqlite:///{tmp_path / 's.db'}")
    assert result.count("complete") == 3 and result.storage.endswith("s.db")


def test_sqlite_in_a_new_folder_is_made_as_a_journal_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'deeper' / 's.db'}"
    with pytest.raises(ConfigError, match="resume: there is no study"):
        run(objectives.quadratic, 2, storage=url, resume=True)
    assert not (tmp_path / "new").exists()  # a failed resume makes no database
    result = run(objectives.quadratic, 2, storage=url)
    assert result.count("complete") == 2 and (tmp_path / "new" / "deeper" / "s.db").is_file()


def test_an_sqlite_file_given_as_a_path_is_told_its_url(tmp_path: Path) -> None:
    import sqlite3

    database = tmp_path / "rel.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (x)")
    with pytest.raises(ConfigError, match=r"an SQLite database given as a path; give it as a U"):
        run(objectives.quadratic, 2, storage=str(database))
    assert run(objectives.quadratic, 2, storage=f"sqlite:///{database}").count("complete") == 2


def test_exports_and_plot(tmp_path: Path) -> None:
    result = run(objectives.curve, 12, pruner="halving")
    data = json.loads(result.to_json(tmp_path / "r.json"))
    assert data["best_lr"] == result.best_lr
    assert [row["number"] for row in data["trials"]] == list(range(12))
    csv_lines = result.to_csv(tmp_path / "r.csv").splitlines()
    assert csv_lines[0].startswith("number,lr,value,state") and len(csv_lines) == 13
    fig = result.plot()
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("pruned (") for label in labels)
    assert any(label.startswith("best lr=") for label in labels)
    fig.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 10_000
    table = result.table(top=3).splitlines()
    assert len(table) == 5 and f"{result.best_trial.number:>5}" in table[1]
    left = len(result.trials) - 3
    assert table[-1] == f"... and {left} more trials (the best shown first)"
    pruned = [t for t in result.trials if t.state == "pruned"]
    rows = {int(line.split()[0]): line for line in result.table(top=None).splitlines()[1:-1]}
    for t in pruned:  # a pruned trial shows the last value it reported
        assert rows[t.number].split()[2] == f"({t.intermediate[-1][1]:.4g})"
    assert result.table(top=None).splitlines()[-1].startswith("(value): the last value")


def test_the_plot_names_a_task_searchs_value() -> None:
    """A task search's value axis said ``objective (minimize)`` for its validation loss."""
    result = run(objectives.quadratic, 3)
    assert result.plot().axes[0].get_ylabel() == "objective (minimize)"
    judged = dataclasses.replace(result, direction="maximize", value_name="val accuracy")
    assert judged.plot().axes[0].get_ylabel() == "val accuracy (maximize)"
    assert judged.plot(ylabel="final validation accuracy").axes[0].get_ylabel() == (
        "final validation accuracy"
    )


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_the_plot_keeps_the_best_in_view_and_failures_at_the_worst_end(direction: str) -> None:
    """A sharp peak among 20 trials, one failing: the axis trims the worst values, never the
    best, and failed trials sit at the worst end (with maximize they sat level with the best)."""

    def peak(lr: float) -> float:
        if 0.2 < lr < 0.3:
            raise RuntimeError("boom")
        score = 1.0 / (1.0 + 50 * (math.log10(lr) + 2) ** 2)
        return score if direction == "maximize" else -score

    result = run(peak, 20, direction=direction)
    ax = result.plot().axes[0]
    bottom, top = ax.get_ylim()
    assert result.best_value is not None and bottom < result.best_value < top
    [failed] = [c for c in ax.collections if c.get_label().startswith("failed")]
    [(_, y)] = failed.get_offsets().tolist()
    values = [t.value for t in result.trials if t.value is not None]
    worst_edge = top if direction == "minimize" else bottom
    assert abs(y - worst_edge) < abs(y - result.best_value)  # nearer the worst end than the best
    assert bottom < y < top and result.count("failed") == 1 and len(values) == 19


@pytest.mark.filterwarnings("ignore:no trial completed")
def test_a_plot_of_failures_alone_says_so_on_no_value_axis() -> None:
    """They sat at 1.0 on an axis from 0.945 to 1.055: values no trial gave."""
    ax = run(objectives.raises_unreadable, 3).plot().axes[0]
    assert list(ax.get_yticks()) == []
    assert [t.get_text() for t in ax.texts] == ["no trial gave a value: 3 failed"]


def _pruned_before_a_report(lr: float, trial: optuna.Trial) -> float:
    if lr > 0.01:
        raise optuna.TrialPruned()  # stopped before its first report: no value to place it at
    return objectives.quadratic(lr)


def _pruned_saying_why(lr: float, trial: optuna.Trial) -> float:
    if lr > 0.01:
        raise optuna.TrialPruned(f"lr {lr:.3g} too high\nsecond line")
    if lr > 0.001:
        raise optuna.TrialPruned()
    return objectives.quadratic(lr)


def test_what_a_pruned_trial_said_is_kept() -> None:
    """TrialPruned("why") lost its message: a pruned trial's error was always None."""
    result = run(_pruned_saying_why, 12, low=1e-4, high=1.0)
    by_state = {s: [t for t in result.trials if t.state == s] for s in ("pruned", "complete")}
    said = [t for t in by_state["pruned"] if t.lr > 0.01]
    assert said and all(t.error == f"lr {t.lr:.3g} too high" for t in said)
    assert all(t.error is None for t in by_state["pruned"] if t.lr <= 0.01)
    assert by_state["complete"] and all(t.error is None for t in by_state["complete"])


@pytest.mark.filterwarnings("ignore:no trial completed")
@pytest.mark.parametrize("kept", [True, False])
def test_trials_pruned_before_a_report_are_on_the_plot(kept: bool) -> None:
    """They were left off it: a legend of 'complete (6)' under a title of 10 trials, and with
    every trial pruned a blank figure and matplotlib's warning of an empty legend."""
    low = 1e-4 if kept else 0.02
    result = run(_pruned_before_a_report, 8, low=low, high=1.0)
    pruned = result.count("pruned")
    assert pruned > 0 and result.count("complete") == (8 - pruned if kept else 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "No artists with labels found to put in legend"
        ax = result.plot().axes[0]
    [shown] = [c for c in ax.collections if c.get_label().startswith("pruned without a value")]
    assert shown.get_label() == f"pruned without a value ({pruned})"
    assert len(shown.get_offsets()) == pruned
    if not kept:
        assert [t.get_text() for t in ax.texts] == [f"no trial gave a value: {pruned} pruned"]


@pytest.mark.parametrize(("low", "high", "minor_labels"), [(3e-3, 0.05, True), (1e-5, 1.0, False)])
def test_a_narrow_ranges_plot_labels_more_than_its_decades(
    low: float, high: float, minor_labels: bool
) -> None:
    # a bracket of a decade or so would show one label (10^-2); five decades keep theirs
    fig = run(objectives.quadratic, 4, low=low, high=high).plot()
    ax = fig.axes[0]
    fig.canvas.draw()
    start, end = ax.get_xlim()
    minor = [
        t.get_text()
        for t in ax.get_xticklabels(minor=True)
        if start <= t.get_position()[0] <= end and t.get_text()
    ]
    assert bool(minor) is minor_labels
    if minor_labels:
        assert minor == ["0.005", "0.02", "0.05"]  # the axis runs 0.0023 .. 0.065


def test_csv_columns_do_not_depend_on_failures(tmp_path: Path) -> None:
    """A failure's many-line traceback is in the JSON, not the CSV, whose columns are the same
    whether or not a trial failed; a stopped trial's last reported value is in both."""
    clean = run(objectives.curve, 6, pruner="halving", low=1e-3, high=0.1)
    failing = run(objectives.flaky, 12)
    assert failing.count("failed") > 0 and clean.count("pruned") > 0
    heads = [r.to_csv().splitlines()[0] for r in (clean, failing)]
    assert heads[0] == heads[1] and "traceback" not in heads[0]
    failing.to_csv(tmp_path / "f.csv")
    lines = (tmp_path / "f.csv").read_text().splitlines()
    assert len(lines) == 13  # a header and one line per trial: no traceback cell spans lines
    data = json.loads(failing.to_json())
    raised = [row for row in data["trials"] if str(row["error"]).startswith("ValueError")]
    assert raised and all("Traceback" in row["traceback"] for row in raised)
    assert all(row["traceback"] is None for row in data["trials"] if row["state"] == "complete")
    pruned = {t.number: t for t in clean.trials if t.state == "pruned"}
    for row in csv.DictReader(io.StringIO(clean.to_csv())):
        if int(row["number"]) in pruned:
            assert float(row["last_value"]) == pruned[int(row["number"])].intermediate[-1][1]
            assert row["value"] == ""


def test_task_form_trains_with_a_schedule_and_records_scores() -> None:
    result = search(
        "digits", 1e-3, 1.0, 3, epochs=2, schedule="cosine:2", storage=":memory:", progress=False
    )
    assert result.count("complete") + result.count("failed") == 3
    best = result.best_trial
    assert best is not None
    assert best.epochs_run == 2 and 0.0 <= best.attrs["test_metric"] <= 1.0
    assert best.value == pytest.approx(best.attrs["val_loss"])


def test_task_form_can_judge_trials_by_the_validation_metric(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.journal")
    result = search(
        "digits", 1e-4, 1.0, 4, epochs=2, value="val_metric", storage=storage, progress=False
    )
    assert result.direction == "maximize"
    done = [t for t in result.trials if t.state == "complete"]
    assert len(done) >= 2
    for t in done:  # the accuracy is what each epoch reports and what the trial returns
        assert t.value == pytest.approx(t.attrs["val_metric"])
        assert len(t.intermediate) == 2 and all(0.0 <= v <= 1.0 for _, v in t.intermediate)
        assert t.intermediate[-1][1] == pytest.approx(t.value)
    best = result.best_trial
    assert best is not None and best.value == max(t.value or 0.0 for t in done)
    # the same study judged by the loss is another search: refused, nothing stored is touched
    with pytest.raises(ConfigError, match=r"direction='maximize' \(this search: 'minimize'\)"):
        search("digits", 1e-4, 1.0, 4, epochs=2, storage=storage, resume=True, progress=False)
    again = dict(epochs=2, value="val_metric", storage=storage, resume=True, progress=False)
    with pytest.warns(FinishedStudyWarning, match="no trial ran"):
        assert len(search("digits", 1e-4, 1.0, 4, **again).trials) == 4


@pytest.mark.parametrize(
    ("setting", "given"),
    [("schedule", "cosine:3"), ("epochs", 3), ("value", "val_metric"), ("device", "gpu")],
)
def test_task_settings_with_a_callable_objective_are_refused(setting: str, given: Any) -> None:
    with pytest.raises(ConfigError, match=rf"^{setting} must be .* callable objective, .* got "):
        run(objectives.quadratic, 2, **{setting: given})
    run(objectives.quadratic, 2, device=torch.device("cpu"))  # the default, as a torch.device


@pytest.mark.parametrize(
    ("value", "direction"), [("val_metric", "minimize"), ("val_loss", "maximize")]
)
def test_a_direction_against_the_value_is_refused(value: str, direction: str) -> None:
    # it would keep the worst trial and prune the best
    expected = "'maximize'" if value == "val_metric" else "'minimize'"
    with pytest.raises(
        ConfigError,
        match=rf"^direction must be {expected} or None for value='{value}', got '{direction}'",
    ):
        run("digits", 2, epochs=1, value=value, direction=direction)


def test_auto_range_brackets_the_range_test() -> None:
    from lrkit.finder.task import range_test_task
    from lrkit.search import bracket
    from lrkit.tasks import load_task

    expected = bracket(range_test_task(load_task("digits"), seed=0))
    result = search("digits", "auto", "auto", 2, epochs=1, storage=":memory:", progress=False)
    assert (result.low, result.high) == expected
    assert expected[0] < expected[1]


def test_one_auto_end_that_leaves_no_range_says_where_it_came_from() -> None:
    with pytest.raises(ConfigError, match=r"low='auto' took 0\.\d+ from the range test, which "):
        search("digits", "auto", 1e-6, 2, epochs=1, storage=":memory:", progress=False)


def test_auto_ends_do_not_take_a_fixed_range_study_for_their_own(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.journal")
    search("digits", 1e-3, 1.0, 1, epochs=1, storage=storage, progress=False)
    with pytest.raises(
        ConfigError, match=r"ends from the range test: none \(this search: low,high\)"
    ):
        search("digits", "auto", "auto", 1, epochs=1, storage=storage, progress=False)


def _journal(path: str) -> optuna.storages.BaseStorage:
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


def test_auto_range_passes_on_the_range_tests_warning(tmp_path: Path) -> None:
    from lrkit.finder import FinderWarning
    from tests.task_files import SLOW_TASK

    (tmp_path / "slow.py").write_text(SLOW_TASK)
    with pytest.warns(FinderWarning, match="still falling at the end of the sweep") as caught:
        result = run(str(tmp_path / "slow.py"), 2, low="auto", high="auto")
    assert len(caught) == 1 and caught[0].filename == __file__  # once, at the caller's line
    assert result.count("complete") == 2 and result.high > 1.0


def test_start_lr_is_the_first_trial_and_auto_starts_at_the_suggestion() -> None:
    from lrkit.finder.task import range_test_task
    from lrkit.tasks import load_task

    result = run(objectives.quadratic, 5, start_lr=0.0123)
    assert result.trials[0].lr == 0.0123
    assert len({t.lr for t in result.trials}) == 5
    with pytest.raises(ConfigError, match=r"start_lr must be an LR in 1e-05 to 1 or None"):
        run(objectives.quadratic, 5, start_lr=3.0)
    found = range_test_task(load_task("digits"), seed=0)
    auto = search("digits", "auto", "auto", 2, epochs=1, storage=":memory:", progress=False)
    assert auto.trials[0].lr == pytest.approx(found.suggestion)


@pytest.mark.parametrize(
    "objective",
    [lambda a, b, c: 0.0, lambda *, lr: 0.0, lambda lr, trial, extra: 0.0],
    ids=["three", "keyword_only", "extra"],
)
def test_an_objective_that_cannot_take_lr_and_trial_fails_at_once(objective: Any) -> None:
    with pytest.raises(ConfigError, match=r"objective must take the LR and the trial") as info:
        run(objective, 3)
    assert "got a callable with parameters (" in str(info.value)


@pytest.mark.parametrize(
    ("returned", "error"),
    [
        (None, "the objective returned None; it must return the value to optimize"),
        ("0.5", "the objective returned '0.5' (str); it must return the value to optimize"),
        (True, "the objective returned True (bool)"),
        ([1.0, 2.0], "the objective returned [1.0, 2.0] (list)"),
        (float("nan"), "the objective returned nan; a NaN or infinite result is a failure"),
        (10**400, "the objective returned 1000000000000000000000000000000000000000000000000"),
        (
            10**5000,
            "the objective returned <int that cannot be shown> (int); it must return",
        ),
    ],
    ids=["none", "text", "bool", "list", "nan", "past_float", "past_repr"],
)
def test_a_result_that_is_not_a_number_fails_the_trial_and_says_so(
    returned: Any, error: str
) -> None:
    with pytest.warns(SearchWarning, match=r"no trial completed \(3 failed\); the first error: "):
        result = run(lambda lr: returned, 3)
    assert result.best_lr is None and result.count("failed") == 3
    assert all(t.error is not None and t.error.startswith(error) for t in result.trials)


def test_a_boolean_of_any_kind_is_not_a_value() -> None:
    import numpy as np
    import torch

    kinds = [np.bool_(True), torch.tensor(True)]
    with pytest.warns(SearchWarning, match="no trial completed"):
        result = run(lambda lr, trial: kinds[trial.number], 2)
    assert result.count("failed") == 2


def test_numbers_of_any_kind_are_values() -> None:
    import numpy as np
    import torch

    kinds = [np.float32(0.25), np.int64(2), torch.tensor(0.5), torch.tensor([0.75]), 3]
    result = run(lambda lr, trial: kinds[trial.number], len(kinds))
    assert [t.value for t in result.trials] == [0.25, 2.0, 0.5, 0.75, 3.0]


def test_numpy_numbers_are_numbers_for_the_search(tmp_path: Path) -> None:
    import numpy as np

    result = search(
        objectives.quadratic,
        np.float32(1e-4),
        np.float64(1.0),
        np.int64(4),
        seed=np.int64(1),
        out=tmp_path,
        progress=False,
    )
    assert result.count("complete") == 4 and result.low == pytest.approx(1e-4)
    result.to_json(tmp_path / "search.json")  # plain numbers all the way to JSON


def test_workers_refuse_a_sampler_defined_where_no_worker_can_import_it(tmp_path: Path) -> None:
    # every worker unpickles the study's sampler and pruner as well as the objective
    script = """
import optuna
import lrkit
from tests.search.objectives import quadratic

class Sampler(optuna.samplers.RandomSampler):
    pass

lrkit.search(quadratic, n_trials=2, n_workers=2, sampler=Sampler(), progress=False)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "lrkit.errors.ConfigError: n_workers > 1 runs each trial in a fresh process, which must "
        "import the sampler, but Sampler is defined in __main__ of a notebook"
    )
    assert list(tmp_path.iterdir()) == []


def test_more_workers_than_cores_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lrkit.search import WorkersWarning
    from lrkit.search.storage import default_storage
    from lrkit.search.workers import check_workers

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU to give each worker
    spec, cores, quadratic = default_storage(tmp_path), os.cpu_count() or 1, objectives.quadratic
    with pytest.warns(WorkersWarning, match=f"{cores + 1} trials at once.* {cores} CPU cores"):
        check_workers(spec, quadratic, cores + 1, n_trials=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_workers(spec, quadratic, cores + 1, n_trials=cores)  # no more at once than cores
        check_workers(spec, quadratic, cores, n_trials=50)


def test_an_out_that_is_not_a_path_is_refused_by_name(tmp_path: Path) -> None:
    # pathlib's "expected str, bytes or os.PathLike object, not int" until now
    with pytest.raises(ConfigError, match=r"^out must be a folder's path, or None, got 3"):
        run(objectives.quadratic, 2, storage=None, out=3)


def test_numpy_and_tensor_numbers_search_as_the_numbers_they_hold() -> None:
    plain = run(objectives.quadratic, 3, low=1e-5, high=1.0, seed=2)
    wrapped = run(
        objectives.quadratic,
        np.int64(3),
        low=torch.tensor(1e-5, dtype=torch.float64),
        high=np.float32(1.0),
        seed=torch.tensor(2),
        trial_timeout=torch.tensor(60.0),
    )
    assert [t.lr for t in wrapped.trials] == [t.lr for t in plain.trials]


def test_numpy_and_tensor_counts_are_taken_by_the_results_table_section_and_sampler() -> None:
    """Each of these checked ``isinstance(top, int)`` by hand and refused np.int64 (review 121)."""
    from lrkit.report import search_section
    from lrkit.search import StratifiedSampler

    result = run(objectives.quadratic, 5)
    assert result.table(top=np.int64(3)) == result.table(top=3)
    assert search_section(result, top=torch.tensor(2)).html == search_section(result, top=2).html
    assert StratifiedSampler(size=np.int64(8)).size == 8


def test_a_result_s_repr_is_one_line_with_the_best_and_the_tally() -> None:
    result = run(objectives.flaky, 6)  # some trials fail
    text = repr(result)
    assert "\n" not in text and len(text) < 200  # the dataclass's printed every trial
    assert f"best_lr={result.best_lr!r}" in text
    assert (
        f"trials=6 ({result.count('complete')} complete, {result.count('failed')} failed)" in text
    )


class _Cyclic:
    """A model that refers back to itself (as a module with a hook or a closure often does):
    only a garbage collection frees it."""

    def __init__(self) -> None:
        self.weights = torch.zeros(250_000)
        self.itself = self


def test_a_trial_s_model_held_in_a_reference_cycle_is_freed_before_the_next_trial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """QA 125: the trials of one process held on to every earlier model in a cycle until
    Python's next full collection (optuna #1224, #3050). Trials this short are collected only
    when their share lets them (COLLECT_SHARE: a quick objective pays nothing)."""
    import weakref

    import lrkit.search.trials

    models: list[weakref.ref[_Cyclic]] = []
    alive: list[int] = []

    def objective(lr: float) -> float:
        alive.append(sum(ref() is not None for ref in models))
        model = _Cyclic()
        models.append(weakref.ref(model))
        time.sleep(0.02)
        if lr > 0.1:
            raise RuntimeError("diverged")  # a failed trial's model is freed too
        return (math.log10(lr) + 2) ** 2

    monkeypatch.setattr(lrkit.search.trials, "COLLECT_SHARE", 1e3)
    search(objective, 1e-5, 1.0, n_trials=6, storage=":memory:", progress=False)
    assert alive == [0] * 6
    monkeypatch.setattr(lrkit.search.trials, "COLLECT_SHARE", 1e-6)
    models.clear()
    alive.clear()
    search(objective, 1e-5, 1.0, n_trials=6, storage=":memory:", progress=False)
    assert max(alive) > 0  # without: earlier models were still there


def test_one_slow_collection_does_not_stop_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """QA 146: a collection that took 0.19 s (a busy machine) set the bar at 3.8 s for every
    later trial, and no trial of 2.5 s was collected again: memory grew by a model a trial.
    The trials' time since the last collection counts now, and each collection is timed."""
    import lrkit.search.trials as trials

    clock = [0.0]
    collected: list[float] = []

    def collect() -> int:  # a collection of 0.1 s on a clock of its own
        collected.append(clock[0])
        clock[0] += 0.1
        return 0

    monkeypatch.setattr(trials, "_collecting", {"last_s": 0.19, "since_s": 0.0})
    # the module's names only: another thread's gc and clock are left alone (review 148)
    monkeypatch.setattr(trials, "gc", SimpleNamespace(collect=collect))
    monkeypatch.setattr(trials, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    for _ in range(12):
        trials._let_go(2.5)  # each alone under the first bar (2.5 * 0.05 < 0.19)
    # the second trial's (5 s since), then every one: the bar is the 0.1 s one takes now
    assert len(collected) == 11
    collected.clear()
    for _ in range(100):
        trials._let_go(0.0005)  # a quick objective: 0.05 s in all, no collection
    assert collected == []


def test_a_result_s_attrs_are_its_own_not_the_storage_s() -> None:
    """Review 129: read without a deep copy (as the result reads its trials), a list the
    objective set was the storage's own object, and changing it in the result changed the
    study."""
    from lrkit.search import TrialRecord

    study = optuna.create_study()
    study.optimize(lambda trial: trial.set_user_attr("seen", [1, 2]) or 0.5, n_trials=1)
    record = TrialRecord.from_frozen(study.get_trials(deepcopy=False)[0])
    record.attrs["seen"].append(3)
    assert study.get_trials(deepcopy=False)[0].user_attrs["seen"] == [1, 2]


def test_trials_optuna_itself_added_to_the_study_are_listed_not_read_as_the_best(
    tmp_path: Path,
) -> None:
    """QA 130: one without an LR made the best LR NaN, one outside the range the best."""
    storage = str(tmp_path / "s.journal")
    first = run(objectives.quadratic, 4, storage=storage)
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    study = optuna.load_study(study_name=first.study_name, storage=journal)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) * 0 - 1, n_trials=1)
    study.optimize(lambda t: t.suggest_float("lr", 10, 100, log=True) * 0 - 1, n_trials=1)
    with pytest.warns(FinishedStudyWarning):
        again = run(objectives.quadratic, 4, storage=storage)
    assert again.count("complete") == 6  # listed
    assert (again.best_lr, again.best_value) == (first.best_lr, first.best_value)
    assert [t.foreign for t in again.ranked()] == [False] * 4 + [True] * 2  # after the search's
    # review 131: a result built by hand (its trials not foreign by default) has its best
    from lrkit.search import TrialRecord

    built = SearchResult(
        "s", ":memory:", "minimize", 1e-5, 1.0, (TrialRecord(0, 0.01, 0.2, "complete", 1.0),)
    )
    assert built.best_lr == 0.01


def test_an_optuna_storage_object_is_refused_naming_what_to_pass_and_a_direction_taken(
    tmp_path: Path,
) -> None:
    """QA 130: an Optuna storage object was refused as any object is, with its repr; Optuna's
    own StudyDirection was refused as a direction."""
    rdb = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'a.db'}")
    journal = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.journal"))
    )
    for storage, instead in [
        (rdb, f"pass its URL, 'sqlite:///{tmp_path / 'a.db'}'."),
        (journal, "pass the journal file's path."),
        (optuna.storages.InMemoryStorage(), "pass ':memory:'."),
    ]:
        with pytest.raises(ConfigError) as refused:
            search(objectives.quadratic, 1e-5, 1.0, n_trials=2, storage=storage)  # type: ignore[arg-type]
        assert str(refused.value).startswith(
            "storage must be a database URL, a journal file path or ':memory:', got an Optuna "
            f"{type(storage).__name__} object: each worker process and machine opens"
        )
        assert str(refused.value).endswith(instead)
    found = search(
        objectives.quadratic,
        1e-5,
        1.0,
        n_trials=3,
        storage=":memory:",
        direction=optuna.study.StudyDirection.MAXIMIZE,
        progress=False,
    )
    assert found.direction == "maximize"
    assert found.best_value == max(t.value for t in found.completed if t.value is not None)


def test_an_objective_s_lists_dicts_and_numpy_numbers_reach_the_json_and_csv() -> None:
    """QA 130: a list or dict the objective recorded was left out of search.json, as of the CSV
    (which cannot hold it), and a NumPy number out of both."""

    def noted(lr: float, trial: optuna.Trial) -> float:
        trial.set_user_attr("per_epoch", [0.5, 0.7])
        trial.set_user_attr("config", {"batch_size": 32})
        trial.set_user_attr("steps", np.int64(100))
        trial.set_user_attr("handle", object())  # JSON holds nothing of it: left out
        trial.set_user_attr("by_lr", {math.inf: 1.0})  # review 131: lrkit's JSON has no inf key
        return lr

    result = search(noted, 1e-5, 1.0, n_trials=1, storage=":memory:", progress=False)
    row = json.loads(result.to_json())["trials"][0]
    assert (row["per_epoch"], row["config"], row["steps"]) == ([0.5, 0.7], {"batch_size": 32}, 100)
    assert "handle" not in row and "by_lr" not in row
    header, values = result.to_csv().splitlines()
    assert "steps" in header.split(",") and "per_epoch" not in header
    assert values.split(",")[header.split(",").index("steps")] == "100"


class _NeedsAPackage(optuna.samplers.RandomSampler):
    """A sampler that needs a package that is not installed, as CmaEsSampler needs cmaes (from
    its ``first`` draw on: CmaEsSampler's first trials are drawn without it)."""

    def __init__(self, first: int = 0) -> None:
        super().__init__(seed=0)
        self.first = first

    def sample_independent(self, study: Any, trial: Any, *args: Any, **kwargs: Any) -> Any:
        if trial.number < self.first:
            return super().sample_independent(study, trial, *args, **kwargs)
        import lrkit_no_such_package  # type: ignore[import-not-found]  # noqa: F401

        raise AssertionError("unreachable")


def test_a_sampler_that_cannot_draw_fails_its_trials_saying_so() -> None:
    """QA 130: the sampler's error (CmaEsSampler without cmaes: ModuleNotFoundError) ended the
    search with a traceback, its trial left running and later said to be interrupted."""
    with pytest.warns(SearchWarning, match="no trial completed"):
        result = search(
            objectives.quadratic,
            1e-5,
            1.0,
            n_trials=2,
            sampler=_NeedsAPackage(),
            storage=":memory:",
            progress=False,
        )
    assert [t.state for t in result.trials] == ["failed", "failed"]
    assert all(
        t.error == "the sampler could not draw the trial's lr: ModuleNotFoundError: No module "
        "named 'lrkit_no_such_package'"
        for t in result.trials
    )
    # review 131: with a first trial drawn, a quiet search of one trial; now said
    with pytest.warns(SearchWarning, match=r"^2 of 3 trials failed: the sampler could not draw"):
        partly = search(
            objectives.quadratic,
            1e-5,
            1.0,
            n_trials=3,
            sampler=_NeedsAPackage(first=1),
            storage=":memory:",
            progress=False,
        )
    assert partly.count("complete") == 1


def test_numpy_numbers_and_arrays_an_objective_records_are_stored_in_a_journal_too(
    tmp_path: Path,
) -> None:
    """QA 132: Optuna's journal file stores JSON alone: np.float32(1.5) failed every trial of
    a search kept on disk (the default), where the memory kept it."""

    def noted(lr: float, trial: optuna.Trial) -> float:
        trial.set_user_attr("acc", np.float32(0.5))
        trial.set_user_attr("per_epoch", [np.float32(0.25), np.int64(3)])
        trial.set_user_attr("weights", np.arange(2))
        trial.set_user_attr("loss", torch.tensor(2.0))
        return lr

    found = search(noted, 1e-5, 1.0, n_trials=2, storage=str(tmp_path / "s.journal"))
    assert found.count("complete") == 2
    attrs = found.trials[0].attrs
    assert (attrs["acc"], attrs["per_epoch"], attrs["weights"], attrs["loss"]) == (
        0.5,
        [0.25, 3],
        [0, 1],
        2.0,
    )
    assert type(attrs["acc"]) is float and type(attrs["per_epoch"][1]) is int


def test_tpe_draws_anew_in_each_worker_process_and_after_a_resume(tmp_path: Path) -> None:
    """A seeded Optuna sampler went to every trial's process with one random state, and a
    resumed search started from it again: each drew the first LR again (QA 150)."""
    spread = search(
        objectives.quadratic,
        1e-4,
        1.0,
        6,
        sampler="tpe",
        n_workers=2,
        storage=str(tmp_path / "workers.journal"),
        progress=False,
    )
    lrs = [t.lr for t in spread.trials]
    assert len(set(lrs)) == 6, lrs
    storage, log = str(tmp_path / "resumed.journal"), tmp_path / "ran.log"
    with pytest.raises(KeyboardInterrupt):
        run(objectives.InterruptAt(2, log), 4, storage=storage, sampler="tpe")
    resumed = run(objectives.InterruptAt(2, log), 4, storage=storage, sampler="tpe", resume=True)
    finished = [t.lr for t in resumed.trials if t.state == "complete"]
    assert len(finished) == 4 and len(set(finished)) == 4, finished  # a retry keeps its LR


def test_an_objective_that_writes_lrkit_s_attrs_fails_and_keeps_the_count(tmp_path: Path) -> None:
    """A slot written over made a resume of the finished search run two trials again, and a
    seed written over went into the retry after a kill -9 (QA 150, 155): every lrkit_ name is
    refused where it is written, a name lrkit does not use yet included."""
    storage = str(tmp_path / "study.journal")
    first = run(objectives.writes_lrkit_slot, 3, storage=storage)
    assert [t.state for t in first.trials] == ["failed"] * 3  # slot 0's too, though it was 0
    said = "ConfigError: the objective's trial.set_user_attr key must not start with 'lrkit_'"
    assert all(t.error is not None and t.error.startswith(said) for t in first.trials)
    with pytest.warns(FinishedStudyWarning):
        again = run(objectives.writes_lrkit_slot, 3, storage=storage, resume=True)
    assert len(again.trials) == 3
    stored = optuna.load_study(study_name="lrkit-search", storage=_journal(storage)).trials
    assert [t.user_attrs["lrkit_slot"] for t in stored] == [0, 1, 2]

    def pruned_after_a_name_of_its_own(lr: float, trial: optuna.Trial) -> float:
        trial.set_user_attr("lrkit_foo", 1)
        raise optuna.TrialPruned("told to")

    result = run(pruned_after_a_name_of_its_own, 2, pruner="halving")
    assert [t.state for t in result.trials] == ["failed"] * 2
    assert all("got 'lrkit_foo'" in str(t.error) for t in result.trials)
