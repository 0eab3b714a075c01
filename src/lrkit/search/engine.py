"""``search()``: log-uniform learning-rate search on an Optuna study, from a laptop to a cluster."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

import optuna
from optuna.trial import TrialState

from lrkit.checks import MAX_STUDY_NAME, check_flag, plain, positive_lr, whole_number
from lrkit.devices import device_text
from lrkit.errors import ConfigError, RunError, bad_value
from lrkit.interrupts import HungUp, Terminated, no_interrupt, raise_held
from lrkit.plaintext import lr_text, range_text
from lrkit.search.display import SearchDisplay
from lrkit.search.objective import TaskObjective, Value, value_name
from lrkit.search.portable import refuse_in_worker
from lrkit.search.pruners import make_pruner, pruner_key
from lrkit.search.result import SearchResult, SearchWarning, TrialRecord
from lrkit.search.samplers import make_sampler
from lrkit.search.space import LogRange
from lrkit.search.storage import StorageSpec, close_storage, default_storage, driver_error
from lrkit.search.study import (
    CONFIG_ATTR,
    RoundQueue,
    SearchConfig,
    best_trial,
    no_study_to_resume,
    open_study,
    recover,
    round_open,
    set_state,
    study_direction,
    study_state,
)
from lrkit.search.timeouts import check_trial_timeout
from lrkit.search.trials import SAMPLER_FAILED, check_objective
from lrkit.search.workers import Workers, again, check_workers
from lrkit.stacklevel import caller_level

if TYPE_CHECKING:
    import torch

    from lrkit.checks import Real, Whole
    from lrkit.finder import RangeTestResult
    from lrkit.tasks import Task

DEFAULT_OUT = Path("lrkit-out/search")
DEFAULT_STUDY = "lrkit-search"
# The best constant LR for a full training run sits at the low end of the range test's range
# (lrkit's own suggestion is read there), often a little below it: the sweep sees each LR for one
# step, a run for thousands. A finder-bracketed search starts half a decade under the range.
BRACKET_MARGIN_DECADES = 0.5
BRACKET_MARGIN_WORDS = "half a decade"  # BRACKET_MARGIN_DECADES, as messages say it
DEFAULT_LOW, DEFAULT_HIGH = 1e-5, 1.0  # seed 000's range: 10 ** U(-5, 0)


class InterruptedBeforeStudy(KeyboardInterrupt):
    """Ctrl-C before the search had a study in its storage (in its range test, say): there is
    nothing to resume. A KeyboardInterrupt, so that code catching that still catches it."""


class TerminatedBeforeStudy(InterruptedBeforeStudy, Terminated):
    """SIGTERM, under the CLI, before the search had a study in its storage."""


class HungUpBeforeStudy(TerminatedBeforeStudy, HungUp):
    """SIGHUP, under the CLI, before the search had a study in its storage (exit 129)."""


MAX_TRIALS = 10_000
"""The most trials a search takes: a one-dimensional LR search needs tens, and ``1e9`` is a
typo, which would run for ever."""


def search(
    objective: Callable[..., Any] | str | Path | Task,
    low: Real | Literal["auto"] = DEFAULT_LOW,
    high: Real | Literal["auto"] = DEFAULT_HIGH,
    n_trials: Whole = 20,
    *,
    seed: Whole = 0,
    sampler: str | optuna.samplers.BaseSampler = "stratified",
    pruner: str | optuna.pruners.BasePruner | None = "none",
    rounds: Whole = 1,
    narrow: Real = 4.0,
    start_lr: Real | None = None,
    direction: Literal["minimize", "maximize"] | optuna.study.StudyDirection | None = None,
    storage: str | Path | None = None,
    study_name: str | None = None,
    out: str | Path | None = None,
    resume: bool | Literal["auto"] = False,
    n_workers: Whole = 1,
    schedule: Any = None,
    epochs: Whole | None = None,
    value: Value = "val_loss",
    device: str | torch.device = "cpu",
    progress: bool = True,
    join_timeout: Real = 30.0,
    trial_timeout: Real | None = None,
) -> SearchResult:
    """Searches the learning rate log-uniformly and returns every trial and the best.

    Args:
        objective: ``objective(lr, trial)`` (or ``objective(lr)``) that trains a fresh model at
            ``lr`` and returns the value to minimize (validation loss); it may call
            ``trial.report(value, epoch)`` and ``trial.should_prune()`` for early stopping. The
            trial is passed as the second parameter when it has no default or is named
            ``trial`` (``objective(lr, epochs=3)`` keeps its default). What the objective changes
            for the whole process, the working directory and torch's thread count, is put back
            after each trial. Or a task (a :class:`~lrkit.tasks.Task`, a built-in name such as
            ``"digits"``, a task file path), trained with ``schedule`` for ``epochs`` in each
            trial.
        low, high: The range of LRs. ``"auto"`` (task form only) runs the range test first and
            searches its range, from half a decade under its low end to its high end.
        n_trials: Trials in all (over all rounds); exact, however many workers run them.
        seed: Seeds the LR draws and each trial's training seed (a function of the seed and the
            trial's place, so the same for any number of workers); an integer from -2**63 to
            2**63 - 1 (each draws apart from the others).
        sampler: ``"stratified"`` (Latin hypercube in log-LR: even coverage), ``"random"``
            (seed 000's ``10 ** U(a, b)`` with NumPy), ``"random-torch"`` (the same with
            ``torch.distributions``), ``"tpe"``, or an Optuna sampler that draws (not a
            ``GridSampler`` or ``BruteForceSampler``: a grid of LRs is a loop over them).
        pruner: ``"none"``, ``"halving"`` (successive halving), ``"hyperband"``, ``"median"``,
            or any Optuna pruner.
        rounds: Progressive narrowing: after each round the range shrinks ``narrow`` times
            around the best trials so far.
        narrow: How much narrower each round's range is than the last.
        start_lr: The first trial's LR (the others are drawn as ``sampler`` says), e.g. a range
            test's suggestion. With ``low``/``high="auto"`` it defaults to that suggestion: the
            search then starts from the single best guess and explores around it.
        direction: ``"minimize"`` (default) or ``"maximize"`` (or Optuna's
            ``StudyDirection``); a task form that returns its validation metric sets it.
        storage: ``None``: a journal file in ``out`` (safe with several processes); a journal
            file path; ``"sqlite:///x.db"``; ``"postgresql://user@host/db"`` for many machines
            (the password in ``~/.pgpass``); ``":memory:"`` (one process, nothing kept).
        study_name: The study's name in the storage (default ``"lrkit-search"``). Processes on
            other machines started with the same storage and name join the search.
        out: Run directory for the default storage (default ``lrkit-out/search``).
        resume: Continue an existing study of the same settings: trials left RUNNING by a dead
            worker are failed as interrupted and queued again; finished ones are kept. With
            ``True`` a study that does not exist is an error (a mistyped ``out`` or name would
            otherwise start a new search); ``"auto"`` resumes one that exists, else starts it.
        n_workers: Trials run at once on this machine, each in a fresh process (one GPU each
            when there are GPUs); ``1`` runs them here, one after another.
        schedule, epochs, value, device: For the task form: the schedule inside each trial (a
            spec such as ``"cosine:12"``, defined over the full budget), the epoch budget, what
            each trial is judged by (``"val_loss"``, minimized, or ``"val_metric"``, the task's
            metric such as accuracy, maximized; each epoch's value goes to the pruner), where
            to train.
        progress: A live line of trials done, running, pruned, failed and the best so far (on
            a terminal).
        join_timeout: A joining worker leaves after this many seconds with nothing to run.
        trial_timeout: Seconds after which a trial fails ("timed out") and the search goes on
            (a resumed search does not run it again). It is stopped by a
            :class:`~lrkit.search.TrialTimeout` raised in its objective (by SIGALRM,
            so with ``n_workers=1`` the search must run in the main thread of a Unix
            process); with ``n_workers > 1`` a worker still running 10 s later (stuck in a C
            call) is killed. Each machine of a shared study applies its own.

    Returns:
        A :class:`SearchResult` of every trial in the study.

    Raises:
        ConfigError: An argument is invalid, the storage cannot be reached, or the study exists
            with different settings (nothing stored is touched).

    Example:
        >>> result = search(lambda lr: (math.log10(lr) + 2) ** 2, 1e-4, 1.0, n_trials=8,
        ...                 storage=":memory:", progress=False)
        >>> result.count("complete"), round(math.log10(result.best_lr))
        (8, -2)
    """
    refuse_in_worker("lrkit.search")
    n_trials, rounds, n_workers = plain(n_trials), plain(rounds), plain(n_workers)
    seed, narrow, join_timeout = plain(seed), plain(narrow), plain(join_timeout)
    if not isinstance(low, str):  # "auto": the range test's, later
        low = plain(low)
    if not isinstance(high, str):
        high = plain(high)
    start_lr = None if start_lr is None else plain(start_lr)
    epochs = None if epochs is None else plain(epochs)
    _check_args(n_trials, rounds, narrow, n_workers, seed, join_timeout)
    trial_timeout = check_trial_timeout(
        None if trial_timeout is None else plain(trial_timeout), n_workers
    )
    if not (isinstance(resume, bool) or resume == "auto"):
        raise bad_value("resume", "True, False or 'auto'", resume)
    check_flag("progress", progress)
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise bad_value("out", "a folder's path, or None", out)
    device = device_text(device)  # torch.device("cuda", 0) too
    stored = False  # whether this search has a study in the storage yet
    opened = None
    # the caller's Python RNG, as the search found it: a library imported on the first call
    # (rich) or the jitter of a database retry would otherwise draw from it
    caller_random = random.getstate()
    try:
        with _optuna_quiet():  # lrkit shows its own progress
            objective, direction = _objective(objective, schedule, epochs, value, device, direction)
            if storage is None:
                spec = default_storage(out or DEFAULT_OUT)
            else:
                spec = StorageSpec.parse(storage)
            check_workers(spec, objective, n_workers, sampler, pruner, n_trials)
            name = _study_name(study_name)
            if resume is True and spec.file is not None and not spec.file.exists():
                raise no_study_to_resume(name, spec)  # and create no journal or database file
            fixed = None  # the range, checked before any file is made
            if low != "auto" and high != "auto":
                fixed = LogRange(low, high)
            else:  # the other end is the range test's, later
                for end, at in (("low", low), ("high", high)):
                    if at != "auto":
                        positive_lr(end, at)
            sampler_obj = make_sampler(sampler, seed)  # an unknown name: before any file
            epochs_budget = objective.budget if isinstance(objective, TaskObjective) else None
            pruner_obj = make_pruner(pruner, max_resource=epochs_budget)
            opened = spec.open(first=True)
            if resume is True and name not in optuna.get_all_study_names(opened):
                raise no_study_to_resume(name, spec)  # before a range test, not after it
            auto_ends = ",".join(end for end, at in (("low", low), ("high", high)) if at == "auto")
            lr_range, start_lr, derived = _lr_range(
                fixed, objective, low, high, start_lr, opened, name, seed, device
            )
            config = SearchConfig(
                low=lr_range.low,
                high=lr_range.high,
                n_trials=n_trials,
                rounds=rounds,
                seed=seed,
                sampler=sampler if isinstance(sampler, str) else type(sampler).__name__,
                direction=direction,
                narrow=float(narrow),
                pruner=pruner_key(pruner)  # None is "none"
                if pruner is None or isinstance(pruner, str)
                else type(pruner_obj).__name__,
                objective=_describe(objective),
                start_lr=None if start_lr is None else float(start_lr),
                auto_ends=auto_ends,
            )
            raise_held()  # a Ctrl-C held since an import: nothing stored yet, nothing to resume
            study, role = open_study(
                spec, opened, name, config, sampler_obj, pruner_obj, resume=resume, derived=derived
            )
            stored = True
            drawn = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
            if role != "coordinator" or study.get_trials(deepcopy=False, states=drawn):
                # a seeded Optuna sampler starts from the state its first draw came from: a
                # machine that joins, or a search that resumes, would draw those LRs again
                sampler_obj.reseed_rng()
            with (
                SearchDisplay(
                    study,
                    n_trials,
                    enabled=progress,
                    pruning=not isinstance(pruner_obj, optuna.pruners.NopPruner),
                ) as display,
                Workers(
                    spec,
                    study,
                    objective,
                    n_workers,
                    (lr_range.low, lr_range.high),
                    on_change=display.update,
                    timeout=trial_timeout,
                    joining=role != "coordinator",
                ) as workers,
            ):
                if role == "coordinator":
                    if resume:
                        recover(study, spec)
                    _coordinate(study, spec, config, workers)
                else:
                    _join(study, spec, workers, join_timeout)
            result = collect(study, spec)
            if isinstance(objective, TaskObjective):
                judged = value_name(objective.value, objective.task.metric)
                result = dataclasses.replace(
                    result,
                    task=objective.task.name,
                    metric=objective.task.metric,
                    value_name=f"val {judged}",
                )
    except KeyboardInterrupt as stop:
        if stored:
            stop.lrkit_role = role  # type: ignore[attr-defined]  # for the CLI's advice
            raise
        # nothing to resume: say so, not --resume
        kind = (
            HungUpBeforeStudy
            if isinstance(stop, HungUp)
            else TerminatedBeforeStudy
            if isinstance(stop, Terminated)
            else InterruptedBeforeStudy
        )
        raise kind("before the search stored its study: nothing to resume") from None
    except Exception as error:
        if stored and spec.kind == "journal" and _unwritable(error):  # a full disk
            raise RunError(
                f"cannot write the study's journal ({spec.describe()}): "
                f"{getattr(error, 'strerror', None) or error}. Its finished trials are kept; "
                f"once that is mended, {again(role != 'coordinator')}."
            ) from error
        if not (stored and spec.lost(error)):
            raise
        raise RunError(
            f"lost the study's storage ({spec.describe()}) during the search: "
            f"{driver_error(error)}. Its finished trials are kept; once it is back, "
            f"{again(role != 'coordinator')}."
        ) from error
    finally:
        if opened is not None:
            close_storage(opened)
        random.setstate(caller_random)
    _warn_of_failed_trials(result)
    return result


def _unwritable(error: BaseException) -> bool:
    """Whether ``error`` says a file cannot be written: a full disk or quota, a file past its
    size limit, a file system gone read-only or failing."""
    codes = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}
    return isinstance(error, OSError) and error.errno in codes


def _warn_of_failed_trials(result: SearchResult) -> None:
    """A search with trials but no completed one says why, instead of a quiet ``best_lr=None``;
    one whose sampler failed to draw some trials' LRs says so, however many completed (the
    first trials of a sampler that needs a package not installed may be drawn without it)."""
    undrawn = [t for t in result.trials if (t.error or "").startswith(SAMPLER_FAILED)]
    if undrawn and result.best_trial is not None:
        warnings.warn(
            f"{len(undrawn)} of {len(result.trials)} trials failed: {undrawn[0].error}",
            SearchWarning,
            stacklevel=caller_level(),
        )
    if not result.trials or result.best_trial is not None:
        return
    failed = result.first_failure
    why = f"; the first error: {failed.error}" if failed is not None else ""
    warnings.warn(
        f"no trial completed ({result.tally(complete=False)}){why}. best_lr is None.",
        SearchWarning,
        stacklevel=caller_level(),
    )


@contextlib.contextmanager
def _optuna_quiet() -> Iterator[None]:
    """Optuna's INFO lines off for the search, its verbosity as it was afterwards."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _coordinate(
    study: optuna.Study, spec: StorageSpec, config: SearchConfig, workers: Workers
) -> None:
    state = study_state(study)
    ranges = [tuple(r) for r in state.get("ranges", [[config.low, config.high]])]
    for round_ in range(len(ranges) - 1, config.rounds):
        queue = RoundQueue(study, config, round_, LogRange(*ranges[round_]))
        while True:
            workers.run(queue.top_up)
            if queue.top_up():  # the machines that joined took the rest meanwhile
                continue
            if queue.all_queued and round_open(study, round_) == (0, 0):
                break
            time.sleep(1.0)  # trials of this round still run on other machines
            if spec.has_heartbeat:
                recover(study, spec)
        if round_ + 1 < config.rounds:
            # narrowing centres on the best trial so far (seed 000: "around the best")
            best = best_trial(study.get_trials(deepcopy=False), config.direction)
            centres = [] if best is None else [float(best.params["lr"])]
            following = queue.lr_range.narrowed(centres, config.narrow)
            ranges.append((following.low, following.high))
            set_state(study, ranges=[list(r) for r in ranges])
    set_state(study, done=True)


