"""Text for people: names shown in figures as typed (matplotlib reads text between two ``$`` as
math, and fails on a task or study name such as ``$\\foo$`` only when the figure is saved, after
all the work), lists said in words, and learning rates and LR ranges written the same way by
every command, report and plot (files store them in full)."""

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


LR_FORMAT = ".4g"
"""How a learning rate is written for people: four significant digits (trailing zeros left out)."""


def lr_text(lr: float | None) -> str:
    """A learning rate for people: four significant digits (``"none"`` for ``None``).

    Example:
        >>> lr_text(0.13922061623), lr_text(1.0), lr_text(1e-5), lr_text(None)
        ('0.1392', '1', '1e-05', 'none')
    """
    return "none" if lr is None else format(lr, LR_FORMAT)


def range_text(low: float, high: float) -> str:
    """An LR range for people: ``"0.09707 to 1.072"``.

    Example:
        >>> range_text(0.0970734, 1.0722664)
        '0.09707 to 1.072'
    """
    return f"{lr_text(low)} to {lr_text(high)}"
