"""``lrkit schedule``: plot, show and list native schedules.

Usage::

    lrkit schedule plot SPEC [SPEC ...] -o FILE.png [--steps N] [--lr BASE] [--linear]
                        [--metrics FILE_OR_COMMA_LIST] [--title TEXT]
    lrkit schedule show SPEC [--steps N] [--lr BASE] [--metrics FILE_OR_COMMA_LIST]
    lrkit schedule list
"""

from __future__ import annotations

import argparse
import io
import json
import math
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lrkit.cli import UsageError
from lrkit.cli.arguments import capped_int, positive_float
from lrkit.outputs import unwritable, write_file
from lrkit.plaintext import lr_text

DEFAULT_LR = 1.0  # as Schedule.trace: the y axis then reads as a multiple of the base LR
MAX_STEPS = 5_000_000  # lrkit.schedules.plot.MAX_STEPS, kept here so that --help needs no import
MAX_SHOW_STEPS = 10**15  # show reads the LR at a few steps: any step a float holds exactly


def add_parser(subparsers: Any) -> None:
    """Registers ``lrkit schedule`` and its actions."""
    parser = subparsers.add_parser(
        "schedule",
        help="plot, show and list learning-rate schedules",
        description="Plot, tabulate and list native lrkit schedules given as one-line specs "
        "such as 'warmup:500 > cosine:10k,min_lr=1e-5'.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    plot = actions.add_parser(
        "plot",
        help="draw one or more schedules into an image file",
        description="Draw schedules on one chart (log y axis by default).",
    )
    plot.add_argument("specs", nargs="+", metavar="SPEC", help="schedule spec, e.g. 'cosine:100'")
    plot.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="image to write (.png, .svg, .pdf)"
    )
    _add_horizon_args(plot)
    plot.add_argument("--linear", action="store_true", help="linear y axis instead of log")
    plot.add_argument("--title", help="chart title")

    show = actions.add_parser(
        "show",
        help="print the LR at key steps of a schedule",
        description="Print the canonical spec and the LR at key steps: the start, phase ends, "
        "milestones, the quarters of the horizon and the last step.",
    )
    show.add_argument("spec", metavar="SPEC", help="schedule spec, e.g. 'warmup:10 > cosine:90'")
    _add_horizon_args(show, show_steps, "the horizon, any length up to 1e15 steps")

    actions.add_parser(
        "list",
        help="list the schedule names and their aliases",
        description="List the registered schedule names, their aliases and what they do.",
    )
    parser.set_defaults(run=run)


def _add_horizon_args(
    parser: argparse.ArgumentParser,
    steps: Callable[[str], int] | None = None,
    what: str = "steps to trace, at most 5M",
) -> None:
    parser.add_argument(
        "--steps",
        type=steps or trace_steps,
        metavar="N",
        help=f"{what} (default: the longest schedule length x 1.1, or 100)",
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        default=DEFAULT_LR,
        metavar="BASE",
        help=f"base learning rate (default: {DEFAULT_LR:g})",
    )
    parser.add_argument(
        "--metrics",
        type=read_metrics,
        metavar="FILE_OR_COMMA_LIST",
        help="metric per step driving plateau phases: '1.0,0.9,0.9' or a file (one number per "
        "line, or a JSON list); a list that starts with a minus sign goes after '=': "
        "--metrics=-1,-2,-3",
    )


def trace_steps(text: str) -> int:
    """Argument type: the steps to trace, a positive integer up to ``MAX_STEPS``.

    Example:
        >>> trace_steps("10k")
        10000
    """
    must = f"a positive integer at most {MAX_STEPS:,} (the steps that are traced)"
    return capped_int(text, MAX_STEPS, must)


def show_steps(text: str) -> int:
    """Argument type: the horizon of ``show``, a positive integer up to ``MAX_SHOW_STEPS``.

    Example:
        >>> show_steps("1e12")
        1000000000000
    """
    must = f"a positive integer at most {MAX_SHOW_STEPS:.0e} (the horizon shown)"
    return capped_int(text, MAX_SHOW_STEPS, must)


def run(args: argparse.Namespace) -> int:
    """Runs the chosen action; returns the exit status."""
    actions = {"plot": run_plot, "show": run_show, "list": run_list}
    return actions[args.action](args)


# -- plot --------------------------------------------------------------------------------------


def run_plot(args: argparse.Namespace) -> int:
    """``lrkit schedule plot``: traces the specs and writes the chart."""
    output = Path(args.output)
    _check_output(args.output)  # before tracing: a typo in -o should not cost a long trace
    _check_title(args.title)
    from lrkit.interrupts import deferred
    from lrkit.schedules.plot import plot_schedules, schedule_curves

    steps = args.steps or _default_steps(args.specs)
    curves = schedule_curves(args.specs, steps, args.lr, args.metrics)
    fig = plot_schedules(curves, log=not args.linear, title=args.title)
    with deferred():  # no file after a Ctrl-C, and none cut short by one
        output.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        with _quiet_postscript():
            fig.savefig(buffer, format=output.suffix[1:].lower(), dpi=150)
        write_file(output, buffer.getvalue())  # whole or not at all, as every lrkit output
    _print_warnings(args.specs, args.lr, args.metrics)
    noun = "schedule" if len(curves) == 1 else "schedules"
    over = f"{steps} step{'' if steps == 1 else 's'}"
    print(f"Wrote {output} ({len(curves)} {noun} over {over}, base lr {lr_text(args.lr)}).")
    return 0


