"""The exceptions lrkit raises: one root, a few meaningful kinds.

Every error says which parameter was wrong, what was expected and what was received, so that a
user can fix the call without reading lrkit's source.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import torch

    # What a public function takes where the README says a number is taken: a NumPy number or
    # a 0-d tensor too (read with plain(), then checked), for type checkers as at run time
    Real: TypeAlias = float | "np.floating[Any]" | "np.integer[Any]" | "torch.Tensor"
    Whole: TypeAlias = int | "np.integer[Any]" | "torch.Tensor"

T = TypeVar("T")


class LrkitError(Exception):
    """Root of every error lrkit raises on purpose."""


class ConfigError(LrkitError, ValueError):
    """An argument or setting is invalid (wrong value, type or combination).

    Subclasses ``ValueError`` so that code written for torch's own argument checks still catches it.
    """


class SpecError(ConfigError):
    """A schedule spec string or config dict cannot be parsed."""


class UnknownNameError(SpecError, KeyError):
    """A name (schedule, task, rule, ...) is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class RunError(LrkitError):
    """Work that was set up right could not go on: a search's coordinator is gone, its storage
    was lost. What was finished is kept; the message says how to go on (the CLI exits 1)."""


class TaskError(LrkitError):
    """A task cannot be loaded or does not provide what the protocol requires."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'cosine'?``: the nearest of ``choices`` to a name not among them, or
    ``""`` when none is near.

    Example:
        >>> did_you_mean("cosin", ["cosine", "constant"]), did_you_mean("xyz", ["cosine"])
        (" Did you mean 'cosine'?", '')
    """
    import difflib

    near = difflib.get_close_matches(name.lower(), list(choices), n=1, cutoff=0.75)
    return f" Did you mean {near[0]!r}?" if near else ""


def bad_value(name: str, expected: str, got: object) -> ConfigError:
    """Builds the standard message: ``<name> must be <expected>, got <got!r>.``"""
    return ConfigError(f"{name} must be {expected}, got {got!r}.")


MAX_EPOCHS = 100_000
"""The most epochs lrkit takes for a run: far more than a learning-rate study needs, so that a
typo (``1e9``) is an error instead of a run that never ends."""

MAX_SEED = 2**32 - 1
"""The largest seed NumPy takes (torch takes more): every seed lrkit trains with is at most it."""

MAX_STUDY_NAME = 512
"""The longest search study name: Optuna's database storages keep it in a VARCHAR(512) (a
journal or an SQLite file would take more, and a cluster's PostgreSQL then refused it)."""

MAX_LR = 1e6
"""The highest learning rate lrkit accepts anywhere: far past where any loss diverges, and low
enough that the step torch applies (Adam's ``lr / (1 - beta1)`` too) fits a float32 parameter;
``1e300`` would stop training with an overflow deep inside the optimizer."""


