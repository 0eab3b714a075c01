"""``tune()``: the whole answer for one task: which LR, which schedule, with the evidence.

1. Range test: 100 steps at rising LRs (a curve too noisy to read swept again in 200) give the
   range where the loss falls, and a suggestion.
2. Search: log-uniform (stratified) trials from half a decade under that range to its top
   (1e-5 to 1 when there is none), the first at the range test's suggestion and the others
   filling the range around it, with successive halving, each trained under a cosine schedule
   over the full budget.
3. Comparison: the schedules of :func:`~lrkit.tune.plan.compare_schedules` at the chosen LR,
   from seeds ``seed``, ``seed + 1``, ...
4. Final run: the winner (picked on validation data, never on test data), trained once more
   with a fresh seed; its test score is the pipeline's answer.
5. Report: ``summary.json`` and a self-contained ``report.html``.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrkit import outputs
from lrkit.checks import MAX_SEED, check_epochs, check_flag, check_seed, plain, whole_number
from lrkit.devices import device_text
from lrkit.errors import ConfigError, RunError, bad_value
from lrkit.jsondata import dumps
from lrkit.plaintext import in_words, literal, lr_text, range_text
from lrkit.tune import stages
from lrkit.tune.plan import TunePlan, plan_budget

if TYPE_CHECKING:
    import torch
    from matplotlib.figure import Figure

    from lrkit.checks import Real, Whole
    from lrkit.compare import CompareResult
    from lrkit.compare.result import ScheduleRun
    from lrkit.finder import RangeTestResult
    from lrkit.history import History
    from lrkit.search import SearchResult
    from lrkit.search.objective import Value
    from lrkit.tasks import Task

DEFAULT_OUT = Path("lrkit-out/tune")
SETTING_NAMES = {  # in the order a note names them
    "task": "task",
    "task_sha256": "task file content",
    "seed": "seed",
    "epochs": "epoch count per run",
    "budget": "budget",
    "value": "value judging the search",
}
REUSED = "kept from an earlier run in this folder"
FINAL_SEED_OFFSET = 1000  # the final run's seed differs from every search and comparison seed
MAX_TUNE_SEED = MAX_SEED - FINAL_SEED_OFFSET


@dataclass(frozen=True)
class TuneResult:
    """Everything ``tune`` found; ``summary`` is what ``summary.json`` holds."""

    task: str
    plan: TunePlan
    range_test: RangeTestResult
    search: SearchResult
    best_lr: float
    comparison: CompareResult
    schedule: str
    final: History
    summary: dict[str, Any]
    out: Path

    def __repr__(self) -> str:
        """One line: the answer and where its evidence is (the dataclass's repr printed every
        stage's every number: 91,000 characters)."""
        test = self.final.test_metric
        scored = "" if test is None else f", test_{self.final.metric}={test:.4g}"
        return (
            f"TuneResult(task={self.task!r}, best_lr={self.best_lr:.4g}, "
            f"schedule={self.schedule!r}{scored}, out={str(self.out)!r})"
        )


def tune(
    task: str | Path = "digits",
    *,
    budget: Whole | None = None,
    epochs: Whole | None = None,
    seed: Whole = 0,
    value: Value = "val_loss",
    device: str | torch.device = "cpu",
    out: str | Path = DEFAULT_OUT,
    command: str | None = None,
    say: Callable[[str], None] | None = None,
    progress: bool = True,
    trial_timeout: Real | None = None,
    n_workers: Whole = 1,
) -> TuneResult:
    """Runs range test -> search -> comparison -> final training -> report on ``task``.

    Args:
        task: A built-in task name or a task file path.
        budget: Training epochs for the whole pipeline (``None``: the default plan, see
            :func:`~lrkit.tune.plan.plan_budget`); too small a budget is a ConfigError.
        epochs: Epochs of each training run: every search trial, every schedule compared and
            the final run (``None``: the task's). The LR is searched for this budget, since the
            best LR depends on how long the run is.
        seed: Seeds every stage.
        value: What judges the search's trials, every epoch and at the end: ``"val_loss"``
            (the validation loss, minimized, as seed 000 does) or ``"val_metric"`` (the task's
            metric on the validation set, e.g. accuracy, maximized). The comparison of
            schedules is judged by the validation metric either way.
        device: Where to train.
        out: Run folder: ``summary.json``, ``report.html``, the stages' files; finished stages
            in it are reused by a rerun with the same settings (task, task file content, seed,
            epochs, budget, value). A run with other settings redoes the stages those settings
            change and replaces the files (the earlier search's trials stay in the folder's
            journal, in a study of their own).
        command: The command line to show under "how to reproduce".
        say: Where stage headers go (default: print); ``None`` output with ``progress=False``
            makes the pipeline silent.
        progress: Progress bars on a terminal.
        trial_timeout: Seconds after which a search trial fails and the search goes on (see
            :func:`lrkit.search.search`); not a setting of the run: a rerun reuses a finished
            search whatever its limit was.
        n_workers: Search trials at once, each in a fresh process (see
            :func:`lrkit.search.search`); not a setting of the run either: the trials' LRs and
            seeds are the same for any number of workers, and so are the trials successive
            halving stops (it judges them in slot order, as one worker does).

    Raises:
        ConfigError: Bad settings, a folder that cannot be written (or holds a report.html
            that lrkit did not write), a budget too small.
        TaskError: The task cannot be loaded or does not fit its loss.
        RunError: The search found no LR that trains the task, or no schedule trained at the
            LR it found (each stage's files say why), or the report could not be written.
            A rerun with the same settings reuses the finished stages, but searches again
            where the search found nothing.
    """
    from lrkit.finder_settings import DEFAULT_NUM_ITER
    from lrkit.search.objective import check_value
    from lrkit.search.portable import refuse_in_worker
    from lrkit.tasks import check_task, load_task

    refuse_in_worker("lrkit.tune")
    started = time.perf_counter()
    if not isinstance(task, (str, os.PathLike)):  # it is rerun, reused and reproduced by name
        raise ConfigError(
            "task must be a built-in task's name or a task file's path (a rerun reuses a "
            "run's stages, and its report reproduces it, by that name; put a Task in a file as "
            f"`task = Task(...)`), got a {type(task).__name__}."
        )
    check_value(value)
    check_flag("progress", progress)
    from lrkit.search.timeouts import check_trial_timeout

    n_workers = whole_number("n_workers", n_workers)
    trial_timeout = check_trial_timeout(plain(trial_timeout), n_workers)
    check_seed(
        seed,
        MAX_TUNE_SEED,
        f" (the final run trains from seed + {FINAL_SEED_OFFSET}, and no seed may pass {MAX_SEED})",
    )
    seed = plain(seed)  # np.int64(3) is a seed too
    budget = None if budget is None else plain(budget)  # checked by plan_budget
    given = check_epochs(epochs)
    device = device_text(device)  # torch.device("cuda", 0) too: summary.json records the text
    say = say or (lambda text: print(text, flush=True))
    if not isinstance(out, (str, os.PathLike)):
        raise bad_value("out", "a folder's path", out)
    folder = Path(out)
    stages.check_writable(folder)  # it makes nothing: a usage error leaves no folder behind
    loaded = load_task(task)
    check_task(loaded, device=device)  # first: it says what is wrong with an empty split
    epochs = loaded.epochs if given is None else given
    # before any work: a budget too small for the range test's first sweep and the smallest
    # pipeline after it fails fast
    plan_budget(epochs, budget, range_epochs=DEFAULT_NUM_ITER / len(loaded.train_loader()))
    with outputs.held(folder, "lrkit tune"):  # made here; another run on it would mix files in
        return _pipeline(
            task,
            loaded,
            folder,
            budget=budget,
            epochs=epochs,
            seed=seed,
            value=value,
            device=device,
            command=command,
            say=say,
            progress=progress,
            started=started,
            trial_timeout=trial_timeout,
            n_workers=n_workers,
        )


def _pipeline(
    task: str | Path,
    loaded: Task,
    folder: Path,
    *,
    budget: int | None,
    epochs: int,
    seed: int,
    value: Value,
    device: str,
    command: str | None,
    say: Callable[[str], None],
    progress: bool,
    started: float,
    trial_timeout: float | None = None,
    n_workers: int = 1,
) -> TuneResult:
    """The stages of :func:`tune` on ``loaded``, in ``folder``, which this process holds."""
    from lrkit.search.objective import value_name
    from lrkit.tasks import task_fingerprint, task_identity

    ref = task_identity(task)
    base = {
        "task": ref,  # ./t.py and t.py are one task
        "task_sha256": task_fingerprint(task),  # an edited task file is another run
        "seed": seed,
        "epochs": epochs,
    }
    run = {**base, "budget": budget}
    if value != "val_loss":  # the default's runs keep the settings (and study) they always had
        run["value"] = value

    _claim(folder, run, say)
    say(f"[1/4] range test on {loaded.name}")
    figures: dict[str, Figure] = {}  # each stage's plot, drawn once for its PNG and the report
    reused: list[str] = []  # the stages kept from an earlier run in the folder
    found = _range_test(loaded, folder, base, device, figures, say, reused)
    low, high = _search_range(found, say)
    # the rest of the budget, after what the range test really cost (a second sweep, or an
    # early stop at divergence)
    spent = found_epochs(found, loaded)
    plan = plan_budget(epochs, budget, range_epochs=spent, strict=False)
    if budget is not None and plan.estimated > budget:
        say(
            f"      note: the range test used {plan.range_epochs:g} epochs, so the smallest "
            f"pipeline, the range test included, needs about {plan.estimated}, over the budget "
            f"of {budget}"
        )

    start = search_start(found, low, high)
    first = f", the first at the suggestion {lr_text(start)}" if start is not None else ""
    say(
        f"[2/4] search: {plan.trials} trials in {range_text(low, high)}{first}, each under "
        f"{plan.search_schedule}" + (", successive halving" if plan.epochs > 1 else "")
    )
    settings: dict[str, Any] = {**run, "trials": plan.trials, "range": [low, high]}
    if start is not None:  # a run with no start keeps the study name it always had
        settings["start"] = start
    study = f"tune-search-{stages.digest(settings)}"
    kept = _kept_search(folder, study, say)
    searched = _search(
        ref,
        loaded,
        plan,
        folder,
        study,
        seed,
        value,
        device,
        (low, high),
        start,
        progress,
        figures,
        trial_timeout,
        n_workers,
    )
    if kept:
        say(f"      {REUSED}")
        reused.append("search")
    best = searched.best_trial
    if best is None:
        raise RunError(
            f"the search found no learning rate that trains {loaded.name!r}: "
            f"{_no_trial_finished(searched, trial_timeout)} (see {folder / outputs.SEARCH_CSV})."
        )
    best_lr = best.lr
    judged = value_name(value, loaded.metric)
    say(f"      best lr {lr_text(best_lr)} (validation {judged} {best.value:.4g})")
    if searched.count("failed"):  # a task that crashes in most trials is not a quiet matter
        say(f"      note: {searched.tally()} (see {folder / outputs.SEARCH_CSV})")

    n = len(plan.schedules)
    say(f"[3/4] comparing {n} schedule{'s' if n > 1 else ''} at lr {lr_text(best_lr)}")
    compared = _compare(loaded, plan, folder, base, best_lr, device, progress, figures, say, reused)
    winner = _winner(compared, loaded, best_lr, folder, say)

    say(f"[4/4] final training with {winner.label}")
    final = _stage(
        folder,
        "final",
        _final_settings(base, best_lr, winner),
        lambda: _final(loaded, best_lr, winner.spec, winner.unit, plan, seed, device, progress),
        say,
        reused,
    )
    summary = _summary(
        loaded,
        plan,
        found,
        (low, high),
        searched,
        best_lr,
        compared,
        winner.label,
        winner.unit,
        final,
        task_ref=str(task),
        seed=seed,
        value=value,
        device=device,
        budget=budget,
        command=command,
        seconds=time.perf_counter() - started,
        reused=reused,
    )
    result = TuneResult(
        task=loaded.name,
        plan=plan,
        range_test=found,
        search=searched,
        best_lr=best_lr,
        comparison=compared,
        schedule=winner.label,
        final=final,
        summary=summary,
        out=folder,
    )
    _write(result, figures)
    return result


def _claim(folder: Path, run: dict[str, Any], say: Callable[[str], None]) -> None:
    """Claims ``folder`` for the run of settings ``run``; one that held a run of other settings
    is said, and that run's files are removed first: a run stopped early leaves none beside its
    own (its search study stays in study.journal)."""
    changed = stages.changed(folder, run)
    if "task" in changed:  # another task: its file's content is beside the point
        changed = [key for key in changed if key != "task_sha256"]
    if changed:
        named = [name for key, name in SETTING_NAMES.items() if key in changed]
        what = in_words(named + [key for key in changed if key not in SETTING_NAMES])
        say(f"note: {folder} held a run with another {what}; this run's files replace its files")
        for name in outputs.TUNE:
            (folder / name).unlink(missing_ok=True)
    stages.claim(folder, run)


def _winner(
    compared: CompareResult, task: Task, lr: float, folder: Path, say: Callable[[str], None]
) -> ScheduleRun:
    """The comparison's winner, said; a RunError when none has a finite score."""
    winner = compared.best
    if winner is None:
        what = (
            "every schedule diverged"
            if all(run.diverged for run in compared.runs)
            else f"no schedule reached a finite validation {task.metric}"
        )
        raise RunError(
            f"{what} at lr {lr_text(lr)} on {task.name!r}; see {folder / outputs.COMPARE_JSON}."
        )
    tied = len(compared.tied_with_best())
    tie = f"; tied with {tied} on it, ahead by validation loss" if tied else ""
    say(f"      winner: {winner.label} (by validation {task.metric}{tie})")
    return winner


def _write(result: TuneResult, figures: Mapping[str, Figure]) -> None:
    """Writes the run's files; on a full disk, a RunError that says the answer all the same."""
    try:
        write_outputs(result, figures)
    except OSError as error:
        from lrkit.tune.report import final_score

        where = f"{error.filename}: " if error.filename else ""
        raise RunError(
            f"tune found lr {lr_text(result.best_lr)} with {result.schedule} "
            f"({final_score(result.summary)}), but could not write its report: "
            f"{where}{error.strerror or error}. Its finished stages are kept and reused when "
            "you run the same command again."
        ) from error


def _range_test(
    task: Task,
    folder: Path,
    base: dict[str, Any],
    device: str,
    figures: dict[str, Figure],
    say: Callable[[str], None],
    reused: list[str],
) -> RangeTestResult:
    from lrkit.finder import FinderWarning
    from lrkit.finder.task import range_test_task, write_range_test

    def run() -> RangeTestResult:
        with warnings.catch_warnings():  # the pipeline says the result's warning as a note
            warnings.simplefilter("ignore", FinderWarning)
            return range_test_task(task, seed=base["seed"], device=device)

    # the sweep's steps do not depend on how long a run is: another --epochs keeps it
    settings = {**{k: v for k, v in base.items() if k != "epochs"}, "stage": "range_test"}
    found: RangeTestResult = _stage(folder, "range_test", settings, run, say, reused)
    fig = found.plot(title=f"{literal(task.name)}: range test")
    with outputs.writing():  # Ctrl-C waits: a stage's files are all written or none
        write_range_test(folder, task.name, base["seed"], found, fig)
    figures["range_test"] = fig  # drawn once, for the file and the report
    return found


def search_start(found: RangeTestResult, low: float, high: float) -> float | None:
    """The search's first LR, as ``low="auto"`` has it: the range test's suggestion when the
    test found a range and the suggestion lies in [low, high]; the other trials fill around it."""
    start = found.suggestion
    if found.range is None or start is None or not low <= start <= high:
        return None
    return start


def _search_range(found: RangeTestResult, say: Callable[[str], None]) -> tuple[float, float]:
    """The range test's bracket; seed 000's whole range when the test found no range."""
    from lrkit.search.engine import DEFAULT_HIGH, DEFAULT_LOW, bracket

    if found.note:
        say(f"      note: {found.note}")
    if found.range is None:
        say(f"      no range: {found.warning or found.stop_reason.replace('_', ' ')}")
        say(f"      searching the default range {range_text(DEFAULT_LOW, DEFAULT_HIGH)} instead")
        return DEFAULT_LOW, DEFAULT_HIGH
    say(f"      suggestion {lr_text(found.suggestion)}, range {range_text(*found.range)}")
    if found.warning:
        say(f"      note: {found.warning}")
    return bracket(found)


def _search(
    task_ref: str | Path,
    task: Task,
    plan: TunePlan,
    folder: Path,
    study: str,
    seed: int,
    value: Value,
    device: str,
    lr_range: tuple[float, float],
    start_lr: float | None,
    progress: bool,
    figures: dict[str, Figure],
    trial_timeout: float | None = None,
    n_workers: int = 1,
) -> SearchResult:
    """The search, in a study named after the run's settings and range: a rerun of the same
    run resumes it, a run with other settings gets a study of its own in the same journal."""
    from lrkit.search import SearchWarning, search
    from lrkit.search.objective import value_name

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SearchWarning)  # tune says what it found itself
        searched = search(
            str(task_ref),
            *lr_range,
            plan.trials,
            seed=seed,
            start_lr=start_lr,
            sampler="stratified",
            pruner="halving",
            schedule=plan.search_schedule,
            epochs=plan.epochs,
            value=value,
            out=folder,
            study_name=study,
            resume="auto",
            device=device,
            progress=progress,
            trial_timeout=trial_timeout,
            n_workers=n_workers,
        )
    judged = value_name(value, task.metric)
    fig = searched.plot(title=f"{literal(task.name)}: search", ylabel=f"final validation {judged}")
    with outputs.writing():
        searched.write(folder, fig)
    figures["search"] = fig
    return searched


