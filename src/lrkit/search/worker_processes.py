"""Where a search's worker processes come from (``n_workers > 1``: a fresh process per trial).

On Linux, from a fork server started for the search and stopped after it. The server is a fresh
interpreter that imports torch, Optuna, lrkit and the like once, trains nothing and never touches
CUDA, and forks each worker from that state: a worker starts in a fraction of a second, where a
spawned one spends seconds importing torch again, and still inherits nothing of an earlier trial.
The server also imports the modules the caller names with
``multiprocessing.set_forkserver_preload`` and has imported (heavy libraries its script
imports: a worker reruns the script, and imports them again unless the server has). It never
imports the caller's script itself (``"__main__"``): that would run the user's code in the
server, and a top-level ``torch.cuda.is_available()`` there would break CUDA in every worker
forked after it.
Elsewhere (macOS, whose frameworks are not safe to fork, as Python's own default there says;
Windows, which has no fork; Python 3.10, whose fork server would search its working directory
first), beside a fork server of the caller's own, or where the server cannot start, workers are
spawned. If the server dies during the search (the OOM killer, a ``kill -9``; it holds SIGTERM),
the workers it forked die with it (or, without Linux's parent-death signal, are stopped), their
trials are queued again, and the rest spawned.

A worker starts with Ctrl-C and SIGTERM held (:func:`held_signals`) until it can take them: a
spawned one inherits this thread's signal mask, a forked one the server's, which is started
under the same mask.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing import forkserver, resource_tracker
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

from lrkit.interrupts import TERMINATING, no_interrupt
from lrkit.search.parent_death import SERVER_OF

# held in the signal mask while a worker starts, until the worker takes them
HELD_SIGNALS = frozenset({signal.SIGINT, *TERMINATING})

# what the fork server imports once for all of a search's workers, which each would import
# again: first the module that ties the server's life to this process's (parent_death); then
# lrkit's trial code always; with torch imported in this process, torch with what a
# trial's first steps import (an optimizer's first step imports torch._dynamo and sympy: about
# a second) and lrkit's training; with scikit-learn, what a built-in task's data loading uses;
# under the CLI, the module its script imports (a worker runs the script again: 8 ms a trial)
PRELOAD = ("lrkit.search.parent_death", "lrkit.search.workers", "numpy.random")
PRELOAD_WITH = {
    "torch": (
        "torch",
        "torch._dynamo",
        "lrkit.search.objective",
        "lrkit.schedules",
        "lrkit.tasks",
        "lrkit.training",
    ),
    "sklearn": ("sklearn.datasets", "sklearn.metrics", "sklearn.model_selection"),
    "lrkit.cli": ("lrkit.cli.main",),
}

# how long the search waits for its fork server to exit after the last worker, and for a
# worker that outlived the server to end after SIGTERM, before SIGKILL
SERVER_STOP_S, ORPHAN_STOP_S = 10.0, 12.0
# how long a server whose pipes closed may take to end (a worker's exit code 255 with the
# server alive is its own, the worker gone)
SERVER_DEATH_S = 1.0


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM held in this thread's signal mask: a process started meanwhile
    inherits the mask, so one that comes while it starts waits in it until the process takes
    it. One meant for this process is held back too (``no_interrupt``) and arrives when the
    block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    with no_interrupt():
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a held Ctrl-C is recorded now


class WorkerProcesses:
    """The source of one search's worker processes: :meth:`context` to start them from, and
    ``alive``, the reading end of a pipe whose writing end only this process holds: workers
    watch it for EOF, this process's death. (A forked worker's parent is the fork server, which
    lives on while any worker does, so ``os.getppid()`` cannot tell.)"""

    def __init__(
        self, context: BaseContext, alive: Connection, server_pid: int | None = None
    ) -> None:
        self._context, self.alive, self._server_pid = context, alive, server_pid
        self._forked_by = server_pid  # kept after the server is gone

    @property
    def forked(self) -> bool:
        """Whether workers come from the search's fork server (until it dies, if it does)."""
        return self._server_pid is not None

    def context(self) -> BaseContext:
        """Where to start the next worker: the fork server while it runs, else spawning."""
        if self._server_pid is not None and not _running(self._server_pid):
            self.server_gone()
        return self._context

    def server_gone(self) -> None:
        """Spawns the workers from here on. The server is not started again, as
        multiprocessing would: without the signals held, from the working directory."""
        self._server_pid = None
        self._context = multiprocessing.get_context("spawn")

    def lost_server(self, process: Any) -> bool:
        """Whether a forked worker that reads as ended (exit code 255: its server's status
        pipe closed) lost its fork server: it died with it (:mod:`lrkit.search.parent_death`),
        or runs on without it where the kernel has no parent-death signal."""
        server = self._forked_by
        if getattr(process, "_start_method", None) != "forkserver" or server is None:
            return False
        if process.exitcode != 255:
            return False
        # the pipe closes as the server begins to exit, a moment before it has ended
        deadline = time.monotonic() + SERVER_DEATH_S
        while _running(server) and time.monotonic() < deadline:
            time.sleep(0.01)
        return not _running(server)

    def end(self, process: Any) -> None:
        """Stops a worker that lost its fork server, if it runs on, as a plain ``kill`` would
        (its trial is recorded as interrupted and queued again), then, if it has not ended,
        kills it; and spawns the workers from here on."""
        self.server_gone()
        if not _running(process.pid):  # it died with the server: its pid may be another's now
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + ORPHAN_STOP_S
            while _running(process.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _running(process.pid):
                os.kill(process.pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs (neither gone nor a zombie), from ``/proc`` (Linux, where
    the fork server is used)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@contextlib.contextmanager
def worker_processes() -> Iterator[WorkerProcesses]:
    """A search's worker processes: a fork server started here and stopped at the end (see the
    module's docstring), or spawning."""
    server: Any = getattr(forkserver, "_forkserver", None)  # Python's own (private)
    usable = (
        sys.platform.startswith("linux")
        and sys.version_info >= (3, 11)
        and "forkserver" in multiprocessing.get_all_start_methods()
        and server is not None
        and getattr(server, "_forkserver_pid", 0) is None  # none runs now
        and hasattr(server, "_stop")
    )
    if not usable:
        with _parent_pipe() as alive:
            yield WorkerProcesses(multiprocessing.get_context("spawn"), alive)
        return
    preload = [*PRELOAD, *(m for top, ms in PRELOAD_WITH.items() if top in sys.modules for m in ms)]
    callers = list(getattr(server, "_preload_modules", ["__main__"]))
    # and what the caller asked its own fork server to import (multiprocessing's
    # set_forkserver_preload) and has imported here: heavy libraries its script imports, which
    # every worker would import again when it reruns the script ("__main__" itself is not: see
    # the docstring). Only those imported here: one that raises on import (anything but an
    # ImportError, which the server skips) would end the server, and the search would spawn.
    preload += [m for m in callers if m != "__main__" and m in sys.modules and m not in preload]
    forkserver.set_forkserver_preload(preload)
    try:
        try:
            context, server_pid = _start(server)
        except BaseException:  # Ctrl-C while it imports: no worker yet, nothing to wait for
            pid = getattr(server, "_forkserver_pid", None)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise
        with _parent_pipe() as alive:  # closed first: a worker left over exits on it
            yield WorkerProcesses(context, alive, server_pid)
    finally:
        try:
            _stop(server)
        finally:
            forkserver.set_forkserver_preload(callers)  # for a fork server the caller starts


def _start(server: Any) -> tuple[BaseContext, int | None]:
    """Starts the fork server with Ctrl-C and SIGTERM held, so that every worker it forks starts
    with them held, then waits, without the hold, until it has imported its modules: a Ctrl-C
    meanwhile ends the search at once. Returns where to start workers, and the server's pid
    (None: spawning, where it could not start)."""
    spawning = multiprocessing.get_context("spawn"), None
    # started first, if it is not running: starting multiprocessing's resource tracker unblocks
    # Ctrl-C and SIGTERM in this thread, and a server started after that would not hold them.
    # It keeps SIGHUP held for good (it ignores the other two itself): a hangup to the process
    # group (a terminal closed) ended it, and the tracker started again printed KeyErrors for
    # every semaphore (review 153)
    with held_signals():
        resource_tracker.ensure_running()
    try:
        with _this_path(), held_signals():
            forkserver.ensure_running()
    except OSError:  # no server (no Unix socket here, say): spawned workers work all the same
        return spawning
    started = server._forkserver_pid
    context = multiprocessing.get_context("forkserver")
    ready = context.Process(target=os.getpid, name="lrkit-fork-server-ready")
    try:
        ready.start()  # returns once the server forked it: once it has imported its modules
    except (OSError, EOFError):  # the server died importing them: spawn instead
        return spawning
    ready.join()
    if server._forkserver_pid != started:  # it died importing, and multiprocessing started
        return spawning  # another: not that one
    return context, started


@contextlib.contextmanager
def _this_path() -> Iterator[None]:
    """The fork server's imports search this process's ``sys.path``, as a spawned worker's do;
    and it dies with this process (:mod:`lrkit.search.parent_death`).

    Python 3.11's fork server ignores the path it is given and searches its working directory
    first, where a ``numpy/`` or an ``optuna.py`` of the user's would shadow the real one, or an
    installed lrkit a checkout this process imports. The path goes to it in ``PYTHONPATH``, with
    ``PYTHONSAFEPATH`` to leave the working directory out; the environment is put back after
    (its workers take this process's environment anyway: ``TrialJob.environ``).
    """
    names = ("PYTHONPATH", "PYTHONSAFEPATH", SERVER_OF)
    saved = {name: os.environ.get(name) for name in names}
    entries = (entry or os.getcwd() for entry in sys.path if isinstance(entry, str))
    os.environ["PYTHONPATH"] = os.pathsep.join(entries)  # not a Path: imports skip those
    os.environ["PYTHONSAFEPATH"] = "1"
    os.environ[SERVER_OF] = str(os.getpid())  # the server dies with this process
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _stop(server: Any) -> None:
    """Closes this process's end of the server's "alive" pipe and waits for it to exit, which it
    does once its workers have (here, all have ended or been killed; one that could not be is
    not waited for past ``SERVER_STOP_S``). The next search starts a server of its own, with the
    stdout, stderr and environment of its time."""
    if getattr(server, "_forkserver_pid", None) is None:
        return
    stopper = threading.Thread(target=server._stop, name="lrkit-fork-server-stop", daemon=True)
    stopper.start()
    stopper.join(timeout=SERVER_STOP_S)


@contextlib.contextmanager
def _parent_pipe() -> Iterator[Connection]:
    """The pipe of ``WorkerProcesses.alive``: its reading end, the writing end kept here."""
    reading, writing = multiprocessing.Pipe(duplex=False)
    try:
        yield reading
    finally:
        writing.close()
        reading.close()