def _join(study: optuna.Study, spec: StorageSpec, workers: Workers, timeout: float) -> None:
    idle_since: float | None = None
    while True:
        workers.run()
        if study_state(study).get("done"):
            return
        open_trials = study.get_trials(
            deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)
        )
        if open_trials:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > timeout:
            raise RunError(
                f"study {study.study_name!r} in {spec.describe()} is not done, and it has had "
                f"no trial to run for {timeout:g} s: the process that coordinates it (the first "
                "one started) has stopped. Its finished trials are kept; to finish it, resume "
                "it on one machine ('resume=True', `--resume`), and start the others again to "
                "join."
            )
        if spec.has_heartbeat:
            recover(study, spec)
        time.sleep(0.5)


def collect(study: optuna.Study, spec: StorageSpec) -> SearchResult:
    """The :class:`SearchResult` of a study as it is stored now."""
    config = study.user_attrs.get(CONFIG_ATTR, {})
    state = study_state(study)
    frozen = study.get_trials(deepcopy=False)  # read into records at once, copied there
    trials = tuple(TrialRecord.from_frozen(t) for t in sorted(frozen, key=lambda t: t.number))
    return SearchResult(
        study_name=study.study_name,
        storage=spec.describe(),
        direction=study_direction(study),
        low=float(config.get("low", math.nan)),
        high=float(config.get("high", math.nan)),
        trials=trials,
        rounds=tuple((float(a), float(b)) for a, b in state.get("ranges", [])),
        objective=str(config.get("objective", "")),
        settings={  # the rest of the config (direction, low, high and objective are fields)
            ("n_rounds" if k == "rounds" else k): v
            for k, v in config.items()
            if k not in ("low", "high", "objective", "direction")
        },
    )


