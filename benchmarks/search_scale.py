"""What a search's per-trial overhead grows with: the number of trials, on each kind of storage.

An objective that reports 10 values (and asks the pruner after each; it never prunes) but
trains nothing, so what is timed is lrkit and Optuna around it. One search of 1,000 trials per
storage (in memory, the journal file that is the default, SQLite) and pruner (none, successive
halving); a trial's cost is the time from its start to the next trial's start, and the table
shows its median over the first 100 trials and over the last 100, and the growth (last over
first). Without a pruner a trial costs the same at the end as at the start. With one, each
report is judged against the trials before it, which Optuna's pruner and lrkit's slot order
(``lrkit.search.pruners.in_slot_order``) read: a few microseconds per trial in the study, so
a few milliseconds a trial at 1,000 trials.

``--whole`` also times a round queued whole at its start (as lrkit did until a round was
queued a few slots ahead, ``lrkit.search.study.QUEUE_AHEAD``) on SQLite with halving, at 300
trials: Optuna's database storages read every unfinished trial again at each read, and a queued
trial is unfinished.

Run: ``python benchmarks/search_scale.py [--trials 1000] [--whole]`` (about 5 minutes, 9 with
``--whole``; the journal's figures move with the machine's ``fsync``)
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import optuna

import lrkit
from lrkit.search import study as study_module

REPORTS = 10
EDGE = 100  # trials at each end of a search whose costs are compared
TARGET_MS = 50.0  # the per-trial overhead, here at the end of a search of 1,000 trials
LOCAL = ("memory", "journal")  # the storages on this machine (SQLite's writes cost what they do)


STARTS: list[float] = []  # when each call of the objective began (time.perf_counter)


def reporting(lr: float, trial: optuna.Trial) -> float:
    """Ten reports, with the pruner asked after each. Each trial beats every one before it, so
    none is pruned: every trial does the same work (the pruner's reads included)."""
    STARTS.append(time.perf_counter())
    value = 1.0 / (trial.number + 2)
    for step in range(REPORTS):
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def first_and_last_ms(
    n_trials: int, storage: str, pruner: str, folder: Path
) -> tuple[float, float]:
    """Milliseconds per trial (start to next start; medians) over the first and the last
    ``EDGE`` trials of one search of ``n_trials`` trials of :func:`reporting`, in a folder
    of its own."""
    folder.mkdir(parents=True)
    where = {
        "memory": {"storage": ":memory:"},
        "journal": {"out": folder},
        "sqlite": {"storage": f"sqlite:///{folder / 'study.db'}"},
    }[storage]
    STARTS.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        lrkit.search(reporting, 1e-5, 1.0, n_trials, pruner=pruner, progress=False, **where)
    gaps = [1000 * (b - a) for a, b in itertools.pairwise(STARTS)]
    edge = min(EDGE, len(gaps) // 2)
    return statistics.median(gaps[:edge]), statistics.median(gaps[-edge:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--whole", action="store_true", help="also time a round queued whole")
    args = parser.parse_args(argv)
    if args.trials < 4:
        parser.error(f"--trials must be at least 4 (two gaps at each end), got {args.trials}")
    began = time.perf_counter()
    over = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = iter(range(10**6))  # a fresh folder for each search

        def timed(n: int, storage: str, pruner: str) -> tuple[float, float]:
            return first_and_last_ms(n, storage, pruner, Path(tmp) / str(next(runs)))

        timed(20, "memory", "none")  # imports
        print(
            f"ms per trial (start to next start; median of the first and the last {EDGE}) in a "
            f"search of {args.trials} trials, {REPORTS} reports each "
            f"(QUEUE_AHEAD={study_module.QUEUE_AHEAD}):"
        )
        print(f"  {'storage':8} {'pruner':8} {'first':>7} {'last':>7}  growth")
        for storage in ("memory", "journal", "sqlite"):
            for pruner in ("none", "halving"):
                first, last = timed(args.trials, storage, pruner)
                print(
                    f"  {storage:8} {pruner:8} {first:7.1f} {last:7.1f}  {last / first:5.2f}x",
                    flush=True,
                )
                if storage in LOCAL and last > TARGET_MS:
                    over.append(f"{storage} {pruner}")
        if args.whole:
            queued = study_module.QUEUE_AHEAD
            study_module.QUEUE_AHEAD = 10**9
            try:
                whole = timed(300, "sqlite", "halving")
            finally:
                study_module.QUEUE_AHEAD = queued
            ahead = timed(300, "sqlite", "halving")
            print(
                f"sqlite, halving, 300 trials, first and last {EDGE}: {whole[0]:.0f} and "
                f"{whole[1]:.0f} ms per trial with the round queued whole; {ahead[0]:.0f} and "
                f"{ahead[1]:.0f} ms queued {queued} ahead"
            )
    verdict = f"NOT MET ({', '.join(over)})" if over else "met"
    print(
        f"target: per-trial overhead under {TARGET_MS:g} ms at the end of a search of "
        f"{args.trials} trials, in memory and on the journal file: {verdict}"
    )
    print(f"time: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
