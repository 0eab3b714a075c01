"""How much training a learning-rate search spends to find an LR within 1% of the best one.

The headline benchmark of ``lrkit.search``. Six search methods, each run through the real
``lrkit.search(...)`` (its samplers, its pruners, an in-memory Optuna study), on four tasks
(``TASKS``: the built-in ``digits`` and ``friedman``, two MNIST-1D CNNs):

1. ``seed000 random``: seed 000's plain random search, 10 trials of ``10 ** U(-5, 0)`` at full
   budget, the best by validation loss;
2. ``stratified``: 10 trials of lrkit's Latin-hypercube sampler (van der Corput order);
3. ``stratified+halving``: 20 stratified trials under successive halving (``pruner="halving"``:
   from 1 epoch, reduction factor 3);
4. ``finder+halving``: 15 such trials in the range test's bracket (``lrkit.search.bracket``), the
   first at the range test's suggestion where it lies in the bracket (``start_lr``, as
   ``low="auto"`` does); the range test runs for real on the real task and its steps count as
   training compute (both sweeps of a curve too noisy to read in 100 steps); where it finds no
   range (``low="auto"`` would stop with an error) the search falls back to seed 000's range,
   with no first LR. The other trials fill the bracket around the first, each in the middle
   of the largest gap left (``stratified_positions(first=...)``);
5. ``finder+hyperband``: the same search under Optuna's Hyperband (``pruner="hyperband"``:
   brackets whose first rung is 1, 3, 9, ... epochs up to the task's budget, as a task's search
   has them), which hedges against judging an LR by its first epoch;
6. ``tpe+median``: 20 trials of Optuna's TPE under the median pruner.

**A tabular benchmark over real training curves.** Each task is first trained for real, at constant
LR, at every point of a 37-point log grid (1e-5 .. 10, 6 per decade) from 20 seeds, recording every
epoch's validation loss and the final held-out score (test accuracy, or test R² floored at 0; a
diverged run scores as always guessing the commonest class, or R² 0). A search trial then
"trains" by replaying the recorded run of the grid LR nearest its LR (in log space), from oracle
seed ``trial seed % 20``: it reports each epoch's validation loss to the pruner and stops when
told, so the pruners see real curves, and the epochs it replays are the compute it spends; a run
that diverged fails after the epochs it ran. Why tabular: training every trial of 6 methods x 40
search seeds x 4 tasks for real would take about an hour on 2 CPU cores for one table, and as
long again for every setting compared; the grid takes about 25 minutes, once, and every method
reads the same runs. Why 20 seeds: a single run's score varies by 0.004-0.027 (sd) at the best
LR, so the mean of 5 has a standard error (up to 0.011) as wide as the 1% band it is judged by,
and which LRs score within 1% moved between two recordings of 10 seeds each.

**Recorded runs are in the repository** (``benchmarks/recorded/``: the grid's runs and the range
tests, gzipped JSON), so the table is the same on every machine and takes about 20 s. Training is
deterministic on one machine but not bit for bit across machines, and a recording from scratch
on another machine judges slightly different runs. A run that needs runs not recorded yet (a
changed task, more seeds, more search seeds) trains them and adds them to those files.

**Scoring.** The oracle best of a task is the best grid LR's mean held-out score over the oracle
seeds. After each trial, in trial order (completion order with one worker), the incumbent is the
completed trial of lowest final validation loss, what the search would return; its score is the
mean held-out score at its grid LR (what retraining at that LR gives, less noisy than one seed's
run). *To target* is the epochs spent, summed over all trials (plus the range test's steps, in
epochs, for the ``finder+`` methods), up to the first trial after which the incumbent scores at
least 99% of the oracle best; a search that never gets there is charged all it spent. The table
gives its median over the search seeds and how many times less that is than ``seed000 random``'s;
the *ERT* (COCO's expected running time: all epochs spent by the seeds, to the target or to the
end, over the number of seeds that reached it), which a search cannot improve by simply stopping
early; the seeds that reached the target; the mean final score (the incumbent at the end); and the
mean epochs spent in all.

``--by-metric`` has every search but the baseline keep, and prune by, the validation metric
(accuracy, R²) recorded after each epoch instead of the validation loss.

Run: ``python benchmarks/search_efficiency.py [--seeds 40] [--tasks digits friedman ...]
[--oracle-seeds 10] [--by-metric]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache, cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

import lrkit
import regret_tasks as rt
from lrkit.search import SearchResult, bracket
from lrkit.search.pruners import make_pruner
from lrkit.tasks import Task, load_task

GRID = [float(f"{v:.6g}") for v in np.logspace(-5, 1, 37)]  # 6 per decade
ORACLE_SEEDS = 20  # training seeds per grid LR (--oracle-seeds; 5 until stop 10, 10 until stop 19)
LOW, HIGH = 1e-5, 1.0  # seed 000's range: 10 ** U(-5, 0)
TARGET = 0.99  # within 1% of the oracle best
OVERHEAD_TARGET_MS = 50.0  # the search's own cost per trial
# the recorded runs are kept in the repository, so that every machine judges the same ones:
# training is deterministic on one machine, not bit for bit across machines (stop 18)
RECORDED = Path(__file__).parent / "recorded"
ORACLE_FILE = RECORDED / "search_efficiency_oracle.json.gz"
RANGES_FILE = RECORDED / "search_efficiency_ranges.json.gz"
VERSION = 2  # bump when a task changes: the caches are keyed by it
ORACLE_VERSION = 3  # bump when what a training run records changes (3: each epoch's validation
# metric too)
RANGES_VERSION = 3  # bump when what a range test records changes (2: its suggestion; 3: a
# noisy curve swept again with twice the steps)


@dataclass(frozen=True)
class Method:
    sampler: str
    pruner: str
    n_trials: int
    bracketed: bool = False  # the range test's bracket, from its suggestion, not seed 000's range


METHODS = {
    "seed000 random": Method("random", "none", 10),
    "stratified": Method("stratified", "none", 10),
    "stratified+halving": Method("stratified", "halving", 20),
    "finder+halving": Method("stratified", "halving", 15, bracketed=True),
    "finder+hyperband": Method("stratified", "hyperband", 15, bracketed=True),
    "tpe+median": Method("tpe", "median", 20),
}
BASELINE, RIVAL = "seed000 random", "tpe+median"


# --- tasks -------------------------------------------------------------------------------------


def _mnist1d_task(
    name: str, model: Callable[[], nn.Module], optimizer: Any, epochs: int, about: str
) -> Task:
    """MNIST-1D (the ``mnist1d`` package): its 4000 training signals split 80/20 into train and
    validation (stratified, fixed seed), its own 1000 test signals held out."""
    from sklearn.model_selection import train_test_split
    from torch.utils.data import TensorDataset

    x, y, xt, yt = rt.TASKS["mnist1d-cnn"].load()
    train, val = train_test_split(
        np.arange(len(y)), test_size=0.2, random_state=0, stratify=y.numpy()
    )
    t, v = torch.from_numpy(np.sort(train)), torch.from_numpy(np.sort(val))
    return Task(
        name=name,
        model=model,
        train_data=TensorDataset(x[t], y[t]),
        val_data=TensorDataset(x[v], y[v]),
        test_data=TensorDataset(xt, yt),
        criterion=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        metric="accuracy",
        epochs=epochs,
        batch_size=64,
        description=about,
    )


TASKS: dict[str, Callable[[], Task]] = {
    "digits": partial(load_task, "digits"),  # CNN, SGD momentum 0.9, 12 epochs, accuracy
    "friedman": partial(load_task, "friedman"),  # MLP, Adam, 30 epochs, R²
    "mnist1d-cnn": partial(
        _mnist1d_task,
        "mnist1d-cnn",
        rt._mnist1d_cnn,
        partial(torch.optim.AdamW, weight_decay=0.01),
        8,
        "MNIST-1D, 3-conv 1D CNN, AdamW wd 0.01",
    ),
    "mnist1d-bncnn": partial(
        _mnist1d_task,
        "mnist1d-bncnn",
        rt._mnist1d_bncnn,
        partial(torch.optim.SGD, momentum=0.9, weight_decay=5e-4),
        5,
        "MNIST-1D, 1D CNN + BatchNorm, SGD momentum 0.9, wd 5e-4",
    ),
}


@cache
def task(name: str) -> Task:
    return TASKS[name]()


# --- the oracle: real training at every grid LR, and real range tests ---------------------------


def _floor(t: Task) -> float:
    """The score of a run that diverged: R² 0, or always guessing the commonest test class."""
    if t.metric != "accuracy" or t.test_data is None:
        return 0.0
    labels = t.test_data.tensors[1]  # type: ignore[attr-defined]  # a TensorDataset, all tasks
    return float(torch.bincount(labels).max()) / len(labels)


def _train_job(job: tuple[str, float, int]) -> dict[str, Any]:
    from lrkit.training import train

    torch.set_num_threads(1)
    name, lr, seed = job
    t = task(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = train(t, lr, epochs=t.epochs, seed=seed, progress=False, verbose=False)
    score = h.test_metric
    if h.diverged or score is None or not math.isfinite(score):
        score = _floor(t)
    return {
        "val_loss": [float(v) for v in h.val_loss],
        "val_metric": [float(v) for v in h.val_metric],
        "score": max(float(score), 0.0),
    }


def _range_job(job: tuple[str, int]) -> dict[str, Any]:
    from lrkit.finder.task import range_test_task

    torch.set_num_threads(1)
    name, seed = job
    steps = 0

    def count(done: int) -> None:  # one call a step, over both sweeps of a noisy curve
        nonlocal steps
        steps += 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = range_test_task(task(name), seed=seed, on_step=count)
    try:
        low, high = bracket(result)
    except lrkit.ConfigError:  # no range: what low="auto" refuses
        low = high = None
    suggestion = result.suggestion
    if suggestion is not None and (low is None or not low <= suggestion <= high):
        suggestion = None  # as low="auto" does: the first trial only inside the bracket
    return {
        "steps": steps,
        "low": low,
        "high": high,
        "suggestion": None if suggestion is None else float(suggestion),
    }


def _cached(
    path: Path, key: str, jobs: Sequence[Any], fn: Callable[[Any], Any], workers: int
) -> list[Any]:
    """``fn`` of every job, computed in a process pool the first time and cached under ``key``."""
    store = json.loads(gzip.decompress(path.read_bytes())) if path.exists() else {}
    have = store.get(key, {})
    todo = [j for j in jobs if json.dumps(j) not in have]
    if todo:
        print(f"  {key.split('|')[0]}: {len(todo)} runs on {workers} workers ...", flush=True)
        if workers > 1:
            import multiprocessing as mp

            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                results = list(pool.map(fn, todo, chunksize=2))
        else:
            results = [fn(j) for j in todo]
        have.update({json.dumps(j): r for j, r in zip(todo, results)})
        name = key.split("|")[0]  # drop this task's runs of older versions
        store = {k: v for k, v in store.items() if k.split("|")[0] != name}
        store[key] = have
        path.parent.mkdir(parents=True, exist_ok=True)
        # mtime=0: the same runs give the same bytes (no spurious change to a tracked file)
        path.write_bytes(gzip.compress(json.dumps(store).encode(), mtime=0))
    return [have[json.dumps(j)] for j in jobs]


@dataclass(frozen=True)
class Oracle:
    """A task's recorded runs at ``GRID[i]`` from seed ``s``: ``val_loss[i][s]`` and
    ``val_metric[i][s]`` per epoch, and the held-out ``score[i, s]``."""

    name: str
    epochs: int
    steps_per_epoch: int
    val_loss: list[list[list[float]]]
    val_metric: list[list[list[float]]]
    score: np.ndarray

    @cached_property
    def mean(self) -> np.ndarray:
        return self.score.mean(axis=1)

    @property
    def best(self) -> float:
        return float(self.mean.max())

    @property
    def best_lr(self) -> float:
        return GRID[int(self.mean.argmax())]

    def index(self, lr: float) -> int:
        """The grid point nearest ``lr`` in log space (clamped to the grid's ends)."""
        step = (math.log10(GRID[-1]) - math.log10(GRID[0])) / (len(GRID) - 1)
        i = round((math.log10(lr) - math.log10(GRID[0])) / step)
        return min(max(i, 0), len(GRID) - 1)


def build_oracle(name: str, workers: int, k: int = ORACLE_SEEDS) -> Oracle:
    """``name`` trained at every grid LR from seeds ``0 .. k - 1``."""
    t = task(name)
    key = f"{name}|v{VERSION}|o{ORACLE_VERSION}|{t.epochs}|{t.batch_size}|{t.description}"
    jobs = [(name, lr, s) for lr in GRID for s in range(k)]
    runs = _cached(ORACLE_FILE, key, jobs, _train_job, workers)
    curves = {
        value: [[runs[i * k + s][value] for s in range(k)] for i in range(len(GRID))]
        for value in ("val_loss", "val_metric")
    }
    score = np.array([[runs[i * k + s]["score"] for s in range(k)] for i in range(len(GRID))])
    return Oracle(
        name, t.epochs, len(t.train_loader()), curves["val_loss"], curves["val_metric"], score
    )


def range_tests(name: str, seeds: Sequence[int], workers: int) -> list[dict[str, Any]]:
    """The range test of ``name`` from finder seed ``s`` for each search seed ``s``."""
    t = task(name)
    key = f"{name}|v{VERSION}|r{RANGES_VERSION}|{t.batch_size}|{t.description}"
    return _cached(RANGES_FILE, key, [(name, s) for s in seeds], _range_job, workers)


# --- searching the recorded curves --------------------------------------------------------------


class Replay:
    """``objective(lr, trial)`` that replays the recorded run nearest ``lr``, epoch by epoch:
    its validation loss, or with ``by_metric`` its validation metric (to maximize)."""

    def __init__(self, oracle: Oracle, by_metric: bool = False) -> None:
        self.oracle, self.by_metric = oracle, by_metric

    def __call__(self, lr: float, trial: optuna.Trial) -> float:
        i = self.oracle.index(lr)
        runs = (self.oracle.val_metric if self.by_metric else self.oracle.val_loss)[i]
        curve = runs[int(trial.user_attrs["lrkit_seed"]) % len(runs)]
        trial.set_user_attr("grid", i)
        for epoch, value in enumerate(curve, start=1):
            if not math.isfinite(value):
                trial.set_user_attr("epochs_run", epoch)
                raise FloatingPointError(f"diverged at lr={lr:.3g} in epoch {epoch}")
            trial.report(value, epoch)
            if epoch < len(curve) and trial.should_prune():  # as a task search: never the last
                trial.set_user_attr("epochs_run", epoch)
                raise optuna.TrialPruned()
        trial.set_user_attr("epochs_run", len(curve))
        return curve[-1]


@dataclass(frozen=True)
class Outcome:
    to_target: float  # epochs spent until the incumbent was within 1% (all it spent if never)
    reached: bool
    final: float  # the incumbent's score at the end
    total: float  # epochs spent in all


def score_search(result: SearchResult, oracle: Oracle, head_start: float = 0.0) -> Outcome:
    """Walks the trials in order; the incumbent is the completed trial of best value (lowest,
    or highest for a search that maximizes), the earliest of equals."""
    sign = -1.0 if result.direction == "maximize" else 1.0
    spent, best_value, incumbent = head_start, math.inf, None
    to_target: float | None = None
    for t in sorted(result.trials, key=lambda t: t.number):
        spent += t.epochs_run
        if t.state == "complete" and t.value is not None and sign * t.value < best_value:
            best_value, incumbent = sign * t.value, float(oracle.mean[int(t.attrs["grid"])])
        if to_target is None and incumbent is not None and incumbent >= TARGET * oracle.best:
            to_target = spent
    final = incumbent if incumbent is not None else float(oracle.mean.min())
    return Outcome(spent if to_target is None else to_target, to_target is not None, final, spent)


def run_method(
    method: Method, oracle: Oracle, seed: int, finder: dict[str, Any], by_metric: bool = False
) -> Outcome:
    """One search by ``method`` from ``seed``, keeping (and pruning by) the validation metric
    with ``by_metric``, else the validation loss."""
    return score_search(*replay_search(method, oracle, seed, finder, by_metric))


def replay_search(
    method: Method, oracle: Oracle, seed: int, finder: dict[str, Any], by_metric: bool = False
) -> tuple[SearchResult, Oracle, float]:
    """The search of :func:`run_method`, its oracle and the epochs of its range test."""
    low, high, start_lr, head_start = LOW, HIGH, None, 0.0
    if method.bracketed:
        head_start = finder["steps"] / oracle.steps_per_epoch
        if finder["low"] is not None:
            low, high = finder["low"], finder["high"]
            start_lr = finder["suggestion"]  # low="auto": the first trial at the suggestion
    # a task's search gives Hyperband its epoch budget as the top rung; so does the replay
    pruner = make_pruner(method.pruner, max_resource=oracle.epochs)
    result = lrkit.search(
        Replay(oracle, by_metric),
        low,
        high,
        method.n_trials,
        seed=seed,
        start_lr=start_lr,
        sampler=method.sampler,
        pruner=pruner,
        direction="maximize" if by_metric else "minimize",
        storage=":memory:",
        progress=False,
    )
    return result, oracle, head_start


def _nothing(lr: float, trial: object) -> float:
    """An objective that does nothing, at the top level: worker processes import it by name."""
    return 0.0


def _search_seconds(n_trials: int, **kwargs: Any) -> float:
    """Seconds ``lrkit.search`` takes for ``n_trials`` trials of an objective that does nothing."""
    started = time.perf_counter()
    lrkit.search(_nothing, LOW, HIGH, n_trials, progress=False, **kwargs)
    return time.perf_counter() - started


def overhead(n_trials: int = 200) -> dict[str, float]:
    """Milliseconds per trial that ``lrkit.search`` adds around an objective that does nothing."""
    _search_seconds(5, storage=":memory:")  # imports
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, storage in ((":memory:", ":memory:"), ("journal file (default)", None)):
            seconds = _search_seconds(n_trials, storage=storage, out=Path(tmp) / "search")
            times[label] = 1000 * seconds / n_trials
    return times


# A script as a user writes one for workers (docs/search.md): the objective at its top level,
# the search under ``if __name__ == "__main__":``. A worker process runs the caller's script
# again (multiprocessing's rule, so that it can find the objective), so the per-trial figure
# is measured from such a script, not from this 700-line one, whose top level compiles and
# imports its tasks in every worker (printed too, as the cost of a heavy script).
USER_SCRIPT = """
import json, sys, tempfile, time
from pathlib import Path

import lrkit
import torch  # as a training script does: the fork server then preloads torch too


def objective(lr, trial):
    return 0.0


if __name__ == "__main__":
    workers, *sizes = map(int, sys.argv[1:])
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            started = time.perf_counter()
            out = Path(tmp) / str(n)
            lrkit.search(objective, 1e-5, 1.0, n, n_workers=workers, progress=False, out=out)
            seconds.append(time.perf_counter() - started)
    print(json.dumps(seconds))
"""


def workers_overhead(
    n_trials: int = 200, n_workers: int = 2, script: str | None = USER_SCRIPT
) -> tuple[float, float]:
    """What ``n_workers`` worker processes (a fresh one per trial) add to a search: milliseconds
    per trial in each worker, and the seconds to start them once (the fork server's imports).

    From two searches of an objective that does nothing, ``n_trials`` and a tenth of it: the
    difference is the per-trial cost, the rest of the short one the start. ``script``: run
    from this user script, in a fresh interpreter; ``None``: from this process (this script)."""
    few = n_trials // 10
    with tempfile.TemporaryDirectory() as tmp:
        if script is None:
            short, long = (
                _search_seconds(n, n_workers=n_workers, out=Path(tmp) / f"search-{n}")
                for n in (few, n_trials)
            )
        else:
            path = Path(tmp) / "search_lr.py"
            path.write_text(script)
            ran = subprocess.run(
                [sys.executable, str(path), *map(str, (n_workers, few, n_trials))],
                capture_output=True,
                text=True,
                check=True,
                cwd=tmp,
            )
            short, long = json.loads(ran.stdout.strip().splitlines()[-1])
    per_trial = (long - short) / (n_trials - few) * n_workers  # in each worker
    return 1000 * per_trial, short - per_trial * few / n_workers


# --- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    median: float
    ert: float
    reached: int
    final: float
    final_se: float
    total: float

    @staticmethod
    def of(runs: Sequence[Outcome]) -> Row:
        reached = sum(o.reached for o in runs)
        spent = sum(o.to_target for o in runs)
        finals = [o.final for o in runs]
        return Row(
            float(statistics.median(o.to_target for o in runs)),
            spent / reached if reached else math.inf,
            reached,
            statistics.mean(finals),
            statistics.stdev(finals) / math.sqrt(len(finals)) if len(finals) > 1 else 0.0,
            statistics.mean(o.total for o in runs),
        )

    def not_worse(self, base: Row) -> bool:
        """Final score equal or better: not below the baseline's by 2 standard errors or more."""
        return self.final > base.final - 2 * math.hypot(self.final_se, base.final_se)


def _times(x: float) -> str:
    return f"{x:.1f}x" if math.isfinite(x) else "-"


def _geo(xs: Sequence[float]) -> float:
    return math.exp(statistics.mean(math.log(x) for x in xs)) if min(xs) > 0 else 0.0


def report(
    oracles: dict[str, Oracle],
    finders: dict[str, list[dict[str, Any]]],
    outcomes: dict[tuple[str, str], list[Outcome]],
    n_seeds: int,
) -> str:
    widths = (13, 18, 9, 6, 5, 6, 7, 11, 8)
    fmt = "| " + " | ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths)) + " |"
    lines = [
        fmt.format(
            "task",
            "method",
            "to target",
            "x less",
            "ERT",
            "x less",
            "reached",
            "final score",
            "spent",
        ),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    ratios: dict[str, list[float]] = {m: [] for m in METHODS}
    ert_ratios: dict[str, list[float]] = {m: [] for m in METHODS}
    not_worse = dict.fromkeys(METHODS, True)
    notes: list[str] = []
    bound: tuple[list[float], list[float]] = ([], [])
    ceiling: list[float] = []  # a search that starts with a full run at the suggestion
    for name, oracle in oracles.items():
        base = Row.of(outcomes[(name, BASELINE)])
        for method in METHODS:
            row = Row.of(outcomes[(name, method)])
            ratios[method].append(base.median / row.median)
            ert_ratios[method].append(base.ert / row.ert if row.reached else 0.0)
            not_worse[method] &= row.not_worse(base)
            lines.append(
                fmt.format(
                    name,
                    method,
                    f"{row.median:.1f}",
                    _times(base.median / row.median),
                    f"{row.ert:.0f}",
                    _times(base.ert / row.ert),
                    f"{row.reached}/{n_seeds}",
                    f"{row.final:.4f}",
                    f"{row.total:.1f}",
                )
            )
        sd = float(oracle.score[int(oracle.mean.argmax())].std(ddof=1))
        label = f"oracle lr {oracle.best_lr:.3g}"
        lines.append(fmt.format(name, label, *[""] * 5, f"{oracle.best:.4f}", f"sd {sd:.3f}"))
        steps = statistics.mean(f["steps"] for f in finders[name]) / oracle.steps_per_epoch
        no_range = sum(f["low"] is None for f in finders[name])
        bound[0].append(base.median / oracle.epochs)
        bound[1].append(base.median / (oracle.epochs + steps))
        # clairvoyant after the first trial: one more full run, in the band and kept, when the
        # suggestion's run misses it (no pruned epochs); no finder+ search can beat its median
        first_run = [
            f["steps"] / oracle.steps_per_epoch
            + oracle.epochs
            * (
                1
                if f["suggestion"]
                and oracle.mean[oracle.index(f["suggestion"])] >= TARGET * oracle.best
                else 2
            )
            for f in finders[name]
        ]
        ceiling.append(base.median / statistics.median(first_run))
        notes.append(
            f"  {name:<13} {oracle.epochs:>2} epochs a run, range test {steps:.1f}: "
            f"{bound[0][-1]:4.1f}x ({bound[1][-1]:.1f}x); no range {no_range}/{len(finders[name])}"
            f"; from the suggestion {ceiling[-1]:.2f}x"
        )
    lines += [
        "",
        f"the most 'x less' can be: {BASELINE}'s median over one full run (and the range test),",
        "the least a search spends to have a result:",
        *notes,
        f"  geometric mean {_geo(bound[0]):.1f}x ({_geo(bound[1]):.1f}x); from the suggestion "
        f"{_geo(ceiling):.2f}x (its run, then, if it misses, one more full run in the band)",
        "",
        f"geometric mean over tasks of 'x less' than {BASELINE} (median; ERT):",
    ]
    geo = {m: _geo(ratios[m]) for m in METHODS}
    for m in METHODS:
        lines.append(
            f"  {m:<18} {geo[m]:5.2f}x; {_geo(ert_ratios[m]):5.2f}x   final score equal or "
            f"better on every task: {'yes' if not_worse[m] else 'no'}"
        )
    candidates = [m for m in METHODS if m not in (BASELINE, RIVAL)]
    met = [m for m in candidates if geo[m] >= 5 and not_worse[m] and geo[m] > geo[RIVAL]]
    best = max(candidates, key=lambda m: geo[m])
    ahead = "ahead of" if geo[best] > geo[RIVAL] else "not ahead of"
    lines += [
        f"target: >= 5x less than {BASELINE} at an equal or better final score, ahead of {RIVAL}",
        f"  MET by {', '.join(met)}"
        if met
        else f"  NOT MET: best {best} at {geo[best]:.2f}x, {ahead} {RIVAL} ({geo[RIVAL]:.2f}x)",
    ]
    return "\n".join(lines)


def suggestion_hits(
    oracles: dict[str, Oracle], finders: dict[str, list[dict[str, Any]]], factors: Sequence[float]
) -> str:
    """How often one run at ``factor`` x the range test's suggestion scores within 1% of the
    oracle best, per task: whether a fixed shift of the suggestion could start every search
    closer to the target."""
    head = "".join(f"{f'x{f:g}':>8}" for f in factors)
    lines = [
        f"one run at a multiple of the suggestion: seeds within 1% of the best\n{'':<14}{head}"
    ]
    for name, oracle in oracles.items():
        found = [f["suggestion"] for f in finders[name] if f["suggestion"] is not None]
        cells = []
        for factor in factors:
            hits = sum(oracle.mean[oracle.index(s * factor)] >= TARGET * oracle.best for s in found)
            cells.append(f"{hits}/{len(found)}")
        lines.append(f"{name:<14}" + "".join(f"{c:>8}" for c in cells))
    return "\n".join(lines)


def print_overhead() -> None:
    per_trial = overhead()
    print("\nlrkit.search overhead per trial (200 trials of an objective that does nothing):")
    print("  " + ", ".join(f"{k} {v:.1f} ms" for k, v in per_trial.items()))
    runs = [workers_overhead() for _ in range(3)]  # a shared machine: the median of three
    in_worker, start = (statistics.median(r[i] for r in runs) for i in (0, 1))
    print(
        f"  2 workers, a fresh process per trial (journal file): {in_worker:.0f} ms per trial "
        f"in each worker (median of {', '.join(f'{r[0]:.0f}' for r in runs)}), after "
        f"{start:.1f} s to start them once"
    )
    heavy, _ = workers_overhead(script=None)
    print(
        f"    from a script whose top level does more, this one (700 lines that import its "
        f"tasks; each worker runs it again): {heavy:.0f} ms"
    )
    worst = max(*per_trial.values(), in_worker)
    verdict = "met" if worst < OVERHEAD_TARGET_MS else "NOT MET"
    print(
        f"target: per-trial overhead under {OVERHEAD_TARGET_MS:.0f} ms: {verdict} (at most "
        f"{worst:.0f} ms, a fresh process per trial included)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40, help="search seeds per method and task")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--workers", type=int, default=2, help="processes for the training runs")
    ap.add_argument("--no-overhead", action="store_true", help="skip timing the overhead")
    ap.add_argument(
        "--overhead-only", action="store_true", help="time the overhead only (no training)"
    )
    ap.add_argument(
        "--suggestion-hits",
        action="store_true",
        help="also print how often one run at 0.5-3x the suggestion lands within 1%%",
    )
    ap.add_argument(
        "--by-metric",
        action="store_true",
        help=f"every search but {BASELINE!r} keeps (and prunes by) the validation metric, "
        "not the loss",
    )
    ap.add_argument(
        "--oracle-seeds", type=int, default=ORACLE_SEEDS, help="training seeds per grid LR"
    )
    args = ap.parse_args()
    if args.overhead_only:
        print_overhead()
        return
    started = time.perf_counter()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    print(
        f"oracle: {len(GRID)} LRs {GRID[0]:g} .. {GRID[-1]:g} x {args.oracle_seeds} seeds of "
        f"real training per task; search range {LOW:g} .. {HIGH:g}; {args.seeds} search seeds"
    )
    oracles, finders = {}, {}
    for name in args.tasks:
        t = task(name)  # generates and caches the data before a pool spawns
        oracles[name] = build_oracle(name, args.workers, args.oracle_seeds)
        finders[name] = range_tests(name, seeds, args.workers)
        print(
            f"  {name}: {t.description}; {t.epochs} epochs x {len(t.train_loader())} steps, "
            f"{t.metric}"
        )
    prepared = time.perf_counter()
    outcomes = {
        (name, m): [
            run_method(
                METHODS[m], oracles[name], s, finders[name][s], args.by_metric and m != BASELINE
            )
            for s in seeds
        ]
        for name in args.tasks
        for m in METHODS
    }
    searched = time.perf_counter()
    kept = "validation metric" if args.by_metric else "validation loss"
    print(
        f"\nepochs (summed over trials) to an LR scoring >= {TARGET:.0%} of the oracle best; "
        f"median over {args.seeds} search seeds; searches keep the trial of best {kept}"
        + (f" ({BASELINE}: validation loss)" if args.by_metric else "")
        + "\n"
    )
    print(report(oracles, finders, outcomes, args.seeds))
    if args.suggestion_hits:
        print("\n" + suggestion_hits(oracles, finders, (0.5, 0.7, 1, 1.4, 2, 3)))
    if not args.no_overhead:
        print_overhead()
    print(
        f"time: training runs and range tests {prepared - started:.0f} s, "
        f"{len(outcomes) * args.seeds} searches {searched - prepared:.0f} s, "
        f"total {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
