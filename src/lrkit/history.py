"""What a training run returns: per-epoch records and the run's typed, frozen history."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Unit = Literal["epoch", "step"]


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
        val_loss: Mean validation loss after the epoch (NaN or inf if the epoch diverged).
        val_metric: Validation metric after the epoch (NaN if the epoch diverged).
        seconds: Wall time of the epoch, evaluation included; ignored by ``==``.
        test_loss: Mean test loss after the epoch, when the run was asked to test every epoch
            (``train(..., test_each_epoch=True)``); ``None`` otherwise, NaN if the epoch diverged.
        test_metric: Test metric after the epoch, likewise.
    """

    epoch: int
    lr: float
    lrs: tuple[float, ...]
    train_loss: float
    val_loss: float
    val_metric: float
    seconds: float = field(default=0.0, compare=False)
    # Last, with defaults, so that records built without them stay valid and equal as before.
    test_loss: float | None = None
    test_metric: float | None = None


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
        diverged: The training or validation loss became NaN or infinite and the run stopped
            there.
        stopped_early: ``on_epoch_end`` asked the run to stop (a pruned search trial).
        wall_time: Seconds the whole run took; ignored by ``==``.

    Example:
        >>> from lrkit.tasks import load_task
        >>> from lrkit.training import train
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

    def __repr__(self) -> str:
        """One line: the run and how it ended (the dataclass's repr printed the LR of every
        optimizer step: megabytes for a long run)."""
        last = self.records[-1] if self.records else None
        end = "" if last is None else f", val_{self.metric}={last.val_metric:.4g}"
        if self.test_metric is not None:
            end += f", test_{self.metric}={self.test_metric:.4g}"
        return (
            f"History(task={self.task!r}, lr={self.lr:.4g}, schedule={self.schedule!r}, "
            f"seed={self.seed}, epochs={self.epochs_run}/{self.epochs}{end}"
            f"{', diverged' if self.diverged else ''})"
        )

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
    def epoch_test_loss(self) -> tuple[float, ...]:
        """Test loss after each epoch; NaN where none was measured (see ``test_each_epoch``)."""
        return tuple(math.nan if r.test_loss is None else r.test_loss for r in self.records)

    @property
    def epoch_test_metric(self) -> tuple[float, ...]:
        """Test metric after each epoch; NaN where none was measured (see ``test_each_epoch``)."""
        return tuple(math.nan if r.test_metric is None else r.test_metric for r in self.records)

    @property
    def best_test_metric(self) -> float | None:
        """Best finite per-epoch test metric; ``None`` if no epoch was tested.

        For reporting only: choosing an epoch or a run by it would tune on the test data.
        """
        finite = [m for m in self.epoch_test_metric if math.isfinite(m)]
        return max(finite) if finite else None

    @property
    def best_test_loss(self) -> float | None:
        """Lowest finite per-epoch test loss; ``None`` if no epoch was tested (report only)."""
        finite = [v for v in self.epoch_test_loss if math.isfinite(v)]
        return min(finite) if finite else None

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
