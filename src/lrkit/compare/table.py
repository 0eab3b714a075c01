"""The comparison as the fixed-width text table ``lrkit compare`` prints.

Accuracies are shown in percent, other metrics and losses with four decimals; with more than one
seed each cell is ``mean±std`` (sample standard deviation over seeds). The unit column says what
a schedule's lengths count (epochs, or optimizer steps: ``lrkit train --unit``). The winner,
chosen by validation only, is marked ``*``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrkit.compare.result import METRIC_NAMES
from lrkit.plaintext import counted, lr_text, shown

if TYPE_CHECKING:
    from lrkit.compare.result import CompareResult, ScheduleRun, Stat


def format_table(result: CompareResult, encoding: str | None = None) -> str:
    """The table of ``result`` (see :meth:`CompareResult.table`), laid out as a stream of
    ``encoding`` shows it: ``±`` as ``+/-`` where it cannot (the CLI passes stdout's).

    Example:
        >>> from lrkit.compare.result import CompareResult
        >>> print(format_table(CompareResult("toy", "accuracy", 0.1, 3, (0,), ())))
        compare: toy, 3 epochs, lr 0.1, seed 0
          (no runs)
    """
    seeds = result.seeds
    budget = counted(result.epochs, "epoch")
    head = f"compare: {result.task}, {budget}, lr {lr_text(result.lr)}, "
    if len(seeds) == 1:
        head += f"seed {seeds[0]}"
    else:
        head += f"seeds {', '.join(map(str, seeds))} (mean±std over {len(seeds)} seeds)"
    if not result.runs:
        return f"{head}\n  (no runs)"
    headers = column_names(result.metric)
    best = result.best
    # "±" as "+/-" on a stdout that cannot show it: laid out as it is shown (QA 152)
    head = shown(head, encoding)
    body = [[shown(cell, encoding) for cell in cells(run, result.metric)] for run in result.runs]
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(headers)]

    def line(mark: str, cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = "  ".join(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))
        return f"{mark} {first}  {rest}".rstrip()

    lines = [head, line(" ", headers)]
    lines += [line("*" if run is best else " ", row) for run, row in zip(result.runs, body)]
    if best is not None:
        lines.append(
            f"* best by mean final validation {result.metric}; the test columns are reported, "
            "never used to choose."
        )
        if any(run.source == "sklearn" for run in result.runs):
            lines.append(
                "  sklearn:* rows train scikit-learn's own MLP, not the task's model: shown for "
                "reference, not in the choice."
            )
    notes = table_notes(result)
    if notes:
        lines.append("notes:")
        lines += [f"  {note}" for note in notes]
    return "\n".join(lines)


def column_names(metric: str) -> list[str]:
    """The table's column names, one per :func:`cells` entry."""
    short = METRIC_NAMES.get(metric, metric) + (" %" if metric == "accuracy" else "")
    return [
        "schedule",
        "unit",
        "lr",
        f"val {short}",
        f"final test {short}",
        f"best test {short}",
        "final test loss",
        "best test loss",
        "time s",
    ]


def cells(run: ScheduleRun, metric: str) -> list[str]:
    """One run's row as text, in :func:`column_names`'s order."""
    return [
        run.label,
        run.unit,
        lr_text(run.lr),
        metric_cell(run.final_val_metric, metric),
        metric_cell(run.final_test_metric, metric),
        metric_cell(run.best_test_metric, metric),
        run.final_test_loss.format(".4f"),
        run.best_test_loss.format(".4f"),
        run.wall_time.format(".1f"),
    ]


def table_notes(result: CompareResult) -> list[str]:
    """What goes under the table: each run's note, the seeds it diverged on, the result's notes."""
    notes = [f"{run.label}: {run.note}" for run in result.runs if run.note]
    notes += [
        f"{run.label}: diverged on {run.diverged} of {len(run.histories)} seeds"
        for run in result.runs
        if run.diverged
    ]
    return notes + list(result.notes)


def metric_cell(stat: Stat, metric: str) -> str:
    """A metric's cell: accuracy in percent (``97.50±0.20``), other metrics as they are."""
    if metric == "accuracy":  # in percent: 97.50 reads faster than 0.9750
        return stat.format(".2f", scale=100.0)
    return stat.format(".4f")
