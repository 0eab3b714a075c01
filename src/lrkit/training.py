"""The training loop every lrkit command shares, and the typed history it returns.

One run trains a task's fresh model at one base learning rate, optionally under a schedule,
evaluates on the validation split after every epoch and on the test split at the end (or after
every epoch too, on request, for reports that show a test curve). A run whose training loss turns
NaN or infinite stops at once and is marked ``diverged``, and so does one whose validation loss
does (the last steps of an epoch blew the weights up): searches train at learning rates that
diverge, and that is a result, not an error.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from lrkit.checks import check_epochs, check_flag, check_seed, positive_lr
from lrkit.errors import ConfigError, TaskError, bad_value
from lrkit.history import EpochRecord, Evaluation, History, Unit
from lrkit.plaintext import lr_text
from lrkit.progress import ProgressBar
from lrkit.tasks.base import Task
from lrkit.tasks.checks import check_task
from lrkit.tasks.metrics import MetricTally

if TYPE_CHECKING:
    from lrkit.checks import Real, Whole
    from lrkit.schedules import Schedule

# History and its records live in lrkit.history; they are re-exported here for convenience.
__all__ = ["EpochRecord", "Evaluation", "History", "Unit", "evaluate", "train"]


_METRIC_LABELS = {"accuracy": "val_acc", "r2": "val_r2", "neg_loss": "val_neg_loss"}


def evaluate(
    model: nn.Module,
    loader: Iterable[Any],
    criterion: Callable[[Tensor, Tensor], Tensor],
    metric: str = "neg_loss",
    *,
    device: str | torch.device = "cpu",
    data: str = "loader",
) -> Evaluation:
    """Mean loss (weighted by batch size) and metric of ``model`` over ``loader``, without grad.

    The model is put in eval mode and returned to the mode it was in.

    Raises:
        TaskError: ``loader`` yielded no batch (``data`` names it in the message): a one-shot
            iterable exhausted by an earlier pass, say. Its loss would be NaN, which training
            reads as divergence.

    Example:
        >>> from lrkit.tasks import load_task
        >>> task = load_task("digits")
        >>> result = evaluate(task.make_model(0), task.val_loader(), task.criterion, "accuracy")
        >>> 0.0 <= result.metric <= 1.0
        True
    """
    tally = MetricTally(metric, criterion)
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
    if count == 0:
        raise TaskError(
            f"{data} yielded no batch to evaluate on; it must yield its items on every pass "
            "(a one-shot iterable dataset or a generator is used up by its first pass: make "
            "__iter__ start over)."
        )
    mean_loss = total / count
    # outputs that make the loss NaN or infinite score nothing (argmax of NaNs is class 0)
    score = tally.compute(mean_loss) if math.isfinite(mean_loss) else math.nan
    return Evaluation(loss=mean_loss, metric=score)


def _data(task: Task, split: str, epoch: int | None = None) -> str:
    """How an error names a task's split: ``Task 'x': val_data (after epoch 2)``."""
    when = "" if epoch is None else f" (after epoch {epoch})"
    return f"Task {task.name!r}: {split}_data{when}"


