"""The comparison's part of ``report.html``: the ``"compare"`` section, through :mod:`lrkit.report`.

Example:
    >>> from lrkit.compare.result import CompareResult
    >>> s = compare_section(CompareResult("toy", "accuracy", 0.1, 3, (0,), ()))
    >>> s.key, s.title
    ('compare', 'Schedules compared')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lrkit.compare.table import metric_cell

if TYPE_CHECKING:
    from lrkit.compare.result import CompareResult
    from lrkit.report import Section


def compare_section(result: CompareResult, *, title: str = "Schedules compared") -> Section:
    """A report section (key ``"compare"``): what was compared, the curves and the table.

    Write it with ``lrkit.report.write_report(folder, [section], title=..., merge=True)``;
    ``lrkit compare --out DIR`` writes ``DIR/report.html`` so.
    """
    from lrkit.report import section

    best = result.best
    seeds = ", ".join(map(str, result.seeds))
    lines = [
        f"{result.task} trained for {result.epochs} epochs under each schedule, on seed(s) "
        f"{seeds}; each seed gives every schedule the same initial weights and the same batches "
        "in the same order."
        + (f" Cells are mean±std over {len(result.seeds)} seeds." if len(result.seeds) > 1 else ""),
        (
            f"Best by mean final validation {result.metric}: {best.label}. "
            if best is not None
            else "No schedule has a finite validation metric on every seed. "
        )
        + "The test columns are reported, never used to choose.",
    ]
    notes = [f"{run.label}: {run.note}" for run in result.runs if run.note] + list(result.notes)
    if notes:
        lines.append("Notes: " + " | ".join(notes))
    figures = [result.plot()] if result.runs else []
    return section("compare", title, text="\n\n".join(lines), figures=figures, table=_rows(result))


def _rows(result: CompareResult) -> list[dict[str, Any]]:
    metric, best = result.metric, result.best
    name = "acc %" if metric == "accuracy" else metric
    return [
        {
            "schedule": run.label,
            "best": "*" if run is best else "",
            "lr": f"{run.lr:.3g}",
            f"val {name}": metric_cell(run.final_val_metric, metric),
            f"final test {name}": metric_cell(run.final_test_metric, metric),
            f"best test {name}": metric_cell(run.best_test_metric, metric),
            "final test loss": run.final_test_loss.format(".4f"),
            "best test loss": run.best_test_loss.format(".4f"),
            "time s": run.wall_time.format(".1f"),
        }
        for run in result.runs
    ]
