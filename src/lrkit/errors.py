"""The exceptions lrkit raises: one root, a few meaningful kinds.

Every error says which parameter was wrong, what was expected and what was received, so that a
user can fix the call without reading lrkit's source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class LrkitError(Exception):
    """Root of every error lrkit raises on purpose."""


class ConfigError(LrkitError, ValueError):
    """An argument or setting is invalid (wrong value, type or combination).

    Subclasses ``ValueError`` so that code written for torch's own argument checks still catches it.
    """


class NotRunError(ConfigError, RuntimeError):
    """A call that needs an earlier one first (``plot()`` before ``range_test()``); a
    ``RuntimeError`` too, which torch-lr-finder raises there."""


class BatchTypeError(ConfigError, TypeError):
    """A batch of a type that cannot be read as ``(inputs, labels)``; a ``TypeError``, and a
    ``ValueError`` as torch-lr-finder's is."""


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


def shown_value(value: object) -> str:
    """``repr(value)`` for a message, or ``<int that cannot be shown>`` where there is none: an
    int of more digits than Python writes (4,300 by default), a ``__repr__`` that raises.

    Example:
        >>> shown_value(2.5), shown_value(10**5000)
        ('2.5', '<int that cannot be shown>')
    """
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} that cannot be shown>"


def bad_value(name: str, expected: str, got: object) -> ConfigError:
    """Builds the standard message: ``<name> must be <expected>, got <got!r>.``"""
    return ConfigError(f"{name} must be {expected}, got {shown_value(got)}.")


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
    library and installed packages (the user's code), or ``""``.

    It imports nothing: torch's folder is skipped where torch is imported (an error raised
    while importing torch, a missing CUDA library say, has no user's frame to name), and a
    frame of no file (``<string>``: a dataclass's ``__init__``, code run by ``exec``) is not
    the user's."""
    import traceback
    from pathlib import Path

    users = users_code()
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if users(frame.filename):
            return f" (at {Path(frame.filename).name}:{frame.lineno})"
    return ""


def users_code() -> Callable[[str], bool]:
    """Whether a frame's file is the user's: not lrkit's, torch's, the standard library's nor
    an installed package's, and a file (not ``<string>``, ``<frozen ...>``)."""
    import site
    import sys
    import sysconfig
    from pathlib import Path

    skip = [Path(__file__).parent]  # lrkit
    torch = sys.modules.get("torch")
    if getattr(torch, "__file__", None):
        skip.append(Path(torch.__file__).parent)  # type: ignore[union-attr, arg-type]
    paths = sysconfig.get_paths()
    skip += [Path(paths[key]) for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    skip += [Path(p) for p in (*site.getsitepackages(), site.getusersitepackages())]

    def users(filename: str) -> bool:
        if filename.startswith("<"):  # <frozen ...> of the standard library, <string>
            return False
        path = Path(filename)
        return not any(path.is_relative_to(folder) for folder in skip)

    return users


def add_note(error: BaseException, note: str) -> None:
    """Adds ``note`` to ``error``'s traceback (Python 3.11's ``add_note``): a hint under someone
    else's error, whose type and message stay as they are. On 3.10 it goes in ``__notes__`` as
    3.11 keeps it (the ``exceptiongroup`` backport's traceback and rich's print it there).

    Example:
        >>> class Older(Exception):  # as an exception is on Python 3.10
        ...     add_note = None
        >>> error = Older("boom")
        >>> add_note(error, "a hint"); add_note(error, "another")
        >>> error.__notes__, str(error)
        (['a hint', 'another'], 'boom')
    """
    add = getattr(error, "add_note", None)
    if add is not None:
        add(note)
        return
    notes = getattr(error, "__notes__", None)
    if not isinstance(notes, list):
        notes = []
        try:
            error.__notes__ = notes  # type: ignore[attr-defined]
        except AttributeError:  # an exception type with __slots__ of its own: no room
            return
    notes.append(note)