def train(
    task: Task | str | os.PathLike[str],
    lr: Real | None = None,
    schedule: str | Schedule | Callable[[torch.optim.Optimizer], Any] | None = None,
    *,
    epochs: Whole | None = None,
    seed: Whole = 0,
    unit: Unit | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    verbose: bool = True,
    check: bool = True,
    on_epoch_end: Callable[[EpochRecord], bool | None] | None = None,
    test_each_epoch: bool = False,
) -> History:
    """Trains a fresh model of ``task`` and returns its :class:`History`.

    Args:
        task: What to train: a :class:`~lrkit.tasks.Task`, a built-in task's name
            (``"digits"``) or a task file's path, as :func:`lrkit.search` takes.
        lr: Base learning rate; ``None`` uses the task's own ``lr``.
        schedule: ``None`` for a constant LR; an lrkit schedule or spec string (``"cosine:12"``);
            or a callable ``optimizer -> scheduler`` for any torch scheduler, e.g.
            ``lambda opt: StepLR(opt, step_size=5, gamma=0.1)``. ``ReduceLROnPlateau`` is stepped
            with the validation loss once per epoch, whatever ``unit`` says.
        epochs: Epoch budget; ``None`` uses the task's ``epochs``.
        seed: Seeds the model's initial weights, the batch order and torch's RNG during the run
            (the caller's RNG state is restored afterwards).
        unit: ``"epoch"``: the scheduler steps once after each epoch; ``"step"``: after each
            optimizer step (schedule lengths are then counted in steps). ``None`` (default):
            as the schedule declares: a bound lrkit schedule's own ``unit``, per step for
            torch's per-iteration schedulers (``OneCycleLR``, ``CyclicLR``), else per epoch.
        device: Where to train, e.g. ``"cuda"``.
        progress: Show progress: a transient bar on a terminal, sparse lines on stderr off one.
        verbose: Print one line per epoch with its learning rate and losses.
        check: Run :func:`~lrkit.tasks.check_task` first, for a clear error on a broken task.
        on_epoch_end: Called with each epoch's record; return ``True`` to stop the run there.
        test_each_epoch: Also evaluate the test split after every epoch, into each record's
            ``test_loss`` and ``test_metric`` (for reports such as ``lrkit compare``; never use
            them to choose anything). Costs one more evaluation pass per epoch.

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
    if isinstance(task, (str, os.PathLike)):  # a built-in task's name or a task file, as search's
        from lrkit.tasks import load_task

        task = load_task(task)
    base_lr, n_epochs, seed = _check_args(task, lr, epochs, seed, unit)
    flags = ("progress", progress), ("verbose", verbose), ("check", check)
    for name, flag in (*flags, ("test_each_epoch", test_each_epoch)):
        check_flag(name, flag)
    if on_epoch_end is not None and not callable(on_epoch_end):
        raise bad_value("on_epoch_end", "None or a function of an EpochRecord", on_epoch_end)
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
        scheduler, schedule_name = _make_scheduler(schedule, optimizer, unit)
        per = getattr(scheduler, "steps_per_epoch", None)
        if unit == "epoch" and per:
            raise ConfigError(
                f"unit must be 'step' or None for a schedule bound with steps_per_epoch={per} "
                "(it moves 1/steps_per_epoch of an epoch per step() call), got 'epoch'."
            )
        unit = _declared_unit(scheduler) if unit is None else unit
        _warn_length(scheduler, n_epochs * (len(loader) if unit == "step" else 1), unit)
        run = _Run(task, model, optimizer, scheduler, unit, device, verbose, test_each_epoch)
        with ProgressBar(
            n_epochs * len(loader), enabled=progress, unit="steps", stderr=False
        ) as bar:
            for epoch in range(1, n_epochs + 1):
                bar.describe(f"epoch {epoch}/{n_epochs}")
                record = run.epoch(epoch, n_epochs, loader, bar)
                if run.diverged:
                    break
                if on_epoch_end is not None and on_epoch_end(record):
                    run.stopped_early = True
                    break
        test = None
        last = run.records[-1] if run.records else None
        if run.diverged:
            pass
        elif last is not None and last.test_loss is not None and last.test_metric is not None:
            test = Evaluation(loss=last.test_loss, metric=last.test_metric)  # tested already
        else:
            test_loader = task.test_loader()
            if test_loader is not None:
                test = evaluate(
                    model,
                    test_loader,
                    criterion,
                    task.metric,
                    device=device,
                    data=_data(task, "test"),
                )
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
        test_each_epoch: bool = False,
    ) -> None:
        self.task, self.model, self.optimizer = task, model, optimizer
        self.scheduler, self.unit, self.device, self.verbose = scheduler, unit, device, verbose
        self.test_loader = task.test_loader() if test_each_epoch else None
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
                return self._finish(epoch, n_epochs, lrs, value, None, None, started)
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
            data=_data(self.task, "val", epoch),
        )
        if not math.isfinite(val.loss):  # the epoch's last steps blew the weights up
            self.diverged = True
            return self._finish(epoch, n_epochs, lrs, total / max(count, 1), val, None, started)
        test = None
        if self.test_loader is not None:
            # in a fork of the RNG: starting a loader draws a seed from it, and the training
            # that follows (dropout) must draw what it draws without the test pass
            with torch.random.fork_rng(devices=_cuda_devices(self.device)):
                test = evaluate(
                    self.model,
                    self.test_loader,
                    self.task.criterion,
                    self.task.metric,
                    device=self.device,
                    data=_data(self.task, "test", epoch),
                )
        record = self._finish(epoch, n_epochs, lrs, total / max(count, 1), val, test, started)
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
        test: Evaluation | None,
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
            test_loss=_test_value(test, "loss", self.test_loader is not None),
            test_metric=_test_value(test, "metric", self.test_loader is not None),
        )
        self.records.append(record)
        if self.verbose:
            print(self._line(record, n_epochs))
        return record

    def _line(self, record: EpochRecord, n_epochs: int) -> str:
        head = f"Epoch {record.epoch}/{n_epochs}  lr={lr_text(record.lr)}"
        if self.diverged:
            # a finite training loss: the validation loss was the one that was not
            where = f"  val_loss={record.val_loss}" if math.isfinite(record.train_loss) else ""
            return (
                f"{head}  train_loss={record.train_loss:.4g}{where}  diverged at step "
                f"{self._steps}; stopping."
            )
        label = _METRIC_LABELS[self.task.metric]
        return (
            f"{head}  train_loss={record.train_loss:.4f}  val_loss={record.val_loss:.4f}  "
            f"{label}={record.val_metric:.4f}"
        )


def _test_value(test: Evaluation | None, name: str, tested: bool) -> float | None:
    """A record's test value: None when the run is not tested every epoch, NaN if it diverged."""
    if test is not None:
        return float(getattr(test, name))
    return math.nan if tested else None


