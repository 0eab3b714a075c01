"""Progress of every long step: a transient bar on a terminal, sparse plain lines off one.

On a terminal the bar is rich's, drawn in place and gone when done. Off one (output sent to a
file, a pipe, ``nohup``, a CI log) a bar cannot be drawn, so a plain line goes to stderr instead
as each tenth of the work is crossed: never in the first ``PLAIN_EVERY_S`` seconds (short jobs
print nothing), never more than one per ``PLAIN_EVERY_S``, and, once any line was written, one
more when the work ends. A log of an hour-long job thus gets about a dozen lines.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import cache
from types import SimpleNamespace
from typing import Any

from lrkit.interrupts import raise_held

PLAIN_EVERY_S = 10.0
"""Off a terminal: no progress line in a job's first this many seconds, nor sooner than this
after the last one."""

PLAIN_STEPS = 10
"""Off a terminal: a line as each ``1 / PLAIN_STEPS`` of the work is crossed (rate allowing)."""


def hms(seconds: float) -> str:
    """A duration as rich's bars show one, ``H:MM:SS``.

    Example:
        >>> hms(65.7), hms(3 * 3600 + 2)
        ('0:01:05', '3:00:02')
    """
    whole = max(0, int(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def time_left(
    elapsed: float,
    completed: float,
    total: float | None,
    before: float = 0,
    pace: float | None = 1.0,
) -> float | None:
    """Seconds left at the pace so far: ``elapsed`` seconds for the units done in them
    (``completed`` less the ``before`` that were done when the work began), times ``pace``, how
    long a unit left takes against one done (a search's trials get shorter under a pruner);
    ``None`` before the first unit, after the last, and with no ``pace`` (too soon to tell).

    Example:
        >>> time_left(60.0, 2, 10), time_left(60.0, 12, 20, before=10), time_left(5.0, 0, 10)
        (240.0, 240.0, None)
        >>> time_left(60.0, 2, 10, pace=0.5)
        120.0
    """
    ran = completed - before
    if total is None or pace is None or ran <= 0 or completed >= total:
        return None
    return elapsed * (total - completed) / ran * pace


@cache
def _time_left_column_class() -> type:
    """The class of a rich column of the time left from the average pace since the start (made
    once, on first use: rich is imported only where a bar is made).

    Rich's own ``TimeRemainingColumn`` reads the pace of the last 30 s only, so it shows
    nothing at all while each unit (a search's trial, a long epoch) takes longer than that."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class TimeLeftColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            before, pace = task.fields.get("before", 0), task.fields.get("pace", 1.0)
            left = time_left(task.elapsed or 0.0, task.completed, task.total, before, pace)
            return Text("-:--:--" if left is None else hms(left), style="progress.remaining")

    return TimeLeftColumn


BAR_LEAST = 10  # columns: a bar narrower than this says little


def write_line(text: str) -> None:
    """Writes one plain progress line to stderr, at once (a log shows it as it happens)."""
    stream = sys.stderr
    if stream is not None:  # pythonw has none
        print(text, file=stream, flush=True)


class ProgressBar:
    """Progress with one task: ``describe``, ``advance``, ``update`` and ``grow`` it.

    When ``enabled`` and its console is a terminal it is a rich bar that disappears when done.
    When ``enabled`` and off a terminal it writes a plain line to stderr as each tenth of the
    work is crossed (label or description, count/total, unit, elapsed and time left), at most
    one per ``PLAIN_EVERY_S`` seconds and none in the first ``PLAIN_EVERY_S``::

        schedule 2/6 cosine:10, seed 0: 12/40 epochs (30%), 0:01:00 elapsed, about 0:02:20 left

    Args:
        total: Units of work (optimizer steps, epochs).
        enabled: ``False`` keeps it silent everywhere (``--quiet``).
        label: A fixed word before the bar (``"range test"``); ``None`` shows the description.
        unit: A word after the count (``"epochs"``).
        stderr: Draw the bar on stderr (default) rather than stdout; plain lines always go to
            stderr.
        eta: Show the estimated time left.
        plain: ``False``: nothing off a terminal (for a caller that writes its own lines).
        clock: Seconds from a monotonic clock (tests drive it).

    Example:
        >>> with ProgressBar(3) as bar:  # silent here: not a terminal, and over at once
        ...     bar.advance(); bar.update(3)
        >>> bar.completed
        3
    """

    def __init__(
        self,
        total: int,
        *,
        enabled: bool = True,
        label: str | None = None,
        unit: str | None = None,
        stderr: bool = True,
        eta: bool = True,
        plain: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
        )

        console = Console(stderr=stderr)
        columns: list[Any] = [
            TextColumn(label if label is not None else "{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
        ]
        if unit:
            columns.append(TextColumn(unit))
        if eta:
            columns.append(_time_left_column_class()())
        self._bar = Progress(
            *columns,
            console=console,
            transient=True,
            # a dumb terminal (TERM=dumb: Emacs's shell, some CI runners) cannot redraw a line:
            # plain lines there, as in a log
            disable=not (enabled and console.is_terminal and not console.is_dumb_terminal),
            get_time=clock,
        )
        self.total, self.completed, self._before = total, 0, 0
        self._pace: float | None = 1.0
        self._id: Any = None
        self._label, self._unit, self._eta = label, unit, eta
        self._description = ""
        self._plain = plain and enabled and self._bar.disable  # enabled, off a terminal
        self._clock = clock
        self._started = self._said_at = clock()
        self._said = 0  # units done at the last plain line
        self._lines = 0  # plain lines written

    def __enter__(self) -> ProgressBar:
        if not self._bar.disable:  # rich before 14.3 printed a blank line on a disabled one's stop
            self._bar.__enter__()
        self._id = self._bar.add_task("", total=self.total)
        self._started = self._said_at = self._clock()
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if not self._bar.disable:
            self._bar.__exit__(exc_type, *exc)
        # the end, for a log that was told of the work (not after an error: it says its own)
        if self._plain and self._lines and exc_type is None and self.completed != self._said:
            self._write(self._clock(), done=True)

    @property
    def shown(self) -> bool:
        """Whether it draws (enabled, on a terminal)."""
        return not self._bar.disable

    @property
    def plain(self) -> bool:
        """Whether it writes plain lines (enabled, off a terminal, ``plain=True``)."""
        return self._plain

    @property
    def room(self) -> int:
        """Columns of the terminal's line left for text beyond the label, a bar of
        ``BAR_LEAST`` columns, the count and the time left: what a description that should not
        push them off the line may take (rich cuts the count and the time before it)."""
        digits = len(str(max(self.total, 0)))
        eta = 9 if self._eta else 0  # H:MM:SS, and 100:00:00 for a search of days
        used = len(self._label or "") + BAR_LEAST + 2 * digits + 1 + eta
        return self._bar.console.width - used - 4  # one space between each two columns

    def describe(self, text: str) -> None:
        self._description = text
        self._bar.update(self._id, description=text)

    def already(self, done: int) -> None:
        """``done`` units were done before this run began (a resumed search's trials): shown
        as done, not counted in the pace. Call it inside ``with``, before the first update."""
        self._before = self.completed = self._said = done
        self._bar.update(self._id, completed=done, before=done)

    def pace(self, factor: float | None) -> None:
        """Units left take ``factor`` times as long as the units done did, on average: the time
        left is scaled by it (1.0 until told; ``None``: no time left is shown)."""
        self._pace = factor
        self._bar.update(self._id, pace=factor)

    def advance(self, n: int = 1) -> None:
        self.update(self.completed + n)

    def update(self, completed: int) -> None:
        """Sets the units done (a callback for code that counts them itself).

        Raises:
            KeyboardInterrupt: Ctrl-C landed in an import since the last update (the CLI holds
                it there: :mod:`lrkit.interrupts`).
        """
        raise_held()
        self.completed = completed
        self._bar.update(self._id, completed=completed)
        if self._plain and self._step(completed) > self._step(self._said):
            now = self._clock()
            if now - self._said_at >= PLAIN_EVERY_S:
                self._write(now)

    def grow(self, n: int) -> None:
        self.total += n
        self._bar.update(self._id, total=self.total)

    def _step(self, completed: int) -> int:
        """How many tenths of the work ``completed`` units are (0 for work of no size)."""
        if self.total <= 0:
            return 0
        return min(PLAIN_STEPS, PLAIN_STEPS * max(0, completed) // self.total)

    def _write(self, now: float, *, done: bool = False) -> None:
        elapsed = now - self._started
        head = self._text(self._label) if self._label is not None else self._description
        count = f"{self.completed}/{self.total}"
        if self._unit:
            count += f" {self._text(self._unit)}"
        if self.total > 0:
            count += f" ({100 * self.completed // self.total}%)"
        parts = [count]
        if done:
            parts.append(f"finished in {hms(elapsed)}")
        else:
            parts.append(f"{hms(elapsed)} elapsed")
            left = time_left(elapsed, self.completed, self.total, self._before, self._pace)
            if self._eta and left is not None:
                parts.append(f"about {hms(left)} left")
        line = ", ".join(parts)
        write_line(f"{head}: {line}" if head else line)
        self._said, self._said_at, self._lines = self.completed, now, self._lines + 1

    def _text(self, template: str) -> str:
        """A label or unit as its rich column shows it (``{task.description}`` filled in)."""
        task = SimpleNamespace(
            description=self._description, completed=self.completed, total=self.total
        )
        try:
            return template.format(task=task)
        except (AttributeError, IndexError, KeyError, ValueError):
            return template
