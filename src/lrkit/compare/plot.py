"""The comparison figure: its data computed apart from the drawing.

:func:`plot_data` turns a :class:`~lrkit.compare.result.CompareResult` into arrays (mean over
seeds, and a band for their spread) that tests check without a display; :func:`plot_compare`
draws four panels with matplotlib, never through pyplot: validation loss and the learning rate
on top, validation and test metric below, all against epoch, one colour per schedule.

Example:
    >>> from lrkit.compare.result import CompareResult, ScheduleRun
    >>> from lrkit.history import EpochRecord, History
    >>> def history(seed, acc):
    ...     recs = tuple(EpochRecord(e, 0.1, (0.1,), 1.0, 1.0 / e, acc * e / 2,
    ...                              test_loss=1.0, test_metric=acc) for e in (1, 2))
    ...     return History("toy", "accuracy", 0.1, "constant", seed, "epoch", 2, recs,
    ...                    (0.1,) * 4, 1.0, acc, False, False)
    >>> run = ScheduleRun("constant", "constant", 0.1, "epoch", "lrkit",
    ...                   (history(0, 0.8), history(1, 0.9)), steps_per_epoch=2)
    >>> data = plot_data(CompareResult("toy", "accuracy", 0.1, 2, (0, 1), (run,)))
    >>> curve = data.curves[0]
    >>> curve.val_metric.mean.round(3).tolist(), curve.lr_x.tolist()
    ([0.425, 0.85], [0.0, 0.5, 1.0, 1.5, 2.0])
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lrkit.axes import label_log_axis, spans
from lrkit.plaintext import literal

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lrkit.compare.result import CompareResult, ScheduleRun


@dataclass(frozen=True, eq=False)
class Band:
    """A curve over seeds: the mean, and a band around it (equal to the mean for one seed)."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True, eq=False)
class CompareCurve:
    """One schedule's curves.

    Attributes:
        label: The schedule's name in the table and the legend.
        source: ``"lrkit"`` or ``"sklearn"`` (drawn dashed).
        best: Whether it is the comparison's winner (by validation; drawn thicker).
        epochs: 1-based epochs; losses and metrics are measured at each one's end.
        val_loss: Validation loss; the band is mean ± standard deviation over seeds.
        val_metric: Validation metric, likewise.
        test_metric: Test metric, likewise (all NaN without per-epoch test numbers).
        lr_x: Where each LR is drawn, in epochs from 0: step ``i`` at ``i / steps_per_epoch``,
            and one last point at the end of the last epoch.
        lr: The LR there; the band is the lowest and highest LR over seeds (a plateau schedule
            drops at different epochs on different seeds; a log axis cannot show mean - std).
    """

    label: str
    source: str
    best: bool
    epochs: np.ndarray
    val_loss: Band
    val_metric: Band
    test_metric: Band
    lr_x: np.ndarray
    lr: Band


@dataclass(frozen=True, eq=False)
class ComparePlotData:
    """What the comparison figure shows.

    Attributes:
        curves: One per schedule, in the table's order.
        metric: The task's metric name.
        seeds: How many seeds each mean is over.
        metric_ylim: Limits of both metric panels, from the end of the budget's first quarter
            on (the first epochs' low values would squash the differences), or ``None``.
        log_loss: Whether the validation loss spans more than a decade (log axis).
        log_lr: Whether the LRs span more than two decades (log axis).
    """

    curves: tuple[CompareCurve, ...]
    metric: str
    seeds: int
    metric_ylim: tuple[float, float] | None
    log_loss: bool
    log_lr: bool


def plot_data(result: CompareResult) -> ComparePlotData:
    """The data of :func:`plot_compare`."""
    best = result.best
    curves = tuple(_curve(run, run is best) for run in result.runs)
    losses = np.concatenate([c.val_loss.mean for c in curves]) if curves else np.array([])
    lrs = np.concatenate([c.lr.mean for c in curves]) if curves else np.array([])
    return ComparePlotData(
        curves=curves,
        metric=result.metric,
        seeds=len(result.seeds),
        metric_ylim=_metric_ylim(curves, result.epochs),
        log_loss=spans(losses, 10.0),
        log_lr=spans(lrs, 100.0),
    )


def _curve(run: ScheduleRun, best: bool) -> CompareCurve:
    n_epochs = max((h.epochs_run for h in run.histories), default=0)
    epochs = np.arange(1, n_epochs + 1, dtype=np.float64)
    n_steps = max((len(h.step_lrs) for h in run.histories), default=0)
    lr_rows = [_pad([*h.step_lrs, *h.step_lrs[-1:]], n_steps + 1) for h in run.histories]
    lr_matrix = np.array(lr_rows) if lr_rows else np.empty((0, 0))
    with warnings.catch_warnings():  # columns where every seed diverged are all NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        lr = Band(
            mean=np.nanmean(lr_matrix, axis=0),
            low=np.nanmin(lr_matrix, axis=0),
            high=np.nanmax(lr_matrix, axis=0),
        )
    return CompareCurve(
        label=run.label,
        source=run.source,
        best=best,
        epochs=epochs,
        val_loss=_band([h.val_loss for h in run.histories], n_epochs),
        val_metric=_band([h.val_metric for h in run.histories], n_epochs),
        test_metric=_band([h.epoch_test_metric for h in run.histories], n_epochs),
        lr_x=np.arange(n_steps + 1, dtype=np.float64) / max(run.steps_per_epoch, 1),
        lr=lr,
    )


