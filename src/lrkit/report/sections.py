"""The report's sections, one function per kind, each from lrkit's own results.

Each function returns a :class:`~lrkit.report.html.Section` whose figures are already embedded;
:func:`~lrkit.report.document.write_report` puts sections together into ``report.html``.

Example:
    >>> s = summary_section({"best LR": 0.012345, "range": (0.003, 0.05), "schedule": "cosine"})
    >>> s.key, "0.01235" in s.html, "0.003 to 0.05" in s.html
    ('summary', True, True)
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lrkit.checks import whole_number
from lrkit.errors import bad_value
from lrkit.plaintext import LR_FORMAT, literal, lr_text, range_text
from lrkit.report.html import (
    Section,
    escape,
    facts_html,
    figure_html,
    format_metric,
    format_value,
    paragraphs_html,
    table_html,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lrkit.finder.result import RangeTestResult
    from lrkit.history import History
    from lrkit.search.result import SearchResult

_SUMMARY_ITEM = re.compile(
    r'<div class="kv" data-label="([^"]*)"><dt>.*?</dt><dd>(.*?)</dd></div>', re.DOTALL
)


def section(
    key: str,
    title: str,
    *,
    text: str | None = None,
    figures: Sequence[Figure] = (),
    table: Sequence[Mapping[str, Any]] | None = None,
    columns: Sequence[str] | None = None,
    floatfmt: str | Mapping[str, str] = ".4g",
) -> Section:
    """A section of text, figures and a table: for any command without a section of its own.

    Args:
        key: The section's key (``"compare"`` for ``lrkit compare``).
        title: Its heading.
        text: Plain text (escaped here); blank lines separate paragraphs.
        figures: matplotlib figures, embedded as PNGs in this order; each one's alt text is its
            axes' titles (or the section's title).
        table: Rows of a table shown after the figures (see
            :func:`~lrkit.report.html.table_html`).
        columns: The table's columns in order (default: every key, first seen first).
        floatfmt: The format of float cells, or one per column.

    Example:
        >>> s = section("compare", "Schedules", text="cosine won.", table=[{"schedule": "cosine"}])
        >>> s.key, s.html.startswith("<p>cosine won.</p>")
        ('compare', True)
    """
    parts = [paragraphs_html(text)] if text else []
    parts += [_figure(fig, _alt(fig, title)) for fig in figures]
    if table is not None:
        parts.append(table_html(table, columns, floatfmt=floatfmt))
    return Section(key, title, "\n".join(parts))


def summary_section(summary: Mapping[str, Any], *, title: str = "Summary") -> Section:
    """The key numbers as a grid of labelled values (best LR, range, schedule, test accuracy...).

    Floats show 4 significant digits, a pair of numbers shows as ``low to high``, ``None`` as
    ``none``; strings show as given. Writing a report with ``merge=True`` keeps the items of an
    earlier summary whose labels the new one does not have.

    Example:
        >>> "<dt>test accuracy</dt><dd>0.9612</dd>" in summary_section(
        ...     {"test accuracy": 0.96123}).html
        True
    """
    if not isinstance(summary, Mapping):
        raise bad_value("summary", "a mapping of label to value", type(summary).__name__)
    items = "\n".join(
        f'<div class="kv" data-label="{escape(label)}"><dt>{escape(label)}</dt>'
        f"<dd>{escape(_summary_value(value))}</dd></div>"
        for label, value in summary.items()
    )
    return Section("summary", title, f'<dl class="summary">\n{items}\n</dl>')


def summary_items(section: Section) -> dict[str, str]:
    """The labels and shown values of a :func:`summary_section`, e.g. as read back from a file.

    Example:
        >>> summary_items(summary_section({"best LR": 0.0123, "task": "a<b"}))
        {'best LR': '0.0123', 'task': 'a<b'}
    """
    return {
        html.unescape(label): html.unescape(value)
        for label, value in _SUMMARY_ITEM.findall(section.html)
    }


def range_test_section(
    result: RangeTestResult, *, task: str, title: str = "Range test", fig: Figure | None = None
) -> Section:
    """The range-test curve with its suggestion and range, and the numbers beside it.

    ``fig`` is the curve when already drawn (``result.plot(...)``, say for a PNG beside the
    report); by default it is drawn here.

    Example:
        >>> from lrkit.finder import RangeTestResult
        >>> r = RangeTestResult(lrs=(1e-3, 1e-2, 1e-1), losses=(2.0, 1.0, 3.0),
        ...                     smoothed=(2.0, 1.2, 2.0), group_lrs=((1e-3, 1e-2, 1e-1),),
        ...                     suggestion=3e-3, range=(1e-3, 1e-2))
        >>> s = range_test_section(r, task="<digits>")
        >>> "data:image/png;base64," in s.html, "&lt;digits&gt;" in s.html
        (True, True)
    """
    facts = {
        "task": task,
        "suggestion": lr_text(result.suggestion),
        "range": "none" if result.range is None else range_text(*result.range),
        "diverged at": result.divergence_text(),
        "stopped": result.stop_reason.replace("_", " "),
        "sweep": f"{range_text(result.start_lr, result.end_lr)}, {result.steps} of "
        f"{result.num_iter} steps ({result.step_mode})",
        "loss": "validation" if result.loss_kind == "val" else "training",
        "rule": result.rule,
        "time": _seconds(result.seconds),
    }
    if fig is None:
        fig = result.plot(title=f"{literal(task)}: range test")
    alt = (
        f"Range test on {task}: {facts['loss']} loss against learning rate (log axis); "
        f"suggestion {facts['suggestion']}, range {facts['range']}."
    )
    note = "".join(
        f'<p class="note">{escape(text)}</p>\n' for text in (result.note, result.warning) if text
    )
    body = f'{note}<div class="split">\n{_figure(fig, alt)}\n{facts_html(facts)}\n</div>'
    return Section("range_test", title, body)


def search_section(
    result: SearchResult,
    *,
    top: int | None = 15,
    title: str = "Learning-rate search",
    fig: Figure | None = None,
    metric: str | None = None,
) -> Section:
    """The search's value against LR (log axis, pruned trials hollow) and its best trials.

    Args:
        result: The search's result.
        top: Trials in the table (completed first, best first), unless all of them are at
            most a third more; ``None`` lists every trial.
        title: The section's heading.
        fig: The plot of value against LR when already drawn (``result.plot()``); by default it
            is drawn here.
        metric: The task's metric, when the trials recorded it (``val_metric``,
            ``test_metric``): its columns are named after it and shown as elsewhere (an
            accuracy in percent).
    """
    if top is not None:
        top = whole_number("top", top, expected="a positive integer or None")
    metric = result.metric if metric is None else metric
    best = result.best_trial
    text = (
        f"{result.n_trials} trials log-uniform in {range_text(result.low, result.high)} "
        f"({result.tally()}; {result.total_epochs} epochs of training in all). "
        + (
            f"Best: trial {best.number} at lr {lr_text(best.lr)}, value {format_value(best.value)} "
            f"({result.direction})."
            if best is not None
            else "No trial completed."
        )
    )
    ranked = result.ranked()
    # a few more rows beat a note that hides them: cut only when it leaves out a quarter or more
    shown = ranked if top is None or len(ranked) <= top * 4 // 3 else ranked[:top]
    place = {t.number: i for i, t in enumerate(shown)}
    rows = sorted(
        (r for r in result.rows() if r["number"] in place), key=lambda r: place[r["number"]]
    )
    columns = ["number", "lr", "value", "state", "epochs_run", "round", "seconds"]
    if len(result.rounds) <= 1:  # one round: the column would be all zeros
        columns.remove("round")
    named = {k: k.replace("_", " ") for k in ("val_loss", "val_metric", "test_loss", "test_metric")}
    if metric is not None:
        scores = ("val_metric", "test_metric")
        named.update({k: f"{k.split('_')[0]} {metric.replace('_', ' ')}" for k in scores})
        rows = [
            {**r, **{k: format_metric(metric, r[k]) for k in scores if isinstance(r.get(k), float)}}
            for r in rows
        ]
    # the value column has a stopped trial's last report, as the terminal's table does: the
    # objective's own column of the same name (a task's val loss) would repeat it, and the
    # value is shown as that column was (an accuracy in percent)
    same = next(
        (k for k, name in named.items() if _spelled(name) == _spelled(result.value_name)), None
    )
    named["value"] = result.value_name
    hidden = {"seed", "error", "round", "last_value", same}
    extra = [k for row in rows for k in row if k not in columns and k not in hidden]
    columns += list(dict.fromkeys(extra))
    if any(row.get("error") for row in rows):
        columns.append("error")
    from lrkit.search.result import STOPPED

    by_metric = metric is not None and same in ("val_metric", "test_metric")
    reported = False
    for i, row in enumerate(rows):
        value, stopped = row["value"], False
        if value is None and row["state"] in STOPPED and row["last_value"] is not None:
            value, stopped = row["last_value"], True
        if value is not None and (stopped or by_metric):
            text = format_metric(str(metric), value) if by_metric else format_value(value)
            rows[i] = {**row, "value": f"({text})" if stopped else text}
            reported |= stopped
    more = (
        ""
        if len(shown) == len(ranked)
        else f" (the first {len(shown)} of {len(ranked)} trials, best first)"
    )
    if reported:
        more += f"; ({result.value_name}): the last value a trial reported before it stopped"
    table = table_html(
        rows,
        columns,
        floatfmt={"lr": LR_FORMAT, "seconds": ".1f"},
        headers={"number": "trial", "epochs_run": "epochs", "seconds": "time (s)", **named},
    )
    alt = f"Search objective against learning rate, log axis, {result.tally()}."
    body = (
        f"{paragraphs_html(text)}\n{_figure(result.plot() if fig is None else fig, alt)}\n"
        f'<p class="caption">Trials{escape(more)}</p>\n{table}'
    )
    return Section("search", title, body)


def training_section(
    history: History,
    *,
    title: str = "Final training",
    key: str = "training",
    schedule: str | None = None,
) -> Section:
    """Loss, metric and LR by epoch in a row of three plots, and the run's final numbers;
    ``schedule`` names the schedule as the rest of the page does (default: the history's
    canonical spec, ``warmup:steps=1 > cosine:steps=11``)."""
    from lrkit.report.figures import plot_training

    best = history.best_epoch
    schedule = history.schedule if schedule is None else schedule
    facts = {
        "task": history.task,
        "schedule": schedule,
        "base lr": lr_text(history.lr),
        "epochs": f"{history.epochs_run} of {history.epochs}"
        + (" (diverged)" if history.diverged else "")
        + (" (stopped early)" if history.stopped_early else ""),
        "final train loss": format_value(_last(history.train_loss)),
        "final val loss": format_value(history.final_val_loss),
        f"final val {history.metric}": format_metric(history.metric, history.final_val_metric),
        f"best val {history.metric}": "none"
        if best is None
        else f"{format_metric(history.metric, history.best_val_metric)} (epoch {best})",
        "test loss": format_value(history.test_loss) or "none",
        f"test {history.metric}": format_metric(history.metric, history.test_metric) or "none",
        "time": _seconds(history.wall_time),
    }
    alt = (
        f"Training {history.task} with {schedule} at lr {lr_text(history.lr)}: loss, "
        f"validation {history.metric} and learning rate against epoch."
    )
    fig = plot_training(history)
    return Section(key, title, f"{_figure(fig, alt)}\n{facts_html(facts)}")


def _figure(fig: Figure, alt: str) -> str:
    return f"<figure>{figure_html(fig, alt)}</figure>"


def _alt(fig: Figure, fallback: str) -> str:
    """Alt text from what the figure says of itself: its title, its panels, its legend's curves.

    Example:
        >>> from matplotlib.figure import Figure
        >>> fig = Figure()
        >>> axes = fig.subplots(1, 2)
        >>> _ = axes[0].plot([0, 1], label="cosine"), axes[0].plot([1, 0], label="constant")
        >>> _ = axes[0].set_ylabel("loss"), axes[1].set_ylabel("lr"), axes[1].set_xlabel("epoch")
        >>> _ = fig.suptitle("digits: schedules"), fig.legend()
        >>> _alt(fig, "Schedules")
        'digits: schedules; panels: loss, lr, against epoch; curves: cosine, constant'
        >>> _alt(Figure(), "Schedules")
        'Schedules'
        >>> _ = fig.suptitle(r"cost in \\$: schedules")  # as plaintext.literal escapes it
        >>> _alt(fig, "Schedules").split(";")[0]
        'cost in $: schedules'
    """
    suptitle = getattr(fig, "_suptitle", None)  # Figure.get_suptitle is matplotlib >= 3.8
    parts = [suptitle.get_text()] if suptitle is not None and suptitle.get_text() else []
    axes = fig.get_axes()
    titles = [ax.get_title() for ax in axes if ax.get_title()]
    if titles:
        parts += titles
    else:
        panels = [ax.get_ylabel() for ax in axes if ax.get_ylabel()]
        against = sorted({ax.get_xlabel() for ax in axes if ax.get_xlabel()})
        if panels:
            parts.append(
                "panels: "
                + ", ".join(panels)
                + (f", against {' and '.join(against)}" if against else "")
            )
    curves = [" ".join(t.get_text().split()) for legend in fig.legends for t in legend.get_texts()]
    if curves:
        parts.append("curves: " + ", ".join(curves))
    # as the figure shows it: a dollar sign escaped for matplotlib (plaintext.literal) is one
    return "; ".join(parts).replace("\\$", "$") or fallback


def _summary_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return lr_text(value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return range_text(float(value[0]), float(value[1]))
    return format_value(value)


def _spelled(name: str) -> str:
    """A column's name as read: ``val neg_loss`` and ``val neg loss`` are one."""
    return name.replace("_", " ")


def _seconds(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.1f} s"


def _last(values: Sequence[float]) -> float | None:
    return values[-1] if values else None
