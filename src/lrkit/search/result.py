"""What a search returns: every trial, the best one, a plot and table exports."""

from __future__ import annotations

import copy
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import optuna

from lrkit import outputs
from lrkit.checks import plain, whole_number
from lrkit.errors import bad_value
from lrkit.jsondata import dumps
from lrkit.outputs import csv_text, write_file
from lrkit.plaintext import lr_text
from lrkit.search.samplers import OWN_ATTRS, ROUND_ATTR, SEED_ATTR, whole_attr

if TYPE_CHECKING:  # matplotlib is imported by plot() only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

State = Literal["complete", "pruned", "failed", "interrupted", "running", "waiting"]
STATES: tuple[State, ...] = ("complete", "pruned", "failed", "interrupted", "running", "waiting")
FINISHED: tuple[State, ...] = STATES[:4]
"""The states a trial can end in: a search that returned has none running or waiting."""


class SearchWarning(UserWarning):
    """Something about a search the caller should know that does not stop it (a finished
    study returned as it was, a search in which every trial failed)."""


class FinishedStudyWarning(SearchWarning):
    """The study already finished with these settings: its results are returned, no trial ran."""


TRACEBACK = "traceback"  # the user attr of a failed trial's traceback (run_trial's)
TIMED_OUT = "timed out: "  # how the error of a trial past its trial_timeout begins
STOPPED = ("pruned", "failed", "interrupted")  # states of a trial that ended early
INTERRUPTED = "interrupted: its worker stopped before the trial finished; queued again"


