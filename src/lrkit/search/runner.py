"""Running trials: one at a time in this process, or each in a fresh worker process.

A trial runs the same way wherever it runs (:func:`run_trial`): it takes its LR from the sampler
(or the retry it is), seeds every RNG with its own seed, calls the objective, and tells the study
how it ended. An exception is recorded as a failed trial with its error text and the search goes
on; a NaN or infinite result is a failure too, never a best; Ctrl-C fails the trial as
interrupted and queues it again, so a resumed search redoes only what was in flight.

With ``n_workers > 1`` every trial gets a fresh process, so GPU memory and leaks never pile up
across trials (optuna #1224, #3050), and each worker slot gets one GPU through
``CUDA_VISIBLE_DEVICES`` when GPUs are present (optuna #1365). Where the processes come from (a
fork server that imported torch once, or spawning) is :mod:`lrkit.search.worker_processes`.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import multiprocessing
import os
import random
import re
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np
import optuna
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import TrialState

from lrkit.errors import (
    ConfigError,
    RunError,
    bad_value,
    bool_or_text,
    caller_level,
    error_chain,
)
from lrkit.interrupts import no_interrupt
from lrkit.search.objective import TaskObjective
from lrkit.search.portable import check_portable
from lrkit.search.result import TIMED_OUT, TRACEBACK
from lrkit.search.samplers import LR_PARAM
from lrkit.search.storage import (
    JournalSnapshot,
    StorageSpec,
    StorageUnreachable,
    driver_error,
    journal_snapshot,
)
from lrkit.search.study import HIGH_ATTR, LOW_ATTR, SEED_ATTR, fail_interrupted, pop_waiting
from lrkit.search.worker_processes import (
    HELD_SIGNALS,
    WorkerProcesses,
    held_signals,
    worker_processes,
)

Objective = Callable[..., Any]


def run_trial(
    study: optuna.Study,
    trial_id: int,
    objective: Objective,
    lr_range: tuple[float, float],
    timeout: float | None = None,
    spec: StorageSpec | None = None,
) -> TrialState:
    """Runs the objective for one claimed (RUNNING) trial and tells the study how it ended.

    A trial ended meanwhile by another process (a ``--resume`` started beside this search
    fails it as interrupted and queues its retry, or the search's parent ended it past its
    ``timeout``) stops quietly at its next write. One that runs past ``timeout`` seconds fails.
    One whose objective lost the connection to ``spec``'s database server (a write of
    ``trial.report`` failed) was interrupted, not failed: it is queued again.
    """
    trial = optuna.Trial(study, trial_id)
    try:
        return _run_trial(study, trial, objective, lr_range, timeout, spec)
    except optuna.exceptions.UpdateFinishedTrialError as error:
        state = study._storage.get_trial(trial_id).state
        if state != TrialState.RUNNING:
            return state
        # about another trial (the objective's own study, say): this one failed
        _fail(study, trial, error_text(error), traceback.format_exc())
        return TrialState.FAIL


def error_text(error: BaseException) -> str:
    """``"ValueError: why"``, also for an exception whose ``str()`` raises.

    Example:
        >>> class Odd(Exception):
        ...     def __str__(self) -> str:
        ...         raise RuntimeError
        >>> error_text(ValueError("bad lr")), error_text(Odd())
        ('ValueError: bad lr', 'Odd: <its text could not be read: RuntimeError>')
    """
    try:
        text = str(error)
    except Exception as unreadable:
        text = f"<its text could not be read: {type(unreadable).__name__}>"
    return f"{type(error).__name__}: {text}"


def _run_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    objective: Objective,
    lr_range: tuple[float, float],
    timeout: float | None,
    spec: StorageSpec | None,
) -> TrialState:
    trial_id = trial._trial_id
    attrs = trial.user_attrs
    low, high = attrs.get(LOW_ATTR, lr_range[0]), attrs.get(HIGH_ATTR, lr_range[1])
    lr = trial.suggest_float(LR_PARAM, low, high, log=True)
    seed = int(attrs.get(SEED_ATTR, trial.number))
    with _heartbeat(study, trial_id), _seeded(seed), _kept_as_it_was():
        began = time.monotonic()
        try:
            with _deadline(timeout):
                value = _call(objective, lr, trial)
            if timeout is not None and time.monotonic() - began > timeout:
                raise TrialTimeout  # it swallowed one (a bare except, a return in a finally)
        except TrialTimeout as error:
            interrupt = _interrupt_behind(error)
            if interrupt is not None:  # a Ctrl-C that the time limit overtook: it stands
                fail_interrupted(study, trial_id)
                raise interrupt from None
            _fail(study, trial, timed_out(timeout))
            return TrialState.FAIL
        except optuna.TrialPruned:
            _tell(study, trial, state=TrialState.PRUNED)
            return TrialState.PRUNED
        except KeyboardInterrupt:
            fail_interrupted(study, trial_id)
            raise
        except optuna.exceptions.UpdateFinishedTrialError:
            raise
        except Exception as error:
            if spec is not None and spec.lost(error):  # not the LR's doing: run it again
                fail_interrupted(study, trial_id)  # raises if the server is still away
                return TrialState.FAIL
            _fail(study, trial, error_text(error), traceback.format_exc())
            return TrialState.FAIL
        except BaseException as error:  # sys.exit(), GeneratorExit: recorded, then it goes on
            _fail(study, trial, error_text(error), traceback.format_exc())
            raise
    number, problem = _number(value)
    if number is None:
        _fail(study, trial, problem)
        return TrialState.FAIL
    _tell(study, trial, number)
    return TrialState.COMPLETE


def _interrupt_behind(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM) that ``error`` was raised while handling, if any."""
    return next((e for e in error_chain(error) if isinstance(e, KeyboardInterrupt)), None)