def _pad(values: list[float] | tuple[float, ...], n: int) -> list[float]:
    return [*values, *([math.nan] * (n - len(values)))]


def _band(per_seed: list[tuple[float, ...]], n: int) -> Band:
    # each epoch's mean over the seeds still training there: a seed that diverged leaves the
    # curve where it stopped (padded with NaN), while the table's mean is NaN to say it did
    matrix = np.array([_pad(v, n) for v in per_seed], dtype=np.float64).reshape(-1, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(matrix, axis=0)
        counts = np.sum(np.isfinite(matrix), axis=0)
        std = np.where(counts > 1, np.nanstd(matrix, axis=0, ddof=1), 0.0)
    return Band(mean=mean, low=mean - std, high=mean + std)


def _metric_ylim(curves: tuple[CompareCurve, ...], epochs: int) -> tuple[float, float] | None:
    start = max(2, math.ceil(epochs / 4)) if epochs >= 2 else 1
    values = np.array(
        [
            v
            for c in curves
            for band in (c.val_metric, c.test_metric)
            for v in (*band.low[start - 1 :], *band.high[start - 1 :])
            if math.isfinite(v)
        ]
    )
    if values.size == 0:
        return None
    low, high = float(values.min()), float(values.max())
    pad = max(high - low, 1e-3) * 0.08
    return round(low - pad, 12), round(high + pad, 12)


def plot_compare(
    result: CompareResult, fig: Figure | None = None, *, title: str | None = None
) -> Figure:
    """Draws the comparison: four panels, one colour per schedule, bands for the seed spread.

    Args:
        result: A comparison.
        fig: A figure to draw into (it should be empty); ``None`` makes one, without pyplot.
        title: The figure's title; ``None`` names the task, budget and seeds.

    Returns:
        The figure.
    """
    from matplotlib.ticker import PercentFormatter

    from lrkit.figures import NotebookFigure

    data = plot_data(result)
    if fig is None:
        fig = NotebookFigure(figsize=(12.0, 8.5), layout="constrained")
    (loss_ax, lr_ax), (val_ax, test_ax) = fig.subplots(2, 2, sharex=True)
    for i, curve in enumerate(data.curves):
        style: dict[str, Any] = {
            "color": f"C{i % 10}",
            "linestyle": "--" if curve.source == "sklearn" else "-",
            "linewidth": 2.6 if curve.best else 1.5,
            # scikit-learn's dashed lines under the task's own, the winner on top
            "zorder": 3.0 if curve.best else (1.5 if curve.source == "sklearn" else 2.0),
            "label": f"{curve.label}  (best by validation)" if curve.best else curve.label,
        }
        _draw(loss_ax, curve.epochs, curve.val_loss, style)
        _draw(val_ax, curve.epochs, curve.val_metric, style)
        _draw(test_ax, curve.epochs, curve.test_metric, style)
        _draw(lr_ax, curve.lr_x, curve.lr, style, drawstyle="steps-post")
    name = data.metric.replace("_", " ")
    loss_ax.set_ylabel("validation loss")
    lr_ax.set_ylabel("learning rate")
    val_ax.set_ylabel(f"validation {name}")
    test_ax.set_ylabel(f"test {name} (reported, not used to choose)")
    if data.log_loss:
        loss_ax.set_yscale("log")
        # 0.2, not 2 x 10^-1; minor ticks labelled at 2 and 5 only, so two decades stay legible
        label_log_axis(loss_ax.yaxis)
    if data.metric == "accuracy":  # in percent, as the table shows it
        val_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        test_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    if data.log_lr:
        lr_ax.set_yscale("log")
    if data.metric_ylim is not None:
        val_ax.set_ylim(*data.metric_ylim)
        test_ax.set_ylim(*data.metric_ylim)
    if not any(np.any(np.isfinite(c.test_metric.mean)) for c in data.curves):
        # a task without test data: say so, not an empty frame with the validation's ticks
        test_ax.text(
            0.5,
            0.5,
            "no test data",
            transform=test_ax.transAxes,
            ha="center",
            va="center",
            color="0.4",
        )
        test_ax.set_yticks([])
    for ax in (loss_ax, lr_ax, val_ax, test_ax):
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    val_ax.set_xlabel("epoch")
    test_ax.set_xlabel("epoch")
    spread = f"mean ± std over {data.seeds} seeds" if data.seeds > 1 else "1 seed"
    epochs = f"{result.epochs} epoch" + ("s" if result.epochs != 1 else "")
    fig.suptitle(title or f"{literal(result.task)}: schedules compared ({epochs}, {spread})")
    handles, labels = loss_ax.get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=min(3, len(handles)),
            fontsize="small",
            frameon=False,
        )
    return fig


def _draw(
    ax: Axes, x: np.ndarray, band: Band, style: dict[str, Any], drawstyle: str = "default"
) -> None:
    if not np.any(np.isfinite(band.mean)):
        return
    ax.plot(x, band.mean, drawstyle=drawstyle, **style)
    if np.any(band.high > band.low):
        step: Literal["post"] | None = "post" if drawstyle == "steps-post" else None
        ax.fill_between(x, band.low, band.high, color=style["color"], alpha=0.15, step=step)
