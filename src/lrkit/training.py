"""The training loop every lrkit command shares, and the typed history it returns.

One run trains a task's fresh model at one base learning rate, optionally under a schedule,
evaluates on the validation split after every epoch and on the test split at the end. A run whose
training loss turns NaN or infinite stops at once and is marked ``diverged``: searches train at
learning rates that diverge, and that is a result, not an error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from lrkit.errors import ConfigError, bad_value
from lrkit.tasks.base import MetricTally, Task, check_task

if TYPE_CHECKING:
    from lrkit.schedules import Schedule

Unit = Literal["epoch", "step"]

_METRIC_LABELS = {"accuracy": "val_acc", "r2": "val_r2", "neg_loss": "val_neg_loss"}


@dataclass(frozen=True)
class Evaluation:
    """Mean loss and metric of a model over one data split."""

    loss: float
    metric: float


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch did.

    Attributes:
        epoch: 1-based epoch number.
        lr: Learning rate of the first param group when the epoch started.
        lrs: Learning rates of every param group when the epoch started.
        train_loss: Mean training loss over the epoch's batches (NaN or inf if it diverged).
        val_loss: Mean validation loss after the epoch (NaN if the epoch diverged).
        val_metric: Validation metric after the epoch (NaN if the epoch diverged).
        seconds: Wall time of the epoch, evaluation included; ignored by ``==``.
    """

    epoch: int
    lr: float
    lrs: tuple[float, ...]
    train_loss: float
    val_loss: float
    val_metric: float
    seconds: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class History:
    """The record of one training run; equal for equal seeds (wall times are not compared).

    Attributes:
        task: Name of the task trained.
        metric: Name of the validation metric (higher is better).
        lr: Base learning rate of the run.
        schedule: What drove the LR: ``"constant"``, a native spec, or a scheduler class name.
        seed: Seed of the model initialisation, the batch order and any other torch randomness.
        unit: How often the scheduler stepped: ``"epoch"`` or ``"step"``.
        epochs: Epoch budget (``epochs_run`` may be smaller).
        records: One :class:`EpochRecord` per epoch run, the diverged one included.
        step_lrs: Learning rate of the first param group at every optimizer step.
        test_loss: Test loss of the final model; ``None`` without test data or after divergence.
        test_metric: Test metric of the final model; ``None`` likewise.
        diverged: The training loss became NaN or infinite and the run stopped there.
        stopped_early: ``on_epoch_end`` asked the run to stop (a pruned search trial).
        wall_time: Seconds the whole run took; ignored by ``==``.

    Example:
        >>> from lrkit.tasks import load_task
        >>> history = train(load_task("digits"), 0.05, epochs=2, progress=False, verbose=False)
        >>> history.epochs_run, history.lrs, history.diverged
        (2, (0.05, 0.05), False)
    """

    task: str
    metric: str
    lr: float
    schedule: str
    seed: int
    unit: Unit
    epochs: int
    records: tuple[EpochRecord, ...]
    step_lrs: tuple[float, ...]
    test_loss: float | None
    test_metric: float | None
    diverged: bool
    stopped_early: bool
    wall_time: float = field(default=0.0, compare=False)

    @property
    def epochs_run(self) -> int:
        """Number of epochs started, the diverged one included."""
        return len(self.records)

    @property
    def train_loss(self) -> tuple[float, ...]:
        """Mean training loss per epoch."""
        return tuple(r.train_loss for r in self.records)

    @property
    def val_loss(self) -> tuple[float, ...]:
        """Validation loss per epoch."""
        return tuple(r.val_loss for r in self.records)

    @property
    def val_metric(self) -> tuple[float, ...]:
        """Validation metric per epoch."""
        return tuple(r.val_metric for r in self.records)

    @property
    def lrs(self) -> tuple[float, ...]:
        """Learning rate of the first param group at the start of each epoch."""
        return tuple(r.lr for r in self.records)

    @property
    def group_lrs(self) -> tuple[tuple[float, ...], ...]:
        """Learning rates of every param group at the start of each epoch."""
        return tuple(r.lrs for r in self.records)

    @property
    def best_epoch(self) -> int | None:
        """1-based epoch of the best finite validation metric (the first if tied); None if none."""
        finite = [r for r in self.records if math.isfinite(r.val_metric)]
        if not finite:
            return None
        return max(finite, key=lambda r: r.val_metric).epoch

    @property
    def best_val_metric(self) -> float:
        """Best finite validation metric; ``-inf`` if none, so ``max()`` ranks such runs last."""
        finite = [m for m in self.val_metric if math.isfinite(m)]
        return max(finite) if finite else -math.inf

    @property
    def best_val_loss(self) -> float:
        """Lowest finite validation loss; ``inf`` if none."""
        finite = [v for v in self.val_loss if math.isfinite(v)]
        return min(finite) if finite else math.inf

    @property
    def final_val_metric(self) -> float:
        """Validation metric after the last epoch run (NaN if it diverged or none ran)."""
        return self.records[-1].val_metric if self.records else math.nan

    @property
    def final_val_loss(self) -> float:
        """Validation loss after the last epoch run (NaN if it diverged or none ran)."""
        return self.records[-1].val_loss if self.records else math.nan


