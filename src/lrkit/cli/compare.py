"""``lrkit compare``: train a task under several schedules on the same seeds, and compare them.

Usage::

    lrkit compare [TASK] [--lr LR] [--schedules SPEC [SPEC ...]] [--seeds K] [--seed S]
                  [--epochs E] [--sklearn] [--device DEVICE] [--out DIR] [--quiet] [--json]

With no ``--schedules`` it compares seed 002's five torch schedulers (StepLR, MultiStepLR,
ExponentialLR, CosineAnnealingLR, ReduceLROnPlateau, scaled to the epoch budget) and a one-cycle
built from a range test (``range-onecycle``, which can also be named among the specs). Prints
the table (final and best test metric and loss, mean±std over seeds, wall time; the winner is
chosen by validation) and writes ``compare.png`` (the curves), ``compare.json`` (everything),
``compare.csv`` (the table's rows) and the ``compare`` section of ``report.html`` to DIR
(default ``lrkit-out/compare``). ``--json`` prints the JSON instead of the table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrkit import outputs
from lrkit.cli import UsageError, next_command
from lrkit.cli.arguments import add_task_arguments, capped_int, epochs_arg, out_arg, positive_float
from lrkit.cli.json_stdout import print_json
from lrkit.cli.out_folder import check_out, write_report_part
from lrkit.plaintext import in_words

if TYPE_CHECKING:
    from lrkit.compare import CompareResult

DEFAULT_OUT = Path("lrkit-out") / "compare"


MAX_SEEDS = 1_000


def seeds_arg(text: str) -> int:
    """Argument type: seeds per schedule, a positive integer up to ``MAX_SEEDS``."""
    return capped_int(text, MAX_SEEDS, f"a positive integer at most {MAX_SEEDS:,} (seeds)")


def add_parser(subparsers: Any) -> None:
    """Registers ``lrkit compare``."""
    parser = subparsers.add_parser(
        "compare",
        help="train a task under several schedules and compare them",
        description="Train TASK once per schedule and seed (each seed gives every schedule the "
        "same initial weights and batch order), then print final and best test metric and loss "
        "(mean±std over seeds) and write overlaid curves. Without --schedules: StepLR, "
        "MultiStepLR, ExponentialLR, CosineAnnealingLR and ReduceLROnPlateau scaled to the "
        "budget, and a one-cycle from a range test.",
    )
    add_task_arguments(parser)
    parser.add_argument(
        "--lr", type=positive_float, help="base learning rate of every schedule (default: the "
        "task's; a range-test one-cycle peaks at its own)",
    )  # fmt: skip
    parser.add_argument(
        "--schedules",
        nargs="+",
        action="extend",  # given twice: both lists, not the last alone
        metavar="SPEC",
        help="schedule specs, e.g. 'cosine:12' 'StepLR:step_size=4,gamma=0.1', and "
        "range-onecycle (compare's own: a one-cycle from a range test) (default: the five "
        "torch schedulers above and range-onecycle)",
    )
    parser.add_argument(
        "--seeds",
        type=seeds_arg,
        default=1,
        metavar="K",
        help="seeds per schedule, from --seed on (default: 1)",
    )
    parser.add_argument(
        "--epochs", type=epochs_arg, metavar="E", help="epoch budget (default: the task's)"
    )
    parser.add_argument(
        "--sklearn",
        action="store_true",
        help="add scikit-learn MLPClassifier rows (learning_rate constant, invscaling, adaptive) "
        "on the same split, from their own weights and shuffling: shown for reference, never "
        "chosen as the best; classification tasks only",
    )
    parser.add_argument(
        "--out",
        type=out_arg,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder for compare.png/.json/.csv and report.html (default: {DEFAULT_OUT})",
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors and warnings")
    parser.add_argument(
        "--json", action="store_true", help="print the result as JSON instead of the table"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs the comparison, prints the table (or JSON) and writes the files."""
    from lrkit.compare import compare
    from lrkit.tasks.registry import task_identity

    for spec in args.schedules or ():  # nargs="+" took the TASK that followed it
        if spec.endswith(".py") and Path(spec).is_file():
            raise UsageError(
                f"--schedules got {spec!r}, a task file: give TASK before --schedules "
                f"(lrkit compare {spec} --schedules ...)."
            )
    identity = task_identity(args.task)  # ./t.py and t.py are one task
    check_out(args.out, command="compare", files=outputs.COMPARE, task=identity)
    result = compare(
        args.task,
        args.lr,
        args.schedules,
        seeds=args.seeds,
        seed=args.seed,
        epochs=args.epochs,
        device=args.device,
        sklearn=args.sklearn,
        progress=not args.quiet,
    )
    if not (args.json or args.quiet):  # before the files: a disk full for them hides nothing
        print(result.table(encoding=getattr(sys.stdout, "encoding", None)))  # None: closed
    elif args.quiet:  # a schedule left out, and why: said as a warning would be
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    written = write_outputs(result, args.out, task=identity)
    if args.json:
        # as written, not built again
        print_json((args.out / outputs.COMPARE_JSON).read_text(encoding="utf-8"))
    elif not args.quiet:
        print(f"Wrote {in_words([str(p) for p in written])}.")
        best = result.best
        if best is not None:
            options = ["--lr", repr(best.lr), "--schedule", best.spec, "--unit", best.unit]
            options += ["--epochs", str(result.epochs)]
            why = "the best schedule, to keep"
            if len(result.seeds) > 1:  # train runs one seed: the first of the row's
                why += f" (its seed {result.seeds[0]} run)"
            print(next_command(args, "train", *options, why=why))
    return 0


def write_outputs(result: CompareResult, out: Path, *, task: str) -> list[Path]:
    """Writes ``compare.png``, ``compare.json``, ``compare.csv`` and ``report.html`` to ``out``
    (the report's part on ``task``, see :func:`~lrkit.cli.out_folder.write_report_part`).

    All of them or, when Ctrl-C comes first, none: they are drawn and built before the first
    is written, and Ctrl-C waits while they are written (:func:`lrkit.interrupts.deferred`).
    """
    from lrkit.compare import compare_section

    png, data, table = (
        out / name for name in (outputs.COMPARE_PNG, outputs.COMPARE_JSON, outputs.COMPARE_CSV)
    )
    fig = result.plot()
    sections = [compare_section(result, fig=fig)]
    with outputs.writing():
        out.mkdir(parents=True, exist_ok=True)
        result.write(out, fig)
        report = write_report_part(
            out,
            sections,
            title=f"{result.task}: schedules compared",
            subtitle=f"lrkit compare, {result.epochs} epochs, {len(result.seeds)} seed(s)",
            task=task,
        )
    return [png, data, table, report]
