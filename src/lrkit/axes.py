"""Where a plot draws: a new figure (made without pyplot, so nothing opens a window or blocks on
a headless machine) or the caller's matplotlib Axes, checked to be one."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable
from typing import Any

from lrkit.errors import bad_value


def figure_and_axes(
    ax: Any, size: tuple[float, float], figure_class: type | None = None
) -> tuple[Any, Any]:
    """``(figure, axes)``: a new ``size`` figure with one Axes when ``ax`` is None (of
    ``figure_class``, a Figure subclass, where given), else ``ax`` and its root figure (a
    SubFigure's too).

    Example:
        >>> fig, ax = figure_and_axes(None, (4.0, 3.0))
        >>> figure_and_axes(ax, (1.0, 1.0))[0] is fig
        True
        >>> figure_and_axes(5, (1.0, 1.0))
        Traceback (most recent call last):
        ...
        lrkit.errors.ConfigError: ax must be a matplotlib Axes, or None for a new figure, got 5.
    """
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lrkit.figures import NotebookFigure

    if ax is None:
        fig = (figure_class or NotebookFigure)(figsize=size, layout="constrained")
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise bad_value("ax", "a matplotlib Axes, or None for a new figure", ax)
    parent = ax.figure
    return (parent if isinstance(parent, Figure) else parent.figure), ax


def plain_matplotlib() -> None:
    """Draws with matplotlib's own style, text and the Agg renderer, whatever a ``matplotlibrc``
    or ``MPLBACKEND`` says: for the ``lrkit`` command's process alone (it changes them for the
    whole process), which only writes PNG files. A ``text.usetex: True`` without LaTeX
    installed, or a backend left over from another environment (a notebook's
    ``module://matplotlib_inline...``), would fail the command after its work."""
    os.environ["MPLBACKEND"] = "agg"  # read when matplotlib is imported, here and in workers
    import matplotlib
    import matplotlib.style

    # matplotlib's own style: a dark or one-colour matplotlibrc made white text on the report's
    # white figures, or schedules of one colour
    matplotlib.style.use("default")
    matplotlib.rcParams["text.usetex"] = False


def spans(values: Iterable[float], ratio: float) -> bool:
    """Whether the positive finite ``values`` span more than ``ratio`` (high / low): a log axis
    then reads better.

    Example:
        >>> spans([1e-4, 0.5, float("nan")], 100.0), spans([0.0, 1.0, 50.0], 100.0)
        (True, False)
    """
    positive = [float(v) for v in values if math.isfinite(v) and v > 0]
    return bool(positive) and max(positive) / min(positive) > ratio


def pyplot_axes(size: tuple[float, float], figure_class: type | None = None) -> Any | None:
    """A new ``size`` figure's Axes made through pyplot, where the caller uses pyplot: where it
    is imported, or in IPython and Jupyter (whose inline backend shows pyplot's figures at the
    end of a cell). ``None`` elsewhere: a script that never imported pyplot gets a figure that
    opens no window. ``figure_class``: a Figure subclass to make.
    """
    if "matplotlib.pyplot" not in sys.modules:
        ipython = sys.modules.get("IPython")
        if ipython is None or getattr(ipython, "get_ipython", lambda: None)() is None:
            return None
    import matplotlib.pyplot as plt

    from lrkit.figures import NotebookFigure

    made = plt.figure(
        figsize=size, layout="constrained", FigureClass=figure_class or NotebookFigure
    )
    return made.add_subplot()


def label_log_axis(axis: Any) -> None:
    """Labels a log ``axis`` (``ax.xaxis``, ``ax.yaxis``) 0.02, not 2 x 10^-2, and its minor
    ticks at 2 and 5 of each decade too, so that one spanning a decade or two has more than
    one label to read it by.

    Example:
        >>> fig, ax = figure_and_axes(None, (4.0, 3.0))
        >>> ax.set_xscale("log")
        >>> _ = ax.set_xlim(0.001, 0.1)
        >>> label_log_axis(ax.xaxis)
        >>> fig.canvas.draw()
        >>> def shown(minor):
        ...     labels = ax.get_xticklabels(minor=minor)
        ...     return [t.get_text() for t in labels if 0.001 <= t.get_position()[0] <= 0.1]
        >>> shown(minor=False), [text for text in shown(minor=True) if text]
        (['0.001', '0.01', '0.1'], ['0.002', '0.005', '0.02', '0.05'])
    """
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(_two_and_five))


def _two_and_five(value: float, _pos: int) -> str:
    if not (math.isfinite(value) and value > 0):
        return ""
    lead = round(value / 10 ** math.floor(math.log10(value) + 1e-9), 6)
    return f"{value:g}" if lead in (2.0, 5.0) else ""