@contextmanager
def _quiet_postscript() -> Iterator[None]:
    """matplotlib's PostScript backend logs a line on stderr for the plot's translucent
    bands (drawn opaque in .eps/.ps): not a problem of the user's to read on every plot."""
    import logging

    log = logging.getLogger("matplotlib.backends.backend_ps")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _default_steps(specs: list[str], most: int = MAX_STEPS, action: str = "plot") -> int:
    """The default horizon (the longest length x 1.1); a UsageError if it is longer than
    ``most`` steps."""
    from lrkit.schedules import parse
    from lrkit.schedules.plot import default_steps

    schedules = [parse(s) for s in specs]
    steps = default_steps(schedules)
    if steps > most:
        length, spec = max((float(s.length or 0.0), t.strip()) for s, t in zip(schedules, specs))
        what = "to trace whole" if action == "plot" else "to show"
        raise UsageError(
            f"argument --steps is needed: schedule {spec!r} lasts {length:.4g} steps, too many "
            f"{what} (the default horizon, its length x 1.1, must be at most {most:,} steps); "
            f"pass --steps N to {action} its first N steps"
        )
    return steps


def _check_output(text: str) -> None:
    output = Path(text)
    if not text.strip() or output.is_dir():
        raise UsageError(f"argument -o/--output must be an image file name, got {text!r}")
    problem = unwritable(output.parent)
    if problem is not None:
        raise UsageError(
            f"argument -o/--output must be a file that can be written, got {text!r}: {problem}"
        )
    from matplotlib.backend_bases import FigureCanvasBase

    kinds = dict(FigureCanvasBase.get_supported_filetypes())
    if not any(shutil.which(tex) for tex in ("xelatex", "pdflatex", "lualatex")):
        kinds.pop("pgf", None)  # matplotlib writes PGF through LaTeX
    suffix = output.suffix.lower().lstrip(".")
    if suffix not in kinds:
        common = ", ".join(f".{k}" for k in ("png", "svg", "pdf") if k in kinds)
        raise UsageError(
            f"argument -o/--output must end in an image suffix such as {common}, got {text!r}"
        )


def _check_title(title: str | None) -> None:
    """A title matplotlib cannot draw (bad math between two ``$``) fails now, as one line."""
    if not title or "$" not in title:
        return
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    try:
        with warnings.catch_warnings():
            # matplotlib before 3.10.7 calls pyparsing 3.3's deprecated names: not the user's
            warnings.simplefilter("ignore", DeprecationWarning)
            fig.canvas.draw()
    except ValueError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "cannot draw it"
        reason = reason.split(" (at char")[0]  # pyparsing's position: the text is short
        reason = reason if len(reason) <= 100 else reason[:97] + "..."
        raise UsageError(
            f"argument --title must be text or matplotlib math between two '$' (write \\$ for "
            f"a dollar sign), got {title!r}: {reason}"
        ) from None


