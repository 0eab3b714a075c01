"""The task-based objective: train a task at the trial's LR, optionally under a schedule.

Seed 000's example 3 as a reusable object: a fresh model per trial, the schedule inside the
trial, the validation loss after every epoch reported to the pruner, the final one returned.
The schedule is built against the full epoch budget, so when successive halving stops a trial
after two epochs it was compared with others at the same point of the same schedule.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import optuna

from lrkit.checks import check_epochs
from lrkit.errors import ConfigError, SpecError, bad_value
from lrkit.plaintext import lr_text
from lrkit.search.samplers import SEED_ATTR

if TYPE_CHECKING:
    from lrkit.history import EpochRecord
    from lrkit.tasks import Task

Value = Literal["val_loss", "val_metric"]


def check_value(value: object) -> None:
    """Refuses a ``value`` that is neither ``"val_loss"`` nor ``"val_metric"``."""
    if value not in ("val_loss", "val_metric"):
        raise bad_value("value", "'val_loss' or 'val_metric'", value)


def value_name(value: Value, metric: str) -> str:
    """What judges a trial, in words after "validation": ``"loss"``, or the task's metric.

    Example:
        >>> value_name("val_loss", "accuracy"), value_name("val_metric", "accuracy")
        ('loss', 'accuracy')
    """
    return "loss" if value == "val_loss" else metric


class TaskObjective:
    """``objective(lr, trial)`` that trains ``task`` and returns its final validation value.

    Args:
        task: A task, or a built-in task name or task file path (picklable: worker processes
            load it themselves).
        schedule: ``None`` for a constant LR, or a schedule spec / lrkit schedule, defined over
            the full ``epochs`` budget.
        epochs: Epoch budget per trial; ``None``: the task's own.
        value: ``"val_loss"`` (minimize) or ``"val_metric"`` (the task's metric, maximize).
        device: Where to train.

    Each trial records ``val_loss``, ``val_metric``, ``test_loss``, ``test_metric``,
    ``epochs_run`` and ``diverged`` as user attributes. A run whose loss turns NaN fails with
    the reason; a pruned run raises :class:`optuna.TrialPruned` after recording what it ran.
    """

    def __init__(
        self,
        task: str | Path | Task,
        schedule: Any = None,
        *,
        epochs: int | None = None,
        value: Value = "val_loss",
        device: str = "cpu",
    ) -> None:
        check_value(value)
        epochs = check_epochs(epochs)
        if not (schedule is None or isinstance(schedule, str) or callable(schedule)):
            raise bad_value(  # an lrkit Schedule is callable too
                "schedule",
                "None, a spec string, an lrkit Schedule or a callable optimizer -> scheduler",
                schedule,
            )
        if isinstance(schedule, str):  # a bad spec is an error now, not in every trial
            from lrkit.schedules import parse

            try:
                parse(schedule)
            except ConfigError as error:
                raise SpecError(f"schedule {schedule!r}: {error}") from None
        self.task_ref = task if isinstance(task, (str, Path)) else None
        self._task = None if isinstance(task, (str, Path)) else task
        self.schedule, self.epochs, self.value, self.device = schedule, epochs, value, device

    @property
    def task(self) -> Task:
        if self._task is None:
            from lrkit.tasks import load_task

            assert self.task_ref is not None
            self._task = load_task(self.task_ref)
        return self._task

    @property
    def direction(self) -> Literal["minimize", "maximize"]:
        return "minimize" if self.value == "val_loss" else "maximize"

    @property
    def budget(self) -> int:
        return self.epochs if self.epochs is not None else self.task.epochs

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.task_ref is not None:
            state["_task"] = None  # worker processes load the task by name, not by pickle
        return state

    def __call__(self, lr: float, trial: optuna.Trial) -> float:
        from lrkit.training import train

        pruned = False

        def report(record: EpochRecord) -> bool:
            nonlocal pruned
            current = record.val_loss if self.value == "val_loss" else record.val_metric
            if math.isfinite(current):
                trial.report(current, record.epoch)
            # not after the last epoch: a trial trained in full has its value, and one pruned
            # there (Hyperband's top rung is the budget) could never be the best
            pruned = record.epoch < self.budget and trial.should_prune()
            return pruned

        seed = int(trial.user_attrs.get(SEED_ATTR, trial.number))
        history = train(
            self.task,
            lr,
            self.schedule,
            epochs=self.budget,
            seed=seed,
            device=self.device,
            progress=False,
            verbose=False,
            check=False,
            on_epoch_end=report,
        )
        for key, number in (
            ("val_loss", history.final_val_loss),
            ("val_metric", history.final_val_metric),
            ("test_loss", history.test_loss),
            ("test_metric", history.test_metric),
        ):
            if number is not None and math.isfinite(number):
                trial.set_user_attr(key, number)
        trial.set_user_attr("epochs_run", history.epochs_run)
        trial.set_user_attr("diverged", history.diverged)
        if history.diverged:
            raise FloatingPointError(
                f"training diverged at lr={lr_text(lr)}: the loss became NaN or infinite in epoch "
                f"{history.epochs_run}"
            )
        if pruned:  # no message: it would be kept as the trial's error, and epochs_run says it
            raise optuna.TrialPruned()
        return history.final_val_loss if self.value == "val_loss" else history.final_val_metric
