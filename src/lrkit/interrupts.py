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

SIGTERM (``kill``, a cluster's scheduler ending a job, a container stopped) is handled the same
way under the CLI: it raises :class:`Terminated`, a ``KeyboardInterrupt``, so that work stops as
it does on Ctrl-C (a range test restores the model, a search records its trials in flight, files
are written whole or not at all), and the command exits 143 instead of 130. So is SIGHUP (a
terminal closed, an ssh session dropped), which exits 129; under ``nohup`` it stays ignored.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from lrkit.errors import error_chain


class Terminated(KeyboardInterrupt):
    """SIGTERM, under the CLI: raised where Ctrl-C would be, and handled as Ctrl-C is.

    A ``KeyboardInterrupt``, so that every ``except KeyboardInterrupt`` that keeps work whole
    (trials recorded, the model restored) keeps it whole on SIGTERM too.
    """


class HungUp(Terminated):
    """SIGHUP, under the CLI (a terminal closed, an ssh session dropped): handled as SIGTERM."""


# SIGHUP, where there is one: it ends the work as SIGTERM does
HANGUP = (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
TERMINATING: dict[int, type[Terminated]] = {
    signal.SIGTERM: Terminated,
    **{signum: HungUp for signum in HANGUP},
}
"""The signals that end the work as Ctrl-C does, and what each raises."""


# SIGALRM, where there is one: a search's trial_timeout raises from its handler
ALARM = (signal.SIGALRM,) if hasattr(signal, "SIGALRM") else ()

TASK_MODULE = "lrkit_task_"
"""How the module of a user's task file is named (:func:`lrkit.tasks.load_task_file`)."""

_held: type[KeyboardInterrupt] | None = None  # the interrupt held since an import, if any
_deferring = False  # inside deferred(): every Ctrl-C is held until the block ends


def _task_file_frame(frame: FrameType | None) -> FrameType | None:
    """The frame of a task file's own code that ``frame`` runs under (an import it does), if
    any."""
    while frame is not None:
        if _in_task_file(frame):
            return frame
        frame = frame.f_back
    return None


def _in_task_file(frame: FrameType) -> bool:
    name = str(frame.f_globals.get("__name__"))
    return frame.f_code.co_name == "<module>" and name.startswith(TASK_MODULE)


def _raise_at_next_line(frame: FrameType) -> None:
    """Raises the held interrupt when ``frame`` (a task file's) runs its next line: an import
    it did ends whole, and the file's own code (minutes of data loading) does not run on.

    A frame's local trace runs only while some trace function is set: one that traces nothing
    else is set until then (any the caller had, a debugger's, is put back).
    """
    before = sys.gettrace()

    def at_line(traced: FrameType, event: str, arg: Any) -> Any:
        if traced is frame and event in ("line", "return"):  # its next line, or its end
            frame.f_trace = None
            sys.settrace(before)
            if event == "line":
                raise_held()
            return None
        return at_line

    frame.f_trace = at_line
    frame.f_trace_lines = True
    if before is None:
        sys.settrace(lambda *args: None)  # calls elsewhere: traced not at all


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` or a frame that called it runs Python's import machinery, in a
    library's import: not in a task file's own code (lrkit runs it through importlib too), where
    minutes of data loading must stop at the first Ctrl-C."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        if _in_task_file(frame):
            return False  # the task file's code, or a function it called, was running
        frame = frame.f_back
    return False


def handler(signum: int, frame: FrameType | None) -> None:
    """SIGINT (or SIGTERM, SIGHUP): ``KeyboardInterrupt`` (:class:`Terminated`, :class:`HungUp`)
    now, or, inside an import, at the next progress update."""
    global _held
    kind = TERMINATING.get(signum) or _held or KeyboardInterrupt  # a kill over a held Ctrl-C
    if _held is not None or not (_deferring or _importing(frame)):
        _held = None
        raise kind
    _held = kind
    task_file = None if _deferring else _task_file_frame(frame)
    if task_file is not None:  # an import a task file does: raised when it returns there
        _raise_at_next_line(task_file)


def raise_held() -> None:
    """Raises the ``KeyboardInterrupt`` held since an import, if any (in the main thread)."""
    global _held
    if _held is not None and threading.current_thread() is threading.main_thread():
        kind, _held = _held, None
        raise kind


@contextmanager
def deferred() -> Iterator[None]:
    """Raises a Ctrl-C held so far, then holds any while the block runs and raises it after.

    So a command's files are all written or none is: the CLI builds them, then writes them
    here. Without the CLI's handler it changes nothing, and a second Ctrl-C raises at once (a
    write that hangs can still be stopped); :func:`no_interrupt` is for writes that must finish
    in any process (the search's journal, in workers too).
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
def no_interrupt() -> Iterator[None]:
    """Holds back Ctrl-C until the block ends (in the main thread; elsewhere it does nothing).

    A KeyboardInterrupt raised inside the journal file's lock handling leaves the lock half
    released and turns into an OSError; deferring it to the end of the write keeps the journal
    and its lock whole, and the interrupt still arrives a moment later. A process that ignores
    Ctrl-C (``nohup``), or whose handler Python did not set, is left as it is. SIGTERM is held
    too where a Python handler takes it (the CLI's, a search's worker's); its default action
    ends the process at once, as ``kill -9`` does, which the journal recovers from. So is
    SIGALRM, whose handler ends a trial past its ``trial_timeout``.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: dict[int, Any] = {
        signum: previous
        for signum in (signal.SIGINT, *TERMINATING, *ALARM)
        if (previous := signal.getsignal(signum)) not in (signal.SIG_IGN, None)
        and (signum == signal.SIGINT or callable(previous))
    }
    pending: list[int] = []
    for signum in held:
        signal.signal(signum, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for signum, previous in held.items():
            signal.signal(signum, previous)
        for came in sorted(set(pending), key=lambda s: s not in TERMINATING):  # a kill first
            if callable(held[came]):
                held[came](came, None)
            else:
                raise KeyboardInterrupt


@contextmanager
def held_during_imports() -> Iterator[None]:
    """Installs :func:`handler` for SIGINT and SIGTERM while the block runs, each where Python's
    own disposition is installed (``default_int_handler``; the default action, for SIGTERM).

    A signal that is ignored (SIGINT in a job started with ``nohup`` or ``&`` in some shells)
    or handled by someone else stays so, and so does a call from a thread other than the main
    one (which cannot set handlers).
    """
    global _held
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    defaults: dict[int, Any] = {
        signal.SIGINT: signal.default_int_handler,
        **{signum: signal.SIG_DFL for signum in TERMINATING},
    }
    taken = [s for s, default in defaults.items() if signal.getsignal(s) is default]
    for signum in taken:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum in taken:
            signal.signal(signum, defaults[signum])
        _held = None


def exit_status(interrupt: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP (128 + the signal's number, as a shell
    reports it).

    Example:
        >>> exit_status(KeyboardInterrupt()), exit_status(Terminated()), exit_status(HungUp())
        (130, 143, 129)
    """
    if isinstance(interrupt, HungUp):
        return 128 + signal.SIGHUP  # raised only where there is one
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


def what(interrupt: BaseException) -> str:
    """``"interrupted"`` (Ctrl-C) or ``"terminated"`` (SIGTERM), for the CLI's messages."""
    return "terminated" if isinstance(interrupt, Terminated) else "interrupted"


def interrupt_behind(error: BaseException) -> KeyboardInterrupt | None:
    """The ``KeyboardInterrupt`` (an import's) that ``error`` was raised while handling, if any.

    Example:
        >>> try:
        ...     try:
        ...         raise Terminated
        ...     except KeyboardInterrupt:
        ...         raise ImportError("initialization failed")
        ... except ImportError as e:
        ...     type(interrupt_behind(e)).__name__, interrupt_behind(ValueError())
        ('Terminated', None)
    """
    return next((e for e in error_chain(error) if isinstance(e, KeyboardInterrupt)), None)
