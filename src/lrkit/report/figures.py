"""The final-training figure: loss, metric and learning rate against epoch, side by side.

:func:`training_curves` computes what the figure shows (plain tuples that tests check without a
display); :func:`plot_training` draws it with matplotlib, imported only there and never through
pyplot, so nothing opens a window or blocks on a headless machine.

Example:
    >>> from lrkit.history import EpochRecord, History
    >>> records = tuple(EpochRecord(e, 0.1 / e, (0.1 / e,), 2.0 / e, 2.5 / e, 0.3 * e)
    ...                 for e in (1, 2, 3))
    >>> h = History("toy", "accuracy", 0.1, "constant", 0, "epoch", 3, records,
    ...             step_lrs=(0.1, 0.1, 0.05, 0.05, 0.033, 0.033), test_loss=None,
    ...             test_metric=None, diverged=False, stopped_early=False)
    >>> curves = training_curves(h)
    >>> curves.epochs, curves.lr_x
    ((1, 2, 3), (0.0, 0.5, 1.0, 1.5, 2.0, 2.5))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lrkit.history import History


@dataclass(frozen=True)
class TrainingCurves:
    """What the training figure shows.

    Attributes:
        epochs: The 1-based epochs run; losses and metrics are measured at each one's end.
        train_loss: Mean training loss of each epoch.
        val_loss: Validation loss after each epoch.
        val_metric: Validation metric after each epoch.
        metric: The metric's name (e.g. ``"accuracy"``).
        lr_x: Where each LR is drawn, in epochs from 0: one point per optimizer step when the
            run recorded them (step ``i`` of ``n`` at ``i * epochs / n``), else each epoch's start.
        lrs: The learning rate at each ``lr_x``.
        best_epoch: The epoch of the best validation metric, or ``None``.
    """

    epochs: tuple[int, ...]
    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]
    val_metric: tuple[float, ...]
    metric: str
    lr_x: tuple[float, ...]
    lrs: tuple[float, ...]
    best_epoch: int | None


def training_curves(history: History) -> TrainingCurves:
    """The data of :func:`plot_training`."""
    epochs = tuple(r.epoch for r in history.records)
    if history.step_lrs and epochs:
        n = len(history.step_lrs)
        lr_x = tuple(round(i * len(epochs) / n, 12) for i in range(n))
        lrs = tuple(history.step_lrs)
    else:
        lr_x = tuple(float(e - 1) for e in epochs)
        lrs = history.lrs
    return TrainingCurves(
        epochs=epochs,
        train_loss=history.train_loss,
        val_loss=history.val_loss,
        val_metric=history.val_metric,
        metric=history.metric,
        lr_x=lr_x,
        lrs=lrs,
        best_epoch=history.best_epoch,
    )


def plot_training(history: History, *, title: str | None = None) -> Figure:
    """Three axes in a row: loss (train and validation), the metric (an accuracy in percent, as
    the tables show it), and the LR, by epoch."""
    from matplotlib.ticker import PercentFormatter

    from lrkit.axes import spans
    from lrkit.figures import NotebookFigure
    from lrkit.report.html import format_metric

    data = training_curves(history)
    fig = NotebookFigure(figsize=(9.6, 3.3), layout="constrained")
    loss_ax, metric_ax, lr_ax = fig.subplots(1, 3)
    loss_ax.plot(data.epochs, data.train_loss, "o-", color="C0", markersize=3, label="train")
    loss_ax.plot(data.epochs, data.val_loss, "o-", color="C1", markersize=3, label="validation")
    loss_ax.set_ylabel("loss")
    loss_ax.legend(fontsize="small", frameon=False)
    metric_ax.plot(data.epochs, data.val_metric, "o-", color="C2", markersize=3)
    if data.best_epoch is not None:
        best = data.val_metric[data.epochs.index(data.best_epoch)]
        metric_ax.plot(
            [data.best_epoch],
            [best],
            "*",
            color="C1",
            markersize=11,
            label=f"best {format_metric(data.metric, best)} (epoch {data.best_epoch})",
        )
        # framed: the legend's star is not read as a point of the curve (QA 145)
        metric_ax.legend(fontsize="small", loc="lower right", framealpha=0.9)
    metric_ax.set_ylabel(f"validation {data.metric}")
    if data.metric == "accuracy":
        metric_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    if data.lrs:  # held until the end of the last epoch, so the last step shows as a line
        xs, ys = (*data.lr_x, float(len(data.epochs))), (*data.lrs, data.lrs[-1])
        lr_ax.plot(xs, ys, color="C4", drawstyle="steps-post")
    lr_ax.set_ylabel("learning rate")
    if spans(data.lrs, 100.0):
        lr_ax.set_yscale("log")
    for ax in (loss_ax, metric_ax, lr_ax):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    return fig
