"""The range-test plot: its data computed apart from the drawing.

:func:`plot_data` turns a :class:`~lrkit.finder.result.RangeTestResult` into what the plot shows
(plain arrays and numbers that tests can check without a display); :func:`plot_result` draws it
with matplotlib, imported only there. No window is opened and nothing blocks: the figure is made
without pyplot, so it works on a headless server; save it with ``fig.savefig("lr.png")``, or let
a notebook display the returned figure.

The smoothed curve drawn is the one the suggestion is read from (:func:`lrkit.finder.suggest.
read_curve`: a zero-lag Gaussian smoothing in log-LR, up to where the loss diverged), not the
lagging EMA the sweep uses to decide when to stop: the marks then sit where the rule saw them.

Example:
    >>> import numpy as np
    >>> from lrkit.finder.result import RangeTestResult
    >>> lrs = tuple(np.logspace(-5, 0, 30).tolist())
    >>> losses = tuple((2.0 - 1.5 / (1 + (1e-2 / np.array(lrs)) ** 2) + np.array(lrs) ** 2 * 40
    ...                 ).tolist())
    >>> r = RangeTestResult(lrs=lrs, losses=losses, smoothed=losses, group_lrs=(lrs,),
    ...                     suggestion=1e-2, range=(8e-3, 6e-2))
    >>> data = plot_data(r)
    >>> len(data.smoothed) < len(data.lrs)  # the rule's reading stops where the loss diverged
    True
    >>> bottom, top = data.ylim
    >>> bottom < min(losses) and top < max(losses)  # the dip is shown, the exploding tail is not
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lrkit.axes import figure_and_axes
from lrkit.checks import check_flag, whole_number
from lrkit.errors import ConfigError, bad_value
from lrkit.finder.suggest import MIN_POINTS, read_curve
from lrkit.plaintext import lr_text, range_text
from lrkit.rounding import tidy

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lrkit.finder.result import RangeTestResult

FIGSIZE = (7.0, 4.5)  # inches: a new figure's size
HEADROOM = 0.3  # space above the start of the curve, as a share of its drop: the rise shows
FOOTROOM = 0.06  # space below the lowest raw loss, as a share of the drop


@dataclass(frozen=True, eq=False)
class FinderPlotData:
    """What the range-test plot shows.

    Attributes:
        lrs: The LR of each plotted step (after ``skip_start`` / ``skip_end``).
        losses: The raw losses at those steps.
        smoothed_lrs: The LRs of the smoothed curve: those steps up to where the loss diverged.
        smoothed: The suggestion rule's smoothed loss at ``smoothed_lrs`` (empty when the curve
            is too short to read).
        suggestion: ``(lr, smoothed loss there)`` for the marker, or ``None``.
        range: The ``(low, high)`` band, or ``None``.
        first_jump: Where the loss first jumped back by half of its improvement (the rule reads
            ``low`` before it; see :class:`~lrkit.finder.suggest.CurveReading`), or ``None``.
        diverged_lr: Where the sweep stopped on a diverging or non-finite loss, or ``None``.
        ylim: Y limits that show the curve from its start to a bit past divergence, the whole dip
            of the raw losses included and the exploding tail left out; ``None``: automatic.
        log_lr: Whether the LR axis is logarithmic.
        ylabel: ``"training loss"`` or ``"validation loss"``.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed_lrs: np.ndarray
    smoothed: np.ndarray
    suggestion: tuple[float, float] | None
    range: tuple[float, float] | None
    first_jump: float | None
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
    skip_start = whole_number("skip_start", skip_start, least=0)
    skip_end = whole_number("skip_end", skip_end, least=0)
    n = result.steps
    if n == 0:
        raise ConfigError(
            f"nothing to plot: the range test recorded no step ({result.warning or 'no loss'})"
        )
    if skip_start + skip_end >= n:
        raise bad_value(
            "skip_start + skip_end", f"less than the {n} steps of the curve", skip_start + skip_end
        )
    lrs = np.asarray(result.lrs, dtype=np.float64)
    losses = np.asarray(result.losses, dtype=np.float64)
    # The rule reads the whole curve; the steps left out are left out of what is drawn only.
    is_finite = np.isfinite(losses)
    finite = n if is_finite.all() else int(np.argmin(is_finite))  # up to the first NaN/inf
    reading = read_curve(result.lrs, result.losses) if finite >= MIN_POINTS else None
    read = len(reading.lrs) if reading is not None else 0
    smoothed = np.asarray(reading.smoothed if reading is not None else (), dtype=np.float64)
    end = n - skip_end
    part, smooth_part = slice(skip_start, end), slice(skip_start, max(min(end, read), skip_start))
    suggestion = None
    if result.suggestion is not None and read:
        x = np.log(lrs[:read]) if log_lr else lrs[:read]
        at = math.log(result.suggestion) if log_lr else result.suggestion
        suggestion = (result.suggestion, tidy(float(np.interp(at, x, smoothed))))
    return FinderPlotData(
        lrs=lrs[part],
        losses=losses[part],
        smoothed_lrs=lrs[smooth_part],
        smoothed=smoothed[smooth_part],
        suggestion=suggestion,
        range=result.range,
        first_jump=None if reading is None else reading.catapult,
        diverged_lr=result.diverged_lr,
        ylim=_ylim(losses[part], smoothed[smooth_part]),
        log_lr=log_lr,
        ylabel="validation loss" if result.loss_kind == "val" else "training loss",
    )