def _kept_search(folder: Path, study: str, say: Callable[[str], None]) -> bool:
    """Whether the folder's journal holds this search, finished (a rerun reads it back). One
    that found no LR (every trial failed, timed out or was pruned) is removed instead, read
    once: a rerun means to try again."""
    import optuna

    from lrkit.search.storage import default_storage
    from lrkit.search.study import study_state

    spec = default_storage(folder)
    if not Path(spec.location).exists():
        return False
    try:
        stored = optuna.load_study(study_name=study, storage=spec.open())
    except KeyError:
        return False
    if not study_state(stored).get("done"):
        return False
    if stored.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return True
    say("      the search kept from an earlier run found no learning rate: searching again")
    optuna.delete_study(study_name=study, storage=stored._storage)
    return False


def _no_trial_finished(searched: SearchResult, trial_timeout: float | None) -> str:
    """Why a search has no best trial, from its trials: each failed, timed out or was pruned.

    Example:
        >>> from lrkit.search.result import SearchResult, TrialRecord
        >>> def trial(n, state, error=None):
        ...     return TrialRecord(n, 0.1, None, state, 1.0, error=error)
        >>> late = "timed out: ran past trial_timeout=2 s"
        >>> r = SearchResult("s", ":memory:", "minimize", 0.01, 1.0, (trial(0, "failed", late),
        ...                  trial(1, "pruned")), ((0.01, 1.0),))
        >>> print(_no_trial_finished(r, 2.0))  # doctest: +NORMALIZE_WHITESPACE
        no trial finished (1 pruned, 1 failed, timed out): every trial not stopped early ran
        past the time limit of 2 s a trial (trial_timeout)
    """
    failed = [t for t in searched.trials if t.state == "failed"]
    if failed and all(t.timed_out for t in failed):
        limit = f" of {trial_timeout:g} s a trial" if trial_timeout is not None else ""
        why = f"ran past the time limit{limit} (trial_timeout)"
    else:
        why = "failed or diverged"
    if not searched.count("pruned"):
        return f"every trial {why}"
    return (
        f"no trial finished ({searched.tally(complete=False)}): every trial not stopped early {why}"
    )


