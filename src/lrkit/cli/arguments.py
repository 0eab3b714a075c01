"""The argument types of the ``lrkit`` commands' options (argparse ``type=`` callables that
raise ``ArgumentTypeError``: one line, exit status 2) and the task arguments they share."""

from __future__ import annotations

import argparse
import decimal
import math
from pathlib import Path
from typing import Any

from lrkit.checks import MAX_EPOCHS, MAX_SEED


def integer_text(text: str) -> int | None:
    """The integer ``text`` writes as ``1000``, ``10k``, ``2M`` or ``1e4``, read exactly (no
    float between); None for anything else (``1.5``, ``4294967295.0000001``).

    Example:
        >>> [integer_text(text) for text in ("10k", "1e4", "4294967295", "1.5", "1.0000001e1")]
        [10000, 10000, 4294967295, None, None]
    """
    scale = {"k": 1_000, "K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    body = text[:-1] if scale != 1 else text
    try:
        value = decimal.Decimal(body.strip()) * scale
    except (decimal.InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value != value.to_integral_value() or abs(value) > 10**100:
        return None
    return int(value)


def positive_int(text: str) -> int:
    """Argument type: an integer >= 1 (``1000``, ``10k`` and ``1e4`` are all accepted).

    Example:
        >>> positive_int("10k"), positive_int("1e4")
        (10000, 10000)
    """
    value = integer_text(text)
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


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
    """Argument type: a seed NumPy and torch both take, 0 to 2**32 - 1 (``1e3`` is 1000, as
    for the other integer options).

    Example:
        >>> seed_arg("7"), seed_arg("2e0")
        (7, 2)
    """
    value = integer_text(text)
    if value is None or not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**32 - 1, got {text!r}")
    return value


def lowered(text: str) -> str:
    """A name as lrkit reads it: case-insensitively, as the sampler, pruner, task and schedule
    names are.

    Example:
        >>> lowered(" Val_Loss")
        'val_loss'
    """
    return text.strip().lower()


def one_of(*names: str) -> dict[str, Any]:
    """``type`` and ``choices`` for an option that takes one of ``names``, read as
    :func:`lowered` reads them; a wrong one is named as it was typed (argparse would name the
    lowered text, which the user never wrote).

    Example:
        >>> option = one_of("epoch", "step")
        >>> option["type"]("Step"), option["choices"]
        ('step', ('epoch', 'step'))
        >>> option["type"]("Steps")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: invalid choice: 'Steps' (choose from 'epoch', 'step')
    """

    def choice(text: str) -> str:
        name = lowered(text)
        if name not in names:
            listed = ", ".join(repr(n) for n in names)
            raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {listed})")
        return name

    return {"type": choice, "choices": names}


def device_arg(text: str) -> str:
    """Argument type: a torch device this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``).

    Example:
        >>> device_arg("cpu")
        'cpu'
    """
    from lrkit.devices import device_problem

    device = lowered(text)  # torch's names are lower case: CPU and CUDA:1 mean the same
    problem = device_problem(device)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
    return device


def out_arg(text: str) -> Path:
    """Argument type: an output folder; an empty one is refused rather than read as ``.``.

    Example:
        >>> out_arg("runs/a")
        PosixPath('runs/a')
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a folder path, got {text!r}")
    return Path(text)
