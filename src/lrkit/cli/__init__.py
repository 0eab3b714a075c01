"""The ``lrkit`` command line: a thin layer over the library, one module per subcommand.

Each subcommand module exposes ``add_parser(subparsers)``, which registers its parser and sets
``run`` as its handler (``parser.set_defaults(run=run)``), and ``run(args) -> int``, the exit
status. :mod:`lrkit.cli.main` wires them together and turns errors into one line on stderr.

This module holds what every command shares: :class:`UsageError` and the exit statuses, the
output folders a command holds, the line an interrupted command ends with, and the command lines
a report shows and a command suggests next. Beside it: :mod:`~lrkit.cli.arguments` (the options'
argument types), :mod:`~lrkit.cli.json_stdout` (``--json``) and :mod:`~lrkit.cli.out_folder`
(``--out``). It must not import :mod:`lrkit.cli.main` (``python -m lrkit.cli.main`` runs that
module as ``__main__``, and a second copy would hold a second ``UsageError`` class).
"""

from __future__ import annotations

import argparse
import contextlib
import sys

EXIT_FAILURE, EXIT_USAGE = 1, 2  # interrupted: lrkit.interrupts.exit_status


HOLDS = contextlib.ExitStack()
"""The output folders the running command holds; :func:`lrkit.cli.main.main` lets them go when
it ends."""


class UsageError(Exception):
    """A command line that argparse or a command rejects; printed as one line, exit status 2."""


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
