"""What a comparison returns: one run per schedule, each trained on every seed, and the summary.

Test numbers are *reported*, never used to choose: :attr:`CompareResult.best` ranks runs by their
mean final validation metric, as a user picking a schedule must (choosing by test accuracy would
make the test accuracy an optimistic estimate).

Example:
    >>> from lrkit.history import EpochRecord, History
    >>> def run(label, val, test):
    ...     rec = EpochRecord(1, 0.1, (0.1,), 0.5, 0.4, val, test_loss=0.3, test_metric=test)
    ...     h = History("toy", "accuracy", 0.1, label, 0, "epoch", 1, (rec,), (0.1,), 0.3, test,
    ...                 False, False)
    ...     return ScheduleRun(label, label, 0.1, "epoch", "lrkit", (h,), steps_per_epoch=1)
    >>> result = CompareResult("toy", "accuracy", 0.1, 1, (0,),
    ...                        (run("cosine:1", 0.90, 0.99), run("step:1", 0.95, 0.80)))
    >>> result.best.label  # by validation, although cosine:1 tests better
    'step:1'
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lrkit.history import History, Unit
from lrkit.jsondata import dumps, jsonable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lrkit.compare.plot import ComparePlotData
    from lrkit.finder.result import RangeTestResult

Source = Literal["lrkit", "sklearn"]

METRIC_NAMES = {"accuracy": "acc", "r2": "r2", "neg_loss": "-loss"}
"""Short column names of the task metrics."""


@dataclass(frozen=True)
class Stat:
    """Mean and spread of one number over seeds.

    Attributes:
        values: One value per seed (NaN where that seed has none, e.g. it diverged).
        mean: Their mean; NaN if any is NaN (a diverged seed is not averaged away).
        std: Their sample standard deviation (``ddof=1``); 0 for one seed; NaN where the mean
            is.

    Example:
        >>> s = Stat.of([0.96, 0.98])
        >>> round(s.mean, 4), round(s.std, 4), s.format(".4f")
        (0.97, 0.0141, '0.9700±0.0141')
    """

    values: tuple[float, ...]
    mean: float
    std: float

    @classmethod
    def of(cls, values: list[float] | tuple[float, ...]) -> Stat:
        """The stat of ``values``; NaN mean and spread for none."""
        vals = tuple(float(v) for v in values)
        if not vals:
            return cls((), math.nan, math.nan)
        mean = math.fsum(vals) / len(vals)
        if len(vals) == 1 or not math.isfinite(mean):  # no spread beside a missing mean
            return cls(vals, mean, 0.0 if math.isfinite(mean) else math.nan)
        var = math.fsum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
        return cls(vals, mean, math.sqrt(var))

    def format(self, spec: str = ".4f", scale: float = 1.0) -> str:
        """``mean±std`` (just the mean for one seed; ``-`` when not finite)."""
        if not math.isfinite(self.mean):
            return "-"
        text = format(self.mean * scale, spec)
        return text if len(self.values) < 2 else f"{text}±{format(self.std * scale, spec)}"


@dataclass(frozen=True)
class ScheduleRun:
    """One row of the comparison: one schedule at one base LR, trained once per seed.

    Attributes:
        label: The row's name in the table: the spec as given (``"CosineAnnealingLR:12"``).
        spec: The spec trained, in lrkit's canonical form (``"cosine:steps=12"``), or
            ``"sklearn:<learning_rate>"`` for a scikit-learn row.
        lr: The base learning rate (a one-cycle's peak).
        unit: What the spec's lengths count: ``"epoch"`` or ``"step"`` (optimizer steps).
        source: ``"lrkit"`` (the task's own model and optimizer) or ``"sklearn"``
            (``MLPClassifier`` on the same split).
        histories: One :class:`~lrkit.history.History` per seed, in seed order; every epoch's
            test loss and metric are recorded.
        steps_per_epoch: Optimizer steps per epoch (to draw per-step LRs against epochs).
        note: One line on where the row comes from, shown under the table.
    """

    label: str
    spec: str
    lr: float
    unit: Unit
    source: Source
    histories: tuple[History, ...]
    steps_per_epoch: int = 1
    note: str = ""

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds trained, in order."""
        return tuple(h.seed for h in self.histories)

    @property
    def diverged(self) -> int:
        """How many seeds diverged."""
        return sum(h.diverged for h in self.histories)

    @property
    def final_val_metric(self) -> Stat:
        """Validation metric after the last epoch (what :attr:`CompareResult.best` ranks by)."""
        return Stat.of([_nan(h.final_val_metric, h) for h in self.histories])

    @property
    def final_val_loss(self) -> Stat:
        """Validation loss after the last epoch (the tie-break of :attr:`CompareResult.best`)."""
        return Stat.of([_nan(h.final_val_loss, h) for h in self.histories])

    @property
    def final_test_metric(self) -> Stat:
        """Test metric of the final model."""
        return Stat.of([_nan(h.test_metric, h) for h in self.histories])

    @property
    def best_test_metric(self) -> Stat:
        """Best test metric over the epochs (reported only: choosing by it would use the test)."""
        return Stat.of([_nan(h.best_test_metric, h) for h in self.histories])

    @property
    def final_test_loss(self) -> Stat:
        """Test loss of the final model."""
        return Stat.of([_nan(h.test_loss, h) for h in self.histories])

    @property
    def best_test_loss(self) -> Stat:
        """Lowest test loss over the epochs (reported only)."""
        return Stat.of([_nan(h.best_test_loss, h) for h in self.histories])

    @property
    def wall_time(self) -> Stat:
        """Seconds per training run."""
        return Stat.of([h.wall_time for h in self.histories])


def _nan(value: float | None, history: History) -> float:
    """A seed's number, NaN when it has none or the seed diverged."""
    if value is None or history.diverged:
        return math.nan
    return float(value)


@dataclass(frozen=True)
class CompareResult:
    """Every schedule of one comparison, with the table, the curves and the JSON of it.

    Attributes:
        task: The task's name.
        metric: The task's metric (higher is better): ``"accuracy"``, ``"r2"`` or ``"neg_loss"``.
        lr: The comparison's base LR (rows built from a range test may have their own).
        epochs: Epoch budget of every run.
        seeds: The seeds; each seed gives every schedule the same initial weights and batches.
        runs: One :class:`ScheduleRun` per schedule, in the order given, scikit-learn rows last.
        range_test: The range test behind the range-test one-cycle, if one was run.
        notes: Lines shown under the table (a schedule left out, and why).
        wall_time: Seconds the whole comparison took; ignored by ``==``.
    """

    task: str
    metric: str
    lr: float
    epochs: int
    seeds: tuple[int, ...]
    runs: tuple[ScheduleRun, ...]
    range_test: RangeTestResult | None = None
    notes: tuple[str, ...] = ()
    wall_time: float = field(default=0.0, compare=False)

    def __repr__(self) -> str:
        """One line: the comparison and its winner (the dataclass's repr printed every run's
        every epoch: 78,000 characters for six schedules on two seeds)."""
        best = self.best
        return (
            f"CompareResult(task={self.task!r}, lr={self.lr:.4g}, epochs={self.epochs}, "
            f"seeds={len(self.seeds)}, schedules={len(self.runs)}, "
            f"best={None if best is None else best.label!r})"
        )

    def ranked(self) -> tuple[ScheduleRun, ...]:
        """The task's own runs (not scikit-learn's), best first, by *validation* only.

        Higher mean final validation metric first; ties go to the lower mean final validation
        loss; runs without a finite mean (a seed diverged) come last.
        """

        def key(run: ScheduleRun) -> tuple[int, float, float]:
            metric, loss = run.final_val_metric.mean, run.final_val_loss.mean
            if not math.isfinite(metric):
                return (1, 0.0, 0.0)
            return (0, -metric, loss if math.isfinite(loss) else math.inf)

        return tuple(sorted((r for r in self.runs if r.source == "lrkit"), key=key))

    @property
    def total_epochs(self) -> int:
        """Epochs trained in all, over every run and seed (scikit-learn rows included)."""
        return sum(h.epochs_run for run in self.runs for h in run.histories)

    @property
    def best(self) -> ScheduleRun | None:
        """The winner by mean final **validation** metric (ties: validation loss), never by test.

        Only the task's own runs compete (scikit-learn rows train another model); ``None`` if
        none has a finite validation metric on every seed. The test columns are reported so
        that the winner's generalisation can be read, not used to pick it.
        """
        ranked = self.ranked()
        if not ranked or not math.isfinite(ranked[0].final_val_metric.mean):
            return None
        return ranked[0]

    def tied_with_best(self) -> tuple[ScheduleRun, ...]:
        """The runs whose mean final validation metric equals the winner's: the tie the lower
        validation loss broke (empty when the metric alone chose the winner)."""
        best = self.best
        if best is None:
            return ()
        score = best.final_val_metric.mean
        return tuple(r for r in self.ranked() if r is not best and r.final_val_metric.mean == score)

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per run (the CSV's rows): settings, means and standard deviations."""
        best = self.best
        out = []
        for run in self.runs:
            row: dict[str, Any] = {
                "schedule": run.label,
                "spec": run.spec,
                "source": run.source,
                "lr": run.lr,
                "unit": run.unit,
                "n_seeds": len(run.histories),
                "n_diverged": run.diverged,
                "best": run is best,
            }
            for name, stat in _stats(run):
                row[name] = stat.mean
                row[f"{name}_std"] = stat.std
            row["note"] = run.note
            out.append(row)
        return out

    def to_csv(self) -> str:
        """:meth:`rows` as CSV text (``compare.csv``)."""
        from lrkit.outputs import csv_text

        rows = self.rows()
        return csv_text(rows, list(rows[0]) if rows else ["schedule"])

    def table(self, encoding: str | None = None) -> str:
        """The comparison as fixed-width text, winner marked ``*``, notes underneath; laid out
        for a stream of ``encoding`` (``±`` as ``+/-`` where it cannot show it)."""
        from lrkit.compare.table import format_table

        return format_table(self, encoding)

    def plot_data(self) -> ComparePlotData:
        """What :meth:`plot` draws, as arrays (see :func:`lrkit.compare.plot.plot_data`)."""
        from lrkit.compare.plot import plot_data

        return plot_data(self)

    def plot(self, fig: Figure | None = None, *, title: str | None = None) -> Figure:
        """Overlaid curves: validation loss, validation and test metric, and LR against epoch.

        One colour per schedule, the mean over seeds with a band for the spread. Never uses
        pyplot: nothing opens or blocks; save it with ``fig.savefig("compare.png")``.
        """
        from lrkit.compare.plot import plot_compare

        return plot_compare(self, fig, title=title)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-able data (NaN and infinities become ``None``)."""
        best = self.best
        data: dict[str, Any] = {
            "task": self.task,
            "metric": self.metric,
            "lr": self.lr,
            "epochs": self.epochs,
            "seeds": list(self.seeds),
            "best": None if best is None else best.label,
            "selected_by": f"mean final validation {self.metric} (ties: validation loss)",
            "seconds": self.wall_time,
            "notes": list(self.notes),
            "range_test": None if self.range_test is None else _range_dict(self.range_test),
            "rows": self.rows(),
            "runs": [_run_dict(run) for run in self.runs],
        }
        clean: dict[str, Any] = jsonable(data)
        return clean

    def write(self, folder: str | os.PathLike[str], fig: Figure | None = None) -> None:
        """Writes ``compare.json``, ``compare.csv`` and ``compare.png`` (``fig``, by default
        :meth:`plot`'s) to ``folder`` (made if missing), as ``lrkit compare`` and ``lrkit
        tune`` do."""
        from lrkit import outputs

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        fig = self.plot() if fig is None else fig

        outputs.write_file(folder / outputs.COMPARE_JSON, self.to_json() + "\n")
        outputs.write_file(folder / outputs.COMPARE_CSV, self.to_csv())
        outputs.save_png(fig, folder / outputs.COMPARE_PNG)

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as strict JSON text."""
        return dumps(self.to_dict(), indent=indent)


def _stats(run: ScheduleRun) -> list[tuple[str, Stat]]:
    # the metric's keys are the same for every task (``metric`` names it), as in search.json
    return [
        ("final_val_metric", run.final_val_metric),
        ("final_val_loss", run.final_val_loss),
        ("final_test_metric", run.final_test_metric),
        ("best_test_metric", run.best_test_metric),
        ("final_test_loss", run.final_test_loss),
        ("best_test_loss", run.best_test_loss),
        ("seconds", run.wall_time),
    ]


def _range_dict(result: RangeTestResult) -> dict[str, Any]:
    return {
        "range": None if result.range is None else list(result.range),
        "suggestion": result.suggestion,
        "stop_reason": result.stop_reason,
        "steps": result.steps,
        "note": result.note,
    }


def _run_dict(run: ScheduleRun) -> dict[str, Any]:
    return {
        "label": run.label,
        "spec": run.spec,
        "lr": run.lr,
        "unit": run.unit,
        "source": run.source,
        "steps_per_epoch": run.steps_per_epoch,
        "note": run.note,
        "histories": [
            {
                "seed": h.seed,
                "schedule": h.schedule,
                "diverged": h.diverged,
                "seconds": h.wall_time,
                "test_loss": h.test_loss,
                "test_metric": h.test_metric,
                "epochs": [
                    {
                        "epoch": r.epoch,
                        "lr": r.lr,
                        "train_loss": r.train_loss,
                        "val_loss": r.val_loss,
                        "val_metric": r.val_metric,
                        "test_loss": r.test_loss,
                        "test_metric": r.test_metric,
                    }
                    for r in h.records
                ],
                "step_lrs": list(h.step_lrs),
            }
            for h in run.histories
        ],
    }


__all__ = ["METRIC_NAMES", "CompareResult", "ScheduleRun", "Source", "Stat"]
