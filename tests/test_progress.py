"""lrkit.progress: the rich bar on a terminal, sparse plain lines on stderr off one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

import lrkit.progress
from lrkit.progress import ProgressBar


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0  # not 0: elapsed time must be measured from the start

    def __call__(self) -> float:
        return self.now


def terminal(monkeypatch: pytest.MonkeyPatch, *, is_terminal: bool) -> None:
    """Every rich console (on stdout or stderr) is (or is not) a terminal."""
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: is_terminal))


@pytest.fixture
def off_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal(monkeypatch, is_terminal=False)  # as under nohup, CI or `> log 2>&1`


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    captured = capsys.readouterr()
    assert captured.out == ""  # progress never goes to stdout off a terminal
    return captured.err.splitlines()


def sweep(bar: ProgressBar, clock: Clock, steps: int, seconds: float) -> None:
    for _ in range(steps):
        clock.now += seconds
        bar.advance()


@pytest.mark.usefixtures("off_terminal")
def test_off_a_terminal_a_line_as_each_tenth_is_crossed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = Clock()
    with ProgressBar(200, label="training", unit="steps", clock=clock) as bar:
        assert bar.plain and not bar.shown
        sweep(bar, clock, 200, 1.0)  # 200 s: a tenth every 20 s
    said = lines(capsys)
    assert said[0] == "training: 20/200 steps (10%), 0:00:20 elapsed, about 0:03:00 left"
    assert said[4] == "training: 100/200 steps (50%), 0:01:40 elapsed, about 0:01:40 left"
    assert said[-1] == "training: 200/200 steps (100%), 0:03:20 elapsed"  # nothing left
    assert [line.split()[1] for line in said] == [f"{20 * k}/200" for k in range(1, 11)]


@pytest.mark.usefixtures("off_terminal")
@pytest.mark.parametrize("seconds", [0.0, 0.001, 0.099])
def test_work_over_within_the_first_seconds_is_silent(
    seconds: float, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    with ProgressBar(100, label="range test", clock=clock) as bar:
        sweep(bar, clock, 100, seconds)  # at most 9.9 s in all
    assert lines(capsys) == []


@pytest.mark.usefixtures("off_terminal")
def test_lines_are_rate_limited_and_the_end_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    with ProgressBar(100, unit="epochs", clock=clock) as bar:
        bar.describe("schedule 2/6 cosine:10, seed 0")  # no label: the description heads each line
        sweep(bar, clock, 100, 0.25)  # a tenth every 2.5 s, 25 s in all
    assert lines(capsys) == [
        # nothing in the first 10 s, then at most one line per 10 s
        "schedule 2/6 cosine:10, seed 0: 40/100 epochs (40%), 0:00:10 elapsed, about 0:00:15 left",
        "schedule 2/6 cosine:10, seed 0: 80/100 epochs (80%), 0:00:20 elapsed, about 0:00:05 left",
        # the 100% crossing came 5 s after the last line: said when the work ends
        "schedule 2/6 cosine:10, seed 0: 100/100 epochs (100%), finished in 0:00:25",
    ]


@pytest.mark.usefixtures("off_terminal")
def test_a_second_sweep_that_grows_the_total_keeps_reporting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = Clock()  # as `lrkit find` counts a noisy curve's second sweep of 200 more steps
    with ProgressBar(100, label="range test", eta=False, clock=clock) as bar:
        sweep(bar, clock, 100, 1.0)
        bar.grow(200)
        sweep(bar, clock, 200, 1.0)
    said = lines(capsys)
    assert said[:2] == [
        "range test: 10/100 (10%), 0:00:10 elapsed",
        "range test: 20/100 (20%), 0:00:20 elapsed",
    ]
    after = [line for line in said if "/300" in line]
    assert after[0] == "range test: 120/300 (40%), 0:02:00 elapsed"  # no time left: eta=False
    assert after[-1] == "range test: 300/300 (100%), 0:05:00 elapsed"
    assert len(said) == 10 + 7


@pytest.mark.usefixtures("off_terminal")
def test_an_error_ends_without_a_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    with pytest.raises(KeyboardInterrupt), ProgressBar(100, label="x", clock=clock) as bar:
        sweep(bar, clock, 15, 1.0)
        clock.now += 5.0
        raise KeyboardInterrupt
    assert lines(capsys) == ["x: 10/100 (10%), 0:00:10 elapsed, about 0:01:30 left"]


@pytest.mark.usefixtures("off_terminal")
@pytest.mark.parametrize("options", [{"enabled": False}, {"plain": False}])
def test_quiet_or_plain_false_writes_nothing_however_long(
    options: dict[str, bool], capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    with ProgressBar(100, label="x", clock=clock, **options) as bar:
        assert not bar.plain and not bar.shown
        sweep(bar, clock, 100, 60.0)  # 100 minutes
    assert capsys.readouterr() == ("", "")


def test_on_a_terminal_the_rich_bar_and_no_plain_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal(monkeypatch, is_terminal=True)
    clock = Clock()
    with ProgressBar(100, label="range test", clock=clock) as bar:
        assert bar.shown and not bar.plain
        sweep(bar, clock, 100, 1.0)
    assert "elapsed" not in capsys.readouterr().err


def shown_left(bar: ProgressBar) -> str:
    """The time left that the rich bar draws."""
    column = bar._bar.columns[-1]
    return str(column.render(bar._bar.tasks[0]).plain)


def test_on_a_terminal_the_time_left_shows_from_the_first_unit_however_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # rich's own column reads the pace of the last 30 s: with units of 5 minutes it never
    # showed a time left
    terminal(monkeypatch, is_terminal=True)
    clock = Clock()
    with ProgressBar(10, label="search", unit="trials", clock=clock) as bar:
        assert shown_left(bar) == "-:--:--"
        clock.now += 300.0
        bar.update(1)
        assert shown_left(bar) == "0:45:00"
        clock.now += 600.0
        bar.update(2)
        assert shown_left(bar) == "1:00:00"  # 900 s for 2: 8 more take 3600 s
        bar.update(10)
        assert shown_left(bar) == "-:--:--"


def test_units_done_before_the_work_began_are_not_counted_in_the_pace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for on_terminal in (True, False):
        terminal(monkeypatch, is_terminal=on_terminal)
        clock = Clock()
        with ProgressBar(20, label="search", clock=clock) as bar:
            bar.already(10)
            assert bar.completed == 10
            clock.now += 60.0
            bar.update(12)  # 2 units in 60 s: 8 more take 240 s
            if on_terminal:
                assert shown_left(bar) == "0:04:00"
        if on_terminal:
            capsys.readouterr()  # the bar's drawing
    assert lines(capsys)[0] == "search: 12/20 (60%), 0:01:00 elapsed, about 0:04:00 left"


def test_a_template_label_is_filled_in_like_rich_fills_it(
    off_terminal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    with ProgressBar(10, label="run", unit="{task.description}", clock=clock) as bar:
        bar.describe("3 running")
        sweep(bar, clock, 10, 20.0)
    assert lines(capsys)[0] == "run: 1/10 3 running (10%), 0:00:20 elapsed, about 0:03:00 left"


PLAIN = re.compile(r"^(?P<head>.+): (?P<done>\d+)/(?P<total>\d+)(?P<unit>( \w+)?) \(\d+%\), ")


@pytest.mark.usefixtures("off_terminal")
@pytest.mark.parametrize("progress", [True, False])
def test_train_and_compare_write_plain_lines_unless_quiet(
    progress: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrkit.compare import compare
    from lrkit.tasks import load_task
    from lrkit.training import train

    monkeypatch.setattr(lrkit.progress, "PLAIN_EVERY_S", 0.0)  # a line at every tenth
    task = load_task("digits")
    train(task, 0.05, epochs=2, progress=progress, verbose=False)
    trained = capsys.readouterr()
    compare(task, 0.05, ["constant"], epochs=2, progress=progress)
    compared = capsys.readouterr()
    if not progress:
        assert trained.err == compared.err == ""
        return
    assert trained.out == compared.out == ""  # plain lines go to stderr, even train's
    trained_lines = [PLAIN.match(line) for line in trained.err.splitlines()]
    assert len(trained_lines) == 10 and all(trained_lines), trained.err  # one per tenth
    heads = [m["head"] for m in trained_lines if m]
    assert heads[0] == "epoch 1/2" and heads[-1] == "epoch 2/2"
    compared_lines = [PLAIN.match(line) for line in compared.err.splitlines()]
    assert compared_lines and all(compared_lines), compared.err
    assert {(m["total"], m["unit"]) for m in compared_lines if m} == {("2", " epochs")}
    assert all(m["head"].endswith("seed 0") for m in compared_lines if m)


def test_a_dumb_terminal_gets_plain_lines_not_a_bar(tmp_path: Path) -> None:
    """TERM=dumb (Emacs's shell, some CI runners) cannot redraw a line: a real pseudo-terminal
    with it gets no escape codes and no blank line where a bar would have been."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "dumb", "OMP_NUM_THREADS": "1"}
    env.pop("NO_COLOR", None)
    command = [sys.executable, "-m", "lrkit", "find", "--out", str(tmp_path / "f")]
    process = subprocess.Popen(command, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    import select
    import time

    output, deadline = b"", time.monotonic() + 120
    while time.monotonic() < deadline:  # a command that hangs fails the test, not the run
        if not select.select([leader], [], [], 1.0)[0]:
            continue
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the pty is closed once the command has exited
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=10) == 0, output
    text = output.decode()
    assert "range test: digits" in text and "\x1b[" not in text
    assert "" not in [line.strip() for line in text.replace("\r\n", "\n").split("\n")[:-1]]


@pytest.mark.usefixtures("off_terminal")
@pytest.mark.filterwarnings("ignore:Range test")  # a short sweep: what it reads is not the point
def test_the_finder_s_range_test_shows_its_progress_unless_told_not_to(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """torch-lr-finder shows a tqdm bar; LRFinder.range_test showed nothing, for minutes."""
    import torch

    import lrkit.finder.finder
    from lrkit import LRFinder
    from tests.finder.helpers import loader, mlp

    monkeypatch.setattr(lrkit.progress, "PLAIN_EVERY_S", 0.0)  # a line at every tenth
    monkeypatch.setattr(lrkit.finder.finder, "PROGRESS_AFTER_S", 0.0)  # a bar from the start
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)
    finder = LRFinder(model, optimizer, torch.nn.CrossEntropyLoss())
    finder.range_test(loader(), end_lr=1, num_iter=20)
    shown = [PLAIN.match(line) for line in lines(capsys)]
    assert shown and all(shown)
    assert {(m["head"], m["total"], m["unit"]) for m in shown if m} == {
        ("range test", "20", " steps")
    }
    finder.range_test(loader(), end_lr=1, num_iter=20, progress=False)
    finder.range_test(loader(), end_lr=1, num_iter=20, on_step=lambda n: None)  # the caller's
    assert lines(capsys) == []
