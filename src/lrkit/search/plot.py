"""The search's picture: each trial's value against its LR, on a log axis (optuna #4850)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lrkit.axes import figure_and_axes, label_log_axis
from lrkit.plaintext import literal, lr_text

if TYPE_CHECKING:
    from lrkit.search.result import SearchResult

# a range of at most this many decades gets its minor ticks labelled (at 2 and 5): one decade's
# axis would otherwise show a single label; five decades' would crowd with fifteen
NARROW_DECADES = 2.5


@dataclass(frozen=True)
class SearchPlotData:
    """What the plot shows, computed apart from drawing.

    ``complete`` and ``pruned`` are ``(lr, value)`` points (a pruned trial at the last value it
    reported), ``failed`` the LRs of failed trials, ``unreported`` those of pruned trials that
    reported no value, ``best`` the best completed point.
    """

    complete: tuple[tuple[float, float], ...]
    pruned: tuple[tuple[float, float], ...]
    failed: tuple[float, ...]
    unreported: tuple[float, ...]
    best: tuple[float, float] | None
    rounds: tuple[tuple[float, float], ...]


def search_plot_data(result: SearchResult) -> SearchPlotData:
    complete, pruned, failed, unreported = [], [], [], []
    for t in result.trials:
        if not math.isfinite(t.lr):
            continue
        if t.state == "complete" and t.value is not None and math.isfinite(t.value):
            complete.append((t.lr, t.value))
        elif t.state == "pruned" and t.intermediate and math.isfinite(t.intermediate[-1][1]):
            pruned.append((t.lr, t.intermediate[-1][1]))
        elif t.state == "pruned":  # stopped before its first report (or at a NaN)
            unreported.append(t.lr)
        elif t.state in ("failed", "complete"):
            failed.append(t.lr)
    best = result.best_trial
    return SearchPlotData(
        complete=tuple(complete),
        pruned=tuple(pruned),
        failed=tuple(failed),
        unreported=tuple(unreported),
        best=None if best is None or best.value is None else (best.lr, best.value),
        rounds=result.rounds[1:],
    )


def plot_search(
    result: SearchResult, ax: Any = None, *, title: str | None = None, ylabel: str | None = None
) -> Any:
    """Draws :func:`search_plot_data`; a new figure is made without pyplot, so nothing blocks."""
    fig, ax = figure_and_axes(ax, (7.0, 4.2))
    data = search_plot_data(result)
    if data.complete:
        xs, ys = zip(*data.complete)
        ax.scatter(xs, ys, s=36, color="tab:blue", zorder=3, label=f"complete ({len(xs)})")
    if data.pruned:
        xs, ys = zip(*data.pruned)
        ax.scatter(
            xs,
            ys,
            s=36,
            facecolors="none",
            edgecolors="tab:gray",
            zorder=2,
            label=f"pruned ({len(xs)}, last value)",
        )
    values = [v for _, v in data.complete + data.pruned]
    limits = value_limits(values, maximize=result.direction == "maximize")
    worst = 1.0 if limits is None else limits[2]
    if data.unreported:  # no value to place them at: at the worst end, hollow as pruned ones
        ax.scatter(
            data.unreported,
            [worst] * len(data.unreported),
            s=36,
            facecolors="none",
            edgecolors="tab:gray",
            marker="s",
            zorder=2,
            label=f"pruned without a value ({len(data.unreported)})",
        )
    if data.failed:  # at the worst end of the axis: the top when minimizing, else the bottom
        ax.scatter(
            data.failed,
            [worst] * len(data.failed),
            marker="x",
            color="tab:red",
            zorder=3,
            label=f"failed/diverged ({len(data.failed)})",
        )
    if data.best is not None:
        ax.scatter(
            [data.best[0]],
            [data.best[1]],
            s=140,
            marker="*",
            color="tab:orange",
            zorder=4,
            label=f"best lr={lr_text(data.best[0])}",
        )
    for low, high in data.rounds:
        ax.axvspan(low, high, color="tab:green", alpha=0.07)
    ax.set_xscale("log")
    ax.set_xlim(result.low / 1.3, result.high * 1.3)
    if math.log10(result.high / result.low) <= NARROW_DECADES:  # a bracket, a narrowed round:
        label_log_axis(ax.xaxis)  # 0.005, 0.01, 0.02, not 10^-2 alone
    if limits is not None:
        ax.set_ylim(limits[0], limits[1])
    elif data.failed or data.unreported:  # no value to show: the trials on a bare line, and why
        ax.set_yticks([])
        ax.text(
            0.5,
            0.62,
            f"no trial gave a value: {result.tally(complete=False)}",
            transform=ax.transAxes,
            ha="center",
            color="tab:red",
        )
    ax.set_xlabel("learning rate (log scale)")
    # a task search names its value ("val loss", "val accuracy"); an objective's is "value"
    name = "objective" if result.value_name == "value" else result.value_name
    ax.set_ylabel(ylabel or f"{name} ({result.direction})")
    ax.set_title(title or f"search '{literal(result.study_name)}': {result.n_trials} trials")
    ax.grid(True, which="both", alpha=0.25)
    if ax.get_legend_handles_labels()[0]:  # none for a search without trials
        ax.legend(loc="best", fontsize=8)
    return fig


def value_limits(values: list[float], *, maximize: bool) -> tuple[float, float, float] | None:
    """The value axis's ``(bottom, top)``, and the height to draw failed trials at, inside it at
    the worst end; ``None`` without values. The worst tenth of the values (beyond the nine
    tenths nearest the best) may fall outside, so a few diverged trials do not squash the rest;
    the best is always in view.

    Example:
        >>> [round(v, 6) for v in value_limits([1.0, 2.0], maximize=False)]
        [0.92, 2.24, 2.16]
        >>> [round(v, 6) for v in value_limits([1.0, 2.0], maximize=True)]
        [0.76, 2.08, 0.84]
    """
    if not values:
        return None
    ordered = sorted(values, reverse=maximize)  # best first
    best, edge = ordered[0], ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    pad = 0.08 * (abs(edge - best) or abs(edge) or 1.0)
    step = -pad if maximize else pad  # towards the worse values
    ends = (best - step, edge + 3 * step)
    return min(ends), max(ends), edge + 2 * step
