"""The ``lrkit`` entry point: subcommands wired from a list of modules, errors as one line.

Every subcommand lives in its own module under ``lrkit.cli`` with ``add_parser(subparsers)`` and
``run(args) -> int``. To add one, write the module and name it in ``COMMANDS``; a module named
there but not written yet is skipped, so the list can run ahead of the code.

Exit statuses: 0 success, 1 a failure while running (a file that cannot be written), 2 a usage
error or an invalid value (any :class:`~lrkit.errors.LrkitError`), 130 interrupted (Ctrl-C),
143 terminated (SIGTERM, which stops the work as Ctrl-C does: see :mod:`lrkit.interrupts`), 129
hung up (SIGHUP, likewise).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import os
import re
import signal
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from lrkit import __version__
from lrkit.cli import EXIT_FAILURE, EXIT_USAGE, HOLDS, UsageError, stopped
from lrkit.cli.json_stdout import stdout_for_json
from lrkit.errors import LrkitError, RunError, SpecError, TaskError, where_raised
from lrkit.interrupts import (
    TERMINATING,
    exit_status,
    handler,
    held_during_imports,
    interrupt_behind,
    raise_held,
)
from lrkit.plaintext import ascii_where_needed

COMMANDS: tuple[str, ...] = ("schedule", "train", "find", "search", "compare", "tune")
"""Subcommand modules under ``lrkit.cli``, in the order ``lrkit --help`` lists them."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise, so that ``main`` prints them as one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        """As argparse's, but an unknown option is blamed on the subcommand it was given to,
        so that the advice names that subcommand's help (``lrkit find --help``)."""
        given = list(sys.argv[1:] if args is None else args)
        try:
            parsed, extra = self.parse_known_args(args, namespace)
        except UsageError as error:  # "lrkit --bogus": say so, not only that COMMAND is missing
            if "required: COMMAND" not in str(error) or not given:
                raise
            wrong = [a for a in given if a.startswith("-")] or given[:1]
            raise UsageError(
                f"expected a command ({', '.join(COMMANDS)}), got {' '.join(wrong)!r} "
                f"(see '{self.prog} --help')"
            ) from None
        if extra:
            command = getattr(parsed, "command", None)
            before = command in given and given.index(extra[0]) < given.index(command)
            prog = self.prog if before else getattr(parsed, "_prog", None) or self.prog
            raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see '{prog} --help')")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    """The ``lrkit`` parser with every available subcommand."""
    parser = Parser(
        prog="lrkit",
        description="What learning rate, and what schedule? Answered for a real model.",
        epilog="'lrkit help COMMAND' (or 'lrkit COMMAND --help') shows a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"lrkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        module.add_parser(subparsers)
    _name_progs(parser)
    return parser


def _name_progs(parser: argparse.ArgumentParser) -> None:
    """Each subcommand records its ``prog`` (``lrkit schedule plot``) for error advice."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(_prog=sub.prog)
                _name_progs(sub)


def _command_modules() -> list[ModuleType]:
    modules = []
    for name in COMMANDS:
        qualified = f"lrkit.cli.{name}"
        try:
            modules.append(importlib.import_module(qualified))
        except ModuleNotFoundError as exc:
            if exc.name != qualified:  # the module exists but one of its imports is missing
                raise
    return modules