def _compare(
    task: Task,
    plan: TunePlan,
    folder: Path,
    base: dict[str, Any],
    lr: float,
    device: str,
    progress: bool,
    figures: dict[str, Figure],
    say: Callable[[str], None],
    reused: list[str],
) -> CompareResult:
    from lrkit.compare import compare
    from lrkit.schedules.spec import MEANING

    settings = {
        **base,
        "stage": "compare",
        "lr": lr,
        "schedules": list(plan.schedules),
        "seeds": plan.seeds,
        "spec_meaning": MEANING,  # the specs' runs of an older lrkit are not these
    }
    compared: CompareResult = _stage(
        folder,
        "compare",
        settings,
        lambda: compare(
            task,
            lr,
            list(plan.schedules),
            seeds=plan.seeds,
            seed=base["seed"],
            epochs=plan.epochs,
            device=device,
            progress=progress,
        ),
        say,
        reused,
    )
    fig = compared.plot()
    with outputs.writing():
        compared.write(folder, fig)
    figures["compare"] = fig
    return compared


def _stage(
    folder: Path,
    stage: str,
    settings: dict[str, Any],
    run: Callable[[], Any],
    say: Callable[[str], None],
    reused: list[str],
) -> Any:
    """The stage's result kept in the folder from a run with these ``settings`` (said, and
    named in ``reused``), or ``run()``'s, kept for the next."""
    kept = stages.load(folder, stage, settings)
    if kept is not None:
        say(f"      {REUSED}")
        reused.append(stages.NAMES[stage])
        return kept
    result = run()
    stages.save(folder, stage, settings, result)
    return result


