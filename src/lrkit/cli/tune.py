"""``lrkit tune [TASK]``: the whole answer: range test, search, schedule comparison, final run.

Writes ``summary.json`` and ``report.html`` (self-contained: open it in any browser, offline)
to DIR, with every stage's own files beside them. Finished stages are kept in DIR and reused
when the same command runs again, after an error or Ctrl-C; a run with other settings (another
task, an edited task file, another seed, epoch count or budget) redoes the stages they change
and replaces DIR's files.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lrkit import outputs
from lrkit.cli import command_line, stopped
from lrkit.cli.arguments import (
    add_task_arguments,
    epochs_arg,
    one_of,
    out_arg,
    positive_float,
    positive_int,
)
from lrkit.cli.json_stdout import print_json
from lrkit.plaintext import counted, lr_text
from lrkit.tune.pipeline import DEFAULT_OUT
from lrkit.tune.plan import MAX_TRIALS


def add_parser(subparsers: Any) -> None:
    """Registers ``lrkit tune``."""
    parser = subparsers.add_parser(
        "tune",
        help="find the learning rate and the schedule for a task, with an HTML report",
        description="Range test -> log-uniform search from half a decade under its range to "
        "its top, with successive halving -> comparison of schedules at the chosen LR -> final "
        "training of the winner -> summary.json and report.html in DIR.",
    )
    add_task_arguments(parser)
    parser.add_argument(
        "--budget",
        type=epochs_arg,
        default=None,
        metavar="EPOCHS",
        help="training epochs for the whole pipeline (default: as the plan needs, about 16 "
        "runs' worth)",
    )
    parser.add_argument(
        "--epochs",
        type=epochs_arg,
        default=None,
        metavar="E",
        help="epochs of each training run: every search trial, every schedule compared and the "
        "final run (default: the task's)",
    )
    parser.add_argument(
        "--value",
        **one_of("val_loss", "val_metric"),
        default="val_loss",
        help="what judges the search's trials, every epoch and at the end: the validation loss "
        "(minimized, the default) or the task's metric on the validation set, e.g. accuracy "
        "(maximized); the schedules are compared by the metric either way",
    )
    parser.add_argument(
        "--trial-timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="fail a search trial that runs longer than this and go on (default: no limit)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="W",
        help="search trials at once on this machine, each in a fresh process (default: 1)",
    )
    parser.add_argument(
        "--out",
        type=out_arg,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder for the report, the summary and every stage's files (default: {DEFAULT_OUT})",
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors and warnings")
    parser.add_argument("--json", action="store_true", help="print summary.json to stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs the pipeline and prints where the report is."""
    from lrkit.jsondata import dumps
    from lrkit.tune import tune
    from lrkit.tune.report import final_score, python_advice, took

    quiet = args.quiet or args.json
    command = command_line() if sys.argv[1:] else None
    try:
        result = tune(
            args.task,
            budget=args.budget,
            epochs=args.epochs,
            seed=args.seed,
            value=args.value,
            device=args.device,
            trial_timeout=args.trial_timeout,
            n_workers=args.workers,
            out=args.out,
            command=command,
            say=(lambda text: None) if quiet else None,
            progress=not quiet,
        )
    except KeyboardInterrupt as stop:
        return stopped(
            stop,
            f"; finished stages are kept in {args.out} and reused when you run the same command "
            "again.",
        )
    summary = result.summary
    if args.json:
        print_json(dumps(summary))
        return 0
    if not args.quiet:
        scored = final_score(summary)
        if summary["test_loss"] is not None:
            scored += f", test loss {summary['test_loss']:.4g}"
        print(
            f"\nlr {lr_text(summary['best_lr'])} with {summary['schedule']}: {scored} "
            f"({took(summary)}, {summary['epochs_used']:.0f} training epochs)."
        )
        for note in budget_notes(summary, args.budget):
            print(f"note: {note}")
        print(
            f"Wrote {result.out / outputs.REPORT} and {result.out / outputs.SUMMARY}, and each "
            f"stage's files beside them ({outputs.RANGE_JSON}, {outputs.SEARCH_JSON}, "
            f"{outputs.COMPARE_JSON}, ...)."
        )
        epochs = summary["settings"]["plan"]["epochs"]
        advice = python_advice(summary["best_lr"], summary["schedule"], summary["unit"], epochs)
        print(f"next: {advice}")
    return 0


def budget_notes(summary: dict[str, Any], budget: int | None) -> list[str]:
    """What to say of the epochs a run used against its ``budget``: over it and why, or far
    under it because the plan tops out.

    Example:
        >>> plan = {"n_trials": 6, "schedules": ["constant"], "n_seeds": 1, "estimated_epochs": 86}
        >>> budget_notes({"epochs_used": 86, "settings": {"plan": plan}}, 36)  # doctest: +ELLIPSIS
        ['86 training epochs, 139% over the budget of 36: the range test took more ...']
    """
    used, plan = summary["epochs_used"], summary["settings"]["plan"]
    notes = []
    if budget is not None and used > budget:
        lost = summary.get("search", {}).get("counts", {}).get("interrupted", 0)
        if plan["estimated_epochs"] > budget:  # a second sweep can leave less than the least
            why = (
                "the range test took more than planned, and the smallest pipeline after it "
                f"needs about {plan['estimated_epochs']}"
            )
        elif lost:  # an interrupted trial's epochs were spent, and it ran again
            trials = "1 search trial" if lost == 1 else f"{lost} search trials"
            why = (
                f"{trials} interrupted in an earlier run trained again, with the epochs spent "
                "on the interrupted attempts counted too"
            )
        else:
            why = "successive halving stopped fewer trials early than planned"
        notes.append(
            f"{used:.0f} training epochs, {used / budget - 1:.0%} over the budget of "
            f"{budget}: {why}."
        )
    if budget is not None and used < 0.8 * budget:
        schedules, seeds = len(plan["schedules"]), plan["n_seeds"]
        planned = (
            f"{plan['n_trials']} search trials and {counted(schedules, 'schedule')} "
            f"compared on {counted(seeds, 'seed')} (about {plan['estimated_epochs']} "
            "epochs)"
        )
        if plan["n_trials"] >= MAX_TRIALS:
            why = f"the plan tops out at {planned}"
        elif plan["estimated_epochs"] < 0.8 * budget:
            why = f"the next step up from {planned} does not fit in it"
        else:
            why = "successive halving stopped more trials early than planned"
        notes.append(f"{used:.0f} of the budget's {budget} training epochs used: {why}.")
    return notes