def read_metrics(text: str) -> list[float]:
    """Argument type: a metric series from a comma-separated list or a file.

    A file holds one number per line (a CSV column, with or without a header; ``#`` starts a
    comment) or a JSON list. Every value must be a finite number.

    Example:
        >>> read_metrics("1.0, 0.9,0.9")
        [1.0, 0.9, 0.9]
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of numbers or an existing file, got {text!r}"
        )
    path = Path(text)
    if _is(path, Path.is_file):
        try:
            values = _metrics_from_file(path)
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text!r}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise argparse.ArgumentTypeError(
                f"expected a text file of numbers (one a line, or a JSON list), got {text!r}, "
                "which is not text"
            ) from None
    elif "," not in text and not _is_number(text):
        why = "a folder" if _is(path, Path.is_dir) else "no such file"
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of numbers or an existing file, got {text!r} ({why})"
        )
    else:
        values = _numbers([p.strip() for p in text.split(",")], text, header=False)
    if not values:
        raise argparse.ArgumentTypeError(f"needs at least one number, got {text!r}")
    for i, value in enumerate(values):
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(
                f"values must be finite numbers, got {value!r} at position {i}"
            )
    return values


def _metrics_from_file(path: Path) -> list[float]:
    content = path.read_text(encoding="utf-8")  # whatever the locale: JSON and CSV are UTF-8
    if content.lstrip().startswith("["):
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"{str(path)!r} is not valid JSON: {exc}") from None
        if not isinstance(data, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in data
        ):
            raise argparse.ArgumentTypeError(
                f"{str(path)!r} must hold a JSON list of numbers, such as [1.0, 0.9]"
            )
        return [float(v) for v in data]
    lines = [line.split("#", 1)[0].strip() for line in content.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) == 1 and "," in lines[0]:  # the list on one line, as --metrics takes it
        return _numbers([p.strip() for p in lines[0].split(",")], str(path), header=False)
    return _numbers(lines, str(path), header=True)


def _is(path: Path, test: Callable[[Path], bool]) -> bool:
    """``test(path)``, false where the name cannot be a path: a list of 300 numbers is too long
    a file name for the system, and ``is_file`` raises on it (Python 3.11)."""
    try:
        return test(path)
    except OSError:
        return False


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numbers(items: list[str], source: str, *, header: bool) -> list[float]:
    values: list[float] = []
    for i, item in enumerate(items):
        try:
            values.append(float(item))
        except ValueError:
            if header and i == 0:
                continue  # a CSV column's header
            what = "line" if header else "item"
            raise argparse.ArgumentTypeError(
                f"expected one number per {what} in {source!r} (a comma-separated list or a "
                f"file), got {item!r}"
            ) from None
    return values


# -- show --------------------------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    """``lrkit schedule show``: the canonical spec and the LR at key steps."""
    from lrkit.schedules import parse
    from lrkit.schedules.plot import (
        FLAT_PLATEAU_NOTE,
        has_plateau,
        key_steps,
        lrs_at,
        schedule_curves,
    )

    schedule = parse(args.spec)
    steps = args.steps or _default_steps([args.spec], MAX_SHOW_STEPS, "show")
    keys = key_steps(schedule, steps)
    if steps <= MAX_STEPS:  # traced whole: an LR that overflows anywhere is said
        [curve] = schedule_curves([args.spec], steps, args.lr, args.metrics)
        lrs = [float(curve.lrs[k.step]) for k in keys]
    else:  # longer: read at those steps and the step before each (a phase's last) alone
        read = sorted({k.step for k in keys} | {k.step - 1 for k in keys if k.step})
        at = dict(zip(read, lrs_at(args.spec, read, args.lr, args.metrics)))
        lrs = [at[k.step] for k in keys]
    rows = [[str(k.step), f"{lr:.6g}", f"{lr / args.lr:.4g}", k.note] for k, lr in zip(keys, lrs)]
    caption = f"base lr {lr_text(args.lr)}, {steps} steps"
    if has_plateau(schedule) and not args.metrics:
        caption += f" ({FLAT_PLATEAU_NOTE}; pass --metrics)"
    print(f"spec: {schedule.to_spec()}")
    _print_table(["step", "lr", "x base", "note"], rows, caption=caption, right=(0, 1, 2))
    _print_warnings([args.spec], args.lr, args.metrics)
    return 0


def _print_warnings(specs: list[str], base_lr: float, metrics: list[float] | None = None) -> None:
    """A ``warning:`` line for each floor above the base LR (it makes the decay a constant),
    and for ``--metrics`` that no plateau phase reads."""
    from lrkit.schedules import parse
    from lrkit.schedules.floors import floor_warnings
    from lrkit.schedules.plot import has_plateau

    for spec in specs:
        for message in floor_warnings(parse(spec), base_lr):
            print(f"warning: {spec!r}: {message}", file=sys.stderr)
    if metrics and not any(has_plateau(parse(spec)) for spec in specs):
        print(
            "warning: --metrics is read only by a plateau phase, and no spec has one; it was "
            "ignored.",
            file=sys.stderr,
        )


# -- list --------------------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    """``lrkit schedule list``: names, aliases and one-line descriptions."""
    from lrkit.schedules.registry import alias_names, schedule_class, schedule_names

    aliases: dict[str, list[str]] = {name: [] for name in schedule_names()}
    for alias in alias_names():
        aliases[schedule_class(alias).name].append(alias)
    rows = [
        [name, ", ".join(aliases[name]), _summary(schedule_class(name).__doc__)]
        for name in schedule_names()
    ]
    caption = "Names match without regard to case, '_' or '-'. Use them in specs: 'cosine:1000'."
    if _is_terminal():
        _print_table(["name", "aliases", "description"], rows, caption=caption)
        return 0
    # Plain text: a two-line entry per schedule reads better than a very wide table.
    width = max(len(name) for name, _, _ in rows) + 2
    for name, names, summary in rows:
        print(f"{name:<{width}}{summary}")
        if names:
            print(f"{'':<{width}}aliases: {names}")
    print(f"\n{caption}")
    return 0


def _summary(doc: str | None) -> str:
    first = (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
    return first.replace("``", "")


# -- output ------------------------------------------------------------------------------------


def _is_terminal() -> bool:
    from rich.console import Console

    return bool(Console().is_terminal)


def _print_table(
    headers: list[str],
    rows: list[list[str]],
    *,
    caption: str = "",
    right: tuple[int, ...] = (),
) -> None:
    """A rich table on a terminal; aligned plain text otherwise (pipes, files, tests)."""
    if _is_terminal():
        from rich.console import Console
        from rich.table import Table

        table = Table(caption=caption or None, caption_justify="left")
        for i, header in enumerate(headers):
            table.add_column(header, justify="right" if i in right else "left")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(padded).rstrip()

    print(line(headers))
    for row in rows:
        print(line(row))
    if caption:
        print(caption)
