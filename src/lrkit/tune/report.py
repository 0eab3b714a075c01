"""``lrkit tune``'s ``report.html``: every stage's evidence on one self-contained page."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from matplotlib.figure import Figure

    from lrkit.tune.pipeline import TuneResult


def reproduce_commands(result: TuneResult) -> list[str]:
    """The exact commands: the whole pipeline, and the final training run alone."""
    settings = result.summary["settings"]
    task = shlex.quote(str(settings["task_ref"]))
    command = settings.get("command") or (
        f"lrkit tune {task} --seed {settings['seed']} --out {shlex.quote(str(result.out))}"
        + (f" --budget {settings['budget']}" if settings.get("budget") else "")
    )
    final = (
        f"lrkit train {task} --lr {result.best_lr:.6g} --schedule {shlex.quote(result.schedule)} "
        f"--epochs {result.plan.epochs} --seed {result.final.seed}"
        + (f" --device {settings['device']}" if settings["device"] != "cpu" else "")
    )
    return [command, final]


def tune_report(result: TuneResult, figures: Mapping[str, Figure] | None = None) -> Path:
    """Writes ``report.html`` in the run folder and returns its path.

    ``figures``: the stages' plots already drawn, by PNG name (``range_test``, ``search``,
    ``compare``); any missing one is drawn here.
    """
    from lrkit.compare.section import compare_section
    from lrkit.report import (
        range_test_section,
        reproduce_section,
        search_section,
        summary_section,
        training_section,
        write_report,
    )

    s = result.summary
    metric = s["metric"]
    score = s["test_metric"]
    shown = f"{score:.2%}" if metric == "accuracy" and score is not None else score
    summary = {
        "task": result.task,
        "learning rate": result.best_lr,
        "schedule": result.schedule,
        f"test {metric}": shown,
        "test loss": s["test_loss"],
        "range test range": tuple(s["lr_range"]) if s["lr_range"] else None,
        "searched": tuple(s["searched_range"]),
        "trials": f"{s['search']['trials']} ({s['search']['pruned']} pruned)",
        "epochs used": s["epochs_used"],
        "time": f"{s['seconds']:.0f} s",
    }
    drawn = figures or {}
    sections = [
        summary_section(summary),
        range_test_section(result.range_test, task=result.task, fig=drawn.get("range_test")),
        search_section(result.search, fig=drawn.get("search")),
        compare_section(result.comparison, fig=drawn.get("compare")),
        training_section(result.final, title=f"Final training: {result.schedule}"),
        reproduce_section(reproduce_commands(result), versions=s["versions"]),
    ]
    return write_report(
        result.out,
        sections,
        title=f"{result.task}: lr {result.best_lr:.3g} with {result.schedule}",
        subtitle=f"test {metric} {shown}; lrkit tune",
    )