def _objective(
    objective: Any, schedule: Any, epochs: Any, value: Any, device: str, direction: Any
) -> tuple[Callable[..., Any], Literal["minimize", "maximize"]]:
    """The objective to run (a task made a :class:`TaskObjective`, checked on one batch) and
    the direction it is judged in."""
    if isinstance(objective, (str, Path)) or _is_task(objective):
        objective = TaskObjective(objective, schedule, epochs=epochs, value=value, device=device)
    elif not callable(objective):
        raise bad_value("objective", "a callable objective(lr, trial), or a task", objective)
    else:
        _task_form_only(schedule=schedule, epochs=epochs, value=value, device=device)
        check_objective(objective)
    if isinstance(direction, optuna.study.StudyDirection) and direction.name != "NOT_SET":
        direction = direction.name.lower()  # as Optuna itself takes it
    if direction not in (None, "minimize", "maximize"):
        raise bad_value("direction", "'minimize', 'maximize' or None", direction)
    if isinstance(objective, TaskObjective):
        if direction not in (None, objective.direction):  # it would keep the worst
            raise bad_value(
                "direction",
                f"{objective.direction!r} or None for value={objective.value!r}",
                direction,
            )
        from lrkit.tasks import check_task

        check_task(objective.task, device=device)  # a broken task fails now, not later
        return objective, objective.direction
    return objective, direction or "minimize"


