"""The ``lrkit`` command line: a thin layer over the library, one module per subcommand.

Each subcommand module exposes ``add_parser(subparsers)``, which registers its parser and sets
``run`` as its handler (``parser.set_defaults(run=run)``), and ``run(args) -> int``, the exit
status. :mod:`lrkit.cli.main` wires them together and turns errors into one line on stderr.

This module holds what the subcommands share: :class:`UsageError` and the exit statuses,
argument types, the ``--json`` redirection of stdout, the checks and lock of an ``--out`` folder,
writing a command's part of its report, and the command line a report shows. It must
not import :mod:`lrkit.cli.main` (``python -m lrkit.cli.main`` runs that module as
``__main__``, and a second copy would hold a second ``UsageError`` class).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lrkit.checks import MAX_EPOCHS, MAX_SEED
from lrkit.outputs import SUMMARY, held, in_the_way, unwritable

EXIT_FAILURE, EXIT_USAGE = 1, 2  # interrupted: lrkit.interrupts.exit_status


HOLDS = contextlib.ExitStack()
"""The output folders the running command holds; :func:`lrkit.cli.main.main` lets them go when
it ends."""


class UsageError(Exception):
    """A command line that argparse or a command rejects; printed as one line, exit status 2."""


_json_documents: list[str] = []


def print_json(document: str) -> None:
    """Prints ``document`` on stdout once the command is done (see :func:`stdout_for_json`)."""
    _json_documents.append(document if document.endswith("\n") else document + "\n")


@contextlib.contextmanager
def stdout_for_json(enabled: bool) -> Iterator[None]:
    """With ``--json``, stdout holds the JSON document alone: while the command runs, whatever
    else prints there (a task file's ``print()``, a search's worker processes) goes to stderr,
    and :func:`print_json`'s document is written after.

    Example:
        >>> import io
        >>> with contextlib.redirect_stdout(io.StringIO()) as out:
        ...     with stdout_for_json(True):
        ...         print("loading data...")  # a task file's
        ...         print_json('{"lr": 0.1}')
        >>> out.getvalue()
        '{"lr": 0.1}\\n'
    """
    _json_documents.clear()  # an earlier command of this process that failed left its own
    saved = _duplicate_stdout() if enabled else None
    if saved is None:  # no --json, or no stdout to keep pure (closed: >&-)
        yield
        _print_documents()
        return
    os.dup2(2, 1)  # for processes started meanwhile, which write to the descriptor
    previous, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        for stream in (previous, sys.stderr):  # what went to either meanwhile goes to stderr
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdout = previous
        os.dup2(saved, 1)
        os.close(saved)
    _print_documents()


def _duplicate_stdout() -> int | None:
    """A duplicate of the descriptor under stdout, both streams flushed; None without one."""
    if sys.stdout is None:
        return None
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        return os.dup(1)
    except (OSError, ValueError):
        return None


def _print_documents() -> None:
    if _json_documents and sys.stdout is not None:
        sys.stdout.write("".join(_json_documents))
        sys.stdout.flush()


def stopped(interrupt: BaseException, detail: str = ".") -> int:
    """Says on stderr that the command was interrupted (Ctrl-C) or terminated (SIGTERM), then
    ``detail``; returns the exit status, 130 or 143.

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stderr(io.StringIO()) as err:
        ...     status = stopped(KeyboardInterrupt(), "; finished trials are kept.")
        >>> status, err.getvalue()
        (130, 'lrkit: interrupted; finished trials are kept.\\n')
    """
    from lrkit.interrupts import exit_status, what

    print(f"lrkit: {what(interrupt)}{detail}", file=sys.stderr)
    return exit_status(interrupt)


def positive_int(text: str) -> int:
    """Argument type: an integer >= 1 (``1000``, ``10k`` and ``1e4`` are all accepted).

    Example:
        >>> positive_int("10k"), positive_int("1e4")
        (10000, 10000)
    """
    scale = {"k": 1_000, "K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    body = text[:-1] if scale != 1 else text
    try:
        value = float(body) * scale
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(value)


def capped_int(text: str, most: int, must: str) -> int:
    """Argument type body: ``positive_int`` up to ``most``; ``must`` says what it must be.

    Example:
        >>> capped_int("2k", 5_000, "a positive integer at most 5,000")
        2000
    """
    value = positive_int(text)
    if value > most:
        raise argparse.ArgumentTypeError(f"must be {must}, got {text!r}")
    return value


def epochs_arg(text: str) -> int:
    """Argument type: an epoch budget, a positive integer up to ``MAX_EPOCHS``."""
    return capped_int(text, MAX_EPOCHS, f"a positive integer at most {MAX_EPOCHS:,} (epochs)")


def positive_float(text: str) -> float:
    """Argument type: a finite number > 0.

    Example:
        >>> positive_float("3e-4")
        0.0003
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every command that runs a task takes: TASK, ``--seed`` and ``--device``."""
    parser.add_argument(
        "task",
        nargs="?",
        default="digits",
        metavar="TASK",
        help="built-in task name or path/to/task.py (default: digits)",
    )
    parser.add_argument("--seed", type=seed_arg, default=0, metavar="S", help="seed (default: 0)")
    parser.add_argument(
        "--device", type=device_arg, default="cpu", help="torch device (default: cpu)"
    )


def seed_arg(text: str) -> int:
    """Argument type: a seed NumPy and torch both take, 0 to 2**32 - 1.

    Example:
        >>> seed_arg("7")
        7
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**32 - 1, got {text!r}")
    return value


