"""The figure of :meth:`LRFinder.plot <lrkit.finder.LRFinder.plot>`: a matplotlib Figure that
also unpacks and indexes as torch-lr-finder's ``plot()`` returns by default,
``(ax, suggested_lr)``.

So both ``fig = finder.plot(); fig.savefig("range.png")`` and torch-lr-finder's
``_, lr = finder.plot()`` and ``lr = finder.plot()[1]`` work.

Example:
    >>> fig = FinderFigure()
    >>> ax = fig.add_subplot()
    >>> fig.suggestion = 0.01
    >>> shown, lr = fig
    >>> shown is ax, lr, fig[1], fig[-2] is ax, len(fig)
    (True, 0.01, 0.01, True, 2)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lrkit.figures import NotebookFigure


class FinderFigure(NotebookFigure):
    """A Figure with one Axes that unpacks and indexes as ``(ax, suggestion)`` (``None``: no
    suggestion)."""

    suggestion: float | None = None

    def _pair(self) -> tuple[Any, float | None]:
        return self.axes[0], self.suggestion

    def __iter__(self) -> Iterator[Any]:
        return iter(self._pair())

    def __getitem__(self, index: Any) -> Any:
        return self._pair()[index]

    def __len__(self) -> int:
        return 2