def _study_name(study_name: Any) -> str:
    """The study's name: ``study_name``, checked, or the default."""
    if study_name is not None and (
        not isinstance(study_name, str)
        or not study_name.strip()
        or len(study_name) > MAX_STUDY_NAME
    ):
        raise bad_value(
            "study_name",
            f"a non-empty string of at most {MAX_STUDY_NAME} characters (Optuna's "
            "databases hold no more), or None",
            study_name
            if not isinstance(study_name, str) or len(study_name) <= 80
            else study_name[:80] + "...",
        )
    return study_name or DEFAULT_STUDY


def _lr_range(
    fixed: LogRange | None,
    objective: Any,
    low: Any,
    high: Any,
    start_lr: Any,
    opened: Any,
    name: str,
    seed: int,
    device: str,
) -> tuple[LogRange, Any, list[str]]:
    """The range searched (``fixed``, or with its ``"auto"`` ends from a range test), the
    first trial's LR, and which of those the range test gave (``"low"``, ``"high"``,
    ``"start_lr"``)."""
    derived = [end for end, at in (("low", low), ("high", high)) if at == "auto"]
    if low == "auto" or high == "auto":
        given = (low, high)
        low, high, suggested = _auto_range(objective, low, high, opened, name, seed, device)
        if start_lr is None:
            start_lr = suggested
            derived.append("start_lr")
        if not low < high:  # one end given, the other from the range test
            auto, got, other = (
                ("low", low, f"high={lr_text(high)}")
                if given[0] == "auto"
                else ("high", high, f"low={lr_text(low)}")
            )
            raise ConfigError(
                f"{auto}='auto' took {lr_text(got)} from the range test, which does not "
                f"leave a range with {other}; give both ends, or let both be 'auto'."
            )
    lr_range = fixed or LogRange(low, high)
    if start_lr is not None and (
        isinstance(start_lr, bool)
        or not isinstance(start_lr, (int, float))
        or not lr_range.low <= start_lr <= lr_range.high
    ):
        raise bad_value(
            "start_lr", f"an LR in {range_text(lr_range.low, lr_range.high)} or None", start_lr
        )
    return lr_range, start_lr, derived


