"""The transient progress bar every long step shows on a terminal (and nowhere else)."""

from __future__ import annotations

from typing import Any


class ProgressBar:
    """A rich progress bar with one task: ``describe``, ``advance``, ``update`` and ``grow`` it.

    It draws only when ``enabled`` and its console is a terminal, and disappears when done.

    Args:
        total: Units of work (optimizer steps, epochs).
        enabled: ``False`` keeps it silent even on a terminal (``--quiet``).
        label: A fixed word before the bar (``"range test"``); ``None`` shows the description.
        unit: A word after the count (``"epochs"``).
        stderr: Draw on stderr (default) rather than stdout.
        eta: Show the estimated time left.

    Example:
        >>> with ProgressBar(3) as bar:  # silent here: not a terminal
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
    ) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
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
            columns.append(TimeRemainingColumn())
        self._bar = Progress(
            *columns,
            console=console,
            transient=True,
            disable=not (enabled and console.is_terminal),
        )
        self.total, self.completed = total, 0
        self._id: Any = None

    def __enter__(self) -> ProgressBar:
        self._bar.__enter__()
        self._id = self._bar.add_task("", total=self.total)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    @property
    def shown(self) -> bool:
        """Whether it draws (enabled, on a terminal)."""
        return not self._bar.disable

    def describe(self, text: str) -> None:
        self._bar.update(self._id, description=text)

    def advance(self, n: int = 1) -> None:
        self.update(self.completed + n)

    def update(self, completed: int) -> None:
        """Sets the units done (a callback for code that counts them itself)."""
        self.completed = completed
        self._bar.update(self._id, completed=completed)

    def grow(self, n: int) -> None:
        self.total += n
        self._bar.update(self._id, total=self.total)
