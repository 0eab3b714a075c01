"""The search's progress: the live line on a terminal, sparse plain lines off one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from lrkit.search import display as search_display
from lrkit.search import engine, search
from lrkit.search.display import SearchDisplay
from lrkit.search.result import INTERRUPTED
from lrkit.search.samplers import SEED_ATTR
from tests.test_progress import Clock, shown_left, terminal

LR = {"lr": FloatDistribution(1e-5, 1.0, log=True)}


@pytest.fixture(autouse=True)
def _optuna_quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def study(reads: list[int] | None = None) -> optuna.Study:
    """An in-memory study; ``reads`` counts how often its trials are read."""
    made = optuna.create_study(direction="minimize")
    if reads is not None:
        get_trials = made.get_trials

        def counted(*args: object, **kwargs: object) -> list[optuna.trial.FrozenTrial]:
            reads.append(1)
            return get_trials(*args, **kwargs)

        made.get_trials = counted
    return made


def trial(
    display: SearchDisplay,
    clock: Clock,
    seconds: float,
    value: float | None = None,
    state: TrialState = TrialState.COMPLETE,
) -> None:
    """One trial as the runner runs it: started (with the seed the search gives each of its
    own trials), ``seconds`` of work, ended."""
    t = display.study.ask(LR)
    t.set_user_attr(SEED_ATTR, t.number)
    display.update()
    clock.now += seconds
    if state == TrialState.COMPLETE:
        display.study.tell(t, 1.0 if value is None else value)
    else:
        display.study.tell(t, state=state)
    display.update()


def err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.splitlines()


def test_off_a_terminal_a_line_per_finished_trial_at_most_every_ten_seconds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal(monkeypatch, is_terminal=False)
    clock = Clock()
    with SearchDisplay(study(), 7, enabled=True, clock=clock) as display:
        trial(display, clock, 4.0, 0.5)  # 4 s: too soon for a line
        trial(display, clock, 4.0, state=TrialState.PRUNED)
        trial(display, clock, 4.0, 0.25)  # 12 s
        trial(display, clock, 4.0, state=TrialState.FAIL)
        trial(display, clock, 4.0, 0.75)
        trial(display, clock, 4.0, 0.125)  # 24 s
        trial(display, clock, 4.0, 0.3)  # 28 s: 4 s after the last line
    lr = display.study.best_trial.params["lr"]
    assert err_lines(capsys) == [
        "search: 3/7 trials (42%), 0 running, 1 pruned, 0 failed, best 0.25 at lr="
        f"{display.study.trials[2].params['lr']:.4g}, 0:00:12 elapsed, about 0:00:16 left",
        f"search: 6/7 trials (85%), 0 running, 1 pruned, 1 failed, best 0.125 at lr={lr:.4g}, "
        "0:00:24 elapsed, about 0:00:04 left",
        f"search: 7/7 trials (100%), 0 running, 1 pruned, 1 failed, best 0.125 at lr={lr:.4g}, "
        "finished in 0:00:28",
    ]


def test_a_short_search_is_silent_and_reads_the_storage_only_when_a_line_is_due(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal(monkeypatch, is_terminal=False)
    clock, reads = Clock(), []
    with SearchDisplay(study(reads), 20, enabled=True, clock=clock) as display:
        for _ in range(20):
            trial(display, clock, 0.45)  # 9 s in all
    assert capsys.readouterr() == ("", "")
    assert len(reads) == 1  # when it opened: the pace of a resumed study counts from there


def test_a_long_search_writes_a_bounded_number_of_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal(monkeypatch, is_terminal=False)
    clock = Clock()
    with SearchDisplay(study(), 500, enabled=True, clock=clock) as display:
        for _ in range(500):
            trial(display, clock, 30.0)  # every trial long enough for a line of its own
    said = err_lines(capsys)
    assert len(said) == SearchDisplay.LINES == 50  # one per 10 trials
    assert said[0].startswith("search: 10/500 trials (2%), ")
    assert said[-1].startswith("search: 500/500 trials (100%), ")


def test_the_time_left_of_a_resumed_search_counts_only_its_own_trials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal(monkeypatch, is_terminal=False)
    clock, resumed = Clock(), study()
    for _ in range(4):  # trials of an earlier run, in no time at all here
        resumed.tell(resumed.ask(LR), 2.0)
    with SearchDisplay(resumed, 8, enabled=True, clock=clock) as display:
        trial(display, clock, 5.0, 1.0)
        trial(display, clock, 5.0, 0.5)  # 2 trials in 10 s: the 2 left take 10 s more
    assert err_lines(capsys)[0] == (
        "search: 6/8 trials (75%), 0 running, 0 pruned, 0 failed, best 0.5 at lr="
        f"{resumed.trials[5].params['lr']:.4g}, 0:00:10 elapsed, about 0:00:10 left"
    )


def test_on_a_terminal_the_time_left_of_a_resumed_search_counts_only_its_own_trials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal(monkeypatch, is_terminal=True)
    clock, resumed = Clock(), study()
    for _ in range(4):
        resumed.tell(resumed.ask(LR), 2.0)
    with SearchDisplay(resumed, 8, enabled=True, clock=clock) as display:
        assert shown_left(display._bar) == "-:--:--"
        trial(display, clock, 50.0, 1.0)
        trial(display, clock, 50.0, 0.5)  # 2 trials in 100 s: the 2 left take 100 s more
        assert display._bar.completed == 6
        assert shown_left(display._bar) == "0:01:40"


def finished(
    display: SearchDisplay, clock: Clock, seconds: float, state: TrialState, at: datetime
) -> None:
    """A trial that took ``seconds`` (by its own start and end, as Optuna stores them), ending
    ``clock.now`` seconds after ``at``."""
    clock.now += seconds
    end = at + timedelta(seconds=clock.now)
    display.study.add_trial(
        FrozenTrial(
            number=0,  # the storage numbers it
            state=state,
            value=1.0 if state == TrialState.COMPLETE else None,
            datetime_start=end - timedelta(seconds=seconds),
            datetime_complete=end,
            params={"lr": 0.01},
            distributions=LR,
            user_attrs={},
            system_attrs={},
            intermediate_values={1: 1.0},
            trial_id=0,
        )
    )
    display.update()


@pytest.mark.parametrize("on_terminal", [False, True])
def test_under_a_pruner_the_time_left_is_at_the_pace_of_the_later_trials(
    on_terminal: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # successive halving runs the first trial in full and prunes more of the later ones: the
    # 6 trials left take about as long as the last 2 done (30 s for 2), not the first 4 (100 s)
    terminal(monkeypatch, is_terminal=on_terminal)
    left = {}
    for pruning in (False, True):
        clock = Clock()
        with SearchDisplay(study(), 10, enabled=True, pruning=pruning, clock=clock) as display:
            at = datetime.now()
            for seconds, state in ((60, TrialState.COMPLETE), (10, TrialState.PRUNED)):
                finished(display, clock, seconds, state, at)
            for seconds in (20, 10):
                finished(display, clock, seconds, TrialState.PRUNED, at)
            if on_terminal:
                left[pruning] = shown_left(display._bar)
        if not on_terminal:
            said = err_lines(capsys)
            left[pruning] = said[-1].split(", ")[-1]  # after the 4th trial
            # under a pruner, none before a fifth of the trials and 3 have finished
            assert [line.endswith(" left") for line in said] == [not pruning] * 2 + [True] * 2
    if on_terminal:
        assert left == {False: "0:02:30", True: "0:01:30"}  # 100 s for 4: 150 s or 0.6 of it
    else:
        assert left == {False: "about 0:02:30 left", True: "about 0:01:30 left"}


def test_the_pace_counts_only_the_trials_of_this_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal(monkeypatch, is_terminal=False)
    clock, resumed = Clock(), study()
    earlier = SearchDisplay(resumed, 8, enabled=False)  # a run an hour ago, with a long trial
    finished(earlier, Clock(), 600, TrialState.COMPLETE, datetime.now() - timedelta(hours=1))
    with SearchDisplay(resumed, 8, enabled=True, pruning=True, clock=clock) as display:
        at = datetime.now()
        for _ in range(3):
            finished(display, clock, 20, TrialState.PRUNED, at)
    # 3 trials of 20 s: the 4 left take 80 s (with the earlier trial's 600 s in the pace, 10 s)
    assert err_lines(capsys)[-1].endswith("0:01:00 elapsed, about 0:01:20 left")


@pytest.mark.parametrize(("pruner", "pruning"), [("none", False), ("halving", True)])
def test_a_search_paces_its_display_by_its_pruner(
    pruner: str, pruning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[SearchDisplay] = []

    class Recorded(SearchDisplay):
        def __enter__(self) -> SearchDisplay:
            made.append(self)
            return super().__enter__()

    monkeypatch.setattr(engine, "SearchDisplay", Recorded)
    search(lambda lr: lr, 1e-4, 1.0, 2, storage=":memory:", pruner=pruner, progress=False)
    assert [d.pruning for d in made] == [pruning]


def test_an_interrupted_attempt_is_neither_done_nor_failed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal(monkeypatch, is_terminal=False)
    clock, resumed = Clock(), study()
    resumed.tell(resumed.ask(LR), 2.0)
    lost = resumed.ask(LR)  # failed as interrupted by Ctrl-C; its retry runs below
    lost.set_user_attr("error", INTERRUPTED)
    resumed.tell(lost, state=TrialState.FAIL)
    with SearchDisplay(resumed, 3, enabled=True, clock=clock) as display:
        trial(display, clock, 11.0, 1.0)
        trial(display, clock, 11.0, 0.5)
    said = err_lines(capsys)
    assert said[0].startswith("search: 2/3 trials (66%), 0 running, 0 pruned, 0 failed, ")
    assert said[-1].startswith("search: 3/3 trials (100%), 0 running, 0 pruned, 0 failed, ")


def test_quiet_shows_and_reads_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal(monkeypatch, is_terminal=False)
    clock, reads = Clock(), []
    with SearchDisplay(study(reads), 5, enabled=False, clock=clock) as display:
        for _ in range(5):
            trial(display, clock, 600.0)
    assert capsys.readouterr() == ("", "")
    assert reads == []


def test_on_a_terminal_the_live_line_and_no_plain_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal(monkeypatch, is_terminal=True)
    clock, reads = Clock(), []
    with SearchDisplay(study(reads), 3, enabled=True, clock=clock) as display:
        for _ in range(3):
            trial(display, clock, 20.0, state=TrialState.PRUNED)
        assert display._bar.completed == 3  # the live bar counts every trial
    assert len(reads) == 1 + 2 * 3 + 1  # read for every change it draws
    assert "elapsed" not in capsys.readouterr().err


@pytest.mark.parametrize("progress", [True, False])
def test_search_writes_plain_lines_unless_progress_is_off(
    progress: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    terminal(monkeypatch, is_terminal=False)
    monkeypatch.setattr(search_display, "PLAIN_EVERY_S", 0.0)  # a line for every trial
    objective: Callable[[float], float] = lambda lr: lr  # noqa: E731
    search(objective, 1e-4, 1.0, 4, storage=":memory:", progress=progress)
    said = capsys.readouterr().err.splitlines()
    if progress:
        assert [line.split(",")[0] for line in said] == [
            f"search: {n}/4 trials ({25 * n}%)" for n in range(1, 5)
        ]
        # each line as the next trial starts: one runs, until the end
        assert [line.split(", ")[1] for line in said] == ["1 running"] * 3 + ["0 running"]
    else:
        assert said == []


@pytest.mark.parametrize("width", [120, 80, 60, 44, 30])
def test_on_a_narrow_terminal_the_count_and_time_left_stay_on_the_line(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80 columns the line read 'search ━━━╸ 28/… 1 running · 0 pruned · 0 failed · best
    1.303 at lr=0.1482 0:00…' (rich cut the count and the time left, not the description), at
    40 's… 1 running · 0 pruned · 0 failed · b…'."""
    import io

    from rich.console import Console

    terminal(monkeypatch, is_terminal=True)
    monkeypatch.setenv("COLUMNS", str(width))
    clock = Clock()
    with SearchDisplay(study(), 30, enabled=True, clock=clock) as display:
        for value in (1.5, 1.303, 2.0):
            trial(display, clock, 10.0, value)
        trial(display, clock, 10.0, state=TrialState.PRUNED)
        progress = display._bar._bar
        assert progress.console.width == width
        out = io.StringIO()
        Console(file=out, width=width, force_terminal=True, color_system=None).print(
            progress.make_tasks_table(progress.tasks)
        )
    [line] = out.getvalue().splitlines()
    if width < 40:  # no room left for any text: rich cuts the rest, and the search goes on
        assert display._bar._description == "" and line.startswith("s"), line
        return
    assert "…" not in line and len(line) <= width, line
    assert line.startswith("search ━") and " 4/30 " in line and line.endswith("0:04:20"), line
    if width >= 60:  # room for the best (its LR, drawn at random, is 7 to 9 characters)
        assert "best 1.303 at lr=" in line and ("1 pruned" in line) == (width >= 80), line
