"""Names shown in figures as typed: matplotlib reads text between two ``$`` as math, and fails
on a task or study name such as ``$\\foo$`` only when the figure is saved, after all the work."""

from __future__ import annotations


def literal(text: str) -> str:
    """``text`` with its dollar signs escaped, for a matplotlib title or label.

    Example:
        >>> literal("cost in $, per $1")
        'cost in \\\\$, per \\\\$1'
    """
    return text.replace("$", r"\$")