def evaluate(
    model: nn.Module,
    loader: Iterable[Any],
    criterion: Callable[[Tensor, Tensor], Tensor],
    metric: str = "neg_loss",
    *,
    device: str | torch.device = "cpu",
) -> Evaluation:
    """Mean loss (weighted by batch size) and metric of ``model`` over ``loader``, without grad.

    The model is put in eval mode and returned to the mode it was in.

    Example:
        >>> from lrkit.tasks import load_task
        >>> task = load_task("digits")
        >>> result = evaluate(task.make_model(0), task.val_loader(), task.criterion, "accuracy")
        >>> 0.0 <= result.metric <= 1.0
        True
    """
    tally = MetricTally(metric)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            inputs, targets = _to(inputs, device), _to(targets, device)
            output = model(inputs)
            size = len(targets)
            total += float(criterion(output, targets)) * size
            count += size
            tally.update(output, targets)
    model.train(was_training)
    mean_loss = total / count if count else math.nan
    return Evaluation(loss=mean_loss, metric=tally.compute(mean_loss))


def train(
    task: Task,
    lr: float | None = None,
    schedule: str | Schedule | Callable[[torch.optim.Optimizer], Any] | None = None,
    *,
    epochs: int | None = None,
    seed: int = 0,
    unit: Unit = "epoch",
    device: str | torch.device = "cpu",
    progress: bool = True,
    verbose: bool = True,
    check: bool = True,
    on_epoch_end: Callable[[EpochRecord], bool | None] | None = None,
) -> History:
    """Trains a fresh model of ``task`` and returns its :class:`History`.

    Args:
        task: What to train.
        lr: Base learning rate; ``None`` uses the task's own ``lr``.
        schedule: ``None`` for a constant LR; an lrkit schedule or spec string (``"cosine:12"``);
            or a callable ``optimizer -> scheduler`` for any torch scheduler, e.g.
            ``lambda opt: StepLR(opt, step_size=5, gamma=0.1)``. ``ReduceLROnPlateau`` is stepped
            with the validation loss once per epoch, whatever ``unit`` says.
        epochs: Epoch budget; ``None`` uses the task's ``epochs``.
        seed: Seeds the model's initial weights, the batch order and torch's RNG during the run
            (the caller's RNG state is restored afterwards).
        unit: ``"epoch"``: the scheduler steps once after each epoch; ``"step"``: after each
            optimizer step (schedule lengths are then counted in steps).
        device: Where to train, e.g. ``"cuda"``.
        progress: Show a transient progress bar (only on a terminal).
        verbose: Print one line per epoch with its learning rate and losses.
        check: Run :func:`~lrkit.tasks.check_task` first, for a clear error on a broken task.
        on_epoch_end: Called with each epoch's record; return ``True`` to stop the run there.

    Raises:
        ConfigError: An argument is invalid.
        TaskError: ``check`` found the task broken.

    Example:
        >>> from torch.optim.lr_scheduler import StepLR
        >>> from lrkit.tasks import load_task
        >>> h = train(load_task("digits"), 0.05, lambda opt: StepLR(opt, step_size=2, gamma=0.1),
        ...           epochs=3, progress=False, verbose=False)
        >>> [round(lr, 6) for lr in h.lrs]
        [0.05, 0.05, 0.005]
    """
    base_lr, n_epochs = _check_args(task, lr, epochs, seed, unit)
    if check:
        check_task(task, device=device)
    started = time.perf_counter()
    with torch.random.fork_rng(devices=_cuda_devices(device)):
        torch.manual_seed(seed)
        model = task.make_model(seed).to(device)
        criterion = task.criterion
        if isinstance(criterion, nn.Module):
            criterion.to(device)  # a weighted loss holds tensors that must sit with the model
        optimizer = task.make_optimizer(model, base_lr)
        loader = task.train_loader(seed)
        scheduler, schedule_name = _make_scheduler(schedule, optimizer, unit, verbose)
        run = _Run(task, model, optimizer, scheduler, unit, device, verbose)
        with _progress_bar(progress, n_epochs * len(loader)) as bar:
            for epoch in range(1, n_epochs + 1):
                bar.describe(f"epoch {epoch}/{n_epochs}")
                record = run.epoch(epoch, n_epochs, loader, bar)
                if run.diverged:
                    break
                if on_epoch_end is not None and on_epoch_end(record):
                    run.stopped_early = True
                    break
        test = None
        test_loader = task.test_loader()
        if test_loader is not None and not run.diverged:
            test = evaluate(model, test_loader, criterion, task.metric, device=device)
    return History(
        task=task.name,
        metric=task.metric,
        lr=base_lr,
        schedule=schedule_name,
        seed=seed,
        unit=unit,
        epochs=n_epochs,
        records=tuple(run.records),
        step_lrs=tuple(run.step_lrs),
        test_loss=None if test is None else test.loss,
        test_metric=None if test is None else test.metric,
        diverged=run.diverged,
        stopped_early=run.stopped_early,
        wall_time=time.perf_counter() - started,
    )


