"""Float noise rounded away: ``1e-3`` rather than ``0.0010000000000000002``."""

from __future__ import annotations


def tidy(value: float) -> float:
    """``value`` to 12 significant digits: an LR, a ratio of LRs or an axis limit without float
    noise at any scale.

    Example:
        >>> tidy(0.1 + 0.2), tidy(3e-14 + 1e-30), tidy(10.0**-3)
        (0.3, 3e-14, 0.001)
    """
    return float(f"{value:.12g}")