def device_arg(text: str) -> str:
    """Argument type: a torch device this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``).

    Example:
        >>> device_arg("cpu")
        'cpu'
    """
    from lrkit.devices import device_problem

    problem = device_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
    return text


def command_line(argv: list[str] | None = None) -> str:
    """This process's command line as a user would type it to reproduce the run from scratch
    (``lrkit find digits ...``): without ``--resume``, which a fresh folder refuses, and without
    a database URL's password (the report is a page to share).

    Example:
        >>> command_line(["lrkit", "search", "--trials", "12", "--resume", "--out", "a b"])
        "lrkit search --trials 12 --out 'a b'"
        >>> command_line(["lrkit", "search", "--storage", "postgresql://me:secret@db/lrkit"])
        'lrkit search --storage postgresql://me@db/lrkit'
    """
    import shlex
    import sys

    from lrkit.urls import without_password

    args = [a for a in (sys.argv if argv is None else argv)[1:] if a != "--resume"]
    return without_password(" ".join(["lrkit", *(shlex.quote(a) for a in args)]))


def next_command(args: argparse.Namespace, command: str, *options: str, why: str) -> str:
    """The line a command ends with: what to run next with its answer, ready to paste as a shell
    line, the why a comment (the same task, ``--device`` and ``--seed`` as this run's where they
    are not the defaults). An LR in it is given in full (``repr``): rounded, it would train to
    another score.

    Example:
        >>> args = argparse.Namespace(task="my task.py", device="cpu", seed=3)
        >>> next_command(args, "compare", "--lr", repr(0.1392), why="schedules at this LR")
        "next: lrkit compare 'my task.py' --lr 0.1392 --seed 3  # schedules at this LR"
    """
    import shlex

    words = ["lrkit", command, args.task, *options]
    if args.device != "cpu":
        words += ["--device", args.device]
    if args.seed != 0:
        words += ["--seed", str(args.seed)]
    return f"next: {' '.join(shlex.quote(w) for w in words)}  # {why}"


REPORT_PART = {"find": "range_test", "search": "search", "compare": "compare"}
"""The section of ``report.html`` each command writes (and a rerun replaces)."""


def write_report_part(
    out: Any, sections: list[Any], *, title: str, subtitle: str, task: str
) -> Any:
    """Writes a command's sections into ``out/report.html`` (keeping the other commands' parts
    on the same ``task``, as :func:`~lrkit.tasks.registry.task_identity` names it), with the
    command line under "how to reproduce"; returns the file's path."""
    from lrkit.report import reproduce_section, write_report

    return write_report(
        out,
        [*sections, reproduce_section([command_line()])],
        title=title,
        subtitle=subtitle,
        merge=True,
        task=task,
    )


