"""``lrkit search [TASK]``: log-uniform learning-rate search over fresh training runs.

Trains TASK's fresh model once per trial at LRs drawn evenly across orders of magnitude (with
early stopping and narrowing rounds if asked), keeps every trial in an Optuna study, and writes
``search.png`` (value against LR, log axis), ``search.json`` and ``search.csv`` to DIR. The study
lives in DIR's ``study.journal`` unless ``--storage`` names a database; workers on other
machines started with the same ``--storage`` and ``--study`` join it. An interrupted search
continues with ``--resume``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrkit import outputs
from lrkit.cli import next_command, stopped
from lrkit.cli.arguments import (
    add_task_arguments,
    capped_int,
    epochs_arg,
    one_of,
    out_arg,
    positive_float,
    positive_int,
)
from lrkit.cli.json_stdout import print_json
from lrkit.cli.out_folder import check_out, write_report_part
from lrkit.plaintext import literal, lr_text, range_text

if TYPE_CHECKING:
    from lrkit.search import SearchResult

DEFAULT_OUT = Path("lrkit-out/search")


MAX_TRIALS = 10_000  # lrkit.search.engine.MAX_TRIALS, kept here so that --help needs no import


def trials_arg(text: str) -> int:
    """Argument type: trials in all, a positive integer up to ``MAX_TRIALS``."""
    must = f"a positive integer at most {MAX_TRIALS:,} (a one-dimensional LR search needs tens)"
    return capped_int(text, MAX_TRIALS, must)


def lr_or_auto(text: str) -> float | str:
    """Argument type: a positive learning rate, or ``auto`` (bracketed by a range test).

    Example:
        >>> lr_or_auto("auto"), lr_or_auto("1e-3")
        ('auto', 0.001)
    """
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a positive learning rate or 'auto', got {text!r}"
        ) from None
    return value  # the range itself (positive, low < high) is checked by the library


def study_name(text: str) -> str:
    """Argument type: a study name, not empty (an empty one would silently be the default).

    Example:
        >>> study_name("lr-sweep")
        'lr-sweep'
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a non-empty study name, got {text!r}")
    from lrkit.checks import MAX_STUDY_NAME

    if len(text) > MAX_STUDY_NAME:  # Optuna's database column holds 512
        raise argparse.ArgumentTypeError(
            f"must be a study name of at most {MAX_STUDY_NAME} characters, got {len(text)}"
        )
    return text


