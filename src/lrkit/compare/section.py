"""The comparison's part of ``report.html``: the ``"compare"`` section, through :mod:`lrkit.report`.

Example:
    >>> from lrkit.compare.result import CompareResult
    >>> s = compare_section(CompareResult("toy", "accuracy", 0.1, 3, (0,), ()))
    >>> s.key, s.title
    ('compare', 'Schedules compared')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrkit.compare.table import cells, column_names, table_notes
from lrkit.plaintext import counted

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lrkit.compare.result import CompareResult, ScheduleRun
    from lrkit.report import Section


def compare_section(
    result: CompareResult,
    *,
    title: str = "Schedules compared",
    fig: Figure | None = None,
    caveat: str | None = None,
) -> Section:
    """A report section (key ``"compare"``): what was compared, the curves and the table.

    ``fig`` is the curves when already drawn (``result.plot()``); by default they are drawn here.
    ``caveat`` is a paragraph on how to read the result, after the line that names the best.

    Write it with ``lrkit.report.write_report(folder, [section], title=..., merge=True)``;
    ``lrkit compare --out DIR`` writes ``DIR/report.html`` so.
    """
    from lrkit.report import section

    best = result.best
    seeds = ", ".join(map(str, result.seeds))
    mlp = any(run.source == "sklearn" for run in result.runs)
    lines = [
        f"{result.task} trained for {counted(result.epochs, 'epoch')} under each schedule, on "
        "seed(s) "
        f"{seeds}; each seed gives every {'lrkit ' if mlp else ''}schedule the same initial "
        "weights and the same batches in the same order."
        + (f" Cells are mean±std over {len(result.seeds)} seeds." if len(result.seeds) > 1 else "")
        + (_SKLEARN_ROWS if mlp else ""),
        (
            f"Best by mean final validation {result.metric}: {best.label}"
            + _tie(result, best)
            + ". "
            if best is not None
            else "No schedule has a finite validation metric on every seed. "
        )
        + "The test columns are reported, never used to choose.",
    ]
    if caveat:
        lines.append(caveat)
    notes = table_notes(result)
    if notes:
        lines.append("Notes: " + " | ".join(notes))
    figures = [] if not result.runs else [result.plot() if fig is None else fig]
    return section("compare", title, text="\n\n".join(lines), figures=figures, table=_rows(result))


_SKLEARN_ROWS = (
    " The sklearn:* rows are not among them: they train scikit-learn's own MLP "
    "(MLPClassifier), not the task's model, from its own initial weights and with its own "
    "shuffling, on the same split; they are shown for reference, not in the choice of the best "
    "(their settings are in the notes)."
)
"""What the section says of scikit-learn's rows, where there are any (the table's note, and why
they do not share the task's runs' weights and batches)."""


def _tie(result: CompareResult, best: ScheduleRun) -> str:
    """How ``best`` won a tie on the validation metric, if it did: by the validation loss."""
    tied = result.tied_with_best()
    if not tied:
        return ""
    names = ", ".join(run.label for run in tied)
    return (
        f" (tied with {names} on it; the lower mean final validation loss broke the tie: "
        f"{best.final_val_loss.mean:.4g} against "
        + ", ".join(f"{run.final_val_loss.mean:.4g}" for run in tied)
        + ")"
    )


def _rows(result: CompareResult) -> list[dict[str, Any]]:
    """The printed table's columns, with the winner's mark second."""
    names = column_names(result.metric)
    best = result.best
    rows = []
    for run in result.runs:
        row = dict(zip(names, cells(run, result.metric)))
        rows.append({"schedule": row.pop("schedule"), "best": "*" if run is best else "", **row})
    return rows