def _auto_range(
    objective: Any,
    low: Any,
    high: Any,
    storage: optuna.storages.BaseStorage,
    name: str,
    seed: int,
    device: str,
) -> tuple[float, float, float | None]:
    """``"auto"`` ends from the range test, or from the stored study when resuming one; and the
    range test's suggestion, the search's first trial."""
    if not isinstance(objective, TaskObjective):
        raise ConfigError(
            "low/high='auto' runs the range test on the task, so the objective must be a task "
            f"(a Task, a built-in name or a task file), got {objective!r}; give numbers instead."
        )
    try:
        stored = optuna.load_study(study_name=name, storage=storage).user_attrs.get(CONFIG_ATTR)
    except KeyError:
        stored = None
    if stored is not None:
        found, suggestion = (stored["low"], stored["high"]), stored.get("start_lr")
    else:
        from lrkit.finder import FinderWarning
        from lrkit.finder.task import range_test_task

        with warnings.catch_warnings():  # warned below, unless the error below says it
            warnings.simplefilter("ignore", FinderWarning)
            result = range_test_task(objective.task, seed=seed, device=device)
        found, suggestion = bracket(result), result.suggestion  # no range: its error says why
        if result.warning:
            warnings.warn(f"Range test: {result.warning}", FinderWarning, stacklevel=caller_level())
    low = found[0] if low == "auto" else low
    high = found[1] if high == "auto" else high
    if suggestion is not None and not low <= suggestion <= high:
        suggestion = None
    return low, high, suggestion


