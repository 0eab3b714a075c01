"""``lrkit train``: one training run of a task at one learning rate, optionally scheduled.

Usage::

    lrkit train [TASK] [--lr LR] [--schedule SPEC] [--unit epoch|step] [--epochs N] [--seed S]
                [--device DEVICE] [--quiet]

TASK is a built-in task name (default ``digits``) or a ``.py`` file defining ``task``. A run that
diverges is a result, not an error: it is reported and the exit status stays 0.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from lrkit.cli import UsageError
from lrkit.cli.arguments import add_task_arguments, epochs_arg, one_of, positive_float
from lrkit.plaintext import counted, lr_text

if TYPE_CHECKING:
    from lrkit.training import History


def add_parser(subparsers: Any) -> None:
    """Registers ``lrkit train``."""
    parser = subparsers.add_parser(
        "train",
        help="train a task once at one learning rate",
        description="Train a fresh model of TASK at base learning rate LR, optionally under a "
        "schedule, and report its validation and test metrics.",
    )
    add_task_arguments(parser)
    parser.add_argument(
        "--lr", type=positive_float, help="base learning rate (default: the task's)"
    )
    parser.add_argument(
        "--schedule",
        metavar="SPEC",
        help="schedule spec, e.g. 'warmup:2 > cosine:10' (default: constant)",
    )
    parser.add_argument(
        "--unit",
        **one_of("epoch", "step"),
        default=None,  # given without --schedule: said, not ignored
        help="what --schedule's lengths count: epochs or optimizer steps (default: epoch)",
    )
    parser.add_argument(
        "--epochs", type=epochs_arg, metavar="E", help="epoch budget (default: the task's)"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print only the summary line, no per-epoch lines"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Trains once and prints a one-line summary; returns the exit status."""
    from lrkit.tasks import load_task
    from lrkit.training import train

    if args.unit is not None and args.schedule is None:
        raise UsageError(
            f"argument --unit: says what --schedule's lengths count, got --unit {args.unit} "
            "with no --schedule (the LR is constant without one)"
        )
    if args.schedule is not None:
        from lrkit.schedules import parse

        parse(args.schedule)  # a malformed spec fails before the task's data is loaded
    task = load_task(args.task)
    history = train(
        task,
        args.lr,
        args.schedule,
        epochs=args.epochs,
        seed=args.seed,
        unit=args.unit or "epoch",
        device=args.device,
        progress=not args.quiet,
        verbose=not args.quiet,
    )
    print(summary(history))
    return 0


def summary(history: History) -> str:
    """One line: the run's settings and its best and final validation metric (and test metric).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> h = NS(task="digits", lr=0.05, schedule="cosine:12", metric="accuracy",
        ...        diverged=False, epochs_run=12, best_val_metric=0.981, best_epoch=11,
        ...        final_val_metric=0.978, test_metric=0.972, wall_time=1.3)
        >>> summary(h)
        'digits lr=0.05 schedule=cosine:12: best val accuracy 0.9810 (epoch 11), final 0.9780, test 0.9720 (12 epochs, 1.3 s)'
    """  # noqa: E501
    head = f"{history.task} lr={lr_text(history.lr)} schedule={history.schedule}"
    n = history.epochs_run
    tail = f"({counted(n, 'epoch')}, {history.wall_time:.1f} s)"
    if history.diverged:
        return f"{head}: diverged in epoch {history.epochs_run} (training loss not finite) {tail}"
    if history.best_epoch is None:
        return f"{head}: no finite validation {history.metric} {tail}"
    best = history.best_val_metric
    parts = [f"best val {history.metric} {best:.4f} (epoch {history.best_epoch})"]
    if math.isfinite(history.final_val_metric):
        parts.append(f"final {history.final_val_metric:.4f}")
    if history.test_metric is not None:
        parts.append(f"test {history.test_metric:.4f}")
    return f"{head}: {', '.join(parts)} {tail}"