def _tell(study: optuna.Study, trial: optuna.Trial, *args: Any, **kwargs: Any) -> None:
    """``study.tell``, unless the trial was ended meanwhile by another process: a ``--resume``
    started while this search still ran failed it as interrupted and queued its retry."""
    try:
        study.tell(trial, *args, **kwargs)
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
        # Optuna says "Cannot tell a FAIL trial." with a ValueError; any other is re-raised
        if not study._storage.get_trial(trial._trial_id).state.is_finished():
            raise


def _fail(study: optuna.Study, trial: optuna.Trial, error: str, tb: str | None = None) -> None:
    first = error.strip().splitlines()[0][:500] if error.strip() else error
    trial.set_user_attr("error", first)
    if tb:
        trial.set_user_attr(TRACEBACK, tb[-4000:])
    _tell(study, trial, state=TrialState.FAIL)


def _call(objective: Objective, lr: float, trial: optuna.Trial) -> Any:
    """``objective(lr, trial)``, or ``objective(lr)`` for one that takes the LR alone."""
    try:
        params = inspect.signature(objective).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: pass both
        return objective(lr, trial)
    return objective(lr, trial) if _takes_trial(params) else objective(lr)


def _takes_trial(params: Iterable[inspect.Parameter]) -> bool:
    """Whether an objective with these parameters gets the trial: as its second positional
    parameter, one without a default, or named ``trial`` or ``..._trial`` (``optuna_trial=None``),
    or annotated as an Optuna trial (``t: optuna.Trial = None``), or through ``*args``;
    ``objective(lr, epochs=3)`` and ``objective(lr, n_trials=3)`` keep their default."""
    params = list(params)
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2:
        return False
    second = positional[1]
    annotation = second.annotation
    said = annotation if isinstance(annotation, str) else repr(annotation)
    name = second.name.lower()
    return (
        second.default is inspect.Parameter.empty
        or name == "trial"
        or name.endswith("_trial")  # optuna_trial, not n_trials or trial_count
        or re.search(r"\b(Base|Frozen)?Trial\b", str(said)) is not None  # "Trial | None"
    )