# the commands that draw figures (and ``schedule plot``)
PLOTTING = frozenset({"find", "search", "compare", "tune"})
# whether this process is the ``lrkit`` command (script()), not a caller of main()
_AS_COMMAND = False


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``lrkit`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Example:
        >>> main(["schedule", "show", "cosinus:100"])  # one line on stderr, status 2
        2
    """
    shown = warnings.showwarning
    warnings.showwarning = _show_warning  # one line, as lrkit's own notes are
    try:
        with held_during_imports():  # Ctrl-C in the first seconds' imports is not lost
            return _run(argv)
    except KeyboardInterrupt as exc:  # in the instant the handlers are put back
        return _interrupted(None, exc)
    finally:
        warnings.showwarning = shown


def _run(argv: Sequence[str] | None) -> int:
    args = parser = None
    try:
        parser = build_parser()
        argv = _help_as_option(sys.argv[1:] if argv is None else argv)
        _check_cwd(argv)
        args = parser.parse_args(argv)
        # the library's warnings name their parameters as this command's options (--end-lr)
        warnings.showwarning = functools.partial(_show_warning, options=_options(parser, args))
        if _AS_COMMAND and (args.command in PLOTTING or getattr(args, "action", None) == "plot"):
            from lrkit.axes import plain_matplotlib

            plain_matplotlib()  # its PNGs drawn whatever the user's matplotlibrc says
        with stdout_for_json(getattr(args, "json", False)), HOLDS:
            status = int(args.run(args))
        raise_held()  # a Ctrl-C held since an import after the last progress update
        return status
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except RunError as exc:  # not a usage error: the work stopped, the message says why
        return _fail(as_flag(str(exc), _options(parser, args)), EXIT_FAILURE)
    except SpecError as exc:  # its parameters are the spec's (cosine's steps, not --steps)
        return _fail(spec_option(str(exc), args), EXIT_USAGE)
    except LrkitError as exc:
        message = as_flag(str(exc), _options(parser, args))
        if isinstance(exc, TaskError) and message.startswith("Task file "):  # TASK names it
            message = f"TASK: {message}"
        return _fail(message, EXIT_USAGE)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):  # `lrkit schedule list | head`: not an error
            _silence_stdout()
            return EXIT_FAILURE
        if where_raised(exc):  # the task's own code (its data read from disk): its traceback
            return _task_failed(exc)  # says where, as any other error of the task's does
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return _fail(f"{where}{exc.strerror or exc}", EXIT_FAILURE)
    except KeyboardInterrupt as exc:
        return _interrupted(args, exc)
    except Exception as exc:
        interrupt = interrupt_behind(exc)  # an import that Ctrl-C cut short before main held it
        if interrupt is not None:
            return _interrupted(args, interrupt)
        if where_raised(exc):  # the task's model, data or loss: its own error
            return _task_failed(exc)
        raise  # lrkit's: the whole traceback, for a bug report


def _check_cwd(argv: Sequence[str]) -> None:
    """A UsageError in a current folder that was deleted, for a command that imports torch
    (every one but ``schedule``, help and the version; its ``--device`` is read with it):
    torch's import ends the process there, with oneMKL's "FATAL ERROR: Cannot load
    libtorch_cpu.so" (QA 152)."""
    if not argv or argv[0] == "schedule" or {"-h", "--help", "--version"} & set(argv):
        return
    try:
        os.getcwd()
    except FileNotFoundError:
        raise UsageError(
            "the current folder no longer exists (it was deleted or moved away); cd to one that "
            "does and run the command again."
        ) from None


def _help_as_option(argv: Sequence[str]) -> list[str]:
    """``lrkit help [COMMAND ...]`` as ``lrkit [COMMAND ...] --help``, as git and pip take it.

    Example:
        >>> _help_as_option(["help", "schedule", "plot"])
        ['schedule', 'plot', '--help']
    """
    argv = list(argv)
    return [*argv[1:], "--help"] if argv[:1] == ["help"] else argv


FULL_TRACEBACK = "LRKIT_TRACEBACK"
"""Set to 1, an error of the task's code shows lrkit's frames too."""


def _task_failed(exc: BaseException) -> int:
    """An error the task's own code raised (its model, data or loss) while lrkit ran it: the
    traceback from the task's first frame on (lrkit's frames before it, 20 to 50 lines of the
    training loop, left out unless ``LRKIT_TRACEBACK=1``), then one line; exit 1 (QA 139: four
    commands printed the whole traceback, search one line)."""
    import traceback

    from lrkit.errors import users_code

    tb = exc.__traceback__
    full = os.environ.get(FULL_TRACEBACK) == "1"
    if not full:
        users = users_code()
        first = tb
        while first is not None and not users(first.tb_frame.f_code.co_filename):
            first = first.tb_next
        tb = first or tb
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
    said = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    shown = "" if full else f" ({FULL_TRACEBACK}=1 adds lrkit's)"
    return _fail(
        f"the task's code raised {type(exc).__name__}{': ' + said if said else ''}"
        f"{where_raised(exc)}; its traceback above starts in the task's code{shown}.",
        EXIT_FAILURE,
    )


def _interrupted(args: argparse.Namespace | None, interrupt: KeyboardInterrupt) -> int:
    """Exit 130 (143 for SIGTERM), saying so but for ``schedule`` (its output is the point;
    search and tune say what they kept, and return the status themselves)."""
    if getattr(args, "command", None) == "schedule":
        return exit_status(interrupt)
    return stopped(interrupt)


def _options(
    parser: argparse.ArgumentParser | None, args: argparse.Namespace | None
) -> dict[str, str]:
    """``{dest: "--option"}`` for the options of the (sub)command ``args`` ran."""
    options: dict[str, str] = {}
    current: argparse.ArgumentParser | None = parser
    while current is not None:
        chosen = None
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                name = getattr(args, action.dest, None) if args is not None else None
                chosen = action.choices.get(name) if name is not None else None
            elif action.option_strings and action.dest != "help":
                options[action.dest] = max(action.option_strings, key=len)
        current = chosen
    return options


# the library's names for what a command calls otherwise (n_trials is --trials)
LIBRARY_NAMES = {"n_trials": "trials", "n_workers": "workers", "study_name": "study"}


def as_flag(message: str, options: dict[str, str]) -> str:
    """The library's error, its opening parameter name written as the command's option.

    Example:
        >>> as_flag("budget must be at least 66 epochs, got 20.", {"budget": "--budget"})
        '--budget must be at least 66 epochs, got 20.'
        >>> as_flag("resume: there is no study", {"resume": "--resume"})
        '--resume: there is no study'
        >>> as_flag("budget 'x' is a noun here", {"budget": "--budget"})
        "budget 'x' is a noun here"
        >>> as_flag("end_lr must exceed start_lr", {"end_lr": "--end-lr", "start_lr": "--start-lr"})
        '--end-lr must exceed --start-lr'
        >>> as_flag("rounds must be at most n_trials, got 'a/n_trials.py'", {"trials": "--trials"})
        "rounds must be at most --trials, got 'a/n_trials.py'"
        >>> as_flag("low must be below high, got low=0.1 >= high=0.01", {"low": "--low",
        ...     "high": "--high"})
        '--low must be below --high, got --low=0.1 >= --high=0.01'
        >>> as_flag("rounds must be below low, not 'low=1'", {"low": "--low", "rounds": "--rounds"})
        "--rounds must be below --low, not 'low=1'"
        >>> as_flag("resume it ('resume=True', `--resume`)", {"resume": "--resume"})
        'resume it (--resume)'
        >>> as_flag("resume it ('resume=True', `--resume`)", {})  # lrkit tune's: no --resume
        'resume it (run the same command again)'
        >>> as_flag("leave them out (the --sklearn option, the sklearn argument).",
        ...         {"sklearn": "--sklearn"})
        'leave them out (--sklearn).'
    """
    # where the library names both spellings of an option, the command's alone (or, where
    # the command has no such option, how it does the same)
    for pattern in (
        r"\('([a-z_]+)=True', `--[a-z-]+`\)",
        r"\(the --[a-z-]+ option, the ([a-z_]+) argument\)",
    ):
        found = re.search(pattern, message)
        if found is not None:
            mine = options.get(found.group(1))
            again = "run the same command again" if found.group(1) == "resume" else None
            said = mine or again
            if said is not None:
                message = message[: found.start()] + f"({said})" + message[found.end() :]
    options = {**options, **{k: options[v] for k, v in LIBRARY_NAMES.items() if v in options}}
    word = re.match(r"[a-z_]+(?=:| must )", message)  # "budget must", "resume: there is"
    if word is not None and word.group() in options:
        message = options[word.group()] + message[word.end() :]
    parts = re.split(r"('[^']*')", message)  # what the user gave, quoted, stays as it was
    for i in range(0, len(parts), 2):
        for dest, option in options.items():
            # start_lr anywhere (no word of prose has a _); low=0.1 as --low=0.1 (argparse's
            # own spelling); "below high" as "below --high"
            # not dest=True: a flag such as --resume takes no value
            name = (
                rf"(?<![\w-]){dest}\b"
                if "_" in dest
                else rf"(?<![\w/-]){dest}(?==)(?!=?(?:True|False)\b)"
            )
            parts[i] = re.sub(name, option, parts[i])
            parts[i] = re.sub(rf"\b(below|above|exceed|than) {dest}\b", rf"\1 {option}", parts[i])
    return "".join(parts)


def spec_option(message: str, args: argparse.Namespace | None) -> str:
    """A spec's error, led by the option that gave the spec (``--schedule 'cosne:3': ...``).

    Example:
        >>> from argparse import Namespace as NS
        >>> spec_option("Unknown task 'x'.", NS(schedule="cosine:3", task="x"))
        "TASK: Unknown task 'x'."
        >>> spec_option("Unknown schedule name 'cosne'.", NS(schedule="cosne:3"))
        "--schedule 'cosne:3': Unknown schedule name 'cosne'."
        >>> spec_option("schedule 'cosne:3': Unknown name.", NS(schedule="cosne:3"))
        "--schedule 'cosne:3': Unknown name."
        >>> spec_option("Unknown name 'x'.", NS(schedules=["cosine:3", "x"]))
        "--schedules 'x': Unknown name 'x'."
        >>> spec_option("Unknown task 'y'.", NS(schedules=["range-onecycle"], task="y"))
        "TASK: Unknown task 'y'."
        >>> spec_option("Unknown sampler 'foo'; valid samplers: tpe.", NS(sampler="foo"))
        "--sampler: Unknown sampler 'foo'; valid samplers: tpe."
    """
    from lrkit.schedules import parse

    single = getattr(args, "schedule", None)
    lead = f"schedule {single!r}: "
    if isinstance(single, str) and message.startswith(lead):  # the library named it
        return f"--{message}"
    if isinstance(single, str):
        try:
            parse(single)
        except SpecError:  # it is the spec that fails, not another name (a task, a sampler)
            return f"--{lead}{message}"
    from lrkit.compare.candidate import RANGE_ONE_CYCLE

    for spec in getattr(args, "schedules", None) or []:
        if spec == RANGE_ONE_CYCLE:  # compare's own entry, not a spec
            continue
        try:
            parse(spec)
        except SpecError:
            return f"--schedules {spec!r}: {message}"
    unknown = re.match(r"Unknown (sampler|pruner|task) ", message)  # an option's unknown name
    if unknown is not None and args is not None and hasattr(args, unknown.group(1)):
        name = unknown.group(1)
        return f"{'TASK' if name == 'task' else '--' + name}: {message}"
    return message


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    *_: object,
    options: dict[str, str] | None = None,
    **__: object,
) -> None:
    print(f"warning: {as_flag(one_line(str(message)), options or {})}", file=sys.stderr)


def _fail(message: str, status: int) -> int:
    # a Ctrl-C held since an import (a task file's) came first: it is what stopped the work,
    # not this error (main says "interrupted", exit 130)
    raise_held()
    print(f"lrkit: error: {one_line(message)}", file=sys.stderr)
    return status


def one_line(message: str) -> str:
    """Folds a multi-line error message onto one line.

    Caret lines (``"    ^"``) are dropped; other indented lines (an echoed spec) are quoted.

    Example:
        >>> one_line("Malformed spec: unexpected '?' at position 6.\\n  cosine?\\n        ^")
        "Malformed spec: unexpected '?' at position 6. 'cosine?'"
    """
    lines = message.strip().splitlines() or [""]
    parts = [lines[0].strip()]
    for line in lines[1:]:
        text = line.strip()
        if not text or set(text) <= {"^", "~"}:
            continue
        parts.append(f"'{text}'" if line[:1].isspace() else text)
    return " ".join(parts)


class _KeptStdout:
    """stdout, whose first failed write (a reader that quit: ``| head -1``; a full disk) is kept
    in ``error`` and the rest dropped, so that the command goes on and writes its files: a table
    is printed before them (QA 152: a pipe closed early lost every file)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.error: OSError | None = None

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                return int(self._stream.write(text))
            except OSError as error:
                self._lost(error)
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self._stream.flush()
            except OSError as error:
                self._lost(error)

    def _lost(self, error: OSError) -> None:
        self.error = error
        with contextlib.suppress(OSError):
            _silence_stdout()  # what is still buffered goes nowhere at exit, not in a traceback

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, buffer, ...
        return getattr(self._stream, name)


def _silence_stdout() -> None:
    # Python would report the broken pipe again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def script() -> NoReturn:
    """The ``lrkit`` command: :func:`main`, then exit with its status.

    A Ctrl-C, SIGTERM or SIGHUP that comes once the work is done, while Python shuts down
    (torch's exit handlers run then), is ignored rather than printed as a traceback or changing
    the status. A stdout that fails is said at the end (:class:`_KeptStdout`).
    """
    ascii_where_needed()
    global _AS_COMMAND
    _AS_COMMAND = True
    kept = sys.stdout = _KeptStdout(sys.stdout) if sys.stdout is not None else None
    status = main()
    if kept is not None and kept.error is not None:  # `| head -1`, a full disk: said, not lost
        if not isinstance(kept.error, BrokenPipeError):  # a reader that quit knows
            print(
                f"lrkit: error: could not print to stdout: {kept.error.strerror or kept.error}"
                + ("; the command ran to its end and wrote its files" if status == 0 else ""),
                file=sys.stderr,
            )
        status = status or EXIT_FAILURE
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in TERMINATING:
        if signal.getsignal(signum) in (signal.SIG_DFL, handler):
            signal.signal(signum, signal.SIG_IGN)
    sys.exit(status)


if __name__ == "__main__":
    script()
