"""What a search's per-trial overhead grows with: the number of trials, on each kind of storage.

An objective that reports 10 values (and asks the pruner after each) but trains nothing, so
what is timed is lrkit and Optuna around it. The cost per trial is printed at 100 and at 1,000
trials, in memory, on the journal file (the default) and on SQLite, without a pruner and with
successive halving; "growth" is the second over the first. A search that does not slow down as
it goes has a growth near 1 (or grows by a millisecond or two: Optuna's own pruners read every
trial at each report).

``--whole`` also times a round queued whole at its start (as lrkit did until a round was
queued a few slots ahead, ``lrkit.search.study.QUEUE_AHEAD``) on SQLite at 300 trials: Optuna's
database storages read every unfinished trial again at each read, and a queued trial is
unfinished.

Run: ``python benchmarks/search_scale.py [--sizes 100 1000] [--whole]`` (about 3 minutes; the
journal's figures move with the machine's ``fsync``)
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import optuna

import lrkit
from lrkit.search import study as study_module

REPORTS = 10
GROWTH_MS = 2.0  # a growth smaller than this is not counted: Optuna's pruners read every
# trial at each report, a few microseconds per trial in memory


def reporting(lr: float, trial: optuna.Trial) -> float:
    """Ten reports of a value that improves, with the pruner asked after each."""
    value = 0.0
    for step in range(REPORTS):
        value = abs(lr - 0.01) + 1.0 / (step + 1)
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def per_trial_ms(n_trials: int, storage: str, pruner: str, tmp: Path) -> float:
    """Milliseconds per trial of a search of ``n_trials`` trials of :func:`reporting`."""
    where = {
        "memory": {"storage": ":memory:"},
        "journal": {"out": tmp / f"journal-{n_trials}-{pruner}"},
        "sqlite": {"storage": f"sqlite:///{tmp / f'{n_trials}-{pruner}.db'}"},
    }[storage]
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental-feature warnings
        lrkit.search(reporting, 1e-5, 1.0, n_trials, pruner=pruner, progress=False, **where)
    return 1000 * (time.perf_counter() - started) / n_trials


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=(100, 1000))
    parser.add_argument("--whole", action="store_true", help="also time a round queued whole")
    args = parser.parse_args(argv)
    small, large = args.sizes
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        per_trial_ms(5, "memory", "none", Path(tmp))  # imports
        print(f"ms per trial, {REPORTS} reports each (QUEUE_AHEAD={study_module.QUEUE_AHEAD}):")
        print(f"  {'storage':8} {'pruner':8} {small:>7} {large:>7}  growth")
        rows: list[tuple[Any, ...]] = []
        for storage in ("memory", "journal", "sqlite"):
            for pruner in ("none", "halving"):
                a, b = (per_trial_ms(n, storage, pruner, Path(tmp)) for n in (small, large))
                rows.append((storage, pruner, a, b))
                print(f"  {storage:8} {pruner:8} {a:7.1f} {b:7.1f}  {b / a:5.2f}x", flush=True)
        if args.whole:
            queued = study_module.QUEUE_AHEAD
            study_module.QUEUE_AHEAD = 10**9
            try:
                (Path(tmp) / "whole").mkdir()
                whole = per_trial_ms(300, "sqlite", "halving", Path(tmp) / "whole")
            finally:
                study_module.QUEUE_AHEAD = queued
            ahead = per_trial_ms(300, "sqlite", "halving", Path(tmp))
            print(
                f"sqlite, halving, 300 trials: {whole:.0f} ms per trial with the round queued "
                f"whole, {ahead:.0f} ms queued {queued} ahead"
            )
    grown = [f"{st} {pr}" for st, pr, a, b in rows if b - a > max(0.5 * a, GROWTH_MS)]
    verdict = f"NOT MET ({', '.join(grown)})" if grown else "met"
    print(
        f"target: per-trial cost does not grow with the trials (by at most 1.5x, or "
        f"{GROWTH_MS:g} ms): {verdict}"
    )
    print(f"time: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
