"""The progress of a search on stderr: trials done, running, pruned and failed, the best so far
and the time left."""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable, Sequence

import optuna
from optuna.trial import TrialState

from lrkit.interrupts import raise_held
from lrkit.plaintext import lr_text
from lrkit.progress import PLAIN_EVERY_S, ProgressBar, hms, time_left, write_line
from lrkit.search.result import is_interrupted
from lrkit.search.study import best_trial, study_direction

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
EARLIEST = 3  # trials finished before a search with a pruner tells the time left


def recent_pace(
    trials: Sequence[optuna.trial.FrozenTrial], since: datetime.datetime, left: int | None = None
) -> float | None:
    """The mean duration of the later half of the trials finished since ``since`` (by when they
    finished; the odd one out goes to it) over the mean duration of them all: 1.0 with fewer
    than 2, or none of any length. With ``left``, the trials still to finish: ``None`` (too
    soon to tell) until at least ``EARLIEST`` have finished and a fifth of this run's trials.

    Example:
        >>> from optuna.trial import create_trial
        >>> def done(start, seconds):  # a trial that ran ``seconds`` from second ``start``
        ...     t = create_trial(value=1.0)
        ...     t.datetime_start = datetime.datetime(2026, 1, 1) + datetime.timedelta(0, start)
        ...     t.datetime_complete = t.datetime_start + datetime.timedelta(0, seconds)
        ...     return t
        >>> trials = [done(0, 60), done(60, 10), done(70, 20), done(90, 10)]  # 100 s for 4
        >>> recent_pace(trials, datetime.datetime(2026, 1, 1))  # the last 2: 30 s against 100
        0.6
        >>> recent_pace(trials, datetime.datetime(2026, 1, 1), left=20) is None  # 4 of 24
        True
    """
    ends = sorted(  # (when it finished, how long it took) of each trial finished since
        (t.datetime_complete, (t.datetime_complete - t.datetime_start).total_seconds())
        for t in trials
        if t.state in FINISHED
        and not is_interrupted(t)
        and t.datetime_start is not None
        and t.datetime_complete is not None
        and t.datetime_complete >= since
    )
    seconds = [took for _, took in ends]
    if left is not None and (len(seconds) < EARLIEST or 5 * len(seconds) < len(seconds) + left):
        return None
    if len(seconds) < 2 or sum(seconds) <= 0:
        return 1.0
    later = seconds[len(seconds) // 2 :]
    return (sum(later) / len(later)) / (sum(seconds) / len(seconds))


def live_text(
    counts: dict[TrialState, int], best: optuna.trial.FrozenTrial | None, room: int
) -> str:
    """The live line's text after the count: trials running, pruned and failed, and the best
    so far, in at most ``room`` characters. Where all of it does not fit, counts of none go
    first, then the running count, then the best value; its LR goes last.

    Example:
        >>> from optuna.trial import create_trial
        >>> counts = {TrialState.RUNNING: 1, TrialState.PRUNED: 0, TrialState.FAIL: 2}
        >>> best = create_trial(value=1.30312, params={"lr": 0.148213},
        ...     distributions={"lr": optuna.distributions.FloatDistribution(1e-5, 1, log=True)})
        >>> for room in (80, 50, 36, 24, 10, -3):
        ...     print(repr(live_text(counts, best, room)))
        '1 running · 0 pruned · 2 failed · best 1.303 at lr=0.1482'
        '1 running · 2 failed · best 1.303 at lr=0.1482'
        '2 failed · best 1.303 at lr=0.1482'
        'best 1.303 at lr=0.1482'
        'lr=0.1482'
        ''
    """
    states = ((TrialState.RUNNING, "running"), (TrialState.PRUNED, "pruned"))
    named = [(counts[state], f"{counts[state]} {word}") for state, word in states]
    named.append((counts[TrialState.FAIL], f"{counts[TrialState.FAIL]} failed"))
    best_parts: list[str] = []
    if best is not None:
        lr = f"lr={lr_text(best.params['lr'])}"
        best_parts = [f"best {best.value:.4g} at {lr}", lr]
    counted = [text for _, text in named]
    some = [text for n, text in named if n]
    failures = [text for n, text in named[1:] if n]  # pruned and failed, where any
    tails = [best_parts[0]] if best_parts else []
    options = [counted + tails, some + tails, failures + tails]
    options += [[part] for part in best_parts] + [counted, some, []]
    return next((text for text in (" · ".join(o) for o in options) if len(text) <= room), "")


class SearchDisplay:
    """A search's progress on stderr: trials done/total, running, pruned, failed, best so far.

    On a terminal, a live line. Off one (a log file, a pipe, CI), a plain line as trials
    finish: none in the first ``PLAIN_EVERY_S`` seconds nor sooner than that after the last,
    one per finished trial for up to ``LINES`` trials and one per ``total / LINES`` beyond, and
    a last one when the search ends once any was written. The storage is read only when a line
    may be drawn or written; ``enabled=False`` shows nothing and reads nothing.

    The time left is at this run's pace: the trials done since the display opened, in the time
    since. With ``pruning`` (a search with a pruner) trials get shorter as the search goes on:
    the pruner stops more of them early once it has more to compare them with. Their average
    pace then overestimates the time left (by about 2x after a fifth of a successive-halving
    search, measured on the efficiency benchmark's recorded runs), so it is scaled by
    :func:`recent_pace`, the later half's mean duration against all of them; and before a fifth
    of the run's trials (at least 3) have finished, which ones the pruner keeps is too little
    known, so no time left is shown.
    """

    LINES = 50

    def __init__(
        self,
        study: optuna.Study,
        total: int,
        *,
        enabled: bool,
        pruning: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.study, self.total, self.pruning = study, total, pruning
        self.direction = study_direction(study)
        self._bar = ProgressBar(
            total,
            enabled=enabled,
            label="search",
            unit="{task.description}",
            plain=False,
            clock=clock,
        )
        self._plain = enabled and not self._bar.shown
        self._clock = clock
        self._every = max(1, math.ceil(total / self.LINES))
        self._started = self._said_at = clock()
        self._first = self._said = 0  # trials done when the display opened, at the last line
        self._drawn = False  # whether the live bar has been drawn
        self._lines = 0
        self._opened = datetime.datetime.now()  # trials finished since: this run's
        # how long the trials left take against those done (recent_pace; None: too soon)
        self._pace: float | None = 1.0

    def __enter__(self) -> SearchDisplay:
        self._bar.__enter__()
        self._started = self._said_at = self._clock()
        self._opened = datetime.datetime.now()
        if self._plain:  # a resumed study's earlier trials count in the total, not in the pace
            self._first = self._said = self._read()[1]
        self.update()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._plain:
            if self._lines and exc_type is None:  # the end, for a log that was told of the start
                counts, done, best = self._read()
                if done != self._said:
                    self._write(counts, done, best, end=True)
        else:
            self.update()
        self._bar.__exit__(exc_type, *exc)

    def update(self) -> None:
        raise_held()  # the CLI's Ctrl-C held since an import: this process trains nothing
        if self._plain:
            if self._clock() - self._said_at >= PLAIN_EVERY_S:
                counts, done, best = self._read()
                if done // self._every > self._said // self._every:
                    self._write(counts, done, best)
            return
        if not self._bar.shown:  # nothing to draw: the storage is not read
            return
        counts, done, best = self._read()
        if not self._drawn:  # a resumed study's earlier trials: done, not in the pace
            self._bar.already(min(done, self.total))
            self._drawn = True
        self._bar.pace(self._pace)
        self._bar.describe(live_text(counts, best, self._bar.room))
        self._bar.update(min(done, self.total))

    def _read(self) -> tuple[dict[TrialState, int], int, optuna.trial.FrozenTrial | None]:
        """Trials in each state, trials done (complete, pruned or failed), the best trial.

        An interrupted attempt is none of these: its retry is a trial of its own."""
        trials = self.study.get_trials(deepcopy=False)
        counts = {state: 0 for state in TrialState}
        for t in trials:
            if not is_interrupted(t):
                counts[t.state] += 1
        done = sum(counts[state] for state in FINISHED)
        if self.pruning:
            self._pace = recent_pace(trials, self._opened, left=max(0, self.total - done))
        return counts, done, best_trial(trials, self.direction)  # from the trials read once

    def _write(
        self,
        counts: dict[TrialState, int],
        done: int,
        best: optuna.trial.FrozenTrial | None,
        *,
        end: bool = False,
    ) -> None:
        now = self._clock()
        elapsed = now - self._started
        shown = min(done, self.total)
        parts = [
            f"{shown}/{self.total} trials ({100 * shown // self.total}%)",
            f"{counts[TrialState.RUNNING]} running",
            f"{counts[TrialState.PRUNED]} pruned",
            f"{counts[TrialState.FAIL]} failed",
        ]
        if best is not None:
            parts.append(f"best {best.value:.4g} at lr={lr_text(best.params['lr'])}")
        if end:
            parts.append(f"finished in {hms(elapsed)}")
        else:
            parts.append(f"{hms(elapsed)} elapsed")
            left = time_left(elapsed, done, self.total, self._first, pace=self._pace)
            if left is not None:
                parts.append(f"about {hms(left)} left")
        write_line("search: " + ", ".join(parts))
        self._said, self._said_at, self._lines = done, now, self._lines + 1
