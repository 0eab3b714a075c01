"""The range test of a whole task, as ``lrkit find``, ``lrkit search --low auto`` and ``lrkit
tune`` run it: the task's fresh model and optimizer, its training batches, the default sweep.

A curve too noisy to show a descent in the default 100 steps is swept again, from a fresh model,
with twice the steps. Small batches of a noisy loss need it: on the built-in ``friedman`` task
(an MSE at batch 32, Adam) 100 steps found no range for 18 of 40 seeds, 200 steps for none of 20.
A curve that shows a descent is never swept twice, and a loss that cannot fall costs 300 steps.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lrkit.errors import ConfigError
from lrkit.finder.finder import LRFinder
from lrkit.finder.result import FinderWarning, RangeTestResult
from lrkit.finder_settings import (
    DEFAULT_END_LR,
    DEFAULT_NUM_ITER,
    DEFAULT_START_LR,
    RETRY_NUM_ITER,
)
from lrkit.interrupts import raise_held
from lrkit.tasks.base import Task

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def range_test_task(
    task: Task,
    *,
    start_lr: float = DEFAULT_START_LR,
    end_lr: float = DEFAULT_END_LR,
    num_iter: int | None = None,
    step_mode: str = "exp",
    balance: str | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    on_step: Callable[[int], None] | None = None,
) -> RangeTestResult:
    """Runs the range test on ``task``'s fresh model (seeded by ``seed``) and returns its result.

    With ``num_iter=None`` (the default) the sweep takes ``DEFAULT_NUM_ITER`` steps, and when its
    curve shows no descent, a second sweep from the same fresh model takes ``RETRY_NUM_ITER``:
    twice the points to average the noise over. The second sweep's result is returned, with a
    ``note`` that says so. A given ``num_iter`` is swept once, as given.

    Args:
        on_step: Called with the number of steps done after each step; a second sweep's steps
            count on from ``DEFAULT_NUM_ITER + 1``, even when the first stopped early (diverged).

    Raises:
        ConfigError: The task has no training data or no trainable parameters, or a sweep
            argument is invalid.

    Example:
        >>> from lrkit.tasks import load_task
        >>> result = range_test_task(load_task("digits"), num_iter=30)
        >>> len(result.lrs) <= 30
        True
    """
    if len(task.train_data) == 0:  # type: ignore[arg-type]  # the Task checked it has a len
        # a shuffling DataLoader would refuse it with a less helpful message
        raise ConfigError(
            f"Task {task.name!r}: train_loader must yield at least one batch, got an empty "
            "train_data."
        )

    def step(steps: int) -> None:
        raise_held()  # the CLI's Ctrl-C held since an import, whether or not a bar shows the sweep
        if on_step is not None:
            on_step(steps)

    def sweep(steps: int, done: int) -> RangeTestResult:
        model = task.make_model(seed)
        if not any(p.requires_grad for p in model.parameters()):
            raise ConfigError(
                f"Task {task.name!r}: the optimizer must have parameters to train, got a model "
                "with no trainable parameters."
            )
        optimizer = task.make_optimizer(model, start_lr)
        finder = LRFinder(model, optimizer, task.criterion, device=device)
        with warnings.catch_warnings():  # warned below, for the result returned
            warnings.simplefilter("ignore", FinderWarning)
            return finder.range_test(
                task.train_loader(seed),
                start_lr=start_lr,
                end_lr=end_lr,
                num_iter=steps,
                step_mode=step_mode,
                balance=balance,
                seed=seed,
                on_step=lambda n: step(done + n),
            )

    result = sweep(DEFAULT_NUM_ITER if num_iter is None else num_iter, 0)
    # too noisy to read: twice the points; not a sweep that diverged in its first half (its
    # start was too high, and more points would not show a descent)
    if num_iter is None and result.suggestion is None and len(result.lrs) >= DEFAULT_NUM_ITER // 2:
        first, result = result, sweep(RETRY_NUM_ITER, DEFAULT_NUM_ITER)
        why = (first.warning or first.stop_reason.replace("_", " ")).split(":", 1)[0]
        note = (
            f"swept twice: the first sweep, of {len(first.lrs)} steps, gave no suggestion: "
            f"{why}. This is the second, of {len(result.lrs)} steps."
        )
        result = dataclasses.replace(
            result,
            note=note,
            seconds=first.seconds + result.seconds,
            redone_steps=first.steps + first.skipped_steps,
        )
    if result.warning is not None:
        warnings.warn(f"Range test: {result.warning}", FinderWarning, stacklevel=2)
    return result


def write_range_test(
    folder: Path, task: str, seed: int | None, result: RangeTestResult, fig: Figure
) -> str:
    """Writes ``range_test.json`` (:func:`task_range_test_dict`) and ``range_test.png`` (``fig``)
    to ``folder``, as ``lrkit find`` and ``lrkit tune`` do; returns the JSON text."""
    from lrkit import outputs
    from lrkit.jsondata import dumps

    document = dumps(task_range_test_dict(task, seed, result)) + "\n"
    outputs.write_file(folder / outputs.RANGE_JSON, document)
    outputs.save_png(fig, folder / outputs.RANGE_PNG)
    return document


def task_range_test_dict(task: str, seed: int | None, result: RangeTestResult) -> dict[str, Any]:
    """What ``range_test.json`` holds, as ``lrkit find`` and ``lrkit tune`` write it: the task's
    name and the seed, then :meth:`RangeTestResult.to_dict` (which
    :meth:`RangeTestResult.from_dict` reads back, the task and seed left out)."""
    return {"task": task, "seed": seed, **result.to_dict()}
