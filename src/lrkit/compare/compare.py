"""Train one task under several schedules, on the same seeds, and compare them.

For each seed every schedule starts from the same initial weights and sees the same batches in
the same order (:func:`lrkit.training.train` seeds both), so the differences between rows are
the schedules', not the luck of the draw. The ``sklearn:*`` rows (``sklearn=True``) are the
exception: scikit-learn's own MLP, with its own initial weights and shuffling, on the same split
(:mod:`lrkit.compare.sklearn_rows`); they are shown for reference, never chosen as the best.
The test split is evaluated after every epoch for the report; the winner is chosen by validation
only (:attr:`CompareResult.best`).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lrkit.checks import MAX_SEED, check_epochs, check_flag, check_seed, positive_lr, whole_number
from lrkit.compare.candidate import RANGE_ONE_CYCLE, Candidate
from lrkit.compare.defaults import default_schedules, range_one_cycle
from lrkit.compare.result import CompareResult, ScheduleRun
from lrkit.devices import device_text
from lrkit.errors import ConfigError, bad_value
from lrkit.history import History
from lrkit.progress import ProgressBar
from lrkit.tasks.base import Task

if TYPE_CHECKING:
    import torch

    from lrkit.checks import Real, Whole
    from lrkit.finder.result import RangeTestResult

MAX_SEEDS = 1_000
"""The most seeds a comparison trains each schedule from (a typo's 10**6 would run for ever)."""


def compare(
    task: Task | str | os.PathLike[str],
    lr: Real | None = None,
    schedules: Sequence[str | Candidate] | None = None,
    *,
    seeds: Whole = 1,
    seed: Whole = 0,
    epochs: Whole | None = None,
    device: str | torch.device = "cpu",
    sklearn: bool = False,
    progress: bool = True,
    verbose: bool = False,
) -> CompareResult:
    """Trains ``task`` once per schedule and seed; returns the comparison.

    Args:
        task: A :class:`~lrkit.tasks.Task`, a built-in task name or a task file's path.
        lr: Base LR of every schedule (a row built from a range test has its own peak);
            ``None`` takes the task's ``lr``.
        schedules: lrkit specs (``"cosine:12"``, ``"StepLR:step_size=4"``), :class:`Candidate`
            objects, or ``"range-onecycle"`` for a one-cycle from a range test of the task.
            ``None``: seed 002's five torch schedulers scaled to the budget, and the range-test
            one-cycle (see :mod:`lrkit.compare.defaults`). The range test runs once, on the
            first seed; if it finds no range, the default one-cycle is left out with a note.
        seeds: How many seeds (``seed``, ``seed + 1``, ...); each trains every schedule.
        seed: The first seed.
        epochs: Epoch budget of every run; ``None`` takes the task's.
        device: Where to train.
        sklearn: Add scikit-learn ``MLPClassifier`` rows for its ``learning_rate`` options
            (constant, invscaling, adaptive) on the same split; classification tasks only.
        progress: Show progress: a transient bar on a terminal, sparse lines on stderr off one.
        verbose: Print each epoch's line, as :func:`~lrkit.training.train` does.

    Returns:
        A :class:`CompareResult`; its ``best`` is chosen by mean final validation metric.

    Raises:
        ConfigError: An argument is invalid, no LR is given for a task without one, or
            ``sklearn=True`` for a task scikit-learn's MLPClassifier cannot fit (not
            classification; inputs that are not arrays of numbers; targets that are not class
            indices). All are raised before anything trains.
        TaskError: The task cannot train (:func:`~lrkit.tasks.check_task`); before anything
            trains too.
        SpecError: A spec does not parse (an unknown name lists the valid names).

    Example:
        >>> from lrkit.tasks import load_task
        >>> result = compare(load_task("digits"), 0.05, ["cosine:2", "StepLR:step_size=1"],
        ...                  epochs=2, progress=False)
        >>> [run.label for run in result.runs]
        ['cosine:2', 'StepLR:step_size=1']
        >>> result.best.label in ("cosine:2", "StepLR:step_size=1")
        True
    """
    from lrkit.tasks import load_task

    started = time.perf_counter()
    device = device_text(device)  # torch.device("cuda", 0) too
    for name, flag in (("progress", progress), ("sklearn", sklearn), ("verbose", verbose)):
        check_flag(name, flag)
    given = check_epochs(epochs)
    wanted = _candidates(schedules)  # specs fail before the task's data is loaded
    seed_list = _seeds(seeds, seed)
    task = load_task(task)
    base_lr = _base_lr(task, lr)
    n_epochs = task.epochs if given is None else given
    if sklearn:
        from lrkit.compare.sklearn_rows import check_sklearn_task, sklearn_data

        check_sklearn_task(task)  # the cheap one first: no data is read for a regression
    if schedules is None:
        wanted = [*(Candidate(s) for s in default_schedules(n_epochs)), RANGE_ONE_CYCLE]
    # a task that cannot train says so (one batch), not the loader, range test or scikit-learn
    from lrkit.tasks import check_task

    check_task(task, device=device)
    # every refusal of the sklearn rows comes now, not after the torch rows have trained
    mlp_data = sklearn_data(task, seed_list[0]) if sklearn else None
    steps_per_epoch = len(task.train_loader(seed_list[0]))
    n_rows = len(wanted) + (3 if sklearn else 0)
    total = n_rows * len(seed_list) * n_epochs
    with ProgressBar(total, enabled=progress, unit="epochs") as bar:
        bar.describe("range test" if RANGE_ONE_CYCLE in wanted else "")
        range_test, candidates, notes = _resolve_range(
            task, wanted, n_epochs * steps_per_epoch, seed_list[0], device, schedules is None
        )
        bar.grow((len(candidates) - len(wanted)) * len(seed_list) * n_epochs)  # one left out
        runs = [
            _train_all(
                task,
                c,
                base_lr,
                n_epochs,
                seed_list,
                device,
                verbose,
                steps_per_epoch,
                bar,
                position=f"schedule {i + 1}/{len(candidates)}",
            )
            for i, c in enumerate(candidates)
        ]
        if sklearn:
            from lrkit.compare.sklearn_rows import sklearn_runs

            bar.describe("scikit-learn MLPClassifier")
            runs += sklearn_runs(
                task,
                base_lr,
                epochs=n_epochs,
                seeds=seed_list,
                on_epoch=bar.advance,
                data=mlp_data,
            )
    return CompareResult(
        task=task.name,
        metric=task.metric,
        lr=base_lr,
        epochs=n_epochs,
        seeds=seed_list,
        runs=tuple(runs),
        range_test=range_test,
        notes=tuple(notes),
        wall_time=time.perf_counter() - started,
    )


def _candidates(schedules: Sequence[str | Candidate] | None) -> list[Candidate | str]:
    if schedules is None:
        return []
    if isinstance(schedules, (str, Candidate)) or not isinstance(schedules, Sequence):
        raise bad_value(
            "schedules", "a list of specs such as ['cosine:12', 'step:4'], or None", schedules
        )
    if not schedules:
        raise ConfigError(
            "schedules must name at least one schedule (or be None for the defaults), got []."
        )
    out: list[Candidate | str] = []
    for item in schedules:
        if isinstance(item, Candidate):
            out.append(item)
        elif isinstance(item, str) and item.strip().lower() == RANGE_ONE_CYCLE:
            out.append(RANGE_ONE_CYCLE)
        elif isinstance(item, str):
            out.append(Candidate(item.strip()))
        else:
            raise bad_value("each schedule", "a spec string or a Candidate", item)
    if out.count(RANGE_ONE_CYCLE) > 1:
        raise ConfigError(
            f"schedules must differ, got {RANGE_ONE_CYCLE!r} {out.count(RANGE_ONE_CYCLE)} times "
            "(one range test gives one one-cycle)."
        )
    seen: dict[tuple[str, float | None, str], str] = {}
    for c in out:
        if isinstance(c, Candidate):
            key = (c.canonical, c.lr, c.unit)
            if key in seen:  # two rows of one run, both "best": a typo, not a comparison
                raise ConfigError(
                    f"schedules must differ, got {seen[key]!r} and {c.spec!r}, the same "
                    f"schedule ({c.canonical}) twice."
                )
            seen[key] = c.spec
    return out


def _seeds(seeds: object, seed: object) -> tuple[int, ...]:
    expected = f"a positive integer up to {MAX_SEEDS:,} (how many seeds)"
    seeds = whole_number("seeds", seeds, most=MAX_SEEDS, expected=expected)
    seed = check_seed(seed)
    if seed + seeds - 1 > MAX_SEED:  # the last seed still one that torch and NumPy take
        raise ConfigError(
            f"seed must be at most 2**32 - {seeds} with seeds={seeds} (seed, seed + 1, ... "
            f"up to 2**32 - 1), got {seed}."
        )
    return tuple(range(seed, seed + seeds))


def _base_lr(task: Task, lr: object) -> float:
    if lr is None:
        if task.lr is None:
            raise ConfigError(
                f"lr must be given: task {task.name!r} has no default learning rate; pass one "
                "(--lr LR), e.g. the suggestion of `lrkit find`."
            )
        return float(task.lr)
    return positive_lr("lr", lr)


def _resolve_range(
    task: Task,
    wanted: list[Candidate | str],
    steps: int,
    seed: int,
    device: str,
    defaults: bool,
) -> tuple[RangeTestResult | None, list[Candidate], list[str]]:
    """Runs the range test if ``"range-onecycle"`` is wanted, and builds that one-cycle."""
    if RANGE_ONE_CYCLE not in wanted:
        return None, [c for c in wanted if isinstance(c, Candidate)], []
    from lrkit.finder import FinderWarning
    from lrkit.finder.task import range_test_task

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FinderWarning)
        result = range_test_task(task, seed=seed, device=device)
    out: list[Candidate] = []
    notes = [] if result.note is None else [f"range test: {result.note}"]
    refusal = None  # asked for by name and not buildable: its error says the test's warning
    for item in wanted:
        if isinstance(item, Candidate):
            out.append(item)
            continue
        try:
            out.append(range_one_cycle(result, max(2, steps)))
        except ConfigError as exc:
            if defaults:
                notes.append(f"{RANGE_ONE_CYCLE} left out: {exc}")
                continue
            refusal = ConfigError(
                f"{RANGE_ONE_CYCLE} cannot be built for {task.name!r}: {_lower(str(exc))} "
                "Its range test is `lrkit find` (range_test_task), which sweeps otherwise "
                "with --start-lr, --end-lr and --num-iter (start_lr, end_lr, num_iter)."
            )
    for warning in caught:
        if refusal is None or not issubclass(warning.category, FinderWarning):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if refusal is not None:
        raise refusal
    return result, out, notes