def add_parser(subparsers: Any) -> None:
    """Registers ``lrkit search``."""
    parser = subparsers.add_parser(
        "search",
        help="search the learning rate log-uniformly, one fresh training run per trial",
        description="Train TASK once per trial at learning rates spread evenly over orders of "
        "magnitude between --low and --high, keep the best by validation loss (or, with "
        "--value val_metric, by the task's metric on the validation set). Trials are kept "
        "in an Optuna study (DIR/study.journal, or --storage), so an interrupted search resumes "
        "with --resume, and workers on other machines join one study with the same --storage "
        "postgresql://... and --study.",
    )
    add_task_arguments(parser)
    parser.add_argument(
        "--trials", type=trials_arg, default=20, metavar="N", help="trials in all (default: 20)"
    )
    parser.add_argument(
        "--low",
        type=lr_or_auto,
        default=1e-5,
        metavar="LR",
        help="lowest LR, or 'auto' from a range test (default: 1e-5)",
    )
    parser.add_argument(
        "--high",
        type=lr_or_auto,
        default=1.0,
        metavar="LR",
        help="highest LR, or 'auto' from a range test (default: 1)",
    )
    parser.add_argument(
        "--sampler",
        default="stratified",
        metavar="NAME",
        help="stratified, random, random-torch or tpe (default: stratified)",
    )
    parser.add_argument(
        "--pruner",
        default="none",
        metavar="NAME",
        help="none, halving, hyperband or median (default: none)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=1,
        metavar="K",
        help="narrowing rounds: each searches a range 4x narrower around the "
        "best so far (default: 1)",
    )
    parser.add_argument(
        "--epochs",
        type=epochs_arg,
        default=None,
        metavar="E",
        help="epoch budget per trial (default: the task's)",
    )
    parser.add_argument(
        "--schedule",
        default=None,
        metavar="SPEC",
        help="schedule inside each trial, over the full budget, in epochs, e.g. 'cosine:12' "
        "(default: constant)",
    )
    parser.add_argument(
        "--value",
        **one_of("val_loss", "val_metric"),
        default="val_loss",
        help="what judges each trial, every epoch and at the end: the validation loss "
        "(minimized, the default) or the task's metric on the validation set, e.g. accuracy "
        "(maximized)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="W",
        help="trials at once on this machine, each in a fresh process (default: 1)",
    )
    parser.add_argument(
        "--trial-timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="fail a trial that runs longer than this and go on (default: no limit)",
    )
    parser.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="postgresql://user@host/db to share a study between machines (the password in "
        "~/.pgpass), sqlite:///file.db, or a journal file path (default: DIR/study.journal)",
    )
    parser.add_argument(
        "--study",
        type=study_name,
        default="lrkit-search",
        metavar="NAME",
        help="study name in the storage (default: lrkit-search)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted search of the same settings"
    )
    parser.add_argument(
        "--out",
        type=out_arg,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder for the study and the results (default: {DEFAULT_OUT})",
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors and warnings")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs the search, prints the top trials and writes the plot, JSON and CSV."""
    from lrkit.search import search
    from lrkit.search.engine import InterruptedBeforeStudy
    from lrkit.search.result import FinishedStudyWarning, SearchWarning
    from lrkit.search.storage import StorageSpec
    from lrkit.tasks.registry import task_identity

    # before any work: a file (or a folder where one goes) in the way fails now
    identity = task_identity(args.task)  # ./t.py and t.py are one task
    check_out(args.out, command="search", files=outputs.SEARCH, task=identity)
    quiet = args.quiet or args.json
    caught: list[warnings.WarningMessage] = []
    shown = warnings.showwarning

    def keep_search_warnings(message: Any, category: Any, *rest: Any, **named: Any) -> None:
        if issubclass(category, SearchWarning):  # said below in the CLI's words
            caught.append(warnings.WarningMessage(message, category, *rest[:2]))
        else:  # anything else at once, as the run goes
            shown(message, category, *rest, **named)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", SearchWarning)
            warnings.showwarning = keep_search_warnings
            result = search(
                args.task,
                args.low,
                args.high,
                args.trials,
                seed=args.seed,
                sampler=args.sampler,
                pruner=args.pruner,
                rounds=args.rounds,
                storage=args.storage,
                study_name=args.study,
                out=args.out,
                resume=args.resume,
                n_workers=args.workers,
                trial_timeout=args.trial_timeout,
                schedule=args.schedule,
                epochs=args.epochs,
                value=args.value,
                device=args.device,
                progress=not quiet,
            )
    except InterruptedBeforeStudy as stop:
        return stopped(stop, " before any trial ran; run the same command again.")
    except KeyboardInterrupt as stop:
        again = "again" if args.resume else "with --resume"
        shared = args.storage is not None and StorageSpec.parse(args.storage).shared
        if shared and getattr(stop, "lrkit_role", None) == "joiner":
            return stopped(  # one of several machines: --resume is for one of them, alone
                stop,
                "; finished trials are kept. Run the same command again to join the study "
                "again; if the machine that coordinates it has stopped too, run it with "
                "--resume on one machine.",
            )
        return stopped(
            stop, f"; finished trials are kept. Run the same command {again} to continue."
        )
    finished = [w for w in caught if issubclass(w.category, FinishedStudyWarning)]
    if finished:  # a warning, on stderr: said with --quiet and --json too
        print(
            f"warning: study {result.study_name!r} already finished in {result.storage} with these "
            "settings, so no trial ran: these are its results. To search again, use another "
            f"--study{'' if args.storage else ' or --out'}.",
            file=sys.stderr,
        )
    args.out.mkdir(parents=True, exist_ok=True)  # the study may live elsewhere (--storage)
    png, data, table = (
        args.out / name for name in (outputs.SEARCH_PNG, outputs.SEARCH_JSON, outputs.SEARCH_CSV)
    )
    before = _study_in(data)
    if before is not None and before != result.study_name and not args.quiet:
        print(
            f"note: {data} held study {before!r}; it now holds {result.study_name!r} (both "
            f"stay in the storage: rerun with --study {before} --resume to write it back)",
            file=sys.stderr,
        )
    if not quiet:  # before the files: a disk that is full for them does not hide the result
        print(result.table(top=10))
    best = result.best_trial
    if best is None:  # the cause of exit status 1, where errors go
        sys.stdout.flush()  # after the table, when both go to one place
        print(f"lrkit: error: {_none_completed(result)}", file=sys.stderr)
    if not quiet:
        if best is not None:
            print(
                f"Best lr {lr_text(best.lr)} (trial {best.number}, value {best.value:.4g}); "
                f"{result.tally()}; {result.total_epochs} epochs in all."
            )
        print(f"Searched {range_text(result.low, result.high)}{_auto_ends(args)}{_rounds(result)}.")
    from lrkit.report import search_section
    from lrkit.search.objective import value_name

    # built first, then written while Ctrl-C waits: all the files or none (the study is kept)
    written = False
    name = result.task or Path(str(args.task)).stem
    try:
        judged = value_name(args.value, result.metric or "metric")
        fig = result.plot(title=f"{literal(name)}: search", ylabel=f"final validation {judged}")
        sections = [search_section(result, fig=fig)]
        with outputs.writing():
            document = result.write(args.out, fig)
            report = write_report_part(
                args.out,
                sections,
                title=f"{name}: learning-rate search",
                subtitle="lrkit search",
                task=identity,
            )
            written = True
    except KeyboardInterrupt as stop:
        if written:
            return stopped(stop, f"; the search finished and its files are written in {args.out}.")
        return stopped(
            stop,
            "; the search finished and is kept; run the same command again to write its files.",
        )
    if args.json:
        print_json(document)
    elif not args.quiet:
        print(f"Wrote {png}, {data}, {table} and {report}.")
        if result.best_trial is not None:
            options = ["--lr", repr(result.best_trial.lr)]
            if args.epochs is not None:  # the budget the LR was searched for
                options += ["--epochs", str(args.epochs)]
            print(next_command(args, "compare", *options, why="schedules at the best LR"))
    return 0 if result.best_trial is not None else 1


def _rounds(result: SearchResult) -> str:
    """The ranges of a narrowing search's rounds, as the summary line's end (seed 000's
    progressive narrowing: where each round searched).

    Example:
        >>> from lrkit.search.result import SearchResult
        >>> rounds = ((1e-5, 1.0), (0.00197, 0.035))
        >>> _rounds(SearchResult("s", ":memory:", "minimize", 1e-5, 1.0, (), rounds))
        '; rounds: 1e-05 to 1, then 0.00197 to 0.035'
    """
    if len(result.rounds) < 2:
        return ""
    return "; rounds: " + ", then ".join(range_text(low, high) for low, high in result.rounds)


def _auto_ends(args: argparse.Namespace) -> str:
    """Where an ``auto`` end of the searched range came from (``""`` when none is)."""
    from lrkit.search.engine import BRACKET_MARGIN_WORDS as margin

    low, high = args.low == "auto", args.high == "auto"
    if low and high:
        return f": from {margin} under the range test's low end to its high end"
    if low:
        return f": its low end {margin} under the range test's"
    return ": its high end the range test's" if high else ""


def _none_completed(result: SearchResult) -> str:
    """``No trial completed (2 failed). The first error (trial 0): ...``"""
    failed = result.first_failure
    first = "" if failed is None else f" The first error (trial {failed.number}): {failed.error}"
    return f"No trial completed ({result.tally(complete=False)}).{first}"


def _study_in(path: Path) -> str | None:
    """The study name of the search.json at ``path``; None if there is none (or unreadable)."""
    try:
        name = json.loads(path.read_text(encoding="utf-8")).get("study_name")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None
