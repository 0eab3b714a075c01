"""Where a plot draws: a new figure (made without pyplot, so nothing opens a window or blocks on
a headless machine) or the caller's matplotlib Axes, checked to be one."""

from __future__ import annotations

import sys
from typing import Any

from lrkit.errors import bad_value


def figure_and_axes(ax: Any, size: tuple[float, float]) -> tuple[Any, Any]:
    """``(figure, axes)``: a new ``size`` figure with one Axes when ``ax`` is None, else ``ax``
    and its root figure (a SubFigure's too).

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

    if ax is None:
        fig = Figure(figsize=size, layout="constrained")
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise bad_value("ax", "a matplotlib Axes, or None for a new figure", ax)
    parent = ax.figure
    return (parent if isinstance(parent, Figure) else parent.figure), ax


def pyplot_axes(size: tuple[float, float]) -> Any | None:
    """A new ``size`` figure's Axes made through pyplot, where the caller uses pyplot: where it
    is imported, or in IPython and Jupyter (whose inline backend shows pyplot's figures at the
    end of a cell). ``None`` elsewhere: a script that never imported pyplot gets a figure that
    opens no window.
    """
    if "matplotlib.pyplot" not in sys.modules:
        ipython = sys.modules.get("IPython")
        if ipython is None or getattr(ipython, "get_ipython", lambda: None)() is None:
            return None
    import matplotlib.pyplot as plt

    return plt.figure(figsize=size, layout="constrained").add_subplot()
