"""``lrkit tune``'s ``report.html``: every stage's evidence on one self-contained page."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from lrkit.plaintext import counted, in_words, lr_text, range_text

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from matplotlib.figure import Figure

    from lrkit.report.html import Section
    from lrkit.tune.pipeline import TuneResult


def final_score(summary: Mapping[str, Any]) -> str:
    """What the final run scored, as the CLI's last line and the report's heading say it:
    ``"test accuracy 98.61%"``, or for a task without test data ``"validation loss 0.105 (no
    test data)"``."""
    from lrkit.report.html import format_metric

    score = summary["test_metric"]
    if score is None:
        return f"validation loss {summary['final_val_loss']:.4g} (no test data)"
    return f"test {summary['metric']} {format_metric(summary['metric'], score)}"


def took(summary: Mapping[str, Any]) -> str:
    """How long the run took, and which stages it kept from an earlier run instead.

    Example:
        >>> took({"seconds": 12.4, "reused": []})
        '12 s'
        >>> took({"seconds": 3.0, "reused": ["range test", "search", "comparison"]})
        '3 s, the range test, search and comparison kept from an earlier run'
    """
    text = f"{summary['seconds']:.0f} s"
    reused = list(summary.get("reused") or [])
    if reused:
        text += f", the {in_words(reused)} kept from an earlier run"
    return text