def _final_settings(base: dict[str, Any], lr: float, winner: Any) -> dict[str, Any]:
    """What the final run depends on besides the run's own settings: the LR and the schedule
    the stages before it chose."""
    from lrkit.schedules.spec import MEANING

    spec, unit = winner.spec, winner.unit
    return {**base, "stage": "final", "lr": lr, "spec": spec, "unit": unit, "spec_meaning": MEANING}


def _final(
    task: Task,
    lr: float,
    spec: str,
    unit: Any,
    plan: TunePlan,
    seed: int,
    device: str,
    progress: bool,
) -> History:
    from lrkit.training import train

    return train(
        task,
        lr,
        spec,
        epochs=plan.epochs,
        seed=seed + FINAL_SEED_OFFSET,
        unit=unit,
        device=device,
        progress=progress,
        verbose=False,
        check=False,
        test_each_epoch=True,
    )


def _summary(
    task: Task,
    plan: TunePlan,
    found: RangeTestResult,
    searched_range: tuple[float, float],
    searched: SearchResult,
    best_lr: float,
    compared: CompareResult,
    spec: str,
    unit: str,
    final: History,
    *,
    task_ref: str,
    seed: int,
    value: str,
    device: str,
    budget: int | None,
    command: str | None,
    seconds: float,
    reused: list[str],
) -> dict[str, Any]:
    from lrkit.report.reproduce import environment_versions

    stages = {
        "range_test": found_epochs(found, task),
        "search": searched.total_epochs,
        "comparison": compared.total_epochs,
        "final": final.epochs_run,
    }
    return {
        "task": task.name,
        "metric": task.metric,
        "best_lr": best_lr,
        # the range test's, under range_test.json's names
        "suggestion": found.suggestion,
        "range": list(found.range) if found.range else None,
        "searched_range": list(searched_range),
        "schedule": spec,
        "unit": unit,  # what the schedule's lengths count: "epoch" or "step"
        "test_metric": final.test_metric,
        "test_loss": final.test_loss,
        "final_val_loss": final.final_val_loss,
        "final_val_metric": final.final_val_metric,
        "final_seed": final.seed,
        "search": {  # under search.json's names
            "n_trials": searched.n_trials,
            "counts": searched.counts(),
            "total_epochs": searched.total_epochs,
            "value": value,
            "direction": searched.direction,
        },
        "comparison": compared.rows(),
        "epochs_used": round(sum(stages.values()), 2),
        "epochs_by_stage": {stage: round(epochs, 2) for stage, epochs in stages.items()},
        "seconds": round(seconds, 1),  # this run's: stages kept from an earlier one took none
        "reused": list(reused),
        "settings": {
            "task": task.name,
            "task_description": task.description,
            "task_ref": task_ref,
            "budget": budget,
            "plan": {
                "epochs": plan.epochs,
                "n_trials": plan.trials,
                "schedules": list(plan.schedules),
                "n_seeds": plan.seeds,
                "estimated_epochs": plan.estimated,
            },
            "seed": seed,
            "value": value,
            "device": device,
            "command": command,
        },
        "versions": environment_versions(),
    }


def found_epochs(found: RangeTestResult, task: Task) -> float:
    """The range test's cost in epochs: its training steps (a redone first sweep's included)
    over the steps in an epoch."""
    return round((len(found.lrs) + found.redone_steps) / len(task.train_loader()), 2)


def write_outputs(result: TuneResult, figures: Mapping[str, Figure] | None = None) -> None:
    """``summary.json`` and ``report.html`` in the run folder (``figures``: see tune_report)."""
    from lrkit.tune.report import tune_report

    with outputs.writing():  # the summary and the report both, or neither
        # a summary.json says the run is whole: an earlier run's goes before the report comes
        (result.out / outputs.SUMMARY).unlink(missing_ok=True)
        tune_report(result, figures)
        outputs.write_file(result.out / outputs.SUMMARY, _json(result.summary))


def _json(data: Any) -> str:
    return dumps(data) + "\n"