class _Run:
    """The mutable state of one training run, one epoch at a time."""

    def __init__(
        self,
        task: Task,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        unit: Unit,
        device: str | torch.device,
        verbose: bool,
    ) -> None:
        self.task, self.model, self.optimizer = task, model, optimizer
        self.scheduler, self.unit, self.device, self.verbose = scheduler, unit, device, verbose
        self.records: list[EpochRecord] = []
        self.step_lrs: list[float] = []
        self.diverged = False
        self.stopped_early = False
        self._steps = 0
        # ReduceLROnPlateau needs a metric, so it can only ever step at epoch ends.
        self._per_step = (
            scheduler is not None
            and unit == "step"
            and not isinstance(scheduler, ReduceLROnPlateau)
        )

    def epoch(self, epoch: int, n_epochs: int, loader: Iterable[Any], bar: Any) -> EpochRecord:
        started = time.perf_counter()
        lrs = tuple(float(group["lr"]) for group in self.optimizer.param_groups)
        self.model.train()
        total, count = 0.0, 0
        for inputs, targets in loader:
            self.step_lrs.append(float(self.optimizer.param_groups[0]["lr"]))
            self._steps += 1
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.task.criterion(
                self.model(_to(inputs, self.device)), _to(targets, self.device)
            )
            value = loss.item()
            if not math.isfinite(value):
                self.diverged = True
                return self._finish(epoch, n_epochs, lrs, value, None, started)
            loss.backward()
            self.optimizer.step()
            total += value * len(targets)
            count += len(targets)
            if self._per_step:
                self.scheduler.step()
            bar.advance()
        val = evaluate(
            self.model,
            self.task.val_loader(),
            self.task.criterion,
            self.task.metric,
            device=self.device,
        )
        record = self._finish(epoch, n_epochs, lrs, total / max(count, 1), val, started)
        self._step_epoch_end(val.loss)
        return record

    def _step_epoch_end(self, val_loss: float) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(val_loss)
            return
        # Report before stepping so that a plateau drop applies to the very next epoch. A NaN
        # validation loss carries no signal about a plateau, so it is not reported.
        if hasattr(self.scheduler, "report") and math.isfinite(val_loss):
            self.scheduler.report(val_loss)
        if not self._per_step:
            self.scheduler.step()

    def _finish(
        self,
        epoch: int,
        n_epochs: int,
        lrs: tuple[float, ...],
        train_loss: float,
        val: Evaluation | None,
        started: float,
    ) -> EpochRecord:
        record = EpochRecord(
            epoch=epoch,
            lr=lrs[0],
            lrs=lrs,
            train_loss=train_loss,
            val_loss=math.nan if val is None else val.loss,
            val_metric=math.nan if val is None else val.metric,
            seconds=time.perf_counter() - started,
        )
        self.records.append(record)
        if self.verbose:
            print(self._line(record, n_epochs))
        return record

    def _line(self, record: EpochRecord, n_epochs: int) -> str:
        head = f"Epoch {record.epoch}/{n_epochs}  lr={record.lr:.4g}"
        if self.diverged:
            return (
                f"{head}  train_loss={record.train_loss}  diverged at step {self._steps}; stopping."
            )
        label = _METRIC_LABELS[self.task.metric]
        return (
            f"{head}  train_loss={record.train_loss:.4f}  val_loss={record.val_loss:.4f}  "
            f"{label}={record.val_metric:.4f}"
        )


