"""Trials each in a fresh worker process (``n_workers > 1``).

Every trial gets a fresh process, so GPU memory and leaks never pile up across trials (optuna
#1224, #3050), and each worker slot gets one GPU through ``CUDA_VISIBLE_DEVICES`` when GPUs are
present (optuna #1365). A worker runs its trial as the search's own process would
(:func:`lrkit.search.trials.run_trial`). Where the processes come from (a fork server that
imported torch once, or spawning) is :mod:`lrkit.search.worker_processes`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import optuna
from optuna.trial import TrialState

from lrkit.errors import ConfigError, RunError
from lrkit.interrupts import TERMINATING, no_interrupt
from lrkit.plaintext import ascii_where_needed
from lrkit.search import timeouts
from lrkit.search.objective import TaskObjective
from lrkit.search.parent_death import die_with_parent
from lrkit.search.portable import check_portable
from lrkit.search.storage import (
    JournalSnapshot,
    StorageSpec,
    StorageUnreachable,
    driver_error,
    journal_snapshot,
)
from lrkit.search.study import fail_interrupted, pop_waiting
from lrkit.search.trials import Objective, run_trial
from lrkit.search.worker_processes import (
    HELD_SIGNALS,
    WorkerProcesses,
    held_signals,
    worker_processes,
)
from lrkit.stacklevel import caller_level


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
INTERRUPTED_EXITS = frozenset({130, 143, -signal.SIGINT, *(-signum for signum in TERMINATING)})


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
    if clock is not None:
        timeouts.tell_starts(clock, slot)
    held = hasattr(signal, "pthread_sigmask")
    # SIGHUP as SIGTERM, but where nohup ignores it, ignored
    terminating = [s for s in TERMINATING if signal.getsignal(s) is not signal.SIG_IGN]
    try:
        handler = signal.default_int_handler if interruptible else signal.SIG_IGN
        signal.signal(signal.SIGINT, handler)
        for signum in terminating:  # a kill, a hangup: stop as on Ctrl-C
            signal.signal(signum, signal.default_int_handler)
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
        for signum in terminating:
            signal.signal(signum, signal.SIG_DFL)
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
    ascii_where_needed()  # the objective's prints on an ASCII-only stdout, as in the parent
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
    # an Optuna sampler's random state came with the job, the same in every trial's process:
    # each would draw what the first drew (tpe's startup trials, a seeded RandomSampler).
    # Optuna reseeds its n_jobs threads likewise; lrkit's samplers draw from the slot alone
    job.sampler.reseed_rng()
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

# how often a coordinator that runs its trials in its own process (n_workers=1) on a database
# server queues more for the machines that joined it, while it trains
REFILL_EVERY_S = 1.0


def _nothing() -> None:
    """What a process that only joins a study does to queue trials: nothing."""


def _exit_with_parent(alive: Connection) -> None:
    """Ends this worker when its parent dies (kill -9), leaving its trial RUNNING for recovery:
    a thread that watches ``alive`` (see ``WorkerProcesses.alive``), and on Linux the kernel's
    SIGKILL when the parent (the fork server, or the search that spawned it) dies, for a worker
    stuck where the thread cannot run (:mod:`lrkit.search.parent_death`)."""
    die_with_parent()

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
            (:class:`~lrkit.search.timeouts.TrialTimeout`); a worker process that has not
            stopped ``timeouts.TIMEOUT_GRACE_S`` later is killed.
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

    def run(self, refill: Callable[[], object] | None = None) -> None:
        """Runs the study's WAITING trials until none is left.

        ``refill``: the coordinator's :meth:`~lrkit.search.study.RoundQueue.top_up`, called
        when no trial is left to take (and, on a shared storage, every ``REFILL_EVERY_S``: in
        the worker-process loop, and from a thread while a trial trains in this process), to
        queue more; it returns how many it queued.
        """
        if self.n_workers == 1:
            with self._refilling(refill):
                self._run_here(refill or _nothing)
            return
        self._run_processes(refill or _nothing)

    def _run_here(self, refill: Callable[[], object]) -> None:
        # shown as each trial starts (the one before it done): a line drawn between the two
        # would say none runs
        while True:
            trial_id = None
            try:
                with no_interrupt():  # a Ctrl-C now comes once the trial id is held
                    trial_id = pop_waiting(self.study)
                if trial_id is None and refill():  # queued a few at a time, more when none is
                    with no_interrupt():
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

    @contextlib.contextmanager
    def _refilling(self, refill: Callable[[], object] | None) -> Iterator[None]:
        """On a shared storage, calls ``refill`` every ``REFILL_EVERY_S`` from a thread while
        the block runs: other machines take trials while this process trains one. Its first
        error is a warning (the machines that joined may wait for this trial's end); the
        main thread's next refill raises it if it lasts."""
        if refill is None or not self.spec.shared:
            yield
            return
        stop = threading.Event()

        def loop() -> None:
            warned = False
            while not stop.wait(REFILL_EVERY_S):
                try:
                    refill()
                except Exception as error:
                    if not warned:
                        warnings.warn(
                            f"could not queue more trials for the machines that joined the "
                            f"study ({type(error).__name__}: {error}); they may wait until "
                            "this process's trial ends",
                            WorkersWarning,
                            stacklevel=1,
                        )
                        warned = True

        thread = threading.Thread(target=loop, name="lrkit-queue", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()  # at most one refill under way: the storage closes after it

    def _run_processes(self, refill: Callable[[], object]) -> None:
        refill()
        if not self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return  # as a joining machine waits: no worker processes for nothing to run
        if self._source is None:
            self._source = self._processes.enter_context(worker_processes())
        # set on Ctrl-C, for workers that started while only this process got it
        spawning = multiprocessing.get_context("spawn")
        stopping = spawning.Event()
        # when each slot's trial started its clock (0: not yet), as its worker tells it
        clock = spawning.Array("d", self.n_workers, lock=False)
        self._run_from(self._source, stopping, clock, refill)

    def _run_from(
        self, source: WorkerProcesses, stopping: Any, clock: Any, refill: Callable[[], object]
    ) -> None:
        interruptible = signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        active: dict[int, tuple[Any, int]] = {}  # worker slot -> (process, trial id)
        claimed = None  # a trial taken from the queue whose worker has not started yet
        changed = False  # shown once the free slots are filled again, not in between
        try:
            while True:
                if self.spec.shared:  # other machines take trials too
                    refill()
                for slot in range(self.n_workers):
                    if slot in active:
                        continue
                    with no_interrupt():  # a Ctrl-C now comes once the trial id is held
                        claimed = trial_id = pop_waiting(self.study)
                    if trial_id is None and refill():  # more workers free than were queued
                        with no_interrupt():
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
                    if source.lost_server(process):  # its fork server died, maybe not it
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
        kill_at = min(started) + self.timeout + timeouts.TIMEOUT_GRACE_S
        return min(1.0, max(0.05, kill_at - time.monotonic()))

    def _kill_if_late(self, process: Any, trial_id: int, started: float) -> None:
        """Kills a worker still running ``timeouts.TIMEOUT_GRACE_S`` past its trial's time
        limit (stuck where :class:`~lrkit.search.timeouts.TrialTimeout` cannot reach it, in a C
        call), counted from when its trial started (``started``, as the worker told it; 0: not
        yet), not from its process's start (a script's top level, run again in each worker, may
        take long); then fails the trial, if it had not ended meanwhile."""
        if self.timeout is None or not started:
            return
        if time.monotonic() < started + self.timeout + timeouts.TIMEOUT_GRACE_S:
            return
        process.kill()  # first: a worker that records its trial meanwhile is not overwritten
        process.join(timeout=5)
        storage = self.study._storage
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if storage.get_trial(trial_id).state == TrialState.RUNNING:
                storage.set_trial_user_attr(
                    trial_id, "error", timeouts.timed_out(self.timeout, True)
                )
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
        a container's stop, never reached them), then end any left and fail their trials.

        A second Ctrl-C meanwhile kills the workers left at once (QA 124: it broke out of the
        waiting with stuck workers alive, and the process hung at exit waiting for them)."""
        again: KeyboardInterrupt | None = None
        try:
            for patience, stop in ((STOP_GRACE_S, "terminate"), (STOP_WAIT_S, "kill")):
                deadline = time.monotonic() + patience
                for process, _ in active.values():
                    process.join(timeout=max(0.0, deadline - time.monotonic()))
                left = [process for process, _ in active.values() if process.is_alive()]
                if left and stop == "terminate":
                    print(
                        f"lrkit: stopping {len(left)} worker process{'es' if len(left) > 1 else ''}"
                        f" still running (killed in {STOP_WAIT_S:.0f} s; Ctrl-C again: now)",
                        file=sys.stderr,
                        flush=True,
                    )
                for process in left:
                    getattr(process, stop)()
        except KeyboardInterrupt as interrupt:
            again = interrupt
        with no_interrupt():  # what is left takes a moment, and must not be cut short
            for process, _ in active.values():
                if process.is_alive():
                    process.kill()
            for process, trial_id in active.values():
                process.join(timeout=5)
                if self.study._storage.get_trial(trial_id).state == TrialState.RUNNING:
                    fail_interrupted(self.study, trial_id)
        if again is not None:
            raise again


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