def is_interrupted(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a stored trial is an interrupted attempt (Optuna's FAIL, with its retry queued)."""
    return (
        trial.state == optuna.trial.TrialState.FAIL and trial.user_attrs.get("error") == INTERRUPTED
    )


def is_foreign(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` was added to a search's study with Optuna itself, not by the search,
    which gives each of its trials a seed: it is listed, never the best."""
    return SEED_ATTR not in trial.user_attrs


_STATES: dict[optuna.trial.TrialState, State] = {
    optuna.trial.TrialState.COMPLETE: "complete",
    optuna.trial.TrialState.PRUNED: "pruned",
    optuna.trial.TrialState.FAIL: "failed",
    optuna.trial.TrialState.RUNNING: "running",
    optuna.trial.TrialState.WAITING: "waiting",
}


@dataclass(frozen=True)
class TrialRecord:
    """One trial: the LR it trained at and what came of it.

    Attributes:
        number: Optuna's trial number (fixed when the trial was queued, whatever ran it).
        lr: The learning rate; ``nan`` for a trial that never started.
        value: The objective's final value; ``None`` unless the trial completed.
        state: ``"complete"``, ``"pruned"``, ``"failed"``, ``"running"``, ``"waiting"`` or
            ``"interrupted"``: its worker stopped (Ctrl-C, a kill, a lost machine) before it
            finished, and the same LR and seed were queued again as a new trial.
        duration: Seconds from start to finish (``None`` while it runs).
        intermediate: ``(step, value)`` pairs the trial reported (one per epoch for tasks).
        error: Why a failed or interrupted trial stopped (the exception's first line), or
            what a pruned one's ``TrialPruned`` said, if anything.
        seed: The seed the trial trained with.
        round: The narrowing round it belongs to (0 for the first).
        attrs: Everything else the trial recorded (e.g. ``test_metric``, ``epochs_run``).
        params: The parameters other than the LR that the objective suggested itself
            (``trial.suggest_float("momentum", 0.8, 0.99)``).
        foreign: Added to the search's study with Optuna itself (none of the search's
            settings on it, perhaps no LR): listed, never the best.
    """

    number: int
    lr: float
    value: float | None
    state: State
    duration: float | None
    intermediate: tuple[tuple[int, float], ...] = ()
    error: str | None = None
    seed: int | None = None
    round: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    foreign: bool = False

    def __repr__(self) -> str:
        """One line (the dataclass's repr printed every reported value), numbers to four
        figures.

        Example:
            >>> TrialRecord(3, 0.0123456, 0.51234, "complete", 1.2, ((1, 0.9), (2, 0.51234)))
            TrialRecord(number=3, lr=0.01235, value=0.5123, state='complete', reports=2)
        """
        value = "None" if self.value is None else f"{self.value:.4g}"
        more = f", params={self.params!r}" if self.params else ""
        more += f", error={self.error!r}" if self.error is not None else ""
        more += ", foreign=True" if self.foreign else ""
        return (
            f"TrialRecord(number={self.number}, lr={self.lr:.4g}, value={value}, "
            f"state={self.state!r}, reports={len(self.intermediate)}{more})"
        )

    @property
    def last_value(self) -> float | None:
        """The last value the trial reported (``None`` before its first report)."""
        return self.intermediate[-1][1] if self.intermediate else None

    @property
    def timed_out(self) -> bool:
        """Whether the trial ran past the search's ``trial_timeout`` (and failed for it)."""
        return (self.error or "").startswith(TIMED_OUT)

    @property
    def epochs_run(self) -> int:
        """Epochs the trial trained (its reported steps when it did not say)."""
        if "epochs_run" in self.attrs:
            return int(self.attrs["epochs_run"])
        return len(self.intermediate)

    @staticmethod
    def from_frozen(trial: optuna.trial.FrozenTrial) -> TrialRecord:
        # a copy of its own: a list or dict the objective set is the storage's own object
        attrs: dict[str, Any] = {
            k: copy.deepcopy(v) if isinstance(v, (list, dict)) else v
            for k, v in trial.user_attrs.items()
        }
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        return TrialRecord(
            number=trial.number,
            lr=float(trial.params.get("lr", math.nan)),
            value=trial.value if trial.state == optuna.trial.TrialState.COMPLETE else None,
            state="interrupted" if is_interrupted(trial) else _STATES[trial.state],
            duration=duration,
            intermediate=tuple(
                sorted((int(k), float(v)) for k, v in trial.intermediate_values.items())
            ),
            # lrkit's error text, on a trial that did not complete (on one that did, an
            # "error" is the objective's own attr)
            error=attrs.pop("error", None)
            if trial.state != optuna.trial.TrialState.COMPLETE
            else None,
            seed=whole_attr(attrs.pop(SEED_ATTR, None)),
            round=whole_attr(attrs.pop(ROUND_ATTR, 0), 0) or 0,
            attrs={k: v for k, v in attrs.items() if not k.startswith(OWN_ATTRS)},
            params={k: v for k, v in trial.params.items() if k != "lr"},
            foreign=is_foreign(trial),
        )


@dataclass(frozen=True)
class SearchResult:
    """The outcome of :func:`lrkit.search.search`.

    Attributes:
        study_name: The Optuna study's name.
        storage: Where the study lives (a journal path, a database URL without password).
        direction: ``"minimize"`` or ``"maximize"``.
        low, high: The range searched in the first round.
        trials: Every trial, by number.
        rounds: The ``(low, high)`` range of each narrowing round.
        objective: What each trial ran, as stored with the study (``"task digits, schedule
            constant, 12 epochs, val_loss"``, or an objective function's module and name).
        task: The task's name, for a search of a task run by this process (``None`` for an
            objective function, or a result read from storage with :func:`collect`).
        metric: The task's metric (``"accuracy"``), for a search of a task run by this process.
        value_name: What a trial's value is, for tables: ``"val loss"``, ``"val accuracy"``
            (a task's search), or ``"value"`` (an objective function's).
        settings: The rest of what defines the search, as stored with the study: ``n_trials``,
            ``n_rounds``, ``seed``, ``sampler``, ``pruner``, ``narrow``, ``start_lr`` and
            ``auto_ends`` (the ends a range test gave).
    """

    study_name: str
    storage: str
    direction: Literal["minimize", "maximize"]
    low: float
    high: float
    trials: tuple[TrialRecord, ...]
    rounds: tuple[tuple[float, float], ...] = ()
    objective: str = ""
    task: str | None = None
    metric: str | None = None
    value_name: str = "value"
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def completed(self) -> tuple[TrialRecord, ...]:
        """The trials that ran to the end and returned a value, by number."""
        return tuple(t for t in self.trials if t.state == "complete")

    @property
    def best_trial(self) -> TrialRecord | None:
        """The completed trial with the best value; ``None`` when no trial completed. Only the
        search's own trials count: one added to its study with Optuna itself (``foreign``) is
        listed, not read as the best."""
        done = [
            t
            for t in self.completed
            if t.value is not None
            and math.isfinite(t.value)
            and math.isfinite(t.lr)
            and not t.foreign
        ]
        if not done:
            return None
        sign = 1.0 if self.direction == "minimize" else -1.0
        return min(done, key=lambda t: (sign * float(t.value or 0.0), t.number))

    @property
    def best_lr(self) -> float | None:
        """The best trial's learning rate; ``None`` when no trial completed."""
        best = self.best_trial
        return None if best is None else best.lr

    @property
    def best_value(self) -> float | None:
        """The best trial's value (its validation loss by default); ``None`` when no trial
        completed."""
        best = self.best_trial
        return None if best is None else best.value

    def __repr__(self) -> str:
        """One line: the study, the best trial and the trial count by state (the dataclass's
        repr printed every trial).

        Example:
            >>> SearchResult("s", ":memory:", "minimize", 1e-5, 1.0, ())
            SearchResult(study_name='s', best_lr=None, best_value=None, trials=0)
        """
        counts = ", ".join(f"{n} {state}" for state in STATES if (n := self.count(state)))
        tally = f"{len(self.trials)} ({counts})" if counts else f"{len(self.trials)}"
        return (
            f"{type(self).__name__}(study_name={self.study_name!r}, best_lr={self.best_lr!r}, "
            f"best_value={self.best_value!r}, trials={tally})"
        )

    def count(self, state: State) -> int:
        """The trials in ``state`` (``"complete"``, ``"pruned"``, ``"failed"``, ...)."""
        if state not in STATES:  # a typo ("completed") would count 0 without a word
            raise bad_value("state", f"one of {', '.join(STATES)}", state)
        return sum(t.state == state for t in self.trials)

    def counts(self) -> dict[str, int]:
        """The trials by the state they ended in (``search.json``'s ``counts``).

        Example:
            >>> SearchResult("s", ":memory:", "minimize", 1e-5, 1.0, ()).counts()
            {'complete': 0, 'pruned': 0, 'failed': 0, 'interrupted': 0}
        """
        return {state: self.count(state) for state in FINISHED}

    @property
    def n_trials(self) -> int:
        """The trials, less the interrupted ones (each was queued again as a trial of its own)."""
        return len(self.trials) - self.count("interrupted")

    @property
    def first_failure(self) -> TrialRecord | None:
        """The first failed trial that says why (its ``error``), or ``None``."""
        return next((t for t in self.trials if t.state == "failed" and t.error), None)

    def tally(self, *, complete: bool = True) -> str:
        """``"18 complete, 2 pruned, 3 failed, 2 of them timed out"``: the trials by state,
        states with none left out (but ``complete``). Interrupted trials come last, as extra
        rows: each ran again as a later trial, which is counted in its own state (``"6
        complete; and 1 interrupted, run again"``). ``complete=False`` leaves the complete ones
        out (for a search with none)."""
        parts = [f"{self.count('complete')} complete"] if complete else []
        parts += [f"{self.count(s)} {s}" for s in ("pruned", "failed") if self.count(s)]
        timed_out = sum(t.state == "failed" and t.timed_out for t in self.trials)
        if timed_out:
            failed = self.count("failed")
            if timed_out < failed:
                parts[-1] += f", {timed_out} of them timed out"
            else:
                parts[-1] += ", all timed out" if failed > 1 else ", timed out"
        text = ", ".join(parts)
        if self.count("interrupted"):
            again = f"{self.count('interrupted')} interrupted, run again"
            text = f"{text}; and {again}" if text else again
        return text

    @property
    def total_epochs(self) -> int:
        """Training epochs summed over all trials: the compute the search spent."""
        return sum(t.epochs_run for t in self.trials)

    def rows(self, *, nested: bool = False) -> list[dict[str, Any]]:
        """One flat dict per trial, for tables and CSV: the same columns whatever the trials'
        states, then what the objective recorded (a failure's traceback, many lines, is left
        to :meth:`to_dict`). A NumPy number the objective recorded is the Python number it
        holds; a list or dict, left out of a table's row, is kept with ``nested`` (for JSON)."""
        rows = []
        for t in self.trials:
            row = {
                "number": t.number,
                "lr": t.lr,
                "value": t.value,
                "state": t.state,
                "last_value": t.last_value,
                "seconds": None if t.duration is None else round(t.duration, 3),
                "epochs_run": t.epochs_run,
                "round": t.round,
                "seed": t.seed,
                "error": t.error,
            }
            # the objective's own, after lrkit's columns, which a same name never overwrites
            for kind, extra in (("param", t.params), ("attr", t.attrs)):
                for key, value in extra.items():
                    value = plain(value)
                    kept = _scalar(value) or (nested and _nested_json(value))
                    if not kept or key == TRACEBACK:
                        continue
                    if key not in row:
                        row[key] = value
                    elif row[key] != value:  # epochs_run, as a task trial records it: the same
                        renamed = f"{kind}_{key}"
                        while renamed in row or renamed in t.attrs or renamed in t.params:
                            renamed = f"{kind}_{renamed}"  # never over one of the objective's
                        row[renamed] = value
            rows.append(row)
        return rows

    def to_csv(self, path: str | Path | None = None) -> str:
        """The trials as CSV text; also written to ``path`` when given."""
        rows = self.rows()
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        text = csv_text(rows, columns or ["number"])
        if path is not None:
            write_file(Path(path), text)
        return text

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (what ``search.json`` holds): the fields, and each trial as
        a row of :meth:`rows` with its traceback where it failed."""
        data = asdict(self)
        data["trials"] = [
            {**row, TRACEBACK: t.attrs.get(TRACEBACK)}
            for row, t in zip(self.rows(nested=True), self.trials)
        ]
        data["best_lr"] = self.best_lr
        data["best_value"] = self.best_value
        data["best_trial"] = None if self.best_trial is None else self.best_trial.number
        data["total_epochs"] = self.total_epochs
        data["counts"] = self.counts()
        return data

    def write(self, folder: str | os.PathLike[str], fig: Figure | None = None) -> str:
        """Writes ``search.json``, ``search.csv`` and ``search.png`` (``fig``, by default
        :meth:`plot`'s) to ``folder`` (made if missing), as ``lrkit search`` and ``lrkit tune``
        do; returns the JSON text."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        fig = self.plot() if fig is None else fig
        document = self.to_json(folder / outputs.SEARCH_JSON)
        self.to_csv(folder / outputs.SEARCH_CSV)
        outputs.save_png(fig, folder / outputs.SEARCH_PNG)
        return document

    def to_json(self, path: str | Path | None = None) -> str:
        """The result as JSON text (NaN written as null); also written to ``path`` when given."""
        text = dumps(self.to_dict())
        if path is not None:
            write_file(Path(path), text + "\n")
        return text

    def ranked(self) -> list[TrialRecord]:
        """Every trial, completed ones first and best first, then pruned ones by their last
        reported value, then running, waiting, failed and interrupted ones; ties by number."""
        sign = 1.0 if self.direction == "minimize" else -1.0
        states = ("complete", "pruned", "running", "waiting", "failed", "interrupted")
        order = {state: i for i, state in enumerate(states)}

        def key(t: TrialRecord) -> tuple[int, int, float, int]:
            last = t.value if t.value is not None else t.last_value
            last = math.inf if last is None else last
            ranked = sign * last if math.isfinite(last) else math.inf
            return order[t.state], t.foreign, ranked, t.number  # Optuna's own after the search's

        return sorted(self.trials, key=key)

    def table(self, top: int | None = 10) -> str:
        """A plain-text table of the best ``top`` trials (completed first, by value), for
        terminals, with a last line counting those left out.

        A pruned, failed or interrupted trial shows the last value it reported, in parentheses.
        """
        if top is not None:
            expected = "a whole number of trials (0 or more), or None for all"
            top = whole_number("top", top, least=0, expected=expected)
        chosen = self.ranked()[: top if top is not None else None]
        width = max(10, len(self.value_name))
        lines = [
            f"{'trial':>5}  {'lr':>10}  {self.value_name:>{width}}  {'state':<11}  {'epochs':>6}  "
            f"{'time s':>7}"
        ]
        for t in chosen:
            if t.value is not None:
                value = f"{t.value:.4g}"
            elif t.state in STOPPED and t.last_value is not None:
                value = f"({t.last_value:.4g})"
            else:
                value = ""
            duration = "" if t.duration is None else f"{t.duration:.1f}"
            lr = lr_text(t.lr) if math.isfinite(t.lr) else "-"  # stopped before it drew one
            lines.append(
                f"{t.number:>5}  {lr:>10}  {value:>{width}}  {t.state:<11}  "
                f"{t.epochs_run:>6}  {duration:>7}"
            )
        left = len(self.trials) - len(chosen)
        if left:
            lines.append(
                f"... and {left} more trial{'s' if left > 1 else ''} (the best shown first)"
            )
        if any(t.state in STOPPED and t.last_value is not None for t in chosen):
            lines.append(f"({self.value_name}): the last value a trial reported before it stopped")
        return "\n".join(lines)

    def plot(
        self, ax: Axes | None = None, *, title: str | None = None, ylabel: str | None = None
    ) -> Figure:
        """Value against LR on a log axis; pruned trials hollow, failed ones marked at the top.

        ``ylabel`` names the value (default: :attr:`value_name` and the direction, such as
        ``"val loss (minimize)"``, or ``"objective (minimize)"`` for an objective's plain
        ``"value"``). Draws on ``ax`` when given, else on a new figure; returns the figure (the
        one ``ax`` is on); never blocks on a headless machine.
        """
        from lrkit.search.plot import plot_search

        return plot_search(self, ax=ax, title=title, ylabel=ylabel)


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool)) or value is None


def _nested_json(value: Any) -> bool:
    """Whether ``value`` is a list or dict that ``search.json`` holds as it is (its items plain
    too, written as lrkit writes JSON: an infinite key is no key)."""
    if not isinstance(value, (list, dict)):
        return False
    try:
        dumps(value)
    except (TypeError, ValueError):
        return False
    return True
