"""The range-test plot: its data computed apart from the drawing.

:func:`plot_data` turns a :class:`~lrkit.finder.result.RangeTestResult` into what the plot shows
(plain arrays and numbers that tests can check without a display); :func:`plot_result` draws it
with matplotlib, imported only there. No window is opened and nothing blocks: the figure is made
without pyplot, so it works on a headless server; save it with ``fig.savefig("lr.png")``, or let
a notebook display the returned figure.

Example:
    >>> from lrkit.finder.result import RangeTestResult
    >>> r = RangeTestResult(lrs=(1e-3, 1e-2, 1e-1, 1.0), losses=(2.0, 1.0, 0.5, 9.0),
    ...                     smoothed=(2.0, 1.2, 0.8, 3.0), group_lrs=((1e-3, 1e-2, 1e-1, 1.0),),
    ...                     suggestion=1e-2, range=(3e-3, 3e-2), stop_reason="diverged",
    ...                     diverged_lr=1.0)
    >>> data = plot_data(r)
    >>> data.suggestion, data.ylim
    ((0.01, 1.2), (0.68, 2.48))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lrkit.errors import bad_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lrkit.finder.result import RangeTestResult


@dataclass(frozen=True, eq=False)
class FinderPlotData:
    """What the range-test plot shows.

    Attributes:
        lrs: The LR of each plotted step (after ``skip_start`` / ``skip_end``).
        losses: The raw losses at those steps.
        smoothed: The smoothed losses at those steps.
        suggestion: ``(lr, smoothed loss there)`` for the marker, or ``None``.
        range: The ``(low, high)`` band, or ``None``.
        diverged_lr: Where the sweep diverged, or ``None``.
        ylim: Y limits that show the descent (a diverging tail would squash it), or ``None``.
        log_lr: Whether the LR axis is logarithmic.
        ylabel: ``"training loss"`` or ``"validation loss"``.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: tuple[float, float] | None
    range: tuple[float, float] | None
    diverged_lr: float | None
    ylim: tuple[float, float] | None
    log_lr: bool
    ylabel: str


def plot_data(
    result: RangeTestResult, *, skip_start: int = 0, skip_end: int = 0, log_lr: bool = True
) -> FinderPlotData:
    """The data of the range-test plot.

    Args:
        result: A range test's result.
        skip_start: Steps left out at the start (torch-lr-finder's default is 10; lrkit shows all).
        skip_end: Steps left out at the end.
        log_lr: Logarithmic LR axis (the default).

    Raises:
        ConfigError: ``skip_start`` or ``skip_end`` is negative, or together they leave no step.
    """
    for name, value in (("skip_start", skip_start), ("skip_end", skip_end)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad_value(name, "an integer >= 0", value)
    n = result.steps
    if skip_start + skip_end >= n:
        raise bad_value(
            "skip_start + skip_end", f"less than the {n} steps of the curve", skip_start + skip_end
        )
    part = slice(skip_start, n - skip_end)
    lrs = np.asarray(result.lrs, dtype=np.float64)[part]
    smoothed = np.asarray(result.smoothed, dtype=np.float64)[part]
    suggestion = None
    if result.suggestion is not None:
        x = np.log(lrs) if log_lr else lrs
        at = np.log(result.suggestion) if log_lr else result.suggestion
        suggestion = (result.suggestion, round(float(np.interp(at, x, smoothed)), 12))
    return FinderPlotData(
        lrs=lrs,
        losses=np.asarray(result.losses, dtype=np.float64)[part],
        smoothed=smoothed,
        suggestion=suggestion,
        range=result.range,
        diverged_lr=result.diverged_lr,
        ylim=_ylim(smoothed),
        log_lr=log_lr,
        ylabel="validation loss" if result.loss_kind == "val" else "training loss",
    )


def _ylim(smoothed: np.ndarray) -> tuple[float, float] | None:
    """From below the lowest smoothed loss to above the highest one before it."""
    if smoothed.size < 2:
        return None
    best = int(np.argmin(smoothed))
    low, high = float(smoothed[best]), float(np.max(smoothed[: best + 1]))
    if high <= low:  # no descent: show the whole curve
        low, high = float(np.min(smoothed)), float(np.max(smoothed))
        if high <= low:
            return None
    pad = high - low
    return round(low - 0.1 * pad, 12), round(high + 0.4 * pad, 12)


def plot_result(
    result: RangeTestResult,
    ax: Axes | None = None,
    *,
    skip_start: int = 0,
    skip_end: int = 0,
    log_lr: bool = True,
    show_raw: bool = True,
    title: str | None = None,
) -> Figure:
    """Draws loss against LR with the suggestion, the range and the divergence marked.

    Args:
        result: A range test's result.
        ax: Axes to draw on; ``None`` makes a new figure (without pyplot: nothing is shown).
        skip_start: Steps left out at the start.
        skip_end: Steps left out at the end.
        log_lr: Logarithmic LR axis (the default).
        show_raw: Draw the raw losses faintly behind the smoothed curve.
        title: Axes title.

    Returns:
        The figure holding the axes.

    Raises:
        ImportError: matplotlib is not installed (the message says how to install it).
    """
    data = plot_data(result, skip_start=skip_start, skip_end=skip_end, log_lr=log_lr)
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "Plotting a range test needs matplotlib, which is not installed. Install it by "
            "running `pip install -U matplotlib`."
        ) from exc
    if ax is None:
        fig = Figure(figsize=(7.0, 4.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        parent = ax.figure
        fig = parent if isinstance(parent, Figure) else parent.figure  # a SubFigure's root
    if show_raw:
        ax.plot(data.lrs, data.losses, color="0.6", linewidth=0.8, alpha=0.6, label="raw loss")
    ax.plot(data.lrs, data.smoothed, color="C0", linewidth=2.0, label="smoothed loss")
    if data.range is not None:
        low, high = data.range
        ax.axvspan(low, high, color="C2", alpha=0.15, label=f"range {low:.2g} – {high:.2g}")
    if data.suggestion is not None:
        lr, loss = data.suggestion
        ax.axvline(lr, color="C1", linestyle="--", linewidth=1.2)
        ax.plot([lr], [loss], "o", color="C1", markersize=8, label=f"suggestion {lr:.2g}")
    if data.diverged_lr is not None:
        ax.axvline(
            data.diverged_lr,
            color="C3",
            linestyle=":",
            linewidth=1.2,
            label=f"stopped at {data.diverged_lr:.2g} ({result.stop_reason})",
        )
    if data.log_lr:
        ax.set_xscale("log")
    if data.ylim is not None:
        ax.set_ylim(*data.ylim)
    ax.set_xlabel("learning rate")
    ax.set_ylabel(data.ylabel)
    ax.grid(True, which="major", alpha=0.35)
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize="small", frameon=False)
    return fig