def _check_args(
    task: Task, lr: object, epochs: object, seed: object, unit: str | None
) -> tuple[float, int, int]:
    """The base LR, the epochs and the seed as checked plain numbers (a NumPy number or a 0-d
    tensor too); a ConfigError for the first that is not one."""
    if not isinstance(task, Task):
        raise bad_value("task", "a lrkit.tasks.Task, a built-in task's name or a task file", task)
    if lr is None:
        if task.lr is None:
            raise ConfigError(
                f"lr must be given: task {task.name!r} has no default learning rate; pass one, "
                "e.g. the suggestion of a range test (`lrkit find`)."
            )
        lr = task.lr
    base_lr = positive_lr("lr", lr)
    given = check_epochs(epochs)
    seed = check_seed(seed)
    n_epochs = task.epochs if given is None else given
    if unit not in ("epoch", "step", None):
        raise bad_value("unit", "'epoch', 'step' or None (as the schedule declares)", unit)
    return base_lr, n_epochs, seed


def _in_run_units(length: float, scheduler: Any, unit: str) -> float:
    """A length in a bound schedule's own unit, in the run's: epochs of ``steps_per_epoch``
    steps in steps when the run counts steps."""
    per = scheduler.steps_per_epoch
    return length * per if per and unit == "step" else length


def _warn_lead_in(scheduler: Any, total: int, unit: str) -> None:
    """Warns when a run ends inside the fixed phases before an open-ended one (``warmup:10 >
    plateau`` over 2 epochs never reaches the base LR, nor the plateau phase)."""
    from lrkit.schedules.compose import Sequence
    from lrkit.stacklevel import caller_level

    schedule = scheduler.schedule
    if not isinstance(schedule, Sequence):
        return
    lead = 0.0
    for phase in schedule.phases:
        if phase.length is None:
            break
        lead += phase.length
    lead_in = _in_run_units(lead, scheduler, unit)
    if 0 < total <= lead_in:  # at lead_in the last step is still the lead-in's
        warnings.warn(
            f"schedule {schedule.to_spec()!r} runs {lead_in:g} {unit}s before its open-ended "
            f"phase, but the run ends after {total:g}: it never gets there; shorten its first "
            "phases or train longer.",
            UserWarning,
            stacklevel=caller_level(),
        )