def positive_lr(
    name: str, value: object, expected: str = "a positive finite learning rate"
) -> float:
    """``value`` as a float when it is a positive finite number (a bool is not one) of at most
    :data:`MAX_LR`; else a ConfigError saying ``name`` must be ``expected``.

    Example:
        >>> positive_lr("lr", 0)
        Traceback (most recent call last):
        ...
        lrkit.errors.ConfigError: lr must be a positive finite learning rate, got 0.
    """
    value = plain(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise bad_value(name, expected, value)
    if value > MAX_LR:
        raise bad_value(name, f"a learning rate of at most {MAX_LR:g}", value)
    return float(value)


@overload
def plain(value: Whole) -> int: ...  # type: ignore[overload-overlap]  # (a float tensor: refused)
@overload
def plain(value: Real) -> float: ...
@overload
def plain(value: T) -> T: ...
def plain(value: Any) -> Any:
    """A NumPy scalar (``np.int64(20)``, ``np.float32(0.1)``) or a 0-d tensor
    (``torch.tensor(10)``) as the Python number it holds; anything else as it is, so that the
    checks that follow treat them alike.

    Example:
        >>> import numpy as np, torch
        >>> plain(np.int64(20)), plain(np.float32(0.5)), plain(torch.tensor(3)), plain("7")
        (20, 0.5, 3, '7')
    """
    module = type(value).__module__.split(".")[0]
    if module in ("numpy", "torch") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def error_chain(error: BaseException) -> list[BaseException]:
    """``error`` and the errors it was raised from or while handling, outermost first.

    Example:
        >>> try:
        ...     try:
        ...         raise KeyError("inner")
        ...     except KeyError as e:
        ...         raise ValueError("outer") from e
        ... except ValueError as e:
        ...     [type(x).__name__ for x in error_chain(e)]
        ['ValueError', 'KeyError']
    """
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not e for e in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def where_raised(exc: BaseException) -> str:
    """`` (at file.py:12)``: the innermost place the error passed through outside the standard
    library and installed packages (the user's code), or ``""``."""
    import site
    import sysconfig
    import traceback
    from pathlib import Path

    import torch

    skip = [Path(torch.__file__).parent, Path(__file__).parent]  # torch, lrkit
    paths = sysconfig.get_paths()
    skip += [Path(paths[key]) for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    skip += [Path(p) for p in (*site.getsitepackages(), site.getusersitepackages())]
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        frozen = frame.filename.startswith("<frozen ")  # the standard library's frozen modules
        if not frozen and not any(path.is_relative_to(folder) for folder in skip):
            return f" (at {path.name}:{frame.lineno})"
    return ""


def check_seed(seed: object, most: int = MAX_SEED, why: str = "") -> int:
    """``seed`` as an int; a ConfigError unless it is an integer from 0 to ``most`` (a NumPy
    integer too); ``why`` says where ``most`` comes from.

    Example:
        >>> check_seed(-1)
        Traceback (most recent call last):
        ...
        lrkit.errors.ConfigError: seed must be an integer from 0 to 4294967295, got -1.
    """
    value = plain(seed)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise bad_value("seed", f"an integer from 0 to {most}{why}", seed)
    return value


def whole_number(
    name: str, value: object, least: int = 1, most: int | None = None, expected: str = ""
) -> int:
    """``value`` as an int when it is a whole number from ``least`` to ``most`` (a NumPy
    integer or a 0-d integer tensor too; not a bool or a float); else a ConfigError naming
    ``name``, saying ``expected`` (or the bounds).

    Example:
        >>> import numpy as np
        >>> whole_number("steps", np.int64(100), least=2)
        100
        >>> whole_number("epochs", 2.0)
        Traceback (most recent call last):
        ...
        lrkit.errors.ConfigError: epochs must be a positive integer, got 2.0.
        >>> whole_number("seeds", 10**6, most=1000, expected="a number of seeds from 1 to 1,000")
        Traceback (most recent call last):
        ...
        lrkit.errors.ConfigError: seeds must be a number of seeds from 1 to 1,000, got 1000000.
    """
    number = plain(value)
    if (
        isinstance(number, bool)
        or not isinstance(number, int)
        or number < least
        or (most is not None and number > most)
    ):
        if not expected:
            expected = "a positive integer" if least == 1 else f"an integer >= {least}"
            if most is not None:
                expected += f" up to {most:,}"
        raise bad_value(name, expected, value)
    return number


def check_epochs(epochs: object) -> int | None:
    """``epochs`` as an int, or ``None`` (the task's); a ConfigError unless it is a whole number
    of epochs up to :data:`MAX_EPOCHS` (a NumPy integer too) or ``None``.

    Example:
        >>> check_epochs(10**9)
        Traceback (most recent call last):
        ...
        lrkit.errors.ConfigError: epochs must be a positive integer up to 100,000, or None (the \
task's), got 1000000000.
    """
    if plain(epochs) is None:
        return None
    expected = f"a positive integer up to {MAX_EPOCHS:,}, or None (the task's)"
    return whole_number("epochs", epochs, most=MAX_EPOCHS, expected=expected)


def check_flag(name: str, value: object) -> None:
    """A ConfigError unless ``value`` is True or False (1, 0 and NumPy's bools too, as an
    ``if value:`` reads them; not 1.0, "no" or None).

    Example:
        >>> check_flag("progress", "no")
        Traceback (most recent call last):
        ...
        lrkit.errors.ConfigError: progress must be True or False, got 'no'.
    """
    if plain(value) not in (True, False) or isinstance(value, float):
        raise bad_value(name, "True or False", value)


def bool_or_text(value: object) -> bool:
    """Whether ``value`` is a bool (Python's, NumPy's, a bool tensor) or text: ``float()``
    reads all of them, but none is a number a caller meant (``float("0.9")``, ``float(True)``).

    Example:
        >>> import numpy as np
        >>> bool_or_text(True), bool_or_text(np.bool_(False)), bool_or_text("0.9"), bool_or_text(1)
        (True, True, True, False)
    """
    return isinstance(value, (bool, str, bytes)) or str(getattr(value, "dtype", "")).endswith(
        "bool"
    )


def caller_level() -> int:
    """The ``stacklevel`` for ``warnings.warn`` called here that names the first caller outside
    lrkit (the user's line), however deep inside lrkit the warning is raised."""
    import sys

    level, frame = 1, sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("lrkit."):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
