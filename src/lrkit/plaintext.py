"""Text for people: names shown in figures as typed (matplotlib reads text between two ``$`` as
math, and fails on a task or study name such as ``$\\foo$`` only when the figure is saved, after
all the work), and lists said in words."""

from __future__ import annotations


def literal(text: str) -> str:
    """``text`` with its dollar signs escaped, for a matplotlib title or label.

    Example:
        >>> literal("cost in $, per $1")
        'cost in \\\\$, per \\\\$1'
    """
    return text.replace("$", r"\$")


def in_words(items: list[str]) -> str:
    """``items`` as a sentence lists them.

    Example:
        >>> in_words(["task"]), in_words(["range test", "search", "comparison"])
        ('task', 'range test, search and comparison')
    """
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"
