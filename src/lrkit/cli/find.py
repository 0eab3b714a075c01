"""``lrkit find``: the learning-rate range test on a task.

Usage::

    lrkit find [TASK] [--start-lr LR] [--end-lr LR] [--num-iter N] [--step-mode exp|linear]
               [--balance undersample|sampler] [--seed S] [--device DEVICE] [--out DIR]

TASK is a built-in task name (default ``digits``) or a ``.py`` file defining ``task``. Prints a
short table (suggestion, range, where the loss diverged, why the sweep stopped) and writes
``range_test.png`` (loss against LR, log axis, suggestion and range marked) and
``range_test.json`` (the whole result) to DIR (default ``lrkit-out/find``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrkit import outputs
from lrkit.cli import next_command
from lrkit.cli.arguments import (
    add_task_arguments,
    capped_int,
    one_of,
    out_arg,
    positive_float,
)
from lrkit.cli.json_stdout import print_json
from lrkit.cli.out_folder import check_out, write_report_part
from lrkit.finder_settings import (
    BALANCE_MODES,
    DEFAULT_END_LR,
    DEFAULT_NUM_ITER,
    DEFAULT_START_LR,
    MAX_ITER,
    MIN_ITER,
    RETRY_NUM_ITER,
)
from lrkit.plaintext import literal, lr_text, range_text

if TYPE_CHECKING:
    from lrkit.finder import RangeTestResult

DEFAULT_OUT = Path("lrkit-out") / "find"


def add_parser(subparsers: Any) -> None:
    """Registers ``lrkit find``."""
    parser = subparsers.add_parser(
        "find",
        help="run the learning-rate range test on a task",
        description="Train TASK's fresh model for a few steps at learning rates rising from "
        "--start-lr to --end-lr, and report the suggested LR, the LR range and where the loss "
        "diverged. The model is restored afterwards; nothing is trained for good.",
    )
    add_task_arguments(parser)
    parser.add_argument(
        "--start-lr",
        type=positive_float,
        default=DEFAULT_START_LR,
        metavar="LR",
        help=f"first learning rate (default: {DEFAULT_START_LR:g})",
    )
    parser.add_argument(
        "--end-lr",
        type=positive_float,
        default=DEFAULT_END_LR,
        metavar="LR",
        help=f"last learning rate (default: {DEFAULT_END_LR:g})",
    )
    parser.add_argument(
        "--num-iter",
        type=num_iter_arg,
        metavar="N",
        help=f"optimizer steps in the sweep, {MIN_ITER} to {MAX_ITER:,} (default: "
        f"{DEFAULT_NUM_ITER}, then {RETRY_NUM_ITER} once more from a fresh model if that curve "
        "is too noisy to give a suggestion)",
    )
    parser.add_argument(
        "--step-mode",
        type=step_mode_arg,
        metavar="{exp,linear}",
        default="exp",
        help="how the LR rises (default: exp)",
    )
    parser.add_argument(
        "--balance",
        **one_of(*BALANCE_MODES),
        help="show the sweep class-balanced batches of imbalanced data (default: as they come)",
    )
    parser.add_argument(
        "--out",
        type=out_arg,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder for range_test.png, range_test.json and report.html (default: {DEFAULT_OUT})",
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors and warnings")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def step_mode_arg(text: str) -> str:
    """Argument type: ``exp`` or ``linear``, in any case ("Linear" too, as the library and
    torch-lr-finder take it).

    Example:
        >>> step_mode_arg("Linear")
        'linear'
    """
    if text.lower() not in ("exp", "linear"):
        raise argparse.ArgumentTypeError(f"must be exp or linear, got {text!r}")
    return text.lower()


def num_iter_arg(text: str) -> int:
    """Argument type: the sweep's steps, a positive integer up to ``MAX_ITER`` (the library
    says what it needs at the low end).

    Example:
        >>> num_iter_arg("1k")
        1000
    """
    must = f"an integer from {MIN_ITER} to {MAX_ITER:,} (a range test takes 100 to a few hundred "
    must += "steps)"
    value = capped_int(text, MAX_ITER, must)
    if value < MIN_ITER:
        raise argparse.ArgumentTypeError(f"must be {must}, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    """Runs the range test, prints the table, writes the plot and the JSON result."""
    from lrkit.finder import FinderWarning
    from lrkit.finder.task import (
        range_test_task,
        write_range_test,
    )
    from lrkit.progress import ProgressBar
    from lrkit.tasks import check_task, load_task
    from lrkit.tasks.registry import task_identity

    # before any work: a file (or a folder where one goes) in the way fails now
    identity = task_identity(args.task)  # ./t.py and t.py are one task
    check_out(args.out, command="find", files=outputs.FIND, task=identity)
    task = load_task(args.task)
    check_task(task, device=args.device)  # what train, search and tune refuse, find refuses
    quiet = args.quiet or args.json
    planned = args.num_iter or DEFAULT_NUM_ITER
    with (
        warnings.catch_warnings(record=True) as caught,
        ProgressBar(planned, enabled=not quiet, label="range test", eta=False) as bar,
    ):

        def step(done: int) -> None:
            if done > bar.total:  # the second sweep of a noisy curve
                bar.grow(RETRY_NUM_ITER)
            bar.update(done)

        warnings.simplefilter("always", FinderWarning)
        result = range_test_task(
            task,
            start_lr=args.start_lr,
            end_lr=args.end_lr,
            num_iter=args.num_iter,
            step_mode=args.step_mode,
            balance=args.balance,
            seed=args.seed,
            device=args.device,
            on_step=step,
        )
    for warning in caught:  # anything else caught here is shown as Python would show it
        if not issubclass(warning.category, FinderWarning):
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if not quiet:
        print(table(task.name, result))
    if result.note and (result.warning or not args.quiet):  # with the warning it explains
        print(f"note: {result.note}", file=sys.stderr)
    if result.warning:  # as lrkit shows a warning: one line, with this command's options
        warnings.showwarning(result.warning, FinderWarning, "", 0)
    from lrkit.report import range_test_section

    # the files are built first, then written while Ctrl-C waits: all of them or none
    png, data = args.out / outputs.RANGE_PNG, args.out / outputs.RANGE_JSON
    fig = result.plot(title=f"{literal(task.name)}: range test")
    sections = [range_test_section(result, task=task.name, fig=fig)]
    with outputs.writing():
        args.out.mkdir(parents=True, exist_ok=True)
        document = write_range_test(args.out, task.name, args.seed, result, fig)
        report = write_report_part(
            args.out,
            sections,
            title=f"{task.name}: range test",
            subtitle="lrkit find",
            task=identity,
        )
    if args.json:
        print_json(document)
    elif not args.quiet:
        print(f"Wrote {png}, {data} and {report}.")
        if result.suggestion is not None:
            lr = repr(result.suggestion)
            print(next_command(args, "compare", "--lr", lr, why="schedules at the suggestion"))
    return 0


def table(task: str, result: RangeTestResult) -> str:
    """The short table printed after the sweep.

    Example:
        >>> from lrkit.finder import RangeTestResult
        >>> r = RangeTestResult(lrs=(1e-3, 1.0), losses=(2.0, 9.0), smoothed=(2.0, 9.0),
        ...                     group_lrs=((1e-3, 1.0),), suggestion=0.0123, range=(0.004, 0.04),
        ...                     stop_reason="diverged", diverged_lr=1.0, seconds=0.5)
        >>> print(table("digits", r))
        range test: digits (2 steps, 0.5 s)
          suggestion   0.0123
          range        0.004 to 0.04
          diverged at  1
          stopped      diverged
    """
    span = "none" if result.range is None else range_text(*result.range)
    rows = [
        ("suggestion", lr_text(result.suggestion)),
        ("range", span),
        ("diverged at", result.divergence_text()),
        ("stopped", result.stop_reason),
    ]
    head = f"range test: {task} ({result.steps} steps, {result.seconds:.1f} s)"
    return "\n".join([head, *(f"  {name:<12} {value}" for name, value in rows)])
