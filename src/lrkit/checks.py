"""Checks of the arguments lrkit's public functions take, and the bounds they hold them to.

Each check returns the value as the plain Python number it holds (a NumPy number or a 0-d tensor
is taken wherever a number is) or raises a :class:`~lrkit.errors.ConfigError` that names the
parameter, says what was expected and shows what was received.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypeVar, overload

from lrkit.errors import bad_value

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import torch

    # What a public function takes where the README says a number is taken: a NumPy number or
    # a 0-d tensor too (read with plain(), then checked), for type checkers as at run time
    Real: TypeAlias = float | "np.floating[Any]" | "np.integer[Any]" | "torch.Tensor"
    Whole: TypeAlias = int | "np.integer[Any]" | "torch.Tensor"

T = TypeVar("T")


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