def check_out(
    out: Path, *, command: str | None = None, files: Sequence[str] = (), task: str | None = None
) -> None:
    """Fails before any training if ``out`` cannot be made or written (exit status 2).

    It is tried for real (made, a file written and removed), then everything this made is
    removed again: a usage error later still leaves nothing behind. ``command`` (``"find"``,
    ``"search"``, ``"compare"``): the folder is then held for this process until the command
    ends (:func:`lrkit.outputs.held`), so that another process's command on it fails at once
    (exit 1) instead of mixing its files in; a folder that holds an ``lrkit tune`` run is
    refused, since the command would replace a stage of it and the report would contradict its
    summary; so is one whose report holds another command's part on another ``task`` (see
    :func:`write_report_part`), which the report would mix with this one. ``files``: the names
    the command writes there; a folder in the place of one is refused.
    """
    problem = unwritable(out)
    if problem is not None:
        raise UsageError(
            f"--out must be a folder that can be made and written, got {os.fspath(out)!r}: "
            f"{problem}."
        )
    if command is not None:  # held from here to the command's end (see main), checks and all
        HOLDS.enter_context(held(out, f"lrkit {command}"))
    if command is not None and is_tune_folder(out):
        raise UsageError(
            f"--out {os.fspath(out)!r} holds an `lrkit tune` run; `lrkit {command}` would "
            "replace one of its stages and its report would no longer agree with its summary: "
            "use another folder."
        )
    if command is not None and task is not None:
        other = other_task_part(out, task, keep=REPORT_PART[command])
        if other is not None:
            raise UsageError(
                f"--out {os.fspath(out)!r} holds {other}; this `lrkit {command}` is on "
                f"{task!r}, and one report would show both: use another folder."
            )
    problem = in_the_way(out, files)
    if problem is not None:
        raise UsageError(
            f"--out must be a folder that can be made and written, got {os.fspath(out)!r}: "
            f"{problem}."
        )
    if command is not None:
        refuse_foreign_report(out)


def refuse_foreign_report(out: Path) -> None:
    """A UsageError when ``out`` holds a ``report.html`` lrkit did not write, which the
    command's report would replace."""
    from lrkit.report.document import foreign_report

    if foreign_report(out):
        raise UsageError(
            f"--out {os.fspath(out)!r} holds a report.html that lrkit did not write, which "
            "this command's report would replace: use another folder, or move that file."
        )


def other_task_part(folder: Path, task: str, *, keep: str) -> str | None:
    """What ``folder``'s report holds on a task other than ``task``, besides the part ``keep``
    that the command replaces (``"a search on 'digits'"``); ``None`` when nothing.

    Example:
        >>> import tempfile
        >>> from lrkit.report import Section, write_report
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = write_report(folder, [Section("search", "Search", "")], title="t", task="digits")
        >>> other_task_part(folder, "friedman", keep="range_test")
        "a search on 'digits'"
        >>> other_task_part(folder, "friedman", keep="search") is None
        True
        >>> import shutil; shutil.rmtree(folder)
    """
    from lrkit.report import read_sections
    from lrkit.report.document import report_task

    before = report_task(folder)
    if before is None or before == task:
        return None
    shown = {"range_test": "a range test", "search": "a search", "compare": "a comparison"}
    parts = [s.key for s in read_sections(folder) if s.key not in (keep, "reproduce")]
    if not parts:
        return None
    what = " and ".join(shown.get(key, f"a {key!r} section") for key in parts)
    return f"{what} on {before!r}"


def is_tune_folder(folder: Path) -> bool:
    """Whether ``folder`` holds an ``lrkit tune`` run: its ``summary.json``, or the stages of
    one that has not finished (``.lrkit-stages/run.json``)."""
    from lrkit.tune.stages import CACHE_DIR, RUN_FILE

    with contextlib.suppress(OSError):
        if (folder / CACHE_DIR / RUN_FILE).is_file():
            return True
    try:
        summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    settings = summary.get("settings") if isinstance(summary, dict) else None
    return isinstance(settings, dict) and "plan" in settings


def out_arg(text: str) -> Path:
    """Argument type: an output folder; an empty one is refused rather than read as ``.``.

    Example:
        >>> out_arg("runs/a")
        PosixPath('runs/a')
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a folder path, got {text!r}")
    return Path(text)