def _number(value: Any) -> tuple[float | None, str]:
    """The objective's result as a finite float, or ``None`` and why it is not one."""
    if value is None:
        return None, (
            "the objective returned None; it must return the value to optimize (a number or a "
            "one-element tensor): is its return statement missing?"
        )
    if bool_or_text(value):
        return None, (
            f"the objective returned {value!r} ({type(value).__name__}); it must return the "
            "value to optimize (a number or a one-element tensor)"
        )
    if isinstance(value, (complex, np.complexfloating)) or _complex_tensor(value):
        return None, (
            f"the objective returned {_short(value)}, a complex number; it must return the "
            "value to optimize (a real number or a one-element tensor)"
        )
    detach = getattr(value, "detach", None)  # a loss tensor: read without autograd's warning
    if isinstance(value, np.ndarray) and value.size == 1:  # np.array([0.3]), as a tensor([0.3])
        value = value.reshape(())
    try:
        number = float(detach() if callable(detach) else value)
    except Exception as error:  # any: an int past float's range, a __float__ of the user's
        return None, (
            f"the objective returned {_short(value)} ({type(value).__name__}); it must return "
            f"the value to optimize (a number or a one-element tensor): "
            f"{type(error).__name__}: {error}"
        )
    if not math.isfinite(number):
        return None, (
            f"the objective returned {_short(value)}; a NaN or infinite result is a failure, "
            "not a best"
        )
    return number, ""


def _complex_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor) and value.is_complex()


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # an int of more than 4300 digits, a __repr__ of the user's
        return f"<{type(value).__name__} that cannot be shown>"
    return text if len(text) <= 80 else text[:77] + "..."


def check_objective(objective: Objective) -> None:
    """Fails at once, not once per trial, for an objective that cannot take ``(lr, trial)`` or
    ``(lr)`` as :func:`_call` passes them."""
    try:
        signature = inspect.signature(objective)
    except (TypeError, ValueError):  # no signature to read: the trials will tell
        return
    params = list(signature.parameters.values())
    if params and params[0].name == "trial" and params[0].kind != params[0].VAR_POSITIONAL:
        raise ConfigError(  # Optuna's objective(trial): it would get the LR, and fail each time
            f"objective must take the LR first, objective(lr, trial) or objective(lr) (lrkit "
            f"suggests the LR and passes it), got a callable with parameters {signature}, "
            "whose first is named 'trial'."
        )
    try:
        signature.bind(*((0.1, None) if _takes_trial(params) else (0.1,)))
    except TypeError:
        raise ConfigError(
            f"objective must take the LR and the trial, objective(lr, trial), or the LR "
            f"alone, objective(lr); got a callable with parameters {signature}."
        ) from None


@contextlib.contextmanager
def _kept_as_it_was() -> Iterator[None]:
    """Puts back, after a trial, what an objective may change for the whole process: the
    working directory (a Hydra-style ``os.chdir``) and torch's CPU thread count, so that every
    trial, and the search's own files after them, find what the search started with."""
    import torch

    threads = torch.get_num_threads()
    try:
        cwd: str | None = os.getcwd()
    except OSError:  # the caller's folder was removed: nothing to go back to
        cwd = None
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if cwd is not None:
            with contextlib.suppress(OSError):
                if os.getcwd() != cwd:
                    os.chdir(cwd)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seeds Python's, NumPy's and torch's global RNGs for the trial; restores them after."""
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


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


@contextlib.contextmanager
def _deadline(timeout: float | None) -> Iterator[None]:
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


