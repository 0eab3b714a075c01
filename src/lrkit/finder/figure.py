"""The figure of :meth:`LRFinder.plot <lrkit.finder.LRFinder.plot>`: a matplotlib Figure that
also unpacks as torch-lr-finder's ``plot()`` returns by default, ``(ax, suggested_lr)``.

So both ``fig = finder.plot(); fig.savefig("range.png")`` and torch-lr-finder's
``_, lr = finder.plot()`` work.

Example:
    >>> fig = FinderFigure()
    >>> ax = fig.add_subplot()
    >>> fig.suggestion = 0.01
    >>> shown, lr = fig
    >>> shown is ax, lr
    (True, 0.01)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lrkit.figures import NotebookFigure


class FinderFigure(NotebookFigure):
    """A Figure with one Axes that unpacks as ``(ax, suggestion)`` (``None``: no suggestion)."""

    suggestion: float | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.axes[0], self.suggestion))
