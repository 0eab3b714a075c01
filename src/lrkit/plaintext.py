"""Text for people: names shown in figures as typed (matplotlib reads text between two ``$`` as
math, and fails on a task or study name such as ``$\\foo$`` only when the figure is saved, after
all the work), lists said in words, and learning rates and LR ranges written the same way by
every command, report and plot (files store them in full); and lrkit's symbols (``±``) spelt
in ASCII where the output cannot show them."""

from __future__ import annotations

import codecs
import io
import sys


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


def counted(n: int, thing: str) -> str:
    """``n`` things, in the singular for one: ``1 epoch``, ``12 epochs``.

    Example:
        >>> counted(1, "epoch"), counted(0, "step"), counted(12, "epoch")
        ('1 epoch', '0 steps', '12 epochs')
    """
    return f"{n} {thing}{'' if n == 1 else 's'}"


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


ASCII_SPELLINGS = {"±": "+/-", "·": "-", "…": "...", "—": "--", "–": "-", "→": "->", "×": "x"}
"""How lrkit's own symbols read where the output cannot show them (an ASCII-only stdout)."""


def shown(text: str, encoding: str | None) -> str:
    """``text`` as a stream of ``encoding`` can show it: lrkit's symbols spelt in ASCII where
    it cannot (``±`` as ``+/-``), so a table is laid out with what is shown.

    Example:
        >>> shown("0.97±0.01", "ascii"), shown("0.97±0.01", "utf-8")
        ('0.97+/-0.01', '0.97±0.01')
    """
    try:
        text.encode(encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "".join(ASCII_SPELLINGS.get(c, c) for c in text)
    return text


def spelt_in_ascii(error: UnicodeError) -> tuple[str | bytes, int]:
    """A codec error handler for stdout and stderr (registered by the CLI as
    ``"lrkit-ascii"``): lrkit's symbols in ASCII (:data:`ASCII_SPELLINGS`), a byte that a
    command line or a path could not decode as it came (``surrogateescape``), anything else as
    ``\\xb5``; never a UnicodeEncodeError that ends the command.

    Example:
        >>> import codecs
        >>> codecs.register_error("lrkit-ascii", spelt_in_ascii)
        >>> "±1 µ d\\udcc3".encode("ascii", "lrkit-ascii")
        b'+/-1 \\\\xb5 d\\xc3'
    """
    if not isinstance(error, UnicodeEncodeError):
        raise error
    char = error.object[error.start]
    if "\udc80" <= char <= "\udcff":  # a byte as it came: written back as that byte
        return bytes([ord(char) - 0xDC00]), error.start + 1
    return ASCII_SPELLINGS.get(char, char.encode("ascii", "backslashreplace").decode()), (
        error.start + 1
    )


_UNSHOWN = frozenset({"strict", "surrogateescape", "backslashreplace"})
"""A stream's errors handlers that end the command, or show "±" as "\\xb1", where it cannot be
encoded; :func:`spelt_in_ascii` replaces them."""


def ascii_where_needed() -> None:
    """stdout and stderr spell lrkit's symbols in ASCII where they cannot show them (see
    :func:`spelt_in_ascii`): an ASCII-only stdout (``PYTHONIOENCODING=ascii``, a C locale
    without UTF-8 mode, whose errors are "surrogateescape") shows "±" as "+/-" instead of ending
    the command, or a search's worker, with a UnicodeEncodeError (QA 152, review 153).
    """
    codecs.register_error("lrkit-ascii", spelt_in_ascii)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors in _UNSHOWN:
            stream.reconfigure(errors="lrkit-ascii")