def reproduce_commands(result: TuneResult) -> list[str]:
    """The exact commands: the whole pipeline, and the final training run alone."""
    settings = result.summary["settings"]
    task = shlex.quote(str(settings["task_ref"]))
    command = settings.get("command") or (
        f"lrkit tune {task} --seed {settings['seed']} --out {shlex.quote(str(result.out))}"
        + f" --epochs {settings['plan']['epochs']}"  # the run's, whether given or the task's
        + (f" --budget {settings['budget']}" if settings.get("budget") else "")
        + (
            f" --value {settings['value']}"
            if settings.get("value", "val_loss") != "val_loss"
            else ""
        )
    )
    final = (
        f"lrkit train {task} --lr {result.best_lr!r} --schedule {shlex.quote(result.schedule)} "
        f"--epochs {result.plan.epochs} --seed {result.final.seed}"
        + (" --unit step" if result.final.unit == "step" else "")  # lrkit train's is epoch
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
    from lrkit.report.html import format_metric

    s = result.summary
    metric = s["metric"]
    score = s["test_metric"]
    shown = None if score is None else format_metric(metric, score)
    # as the CLI's last line and the report's prose write them: four figures, whole epochs
    if shown is None:  # a task without test data: its final run's validation loss
        scored = {"validation loss": f"{s['final_val_loss']:.4g}", "test data": "none"}
    else:
        scored = {f"test {metric}": shown}
        if s["test_loss"] is not None and metric != "neg_loss":  # that is the loss, negated
            scored["test loss"] = f"{s['test_loss']:.4g}"
    described = s["settings"].get("task_description")  # absent in an earlier run's summary
    summary = {
        "task": f"{result.task}: {described}" if described else result.task,
        "learning rate": lr_text(result.best_lr),
        "schedule": result.schedule,
        **scored,
        "range test range": tuple(s["range"]) if s["range"] else None,
        "searched": tuple(s["searched_range"]),
        "trials": f"{s['search']['n_trials']} ({result.search.tally()})",
        "epochs used": f"{s['epochs_used']:.0f}",
        "time": took(s),
    }
    drawn = figures or {}
    texts = explanations(result, shown)
    sections = [
        summary_section(summary),
        range_test_section(result.range_test, task=result.task, fig=drawn.get("range_test")),
        search_section(result.search, fig=drawn.get("search"), metric=metric),
        compare_section(
            result.comparison, fig=drawn.get("compare"), caveat=texts.pop("compare", None)
        ),
        training_section(
            result.final, title=f"Final training: {result.schedule}", schedule=result.schedule
        ),
        reproduce_section(reproduce_commands(result), versions=s["versions"]),
    ]
    sections = [_with_text(section, texts.get(section.key)) for section in sections]
    return write_report(
        result.out,
        sections,
        title=f"{result.task}: lr {lr_text(result.best_lr)} with {result.schedule}",
        subtitle=f"{final_score(s)}; lrkit tune",
    )


def python_advice(lr: float, schedule: str, unit: str, epochs: int) -> str:
    """How to train with the answer in PyTorch, as the report and the CLI's last line say it:
    the LR in full (rounded, it would train to another score), the spec as Python quotes it,
    and the run's length, which the LR was tuned for.

    Example:
        >>> python_advice(0.19131637686569145, "warmup:1 > cosine:11", "epoch", 12)
        "build your optimizer with lr=0.19131637686569145, then scheduler = \
lrkit.schedules.bind(optimizer, 'warmup:1 > cosine:11', unit='epoch') and call scheduler.step() \
once per epoch, in a run of 12 epochs"
    """
    return (
        f"build your optimizer with lr={lr!r}, then scheduler = lrkit.schedules.bind(optimizer, "
        f"{schedule!r}, unit={unit!r}) and call scheduler.step() once per {unit}, in a run of "
        f"{counted(epochs, 'epoch')}"
    )


def explanations(result: TuneResult, shown: str | None) -> dict[str, str]:
    """What each section of the report shows and how the pipeline used it, by section key."""
    from lrkit.search.engine import BRACKET_MARGIN_WORDS
    from lrkit.tune.pipeline import search_start

    found, searched, plan = result.range_test, result.search, result.plan
    lr, schedule = lr_text(result.best_lr), result.schedule
    winner = result.comparison.best
    unit = winner.unit if winner is not None else "epoch"
    score = f" It reached test {result.summary['metric']} {shown}" if shown else " It trained"
    texts = {
        "summary": (
            f"Train with lr {lr} under the schedule {schedule}.{score} in a fresh run "
            "(below). In PyTorch, "
            f"{python_advice(result.best_lr, schedule, unit, plan.epochs)}: the schedule sets "
            "the LR as a multiple of lr (for a one-cycle, lr is its peak)."
        ),
        "training": (
            f"The winner trained once more, from seed {result.final.seed} (the run's seed + "
            "1000, apart from the comparison's), so its "
            + ("test score is" if shown else "scores are")
            + " a fresh estimate and not the best of many runs; its validation numbers differ "
            "from the comparison's row by that seed."
            + ("" if shown else " The task has no test data: it is judged on validation alone.")
        ),
        "reproduce": (
            "The first command reruns the whole pipeline; run it with another --out folder (in "
            "this one it reuses the finished stages). The second trains the final run alone."
        ),
    }
    started = search_start(found, searched.low, searched.high) is not None
    if found.range is not None:
        low, high = found.range
        sweeps = (
            f"After a first sweep of {found.redone_steps} steps too noisy to read, one more "
            f"training run of {found.steps} steps"
            if found.redone_steps
            else f"One training run of {found.steps} steps"
        )
        reach = (
            f"towards {lr_text(found.end_lr)} (it stopped at {lr_text(found.lrs[-1])}, where "
            "the loss diverged)"
            if found.diverged_lr is not None
            else f"to {lr_text(found.end_lr)}"
        )
        there = (
            "the search's first trial trained there."
            if started
            else "it lay outside the searched range, so the search did not start there."
        )
        texts["range_test"] = (
            f"{sweeps} with the LR rising exponentially from {lr_text(found.start_lr)} {reach}, "
            f"the {'validation' if found.loss_kind == 'val' else 'training'} loss read against "
            f"it: the loss falls from about {lr_text(low)} and stops falling near "
            f"{lr_text(high)} (the range: Leslie Smith's base and max LR). The suggestion, "
            f"{lr_text(found.suggestion)}, is where lrkit's rule expects the best LR for a whole "
            f"run; {there}"
            if found.suggestion is not None
            else ""
        )
    done = searched.count("complete")
    best = searched.best_trial
    maximized = searched.direction == "maximize"  # the task's metric (tune --value val_metric)
    judged, lowest = (result.summary["metric"], "highest") if maximized else ("loss", "lowest")
    where = (
        f"from {BRACKET_MARGIN_WORDS} under the range test's low end (the best LR for a whole "
        "run is often a little below it) to its high end"
        if found.range is not None
        else "the default range, since the range test found no range"
    )
    order = (
        "The first trial trained at the range test's suggestion, the others filled the range "
        "around it, one in each slice of its log scale. "
        if started
        else "The trials filled the range, one in each slice of its log scale. "
    )
    texts["search"] = (
        f"{searched.n_trials} fresh models, one per LR, each trained for up to "
        f"{counted(plan.epochs, 'epoch')} under {plan.search_schedule} (a schedule fixed over "
        "the whole budget, so that early epochs compare fairly), in "
        f"{range_text(searched.low, searched.high)}: {where}. "
        + order
        + (
            "Successive halving stopped the weaker ones early: at epochs 1, 3, 9, ... a trial "
            "went on only if it was in the best third of the trials that had reached that epoch "
            "so far. "
            if plan.epochs > 1
            else "With one epoch a run, successive halving had no earlier epoch to stop a trial "
            "at. "
        )
        + f"The value is the final validation {judged}; the {lowest} is the answer "
        f"({lr_text(None if best is None else best.lr)}). "
        f"{done} of {searched.n_trials} trials ran the whole budget"
        + (
            ", so the answer is the best of one full run: read the plot to see how clear it is."
            if done == 1
            else "."
        )
    )
    if len(result.comparison.seeds) > 1 and len(result.comparison.runs) > 1:
        texts["compare"] = "A lead smaller than the spread between seeds (±) is not a clear win."
    elif len(result.comparison.runs) > 1:
        texts["compare"] = "One seed: a small lead may be that seed's luck, not the schedule's."
    return texts


def _with_text(section: Section, text: str | None) -> Section:
    """``section`` with explanatory paragraphs before what it shows."""
    from lrkit.report.html import Section, paragraphs_html

    if not text:
        return section
    return Section(section.key, section.title, f"{paragraphs_html(text)}\n{section.html}")
