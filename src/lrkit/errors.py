"""The exceptions lrkit raises: one root, a few meaningful kinds.

Every error says which parameter was wrong, what was expected and what was received, so that a
user can fix the call without reading lrkit's source.
"""

from __future__ import annotations

from collections.abc import Iterable


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


def add_note(error: BaseException, note: str) -> None:
    """Adds ``note`` to ``error``'s traceback (Python 3.11's ``add_note``; on 3.10, nothing):
    a hint under someone else's error, whose type and message stay as they are."""
    add = getattr(error, "add_note", None)
    if add is not None:
        add(note)
