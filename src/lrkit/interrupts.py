"""Ctrl-C that is never lost: one that lands while Python imports a module is held, then raised.

Python raises ``KeyboardInterrupt`` wherever the main thread is when Ctrl-C arrives. Inside an
import that goes wrong two ways: an extension module whose initialisation it interrupts fails
with an ``ImportError`` ("initialization failed") or a ``RuntimeError`` instead, which ends the
command with a traceback; and a library that reads an ``ImportError`` as "an optional dependency
is missing" swallows it, so the command runs on as if Ctrl-C had never been pressed. The CLI's
commands import torch, scikit-learn and matplotlib in their first seconds, which is when a
person changes their mind.

The CLI therefore installs :func:`handler` for its run (:func:`held_during_imports`). Ctrl-C
outside an import raises at once, as Python's own handler does. Inside one it is held, and the
next progress update (:func:`raise_held`, which ``ProgressBar.update`` and the search's display
call) raises it, once the import is done; so does the command's end, if nothing did before. A
second Ctrl-C while one is held raises at once. While a command writes its files
(:func:`deferred`) every Ctrl-C is held until they are all written. Library code that never
installs the handler is unchanged.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_held = False
_deferring = False  # inside deferred(): every Ctrl-C is held until the block ends


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` or a frame that called it runs Python's import machinery."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def handler(signum: int, frame: FrameType | None) -> None:
    """SIGINT: ``KeyboardInterrupt`` now, or, inside an import, at the next progress update."""
    global _held
    if _held or not (_deferring or _importing(frame)):
        _held = False
        raise KeyboardInterrupt
    _held = True


def raise_held() -> None:
    """Raises the ``KeyboardInterrupt`` held since an import, if any (in the main thread)."""
    global _held
    if _held and threading.current_thread() is threading.main_thread():
        _held = False
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Raises a Ctrl-C held so far, then holds any while the block runs and raises it after.

    So a command's files are all written or none is: the CLI builds them, then writes them
    here. Without the CLI's handler it changes nothing.
    """
    global _deferring
    raise_held()  # one held since an import while they were built: nothing is written
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
    raise_held()


@contextmanager
def held_during_imports() -> Iterator[None]:
    """Installs :func:`handler` while the block runs, where Python's own handler is installed.

    A SIGINT that is ignored (a job started with ``nohup`` or ``&`` in some shells) or handled
    by someone else stays so, and so does a call from a thread other than the main one (which
    cannot set handlers).
    """
    global _held
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _held = False


def caused_by_interrupt(error: BaseException) -> bool:
    """Whether ``error`` was raised while handling a ``KeyboardInterrupt`` (an import's).

    Example:
        >>> try:
        ...     try:
        ...         raise KeyboardInterrupt
        ...     except KeyboardInterrupt:
        ...         raise ImportError("initialization failed")
        ... except ImportError as e:
        ...     caused_by_interrupt(e), caused_by_interrupt(ValueError())
        (True, False)
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