def bracket(result: RangeTestResult) -> tuple[float, float]:
    """The search range a range test brackets: its range, from half a decade under its low end.

    Raises:
        ConfigError: The range test found no range (its curve never descended).
    """
    if result.range is None:
        swept = (
            f"swept twice, {result.redone_steps} then {result.num_iter} steps: "
            if result.redone_steps
            else ""
        )
        raise ConfigError(
            f"low/high='auto' needs a range from the range test, which found none ({swept}"
            f"{result.warning or result.stop_reason.replace('_', ' ')}); give low and high as "
            "numbers instead (the default range is 1e-5 to 1)."
        )
    low, high = result.range
    return float(f"{low / 10**BRACKET_MARGIN_DECADES:.6g}"), float(f"{high:.6g}")


def _describe(objective: Any) -> str:
    """What a trial trains, as stored with the study: joining with another objective is refused."""
    if isinstance(objective, TaskObjective):
        from lrkit.schedules import parse
        from lrkit.tasks import task_fingerprint, task_identity

        # however it is spelled: a built-in by its own name, a task file by its name and its
        # content (an edited file is another objective; ./t.py, /abs/t.py and another
        # machine's copy of it are the same one)
        ref = objective.task_ref
        task = task_identity(ref) if ref is not None else objective.task.name
        digest = task_fingerprint(ref) if ref is not None else None
        if digest is not None:
            task = f"{Path(task).name} (file sha256 {digest})"
        if isinstance(objective.schedule, str):  # as parsed: cos:2 is cosine:steps=2
            schedule = str(parse(objective.schedule))
        else:
            schedule = (
                type(objective.schedule).__name__ if objective.schedule is not None else "constant"
            )
        return f"task {task}, schedule {schedule}, {objective.budget} epochs, {objective.value}"
    if isinstance(objective, functools.partial):  # not "functools.partial" for every one
        # by its function alone: an argument's repr may hold an address, new in each process
        return f"functools.partial of {_describe(objective.func)}"
    name = getattr(objective, "__qualname__", None) or type(objective).__qualname__
    return f"{getattr(objective, '__module__', '?')}.{name}"