@contextlib.contextmanager
def _heartbeat(study: optuna.Study, trial_id: int) -> Iterator[None]:
    """Records the trial's heartbeat while it runs, on storages that have one."""
    storage = study._storage
    interval = storage.get_heartbeat_interval() if isinstance(storage, BaseHeartbeat) else None
    if not interval or not isinstance(storage, BaseHeartbeat):
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # a missed beat only risks a late retry
                storage.record_heartbeat(trial_id)
            stop.wait(interval)

    thread = threading.Thread(target=beat, name=f"lrkit-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@dataclass(frozen=True)
class TrialJob:
    """Everything a fresh process needs to run one trial (picklable)."""

    spec: StorageSpec
    study_name: str
    trial_id: int
    objective: Objective
    sampler: Any
    pruner: Any
    lr_range: tuple[float, float]
    gpu: str | None
    threads: int
    environ: dict[str, str]  # this process's, as a spawned worker would inherit it
    snapshot: JournalSnapshot | None = None  # the journal as this process read it
    timeout: float | None = None  # trial_timeout


# how a worker stopped by Ctrl-C or a plain kill ends: by the signal, or by _child_main's 130
INTERRUPTED_EXITS = frozenset({130, 143, -signal.SIGINT, -signal.SIGTERM})


def _child_main(
    job: TrialJob,
    alive: Connection,
    stopping: Any,
    interruptible: bool,
    clock: Any = None,
    slot: int = 0,
) -> None:
    """A worker process's life. It starts with Ctrl-C and SIGTERM held (see ``held_signals``), so
    that none lands while Python unpickles the job; here they arrive (a KeyboardInterrupt), and
    both work until the trial is told: the trial is recorded as interrupted, for a retry. Then
    Ctrl-C is ignored and SIGTERM ends the process, for the exit (a KeyboardInterrupt in torch's
    or multiprocessing's exit hooks printed a traceback). A parent that ignores Ctrl-C (nohup)
    passes ``interruptible=False``: the worker ignores it too, and still stops on SIGTERM.
    """
    global _started_clock
    if clock is not None:  # where this trial's start is told to the parent (_deadline)
        _started_clock = (clock, slot)
    held = hasattr(signal, "pthread_sigmask")
    try:
        handler = signal.default_int_handler if interruptible else signal.SIG_IGN
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill: stop as on Ctrl-C
        if held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)
        if stopping.is_set():  # the parent alone got Ctrl-C while this process started
            raise KeyboardInterrupt
        try:
            _child_run(job, alive)
        except Exception as error:  # a server that refuses (too many connections) or went away
            unreachable = isinstance(error, StorageUnreachable)  # when the worker opened it
            if not (unreachable or job.spec.lost(error)):
                raise
            # one line, not a traceback per worker: the parent stops the search and says why
            cause = str(error) if unreachable else driver_error(error)
            print(f"lrkit: a search worker lost the study's storage: {cause}", file=sys.stderr)
            sys.stderr.flush()
            os._exit(STORAGE_LOST_EXIT)
        # ignored, not only blocked: a mask is per thread, and a Ctrl-C to the process reaches
        # it through any thread that does not block it (the parent watcher, Optuna's heartbeat)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except KeyboardInterrupt:  # Ctrl-C reaches every worker, even one still importing torch:
        os._exit(130)  # the parent fails and requeues its trial, without a traceback here
    _leave_stray_threads()


STRAY_GRACE_S = 10.0
"""How long a worker waits, after its trial, for threads the objective left running."""


def _leave_stray_threads(grace: float = STRAY_GRACE_S) -> None:
    """Ends the worker when the objective left a thread running that is not a daemon, once it
    has had ``grace`` seconds to finish: Python's exit would join it for as long as it runs
    (for ever, for a watcher), and the search would wait on the worker. Its trial is recorded
    by now. The executors of ``concurrent.futures`` are told to shut down first, as Python's
    exit tells them, so that work handed to one (a checkpoint written in the background) can
    finish within the grace, and their idle threads end; a task that runs on past it (a
    monitor's loop) is left, as any thread is."""
    me = threading.current_thread()

    def stray() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]

    if not stray():
        return
    deadline = time.monotonic() + grace

    def shut_down() -> None:  # concurrent.futures' hooks join their threads without a limit
        for hook in list(getattr(threading, "_threading_atexits", ())):
            with contextlib.suppress(Exception):
                hook()

    hooks = threading.Thread(target=shut_down, daemon=True, name="lrkit-shutdown")
    hooks.start()
    hooks.join(max(0.0, deadline - time.monotonic()))
    for thread in stray():
        thread.join(max(0.0, deadline - time.monotonic()))
    if stray():
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(0)


def _child_run(job: TrialJob, alive: Connection) -> None:
    # the platform's own start method for the objective's processes (a DataLoader's workers),
    # not the fork server this worker came from: each would start a server of its own, seconds
    multiprocessing.set_start_method(None, force=True)
    if os.environ != job.environ:  # a fork server's environment is the one it started with
        os.environ.clear()
        os.environ.update(job.environ)
    if job.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = job.gpu  # before anything touches CUDA
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        # each worker's share of the cores: n workers with all cores each thrash the machine
        torch.set_num_threads(job.threads)
    _exit_with_parent(alive)
    study = optuna.load_study(
        study_name=job.study_name,
        storage=job.spec.open(snapshot=job.snapshot),
        sampler=job.sampler,
        pruner=job.pruner,
    )
    # Optuna caches a database storage per process and only knows trials it has read: without
    # this read, the parent's claimed trial is a KeyError at its first suggest_float
    study.get_trials(deepcopy=False)
    run_trial(study, job.trial_id, job.objective, job.lr_range, job.timeout, job.spec)


