"""Module-level objectives for the search tests (worker processes import them by name)."""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path
from typing import Any

import optuna


def quadratic(lr: float) -> float:
    """Minimum at lr = 1e-2: a smooth bowl in log-LR."""
    return (math.log10(lr) + 2.0) ** 2


def curve(lr: float, trial: optuna.Trial) -> float:
    """Five 'epochs' of a curve whose level is the bowl; reports each and obeys the pruner."""
    level = quadratic(lr)
    value = level
    for epoch in range(1, 6):
        value = level + 1.0 / epoch
        trial.report(value, epoch)
        trial.set_user_attr("epochs_run", epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def flaky(lr: float, trial: optuna.Trial) -> float:
    """Raises above lr = 0.1, returns NaN below 1e-4, else the bowl."""
    if lr > 0.1:
        raise ValueError(f"exploded at lr={lr:.3g}")
    if lr < 1e-4:
        return math.nan
    return quadratic(lr)


def exits(lr: float) -> float:
    """Calls sys.exit(3), as a script's objective might to stop everything."""
    import sys

    sys.exit(3)


def with_seed(lr: float, trial: optuna.Trial) -> float:
    """Records the pid and the global torch draw its trial seed produces."""
    import torch

    trial.set_user_attr("pid", os.getpid())
    trial.set_user_attr("draw", float(torch.rand(())))
    return quadratic(lr)


class Logged:
    """The bowl, slowly, appending ``number`` to a log file when a trial finishes."""

    def __init__(self, log: str | Path, seconds: float = 0.4) -> None:
        self.log, self.seconds = str(log), seconds

    def __call__(self, lr: float, trial: optuna.Trial) -> float:
        time.sleep(self.seconds)
        with open(self.log, "a") as handle:
            handle.write(f"{trial.number}\n")
        return quadratic(lr)


class InterruptAt:
    """Raises KeyboardInterrupt (as Ctrl-C would) in the trial with slot ``slot``, once."""

    def __init__(self, slot: int, log: str | Path) -> None:
        self.slot, self.log = slot, Path(log)

    def __call__(self, lr: float, trial: optuna.Trial) -> float:
        marker = self.log.with_suffix(".interrupted")
        if trial.user_attrs["lrkit_slot"] == self.slot and not marker.exists():
            marker.write_text("1")
            raise KeyboardInterrupt
        with open(self.log, "a") as handle:
            handle.write(f"{trial.number}\n")
        return quadratic(lr)


def exits_as_interrupted(lr: float, trial: optuna.Trial) -> float:
    """Ends its worker process the way Ctrl-C does (exit code 130) the first time trial 1 runs;
    its retry (another trial number) returns the bowl."""
    if trial.number == 1:
        os._exit(130)
    return quadratic(lr)


class Sleeper:
    """Marks that its trial started (a file ``started-N`` in ``folder``), then sleeps."""

    def __init__(self, folder: str | Path, seconds: float) -> None:
        self.folder, self.seconds = str(folder), seconds

    def __call__(self, lr: float, trial: optuna.Trial) -> float:
        Path(self.folder, f"started-{trial.number}").touch()
        time.sleep(self.seconds)
        return quadratic(lr)


class DiesBetweenWrites:
    """The bowl, but trial ``at`` records itself interrupted and dies before queuing its retry:
    a ``kill -9`` landing between the two writes of ``fail_interrupted``."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, lr: float, trial: optuna.Trial) -> float:
        if trial.number == self.at:
            from lrkit.search.result import INTERRUPTED

            storage = trial.study._storage
            storage.set_trial_user_attr(trial._trial_id, "error", INTERRUPTED)
            storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
            os._exit(9)
        return quadratic(lr)


def where_it_ran(lr: float, trial: optuna.Trial) -> float:
    """Records, before anything else, what the trial's process looks like from inside: whether
    torch's compiler front end (imported by an optimizer's first step, never by this module) is
    already there, the parent process, an environment variable; and says so on stderr."""
    import sys

    trial.set_user_attr("dynamo_there", "torch._dynamo" in sys.modules)
    trial.set_user_attr("ppid", os.getppid())
    trial.set_user_attr("mark", os.environ.get("LRKIT_TEST_MARK"))
    print(f"trial {trial.number} says hello", file=sys.stderr, flush=True)
    return quadratic(lr)


def slow_and_marked(lr: float, trial: optuna.Trial) -> float:
    """Records its process, marks its start with a file in ``$LRKIT_TEST_MARKS``, then takes a
    second: long enough to be caught running."""
    trial.set_user_attr("pid", os.getpid())
    Path(os.environ["LRKIT_TEST_MARKS"], f"{trial.number}.started").touch()
    time.sleep(1.0)
    return quadratic(lr)


def stuck_holding_the_gil(lr: float, trial: optuna.Trial) -> float:
    """Writes its pid to a file in ``$LRKIT_TEST_MARKS``, then backtracks in the regex engine,
    which holds the GIL throughout (2**40 ways to split the a's): no Python thread of its
    process runs again. A test that starts it must kill it."""
    Path(os.environ["LRKIT_TEST_MARKS"], f"{os.getpid()}.pid").touch()
    re.match(r"(a+)+$", "a" * 40 + "b")
    return quadratic(lr)


def on_cuda(lr: float, trial: optuna.Trial) -> float:
    """A few steps of a small regression on the GPU; records which GPUs the worker sees."""
    import torch

    trial.set_user_attr("visible", os.environ.get("CUDA_VISIBLE_DEVICES"))
    trial.set_user_attr("devices", torch.cuda.device_count())
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=gen).cuda()
    y = x.sum(dim=1, keepdim=True)
    model = torch.nn.Linear(8, 1).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(20):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def hangs_above(lr: float, trial: optuna.Trial) -> float:
    """Hangs above lr = 0.1 the ways a trial does: busy in Python behind an ``except
    Exception`` that would swallow an ordinary error, asleep, or reporting to the storage in a
    tight loop (so a time limit lands inside a journal write); else the bowl."""
    if lr <= 0.1:
        return quadratic(lr)
    if lr > 0.3:
        time.sleep(3600)
    step = 0
    while True:
        try:
            step += 1
            trial.report(float(step), step)
        except Exception:
            return math.nan


def deaf_above(lr: float) -> float:
    """Above lr = 0.1 ignores SIGALRM and SIGTERM and sleeps: only SIGKILL ends it (a trial
    stuck in a C call); else the bowl."""
    import signal

    if lr > 0.1:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(3600)
    return quadratic(lr)


def reports_forever(lr: float, trial: optuna.Trial) -> float:
    """Reports to the storage in a tight loop and never returns."""
    step = 0
    while True:
        step += 1
        trial.report(lr, step)


class SlowToUnpickle:
    """The bowl after ``seconds`` of sleep, in a worker that takes ``setup`` seconds to start
    its trial (unpickling it there: as a script's heavy top level, run again in each worker)."""

    def __init__(self, seconds: float, setup: float) -> None:
        self.seconds, self.setup = seconds, setup

    def __setstate__(self, state: dict[str, float]) -> None:
        self.__dict__.update(state)
        time.sleep(self.setup)

    def __call__(self, lr: float) -> float:
        time.sleep(self.seconds)
        return quadratic(lr)


def swallows_the_first_stop(lr: float) -> float:
    """Spins; swallows the first TrialTimeout (as an ``except BaseException`` of a library's
    retry loop would), then spins on."""
    stopped = False
    while True:
        try:
            time.sleep(0.01)
        except BaseException:
            if stopped:
                raise
            stopped = True


def swallows_and_returns(lr: float) -> float:
    """Sleeps past any time limit, swallows the TrialTimeout and returns a value all the same."""
    try:  # noqa: SIM105 (the pattern of the user's code it stands for)
        time.sleep(3600)
    except BaseException:
        pass
    return quadratic(lr)


def start_method(lr: float, trial: optuna.Trial) -> float:
    """Records how the objective's own processes (a DataLoader's workers) would start."""
    import multiprocessing

    trial.set_user_attr("start_method", multiprocessing.get_start_method())
    return quadratic(lr)


def with_more_params(lr: float, trial: optuna.Trial) -> float:
    """Suggests parameters besides the LR, as an objective tuning its momentum may."""
    momentum = trial.suggest_float("momentum", 0.0, 1.0)
    decay = trial.suggest_float("decay", 1e-6, 1e-2, log=True)
    trial.suggest_int("layers", 1, 8)
    trial.suggest_categorical("act", ["relu", "gelu"])
    return quadratic(lr) + momentum * decay


def leaves_a_thread(lr: float) -> float:
    """Starts a thread that is not a daemon and leaves it running, as a watcher may."""
    import threading
    import time

    threading.Thread(target=time.sleep, args=(120.0,), name="stray").start()
    return quadratic(lr)


def changes_directory(lr: float, trial: optuna.Trial) -> float:
    """Moves to the parent folder, as Hydra moves to a run folder, and reports from there."""
    os.chdir("..")
    trial.report(quadratic(lr), 1)
    return quadratic(lr)


class Unreadable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def raises_unreadable(lr: float) -> float:
    raise Unreadable


def shifted(lr: float, shift: float = 0.0) -> float:
    """The bowl, moved up by ``shift`` (a partial of it is another objective than the bowl)."""
    return quadratic(lr) + shift


_BACKGROUND: list[Any] = []  # a module-level executor, made at the first trial in a process


def saves_in_background(lr: float, trial: optuna.Trial) -> float:
    """Hands a checkpoint to a thread pool and returns at once, as an async save does: the
    file appears a second later, in the folder ``$CKPT_DIR``."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    if not _BACKGROUND:
        _BACKGROUND.append(ThreadPoolExecutor(1))

    def save(path: str) -> None:
        time.sleep(1.0)
        with open(path, "w") as file:
            file.write("saved")

    _BACKGROUND[0].submit(save, os.path.join(os.environ["CKPT_DIR"], f"ckpt-{trial.number}"))
    return quadratic(lr)


def hands_a_loop_to_a_pool(lr: float, trial: optuna.Trial) -> float:
    """Hands a task that never ends (a monitor's loop) to a module-level thread pool."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    if not _BACKGROUND:
        _BACKGROUND.append(ThreadPoolExecutor(1))

    def watch() -> None:
        while True:
            time.sleep(0.05)

    _BACKGROUND[0].submit(watch)
    return quadratic(lr)


def leaves_a_thread_or_a_pool_task(lr: float, trial: optuna.Trial) -> float:
    """``leaves_a_thread`` in even slots, ``hands_a_loop_to_a_pool`` in odd ones: two workers
    each hold one of the two kinds of thread that kept a worker from ending."""
    if trial.user_attrs.get("lrkit_slot", 0) % 2 == 0:
        return leaves_a_thread(lr)
    return hands_a_loop_to_a_pool(lr, trial)


def even_slots_report_late(lr: float, trial: optuna.Trial) -> float:
    """``curve``, whose trials in even slots take a second longer over their first epoch: with
    two workers, the odd slot's report comes first, the opposite of one worker's order."""
    if trial.user_attrs.get("lrkit_slot", 0) % 2 == 0:
        time.sleep(1.0)
    return curve(lr, trial)


def even_slots_save_before_judgement(lr: float, trial: optuna.Trial) -> float:
    """``curve`` whose even slots spend half a second between each report and the pruner's
    judgement (a checkpoint saved): successive halving stores a trial's rung value in the
    judgement, not in the report."""
    level, value = quadratic(lr), 0.0
    for epoch in range(1, 4):
        value = level + 1.0 / epoch
        trial.report(value, epoch)
        if trial.user_attrs.get("lrkit_slot", 0) % 2 == 0:
            time.sleep(0.5)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def first_slot_hangs(lr: float, trial: optuna.Trial) -> float:
    """``curve``, whose first slot hangs 20 s before its first epoch (a dead or far slower
    machine); the others' epochs take no time."""
    if trial.user_attrs.get("lrkit_slot", 0) == 0:
        time.sleep(20.0)
    return curve(lr, trial)


def counts_waiting(lr: float, trial: optuna.Trial) -> float:
    """:func:`curve` (five reports, for a pruner), recording how many trials of the study
    were waiting in the queue when it started."""
    waiting = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    trial.set_user_attr("waiting", len(waiting))
    return curve(lr, trial)


def writes_lrkit_slot(lr: float, trial: optuna.Trial) -> float:
    """Records its own attr under one of lrkit's names: the slot, as slot 0's."""
    trial.set_user_attr("lrkit_slot", 0)
    return quadratic(lr)
