"""How close a search's "time left" is to the time it really has left, under each pruner.

A search's progress display (``lrkit.search.display.SearchDisplay``) estimates the time left
from the trials done. Without a pruner every trial has the same budget and their average pace
is the estimate. Under a pruner the trials get shorter as the search goes on (the pruner stops
more of them early once it has more to compare), so a search with a pruner scales that pace by
``recent_pace``: the later half's mean duration against all of them.

This replays the searches of ``search_efficiency.py`` over its recorded training runs (no
training: about 30 s), one worker, one epoch taken as one second. After each fifth of a search's
trials it compares both estimates, made by the display's own functions, with the epochs the
search really went on to spend, and prints the ratio (estimate / what was left): its median
over tasks and search seeds, and its 10th to 90th percentile. 1.00 is right; 2.00 says twice
as long as it took.

Run: ``python benchmarks/search_eta.py [--seeds 40]`` (needs the ``bench`` extra)
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

sys.path.insert(0, str(Path(__file__).parent))

import search_efficiency as se
from lrkit.progress import time_left
from lrkit.search.display import recent_pace

FRACTIONS = (0.2, 0.4, 0.6, 0.8)
METHODS = ("stratified", "stratified+halving", "finder+halving", "finder+hyperband", "tpe+median")
START = datetime.datetime(2026, 1, 1)


def timeline(epochs: list[float]) -> list[FrozenTrial]:
    """Trials run one after another, each taking its epochs in seconds."""
    trials, clock = [], 0.0
    for number, spent in enumerate(epochs):
        trial = optuna.trial.create_trial(state=TrialState.PRUNED)
        trial.number = number
        trial.datetime_start = START + datetime.timedelta(seconds=clock)
        clock += spent
        trial.datetime_complete = START + datetime.timedelta(seconds=clock)
        trials.append(trial)
    return trials


def ratios(epochs: list[float], done: int) -> tuple[float, float] | None:
    """(average pace, recent pace) estimates of the time left after ``done`` trials, each over
    the time really left; ``None`` when nothing was left."""
    left = sum(epochs[done:])
    if left <= 0:
        return None
    elapsed, total = sum(epochs[:done]), len(epochs)
    average = time_left(elapsed, done, total)
    recent = time_left(elapsed, done, total, pace=recent_pace(timeline(epochs[:done]), START))
    assert average is not None and recent is not None
    return average / left, recent / left


def spread(values: list[float]) -> str:
    deciles = statistics.quantiles(values, n=10)
    return f"{statistics.median(values):5.2f} ({deciles[0]:.2f}-{deciles[-1]:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40, help="search seeds per method and task")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    oracles = {name: se.build_oracle(name, 2) for name in se.TASKS}
    finders = {name: se.range_tests(name, range(args.seeds), 2) for name in se.TASKS}
    print(
        "a search's time left against what was left: median (10th-90th percentile) over "
        f"{len(se.TASKS)} tasks x {args.seeds} seeds"
    )
    header = f"{'method':<20} {'pruner':<10} {'estimate':<8}"
    print(header + "".join(f"  {f'after {f:.0%}':>17}" for f in FRACTIONS))
    for name in METHODS:
        method = se.METHODS[name]
        found: dict[float, list[tuple[float, float]]] = {f: [] for f in FRACTIONS}
        for task, oracle in oracles.items():
            for seed in range(args.seeds):
                result, _, _ = se.replay_search(method, oracle, seed, finders[task][seed])
                epochs = [
                    float(t.epochs_run) for t in sorted(result.trials, key=lambda t: t.number)
                ]
                for f in FRACTIONS:
                    pair = ratios(epochs, max(1, round(f * len(epochs))))
                    if pair is not None:
                        found[f].append(pair)
        for which, label in ((0, "average"), (1, "recent")):
            if method.pruner == "none" and which == 1:
                continue  # a search without a pruner shows the average pace
            cells = "".join(f"  {spread([p[which] for p in found[f]]):>17}" for f in FRACTIONS)
            shown = "(shown)" if (which == 1) == (method.pruner != "none") else ""
            print(f"{name:<20} {method.pruner:<10} {label:<8}{cells}  {shown}".rstrip())


if __name__ == "__main__":
    main()
