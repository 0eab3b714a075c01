"""A trial's time limit (``trial_timeout``): raised in its objective, or its worker killed.

In the search's own process, or in a worker, :func:`deadline` raises :class:`TrialTimeout` in
the objective once its time is up; a worker stuck where the exception cannot reach it (a C call)
is killed by its parent :data:`TIMEOUT_GRACE_S` later (:mod:`lrkit.search.workers`).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from lrkit.errors import ConfigError, bad_value
from lrkit.search.result import TIMED_OUT


class TrialTimeout(BaseException):
    """Raised in an objective that runs past the search's ``trial_timeout``.

    A ``BaseException``, as ``KeyboardInterrupt`` is, so that an objective's ``except
    Exception`` (one that returns NaN on any error, say) does not swallow it.
    """


def timed_out(timeout: float | None, killed: bool = False) -> str:
    """The error text of a trial stopped at its time limit."""
    text = f"{TIMED_OUT}ran past trial_timeout={timeout:g} s"
    if killed:
        text += f" and did not stop within {TIMEOUT_GRACE_S:g} s more: its worker was killed"
    return text


# how long a worker past its trial_timeout (which raises TrialTimeout in its objective) has to
# stop before it is killed: one stuck in a C call never sees the exception
TIMEOUT_GRACE_S = 10.0


def check_trial_timeout(timeout: Any, n_workers: int) -> float | None:
    """``trial_timeout`` as seconds (None: no limit), or a ConfigError that names it."""
    if timeout is None or timeout == math.inf:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise bad_value("trial_timeout", "a number of seconds > 0, or None", timeout)
    if n_workers == 1 and (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        raise ConfigError(
            "trial_timeout with n_workers=1 stops a trial with SIGALRM, which only the main "
            "thread of a Unix process receives; run the search from the main thread, or with "
            "n_workers >= 2 (a trial past its time is then stopped with its worker process)."
        )
    return float(timeout)


# a worker process's slot in the parent's clock of trials started (see Workers._kill_if_late)
_started_clock: tuple[Any, int] | None = None


def tell_starts(clock: Any, slot: int) -> None:
    """In a worker process: :func:`deadline` writes its trial's start into ``clock[slot]``,
    the parent's shared array, which counts the time to kill the worker from it."""
    global _started_clock
    _started_clock = (clock, slot)


@contextlib.contextmanager
def deadline(timeout: float | None) -> Iterator[None]:
    """Raises :class:`TrialTimeout` in the block once it has run ``timeout`` seconds, and again
    every second after while the block runs (one swallowed, by an ``except BaseException`` or
    a ``__del__``, does not lift the limit).

    SIGALRM's handler raises it at the objective's next Python instruction, or at once in a
    sleep or a wait on a lock, a pipe or a socket; a journal's write or replay underway finishes
    first (``no_interrupt`` holds SIGALRM too). A signal handler and a timer of the caller's own
    are put back after. Where there is no SIGALRM (Windows: ``n_workers > 1`` only), the worker
    process is ended by its parent instead. In a worker, the trial's start is told to the
    parent here, which counts its time to kill from it.
    """
    if timeout is None:
        yield
        return
    began = time.monotonic()
    if _started_clock is not None:
        clock, slot = _started_clock
        clock[slot] = began
    if not hasattr(signal, "setitimer"):
        yield
        return
    armed = True

    def alarm(signum: int, frame: Any) -> None:
        if armed:
            raise TrialTimeout

    caller_timer = signal.getitimer(signal.ITIMER_REAL)
    previous = signal.signal(signal.SIGALRM, alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, min(timeout, 1e8), 1.0)  # 3 years: time_t's range
        yield
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        left, interval = caller_timer
        if left > 0:  # the caller's own alarm: what was left of it
            signal.setitimer(
                signal.ITIMER_REAL, max(left - (time.monotonic() - began), 0.001), interval
            )
