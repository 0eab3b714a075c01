"""The range test of a whole task, as ``lrkit find``, ``lrkit search --low auto`` and ``lrkit
tune`` run it: the task's fresh model and optimizer, its training batches, the default sweep."""

from __future__ import annotations

from collections.abc import Callable

import torch

from lrkit.errors import ConfigError
from lrkit.finder.finder import LRFinder
from lrkit.finder.result import RangeTestResult
from lrkit.tasks.base import Task

DEFAULT_START_LR = 1e-7  # fastai's start: low enough that the first steps barely train
DEFAULT_END_LR = 10.0
DEFAULT_NUM_ITER = 100


def range_test_task(
    task: Task,
    *,
    start_lr: float = DEFAULT_START_LR,
    end_lr: float = DEFAULT_END_LR,
    num_iter: int = DEFAULT_NUM_ITER,
    step_mode: str = "exp",
    balance: str | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    on_step: Callable[[int], None] | None = None,
) -> RangeTestResult:
    """Runs the range test on ``task``'s fresh model (seeded by ``seed``) and returns its result.

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
    model = task.make_model(seed)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(
            f"Task {task.name!r}: the optimizer must have parameters to train, got a model "
            "with no trainable parameters."
        )
    optimizer = task.make_optimizer(model, start_lr)
    finder = LRFinder(model, optimizer, task.criterion, device=device)
    return finder.range_test(
        task.train_loader(seed),
        start_lr=start_lr,
        end_lr=end_lr,
        num_iter=num_iter,
        step_mode=step_mode,
        balance=balance,
        seed=seed,
        on_step=on_step,
    )