def _train_all(
    task: Task,
    candidate: Candidate,
    base_lr: float,
    epochs: int,
    seeds: tuple[int, ...],
    device: str,
    verbose: bool,
    steps_per_epoch: int,
    bar: ProgressBar,
    *,
    position: str,
) -> ScheduleRun:
    from lrkit.training import train

    histories: list[History] = []
    for seed in seeds:
        # the count is the whole comparison's: the line says where in it this run is
        bar.describe(f"{position} {candidate.spec}, seed {seed}")
        done = bar.completed
        history = train(
            task,
            candidate.lr or base_lr,
            candidate.spec,
            epochs=epochs,
            seed=seed,
            unit=candidate.unit,
            device=device,
            progress=False,
            verbose=verbose,
            check=False,  # compare() checked the task
            on_epoch_end=lambda _record: bar.advance(),
            test_each_epoch=True,
        )
        bar.update(done + epochs)  # a diverged run ends early
        histories.append(history)
    return ScheduleRun(
        label=candidate.spec,
        spec=candidate.canonical,
        lr=candidate.lr or base_lr,
        unit=candidate.unit,
        source="lrkit",
        histories=tuple(histories),
        steps_per_epoch=steps_per_epoch,
        note=candidate.note,
    )


def _lower(text: str) -> str:
    """``text`` with a lower-case first letter, to go on after a colon."""
    return text[:1].lower() + text[1:]
