"""The range test's defaults and limits, without torch: ``lrkit find --help`` reads them.

Example:
    >>> check_balance("sampler"), MIN_ITER, f"{MAX_ITER:,}"
    ('sampler', 10, '100,000')
"""

from __future__ import annotations

from lrkit.errors import bad_value

DEFAULT_START_LR = 1e-7  # fastai's start: low enough that the first steps barely train
DEFAULT_END_LR = 10.0
DEFAULT_NUM_ITER = 100  # a task's range test (lrkit find, tune)
RETRY_NUM_ITER = 2 * DEFAULT_NUM_ITER  # its second sweep, of a curve too noisy to read

MIN_ITER = 10
"""The fewest optimizer steps a sweep may plan: fewer points do not make a curve."""

MAX_ITER = 100_000
"""The most optimizer steps a sweep may plan. A range test takes a few hundred; far more is a
typo (``100000000``) that would train for days, after listing every step's LR in memory."""

BALANCE_MODES: tuple[str, ...] = ("undersample", "sampler")
"""The values of ``range_test(balance=...)`` besides ``None``."""


def check_balance(mode: object) -> str:
    """``mode`` if it is one of :data:`BALANCE_MODES`, else a ConfigError naming ``balance``."""
    if mode not in BALANCE_MODES:
        raise bad_value("balance", f"one of {', '.join(map(repr, BALANCE_MODES))} or None", mode)
    return str(mode)