def _is_task(value: Any) -> TypeGuard[Task]:
    # torch's first import, most often: a Ctrl-C inside it left torch half imported for the
    # whole process (a notebook's kernel then failed every later `import torch`)
    with no_interrupt():
        from lrkit.tasks import Task

    return isinstance(value, Task)


def _check_args(
    n_trials: Any, rounds: Any, narrow: Any, n_workers: Any, seed: Any, join_timeout: Any
) -> None:
    for name, value in (("n_trials", n_trials), ("rounds", rounds), ("n_workers", n_workers)):
        whole_number(name, value)
    if n_trials > MAX_TRIALS:
        raise bad_value(
            "n_trials",
            f"at most {MAX_TRIALS:,} (a one-dimensional LR search needs tens)",
            n_trials,
        )
    if rounds > n_trials:
        raise ConfigError(
            f"rounds must be at most n_trials (each round needs a trial), got rounds={rounds} "
            f"and n_trials={n_trials}."
        )
    if (
        not isinstance(narrow, (int, float))
        or isinstance(narrow, bool)
        or not 1 < narrow < math.inf
    ):
        raise bad_value(
            "narrow", "a finite number > 1 (how many times narrower each round is)", narrow
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**63:
        # the draws take it modulo 2**64: 2**64 would search as 0 does
        raise bad_value("seed", "an integer from -2**63 to 2**63 - 1", seed)
    if (
        not isinstance(join_timeout, (int, float))
        or isinstance(join_timeout, bool)
        or not 0 <= join_timeout <= math.inf
    ):
        raise bad_value("join_timeout", "a number of seconds >= 0", join_timeout)


def _task_form_only(schedule: Any, epochs: Any, value: Any, device: Any) -> None:
    """Refuses the task form's settings with a callable objective, which would ignore them."""
    for name, setting, default in (
        ("schedule", schedule, None),
        ("epochs", epochs, None),
        ("value", value, "val_loss"),
        ("device", device, "cpu"),
    ):
        # compared as text only: a schedule's or an array's == may not give a bool
        if setting is not default and not (isinstance(setting, str) and setting == default):
            raise bad_value(
                name,
                f"{default!r} with a callable objective, which trains and returns its value "
                "itself (it is for searching a task: a Task, a built-in name or a task file)",
                setting,
            )