# a worker's exit code when it lost the study's database server (EX_TEMPFAIL)
STORAGE_LOST_EXIT = 75


def _exit_with_parent(alive: Connection) -> None:
    """Ends this worker when its parent dies (kill -9), leaving its trial RUNNING for recovery.

    ``alive``: see ``WorkerProcesses.alive``."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            alive.poll(None)
        os._exit(1)

    threading.Thread(target=watch, name="lrkit-parent-watch", daemon=True).start()


class Workers:
    """Pops WAITING trials of a study and runs them until none is left.

    Args:
        spec: The study's storage (reopened by each worker process).
        study: The study, opened in this process.
        objective: ``objective(lr, trial)`` or ``objective(lr)``.
        n_workers: ``1``: trials run here, one after another; more: each in a fresh process,
            ``n_workers`` at a time.
        lr_range: Fallback range for trials queued without one.
        on_change: Called after a trial starts or ends (for progress displays).
        timeout: ``trial_timeout``: seconds after which a trial fails, raised in its objective
            (:class:`TrialTimeout`); a worker process that has not stopped ``TIMEOUT_GRACE_S``
            later is killed.
        joining: Whether this process joined a study another machine coordinates (what an
            error tells it to do next).
    """

    def __init__(
        self,
        spec: StorageSpec,
        study: optuna.Study,
        objective: Objective,
        n_workers: int,
        lr_range: tuple[float, float],
        on_change: Callable[[], None] | None = None,
        timeout: float | None = None,
        joining: bool = False,
    ) -> None:
        self.spec, self.study, self.objective = spec, study, objective
        self.n_workers, self.lr_range, self.timeout = n_workers, lr_range, timeout
        self.joining = joining
        self.on_change = on_change or (lambda: None)
        self._gpus = _gpu_ids()
        # where worker processes come from, made when the first trial waits for one and kept
        # for the search's later rounds; ended by close()
        self._processes = contextlib.ExitStack()
        self._source: WorkerProcesses | None = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops the search's fork server, if it started one."""
        self._processes.close()
        self._source = None

    def run(self) -> None:
        if self.n_workers == 1:
            # shown as each trial starts (the one before it done): a line drawn between the two
            # would say none runs
            while True:
                trial_id = None
                try:
                    with no_interrupt():  # a Ctrl-C now comes once the trial id is held
                        trial_id = pop_waiting(self.study)
                    if trial_id is None:
                        break
                    self.on_change()
                    run_trial(
                        self.study, trial_id, self.objective, self.lr_range, self.timeout, self.spec
                    )
                except BaseException:  # before the trial's own handling began (the display's
                    if trial_id is not None:  # redraw): queued again, not left RUNNING
                        with contextlib.suppress(Exception):
                            fail_interrupted(self.study, trial_id)
                    raise
            self.on_change()
            return
        self._run_processes()

    def _run_processes(self) -> None:
        if not self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return  # as a joining machine waits: no worker processes for nothing to run
        if self._source is None:
            self._source = self._processes.enter_context(worker_processes())
        # set on Ctrl-C, for workers that started while only this process got it
        spawning = multiprocessing.get_context("spawn")
        stopping = spawning.Event()
        # when each slot's trial started its clock (0: not yet), as its worker tells it
        clock = spawning.Array("d", self.n_workers, lock=False)
        self._run_from(self._source, stopping, clock)

    def _run_from(self, source: WorkerProcesses, stopping: Any, clock: Any) -> None:
        interruptible = signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        active: dict[int, tuple[Any, int]] = {}  # worker slot -> (process, trial id)
        claimed = None  # a trial taken from the queue whose worker has not started yet
        changed = False  # shown once the free slots are filled again, not in between
        try:
            while True:
                for slot in range(self.n_workers):
                    if slot in active:
                        continue
                    with no_interrupt():  # a Ctrl-C now comes once the trial id is held
                        claimed = trial_id = pop_waiting(self.study)
                    if trial_id is None:
                        break
                    gpu = self._gpus[slot % len(self._gpus)] if self._gpus else None
                    job = TrialJob(
                        self.spec,
                        self.study.study_name,
                        trial_id,
                        self.objective,
                        self.study.sampler,
                        self.study.pruner,
                        self.lr_range,
                        gpu,
                        max(1, (os.cpu_count() or 1) // self.n_workers),
                        dict(os.environ),
                        journal_snapshot(self.study._storage),
                        self.timeout,
                    )
                    while True:
                        process = source.context().Process(  # type: ignore[attr-defined]
                            target=_child_main,
                            args=(job, source.alive, stopping, interruptible, clock, slot),
                            name=f"lrkit-trial-{slot}",
                        )
                        clock[slot] = 0.0
                        try:
                            with held_signals():
                                process.start()
                                active[slot] = (process, trial_id)
                                claimed = None
                            break
                        except (OSError, EOFError):
                            if not source.forked:
                                raise
                            source.server_gone()  # it died this moment: spawn this one
                    changed = True
                if changed:
                    self.on_change()
                    changed = False
                if not active:
                    return
                wait([p.sentinel for p, _ in active.values()], timeout=self._wait(clock, active))
                for slot, (process, trial_id) in list(active.items()):
                    if process.exitcode is None:
                        self._kill_if_late(process, trial_id, clock[slot])
                        continue
                    exitcode = process.exitcode
                    if source.outlived_server(process):  # its fork server died, not it
                        source.end(process)
                        exitcode = -signal.SIGTERM  # stopped as by a kill: queued again
                    process.join()
                    del active[slot]
                    self._check_ended(trial_id, exitcode)
                    changed = True
        except BaseException:  # Ctrl-C, SIGTERM, or an error here (the storage, say)
            stopping.set()
            if claimed is not None:  # taken, never started: not left RUNNING till a resume
                with contextlib.suppress(Exception):
                    fail_interrupted(self.study, claimed)
            self._stop(active)  # the workers' trials are queued again, none left RUNNING
            raise

    def _wait(self, clock: Any, active: dict[int, tuple[Any, int]]) -> float:
        """How long to wait for a worker to end: a second, or less, to the next time to kill a
        worker past its trial_timeout."""
        started = [clock[slot] for slot in active if clock[slot] > 0]
        if self.timeout is None or not started:
            return 1.0
        kill_at = min(started) + self.timeout + TIMEOUT_GRACE_S
        return min(1.0, max(0.05, kill_at - time.monotonic()))

    def _kill_if_late(self, process: Any, trial_id: int, started: float) -> None:
        """Kills a worker still running ``TIMEOUT_GRACE_S`` past its trial's time limit (stuck
        where :class:`TrialTimeout` cannot reach it, in a C call), counted from when its trial
        started (``started``, as the worker told it; 0: not yet), not from its process's start
        (a script's top level, run again in each worker, may take long); then fails the trial,
        if it had not ended meanwhile."""
        if self.timeout is None or not started:
            return
        if time.monotonic() < started + self.timeout + TIMEOUT_GRACE_S:
            return
        process.kill()  # first: a worker that records its trial meanwhile is not overwritten
        process.join(timeout=5)
        storage = self.study._storage
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if storage.get_trial(trial_id).state == TrialState.RUNNING:
                storage.set_trial_user_attr(trial_id, "error", timed_out(self.timeout, True))
                storage.set_trial_state_values(trial_id, state=TrialState.FAIL)

    def _check_ended(self, trial_id: int, exitcode: int) -> None:
        """A worker that died without telling (a crash, the OOM killer) fails its trial; one
        stopped by Ctrl-C or a plain ``kill`` (SIGINT, SIGTERM) was interrupted: its trial is
        queued again."""
        storage = self.study._storage
        if storage.get_trial(trial_id).state != TrialState.RUNNING:
            return
        if exitcode in INTERRUPTED_EXITS:
            fail_interrupted(self.study, trial_id)
            return
        if exitcode == STORAGE_LOST_EXIT:  # its line is above; this process may still reach it
            with contextlib.suppress(Exception):
                fail_interrupted(self.study, trial_id)
            raise RunError(
                f"a worker process lost the study's storage ({self.spec.describe()}; why is "
                "above). Finished trials are kept; once the storage is back, "
                f"{again(self.joining)}."
            )
        how = f"signal {-exitcode}" if exitcode < 0 else f"exit code {exitcode}"
        error = f"the worker process died ({how})"
        if exitcode == 1 and not storage.get_trial(trial_id).params:  # it never took its LR
            # not the trial's doing (every worker would die so): queued again, search stopped
            fail_interrupted(self.study, trial_id)
            advice = (
                ""
                if isinstance(self.objective, TaskObjective)  # lrkit's own: no script of yours
                else " A script that runs a search with n_workers > 1 must start it under `if "
                '__name__ == "__main__":` and define the objective at its top level, where a '
                "fresh process can import it."
            )
            raise RunError(
                f"{error} before its trial began (its traceback is above).{advice} The trial is "
                f"queued again: once the cause is mended, {again(self.joining)}."
            )
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            storage.set_trial_user_attr(trial_id, "error", error)
            storage.set_trial_state_values(trial_id, state=TrialState.FAIL)

    def _stop(self, active: dict[int, tuple[Any, int]]) -> None:
        """After Ctrl-C or SIGTERM: give the workers a moment to record their trials, then ask
        those still running to (SIGTERM: a signal meant for this process alone, a ``kill`` or
        a container's stop, never reached them), then end any left and fail their trials."""
        for patience, stop in ((STOP_GRACE_S, "terminate"), (STOP_WAIT_S, "kill")):
            deadline = time.monotonic() + patience
            for process, _ in active.values():
                process.join(timeout=max(0.0, deadline - time.monotonic()))
            for process, _ in active.values():
                if process.is_alive():
                    getattr(process, stop)()
        for process, trial_id in active.values():
            process.join(timeout=5)
            if self.study._storage.get_trial(trial_id).state == TrialState.RUNNING:
                fail_interrupted(self.study, trial_id)


# after this process is stopped: how long its workers have to record their trials (a terminal's
# Ctrl-C reaches them too) before they are sent SIGTERM, and then before they are killed
STOP_GRACE_S, STOP_WAIT_S = 2.0, 10.0


def again(joining: bool) -> str:
    """What to do once the cause of a stopped search is mended: a machine that joined a shared
    study joins it again; the one that coordinates it resumes it (``--resume`` is for one
    machine only: two coordinators could queue a round twice).

    Example:
        >>> again(False)
        "resume the search ('resume=True', `--resume`)"
        >>> again(True)[:49]
        'run the same command again to join the study (if '
    """
    if joining:
        return (
            "run the same command again to join the study (if the machine that coordinates it "
            "has stopped too, run it with --resume on one machine)"
        )
    return "resume the search ('resume=True', `--resume`)"


class WorkersWarning(UserWarning):
    """More worker processes than the machine has cores for (the search still runs)."""


def check_workers(
    spec: StorageSpec,
    objective: Objective,
    n_workers: int,
    sampler: Any = None,
    pruner: Any = None,
    n_trials: int | None = None,
) -> None:
    """Refuses, before any storage is opened, ``n_workers > 1`` where workers could not run;
    warns when more would run at once (at most ``n_trials``) than a machine without GPUs has
    cores."""
    if n_workers == 1:
        return
    if spec.kind == "memory":
        raise ConfigError(
            "n_workers > 1 runs each trial in a fresh process, which cannot see an "
            "in-memory storage; use the default journal file or a database URL."
        )
    check_portable(objective)
    for what, given in (("sampler", sampler), ("pruner", pruner)):
        if given is not None and not isinstance(given, str):  # an object of the caller's
            check_portable(given, what)
    at_once, cores = min(n_workers, n_trials or n_workers), os.cpu_count() or 1
    if at_once > cores and not _gpu_ids():
        warnings.warn(
            f"{n_workers} workers run {at_once} trials at once, each in a process of its own, "
            f"on this machine's {cores} CPU cores: each loads its own torch (hundreds of MB) and "
            f"they share the cores, so the search is no faster than with {cores} workers and "
            "may run out of memory.",
            WorkersWarning,
            stacklevel=caller_level(),
        )


def _gpu_ids() -> list[str]:
    """The GPUs to hand out, one per worker slot: ``CUDA_VISIBLE_DEVICES`` or all present."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    if not torch.cuda.is_available():
        return []
    return [str(i) for i in range(torch.cuda.device_count())]