def _check_args(
    task: Task, lr: float | None, epochs: int | None, seed: int, unit: str
) -> tuple[float, int]:
    if not isinstance(task, Task):
        raise bad_value("task", "a lrkit.tasks.Task (see lrkit.tasks.load_task)", task)
    if lr is None:
        if task.lr is None:
            raise ConfigError(f"lr must be given: task {task.name!r} has no default learning rate.")
        lr = task.lr
    if (
        isinstance(lr, bool)
        or not isinstance(lr, (int, float))
        or not (math.isfinite(lr) and lr > 0)
    ):
        raise bad_value("lr", "a positive finite number", lr)
    n_epochs = task.epochs if epochs is None else epochs
    if isinstance(n_epochs, bool) or not isinstance(n_epochs, int) or n_epochs < 1:
        raise bad_value("epochs", "a positive integer or None", epochs)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise bad_value("seed", "an integer", seed)
    if unit not in ("epoch", "step"):
        raise bad_value("unit", "'epoch' or 'step'", unit)
    return float(lr), n_epochs


def _make_scheduler(
    schedule: object, optimizer: torch.optim.Optimizer, unit: Unit, verbose: bool
) -> tuple[Any, str]:
    """Turns the ``schedule`` argument into a stepping object and a name for the history."""
    if schedule is None:
        return None, "constant"
    # Imported here so that a broken or absent schedules package never breaks plain training.
    from lrkit.schedules import Schedule, bind

    # A native Schedule is itself callable (step -> lr), so test for it before callables.
    if isinstance(schedule, (str, Schedule)):
        bound = bind(optimizer, schedule, unit=unit, verbose=verbose)
        return bound, bound.schedule.to_spec()
    if callable(schedule):
        scheduler = schedule(optimizer)
        if not callable(getattr(scheduler, "step", None)):
            raise bad_value("schedule(optimizer)", "a scheduler with a step() method", scheduler)
        return scheduler, type(scheduler).__name__
    raise bad_value(
        "schedule",
        "None, a spec string, an lrkit Schedule or a callable optimizer -> scheduler",
        schedule,
    )


def _progress_bar(enabled: bool, total: int) -> Any:
    """A transient rich progress bar over optimizer steps; a no-op off a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )
    return _Bar(bar, total)


class _Bar:
    """Context manager pairing a rich Progress with its single task, so callers just advance."""

    def __init__(self, progress: Any, total: int) -> None:
        self._progress, self._total = progress, total
        self._task_id: Any = None

    def __enter__(self) -> _Bar:
        self._progress.__enter__()
        self._task_id = self._progress.add_task("", total=self._total)
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def advance(self) -> None:
        self._progress.advance(self._task_id)

    def describe(self, text: str) -> None:
        self._progress.update(self._task_id, description=text)


def _to(value: Any, device: str | torch.device) -> Any:
    return value.to(device, non_blocking=True) if isinstance(value, Tensor) else value


def _cuda_devices(device: str | torch.device) -> list[int]:
    """The CUDA devices whose RNG a run may touch (none on CPU), for ``fork_rng``."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return []
    return [dev.index if dev.index is not None else torch.cuda.current_device()]