def _warn_length(scheduler: Any, total: int, unit: str) -> None:
    """Warns when a bound schedule's length misses the run's: one that ends early holds its
    last LR (0 for a cosine) for the rest; one that ends late is cut before its end."""
    from lrkit.schedules.bound import ScheduledLR
    from lrkit.stacklevel import caller_level

    if not isinstance(scheduler, ScheduledLR):
        return
    if scheduler.schedule.length is None:  # open-ended (a plateau phase): its lead-in must end
        _warn_lead_in(scheduler, total, unit)
        return
    own = scheduler.schedule.length  # in the schedule's unit: epochs when steps_per_epoch is set
    per = scheduler.steps_per_epoch
    length = _in_run_units(own, scheduler, unit)
    if length == total:
        return
    spec = scheduler.schedule.to_spec()

    def count(n: float) -> str:
        return f"{n:g} {unit}{'' if n == 1 else 's'}"

    if length < total:
        base = float(scheduler.base_lrs[0])  # a floor (min_lr, end_lr) is an LR, not a factor
        last = float(scheduler.schedule(own, base))
        message = (
            f"schedule {spec!r} ends after {count(length)}, but the run lasts {count(total)}: "
            f"the last {total - length:g} run at its final LR ({lr_text(last)}, {last / base:g} x "
            "the base LR)"
        )
    else:
        message = (
            f"schedule {spec!r} lasts {count(length)}, but the run ends after {count(total)}: "
            "it never reaches its end"
        )
    if unit != "step":
        hint = ""
    elif per:  # its lengths are epochs of per steps: per may not be the run's
        hint = f" (it was bound with steps_per_epoch={per}: give it the loader's length)"
    else:
        hint = " (lengths count steps here: --unit step)"
    warnings.warn(
        f"{message}; give it the run's length{hint}.", UserWarning, stacklevel=caller_level()
    )


def _declared_unit(scheduler: Any) -> Unit:
    """How often ``scheduler`` expects ``step()``: what it declares, else what its kind implies."""
    if getattr(scheduler, "steps_per_epoch", None):  # bind(..., unit="epoch", steps_per_epoch=N)
        return "step"  # lengths in epochs, stepped after every batch
    declared = getattr(scheduler, "unit", None)
    if declared in ("epoch", "step"):
        return declared
    # torch's cyclic schedulers are defined per iteration (their docs step them per batch).
    if isinstance(
        scheduler, (torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.CyclicLR)
    ):
        return "step"
    return "epoch"


def _make_scheduler(
    schedule: object, optimizer: torch.optim.Optimizer, unit: Unit | None
) -> tuple[Any, str]:
    """Turns the ``schedule`` argument into a stepping object and a name for the history."""
    if schedule is None:
        return None, "constant"
    # Imported here so that a broken or absent schedules package never breaks plain training.
    from lrkit.schedules import Schedule, bind

    # A native Schedule is itself callable (step -> lr), so test for it before callables.
    if isinstance(schedule, (str, Schedule)):
        # the epoch lines show each epoch's LR: bind's own line for a plateau's cut would say it
        # again, torch's way (and once more after the last epoch, where it acts on nothing)
        bound = bind(optimizer, schedule, unit=unit or "epoch", verbose=False)
        # a spec keeps the caller's words ("cosine:3", not "cosine:steps=3")
        name = " ".join(schedule.split()) if isinstance(schedule, str) else schedule.to_spec()
        return bound, name
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


def _to(value: Any, device: str | torch.device) -> Any:
    return value.to(device, non_blocking=True) if isinstance(value, Tensor) else value


def _cuda_devices(device: str | torch.device) -> list[int]:
    """The CUDA devices whose RNG a run may touch (none on CPU), for ``fork_rng``."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return []
    return [dev.index if dev.index is not None else torch.cuda.current_device()]