def _ylim(losses: np.ndarray, smoothed: np.ndarray) -> tuple[float, float] | None:
    """From a little below the lowest raw loss the rule read (the whole dip) to a little above
    the start of the curve and the top of the smoothed curve; what rises past that (the
    diverging tail, the spikes of a chaotic end) is clipped.

    Without a reading (too few points): the finite raw losses, all of them.
    """
    finite = losses[np.isfinite(losses)]
    if finite.size < 2:
        return None
    read = smoothed.size  # the drawn steps the rule read
    if read < 2:
        low, high = float(finite.min()), float(finite.max())
        return None if high <= low else (low, high)
    head = losses[:read][np.isfinite(losses[:read])]
    start = float(np.median(head[: max(5, read // 10)]))
    low = float(head.min())
    high = max(start, float(smoothed.max()))
    span = high - low
    if span <= 0:
        return None
    return tidy(low - FOOTROOM * span), tidy(high + HEADROOM * span)


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
        show_raw: Draw the raw losses, lighter, behind the smoothed curve.
        title: Axes title.

    Returns:
        The figure holding the axes.

    Raises:
        ConfigError: An option has the wrong type or value (``log_lr="no"``, ``skip_start=-1``).
    """
    check_flag("log_lr", log_lr)
    check_flag("show_raw", show_raw)
    if title is not None and not isinstance(title, str):
        raise bad_value("title", "a string or None", title)
    data = plot_data(result, skip_start=skip_start, skip_end=skip_end, log_lr=log_lr)

    fig, ax = figure_and_axes(ax, FIGSIZE)
    if show_raw:
        ax.plot(data.lrs, data.losses, color="0.55", linewidth=0.8, alpha=0.55, label="raw loss")
    if len(data.smoothed):
        ax.plot(
            data.smoothed_lrs,
            data.smoothed,
            color="C0",
            linewidth=2.0,
            label="smoothed loss (as lrkit reads it)",
        )
    if data.range is not None:
        low, high = data.range
        ax.axvspan(low, high, color="C2", alpha=0.15, label=f"range {range_text(low, high)}")
    if data.first_jump is not None:
        ax.axvline(
            data.first_jump,
            color="0.35",
            linestyle="-.",
            linewidth=1.0,
            label=f"first jump {lr_text(data.first_jump)}",
        )
    if data.suggestion is not None:
        lr, loss = data.suggestion
        ax.axvline(lr, color="C1", linestyle="--", linewidth=1.2)
        ax.plot([lr], [loss], "o", color="C1", markersize=8, label=f"suggestion {lr_text(lr)}")
    if data.diverged_lr is not None:
        ax.axvline(
            data.diverged_lr,
            color="C3",
            linestyle=":",
            linewidth=1.2,
            label=f"stopped at {lr_text(data.diverged_lr)} ({result.stop_reason})",
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
