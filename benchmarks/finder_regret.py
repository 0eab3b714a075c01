"""How much held-out score each LR-suggestion rule loses against an exhaustive LR sweep ("regret").

For every task of ``regret_tasks.py`` the *oracle* trains at constant LR at each point of a
25-point log grid (1e-5 .. 10) for a fixed budget, 3 seeds, and scores on held-out data (accuracy,
balanced accuracy for the 40:1 set, R² for regression; all x100, "points"). The best grid mean is
the oracle score. A rule's regret on a task is the oracle score minus the mean score of training
at the rule's suggestion, where seed ``s`` trains at the suggestion read from the range test run
with finder seed ``s`` (so finder noise counts). Every rule (lrkit's and the four anchors') reads
the SAME recorded curves. One task, ``digits-find``, is ``lrkit find``'s default task run exactly
as the CLI runs it (the built-in task's model, optimizer, DataLoader and split, the finder seeded).

Stability: the spread (std) of log10(suggestion) over 5 finder seeds, and how far the suggestion
moves (|Δ log10|, median over 3 seeds) when the sweep starts at 1e-6 or 1e-8 instead of 1e-7,
ends at 1 instead of 10, or takes 200 steps instead of 100.

Range tests come from ``lrkit.LRFinder`` when it is importable and works (``--sweep auto``), else
from the minimal sweep in ``regret_tasks.sweep`` (``--sweep own``). Training scores are cached in
``benchmarks/.cache/finder_regret.json``; a run from scratch takes about 4 min on 2 cores
(2 workers).

Run: ``python benchmarks/finder_regret.py [--sweep auto|own|lrkit] [--workers 2] [--evidence]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import regret_tasks as rt
from lrkit.finder.suggest import CurveReading, suggest

GRID = [float(v) for v in np.logspace(-5, 1, 25)]
SEEDS = (0, 1, 2)
FINDER_SEEDS = (0, 1, 2, 3, 4)
DEFAULT = (1e-7, 10.0, 100)  # start_lr, end_lr, num_iter
VARIANTS = {
    "start 1e-6": (1e-6, 10.0, 100),
    "start 1e-8": (1e-8, 10.0, 100),
    "end 1": (1e-7, 1.0, 100),
    "200 its": (1e-7, 10.0, 200),
}
RULES = ("lrkit", "steepest", "valley", "minimum/10", "lightning")
CACHE_FILE = rt.CACHE / "finder_regret.json"

Sweep = tuple[float, float, int]
Curve = tuple[list[float], list[float]]


# --- cached training runs --------------------------------------------------------------------


def _key(name: str, lr: float, seed: int) -> str:
    t = rt.TASKS[name]
    return f"{name}|{t.about}|{t.epochs}|{t.batch_size}|{lr:.6e}|{seed}"


def _job(args: tuple[str, float, int]) -> float:
    return rt.train_score(*args)


class Scores:
    """Held-out scores of constant-LR training runs, computed in a process pool and cached."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.cache: dict[str, float] = {}
        if CACHE_FILE.exists():
            self.cache = json.loads(CACHE_FILE.read_text())

    def ensure(self, jobs: Iterable[tuple[str, float, int]]) -> None:
        todo = sorted({j for j in jobs if _key(*j) not in self.cache})
        if not todo:
            return
        print(f"training {len(todo)} runs on {self.workers} workers ...", flush=True)
        if self.workers > 1:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(self.workers, mp_context=ctx) as ex:
                results = list(ex.map(_job, todo, chunksize=4))
        else:
            results = [_job(j) for j in todo]
        for j, r in zip(todo, results):
            self.cache[_key(*j)] = r
        CACHE_FILE.parent.mkdir(parents=True, exist_ok=True)
        CACHE_FILE.write_text(json.dumps(self.cache, indent=0, sort_keys=True))

    def get(self, name: str, lr: float, seed: int) -> float:
        return self.cache[_key(name, lr, seed)]


# --- range-test curves -----------------------------------------------------------------------


def _lrkit_curve(name: str, seed: int, sweep: Sweep) -> Curve:
    """A range test by ``lrkit.LRFinder`` on the same fresh model, optimizer and batches."""
    import lrkit

    start, end, n = sweep
    if rt.TASKS[name].cli_task is not None:  # as `lrkit find TASK --seed seed` runs it
        model, opt, crit, loader = rt.find_inputs(name, seed, start)
        options: dict[str, Any] = {"seed": seed}
    else:
        model, opt, crit = rt.fresh(name, seed)
        loader, options = rt.Batches(name, seed), {}
    finder = lrkit.LRFinder(model, opt, crit)  # type: ignore[attr-defined]
    with warnings.catch_warnings():  # its "no / doubtful suggestion" notes: the rules decide here
        warnings.simplefilter("ignore")
        res = finder.range_test(loader, start_lr=start, end_lr=end, num_iter=n, **options)
    lrs = np.asarray(res.lrs, dtype=float)
    if lrs.ndim == 2:  # one column per param group: all equal here
        lrs = lrs[:, 0]
    losses = np.asarray(res.losses, dtype=float)
    keep = np.isfinite(losses)
    if not keep.all():
        stop = int(np.argmin(keep))
        lrs, losses = lrs[:stop], losses[:stop]
    return [float(v) for v in lrs], [float(v) for v in losses]


def _own_curve(name: str, seed: int, sweep: Sweep) -> Curve:
    return rt.sweep(name, seed, *sweep)


def pick_recorder(choice: str) -> tuple[str, Callable[[str, int, Sweep], Curve]]:
    """The range test to use: lrkit's LRFinder if asked or (``auto``) if it exists and works."""
    if choice == "own":
        return "own minimal sweep (regret_tasks.sweep)", _own_curve
    try:
        lrs, losses = _lrkit_curve("wine-mlp", 0, DEFAULT)
        if len(lrs) < 10 or len(lrs) != len(losses):
            raise RuntimeError(f"LRFinder returned {len(lrs)} LRs and {len(losses)} losses")
    except Exception as err:
        if choice == "lrkit":
            raise
        print(f"lrkit.LRFinder not usable ({type(err).__name__}: {err}); using own sweep")
        return "own minimal sweep (regret_tasks.sweep)", _own_curve
    return "lrkit.LRFinder.range_test", _lrkit_curve


def _curve_job(args: tuple[str, str, int, Sweep]) -> Curve:
    import torch

    torch.set_num_threads(1)
    kind, name, seed, sweep = args
    return (_lrkit_curve if kind == "lrkit" else _own_curve)(name, seed, sweep)


# --- suggestions, regret and stability -------------------------------------------------------


def suggestion(curve: Curve, rule: str) -> float | None:
    return suggest(curve[0], curve[1], rule=rule).lr


def _fmt(v: float) -> str:
    return f"{v:6.1f}" if math.isfinite(v) else "   n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", choices=["auto", "own", "lrkit"], default="auto")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--evidence", action="store_true", help="also print the design evidence")
    args = ap.parse_args()
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    names = list(rt.TASKS)
    for n in names:
        rt.TASKS[n].load()  # generate / cache data once, before forking workers
    scores = Scores(args.workers)

    # 1) the oracle
    scores.ensure((n, lr, s) for n in names for lr in GRID for s in SEEDS)
    grid_mean = {
        n: np.array([np.mean([scores.get(n, lr, s) for s in SEEDS]) for lr in GRID]) for n in names
    }
    oracle = {n: float(grid_mean[n].max()) for n in names}

    # 2) the curves: default sweep for 5 finder seeds, variants for 3
    recorder_name, _ = pick_recorder(args.sweep)
    kind = "lrkit" if recorder_name.startswith("lrkit") else "own"
    specs = [(n, s, DEFAULT) for n in names for s in FINDER_SEEDS]
    specs += [(n, s, v) for n in names for s in SEEDS for v in VARIANTS.values()]
    t_curves = time.perf_counter()
    curves: dict[tuple[str, int, Sweep], Curve] = {}
    for spec in specs:
        curves[spec] = _curve_job((kind, *spec))
    t_curves = time.perf_counter() - t_curves

    # 3) train at every rule's suggestions (seed s at the suggestion from finder seed s)
    sugg: dict[tuple[str, str, int, Sweep], float | None] = {
        (r, n, s, sw): suggestion(curves[(n, s, sw)], r) for r in RULES for (n, s, sw) in specs
    }
    scores.ensure(
        (n, lr, s)
        for r in RULES
        for n in names
        for s in SEEDS
        if (lr := sugg[(r, n, s, DEFAULT)]) is not None
    )

    def regret(rule: str, n: str) -> float:
        got = []
        for s in SEEDS:
            lr = sugg[(rule, n, s, DEFAULT)]
            got.append(rt.floor_score(rt.TASKS[n]) if lr is None else scores.get(n, lr, s))
        return oracle[n] - float(np.mean(got))

    # 4) tables
    print(
        f"\nrange test: {recorder_name}, sweep {DEFAULT[0]:g} -> {DEFAULT[1]:g} in {DEFAULT[2]} "
        f"steps; oracle: {len(GRID)}-point grid 1e-5..10, seeds {SEEDS}\n"
    )
    print(
        f"{'task':15s} {'metric':>9s} {'best LR':>8s} {'oracle':>6s}   "
        + " ".join(f"{r:>10s}" for r in RULES)
    )
    table = {r: [regret(r, n) for n in names] for r in RULES}
    for i, n in enumerate(names):
        t = rt.TASKS[n]
        metric = {"accuracy": "acc", "balanced accuracy": "bal.acc", "R2": "R²"}[t.metric]
        best = GRID[int(np.argmax(grid_mean[n]))]
        print(
            f"{n:15s} {metric:>9s} {best:8.2g} {oracle[n]:6.1f}   "
            + " ".join(f"{_fmt(table[r][i]):>10s}" for r in RULES)
        )
    print(
        f"{'mean regret':42s}" + " ".join(f"{_fmt(float(np.mean(table[r]))):>10s}" for r in RULES)
    )
    print(
        f"{'worst regret':42s}" + " ".join(f"{_fmt(float(np.max(table[r]))):>10s}" for r in RULES)
    )
    missing = {
        r: sum(sugg[(r, n, s, DEFAULT)] is None for n in names for s in SEEDS) for r in RULES
    }
    label = f"no suggestion (of {len(names) * len(SEEDS)} curves)"
    print(f"{label:42s}" + " ".join(f"{missing[r]:>10d}" for r in RULES))

    print("\nsuggested LR (finder seed 0) vs the oracle's best grid LR")
    print(f"{'task':15s} {'best LR':>8s}   " + " ".join(f"{r:>10s}" for r in RULES))
    for n in names:
        best = GRID[int(np.argmax(grid_mean[n]))]
        cells = []
        for r in RULES:
            lr = sugg[(r, n, 0, DEFAULT)]
            cells.append(f"{lr:10.2g}" if lr is not None else f"{'none':>10s}")
        print(f"{n:15s} {best:8.2g}   " + " ".join(cells))

    print("\nstability of log10(suggestion), mean over tasks (worst task in brackets)")
    cols = ["5-seed std", *[f"Δ {v}" for v in VARIANTS]]
    print(f"{'rule':12s}" + "".join(f"{c:>16s}" for c in cols))
    for r in RULES:
        cells = []
        per_task = []
        for n in names:
            logs = [sugg[(r, n, s, DEFAULT)] for s in FINDER_SEEDS]
            vals = [math.log10(v) for v in logs if v is not None]
            per_task.append(float(np.std(vals)) if len(vals) > 1 else float("nan"))
        cells.append(_spread(per_task))
        for v in VARIANTS.values():
            shifts = []
            for n in names:
                a = _median_log(sugg, r, n, DEFAULT)
                b = _median_log(sugg, r, n, v)
                shifts.append(abs(a - b))
            cells.append(_spread(shifts))
        print(f"{r:12s}" + "".join(f"{c:>16s}" for c in cells))

    if args.evidence:
        _evidence(names, grid_mean, curves)
    total = time.perf_counter() - t0
    print(
        f"\n{len(specs)} range tests in {t_curves:.1f} s; total wall time {total:.0f} s "
        f"({os.cpu_count()} CPUs, {args.workers} workers)"
    )


def _median_log(sugg: dict, rule: str, name: str, sweep: Sweep) -> float:
    vals = [sugg[(rule, name, s, sweep)] for s in SEEDS]
    logs = [math.log10(v) for v in vals if v is not None]
    return float(np.median(logs)) if logs else float("nan")


def _spread(vals: list[float]) -> str:
    ok = [v for v in vals if math.isfinite(v)]
    if not ok:
        return "n/a"
    return f"{np.mean(ok):.2f} ({np.max(ok):.2f})"


def _evidence(names: list[str], grid_mean: dict[str, np.ndarray], curves: dict) -> None:
    """Where the oracle's good LRs sit relative to landmarks of the range-test curve, and what
    fraction of the way from ``low`` to ``high`` leave-one-task-out would pick."""
    from lrkit.finder.suggest import FRACTION, read_curve

    logs = np.log10(GRID)
    print(
        "\nevidence (log10 LR; landmarks: median over 5 finder seeds; good = grid LRs within "
        "1 point of the best; cliff = first grid LR above the best that loses 5 points; jump = "
        "first catapult, median over the seeds that had one (how many))"
    )
    print(
        f"{'task':15s} {'good':>12s} {'best':>6s} {'cliff':>6s}   {'low':>6s} {'min':>6s} "
        f"{'jump':>10s} {'diverge':>8s}   {'best-low':>8s} {'(best-low)/(min-low)':>21s}"
    )
    lows: dict[str, list[float]] = {}
    highs: dict[str, list[float]] = {}
    shifts: dict[str, list[float]] = {}
    steeps: dict[str, list[float]] = {}
    to_low, to_min, fractions = [], [], []
    for n in names:
        g = grid_mean[n]
        good = logs[g >= g.max() - 1.0]
        best = float(logs[int(np.argmax(g))])
        readings = [
            read_curve(
                np.asarray(curves[(n, s, DEFAULT)][0]), np.asarray(curves[(n, s, DEFAULT)][1])
            )
            for s in FINDER_SEEDS
        ]
        lows[n] = [math.log10(r.low) for r in readings]
        highs[n] = [math.log10(r.minimum) for r in readings]
        shifts[n] = [r.speed_shift for r in readings]
        steeps[n] = [_steepest(r) for r in readings]
        div = [math.log10(r.diverged_at) for r in readings if r.diverged_at is not None]
        jumps = [math.log10(r.catapult) for r in readings if r.catapult is not None]
        jump = f"{np.median(jumps):5.2f} ({len(jumps)})" if jumps else "-"
        worse = [x for x, v in zip(logs, g) if x > best and v < g.max() - 5.0]
        cliff = worse[0] if worse else float("nan")
        lo, hi = float(np.median(lows[n])), float(np.median(highs[n]))
        to_low.append(best - lo)
        to_min.append(best - hi)
        fractions.append((best - lo) / (hi - lo))
        print(
            f"{n:15s} {good.min():5.2f}..{good.max():5.2f} {best:6.2f} {cliff:6.2f}   {lo:6.2f} "
            f"{hi:6.2f} {jump:>10s} {(np.median(div) if div else float('nan')):8.2f}   "
            f"{best - lo:8.2f} "
            f"{fractions[-1]:21.2f}"
        )
    print(
        f"best - low: mean {np.mean(to_low):+.2f}, std {np.std(to_low):.2f} decades; "
        f"best - min: mean {np.mean(to_min):+.2f}, std {np.std(to_min):.2f}; best above min "
        f"on {sum(v > 0 for v in to_min)} of {len(names)} tasks"
    )

    # regret of "f of the way from low to high", interpolated on the oracle grid (no training)
    fs = np.round(np.arange(0.0, 0.51, 0.05), 2)

    def interp_regret(f: float, n: str) -> float:
        g = grid_mean[n]
        got = [
            np.interp(lo + f * (hi - lo) + sh, logs, g)
            for lo, hi, sh in zip(lows[n], highs[n], shifts[n])
        ]
        return float(g.max() - np.mean(got))

    def interp_at(n: str, xs: list[float]) -> float:
        g = grid_mean[n]
        return float(g.max() - np.mean([np.interp(x, logs, g) for x in xs]))

    candidates = {
        "minimum / 3": lambda n: [h - 0.5 + sh for h, sh in zip(highs[n], shifts[n])],
        "minimum / 10": lambda n: [h - 1.0 + sh for h, sh in zip(highs[n], shifts[n])],
        "steepest point": lambda n: [x + sh for x, sh in zip(steeps[n], shifts[n])],
        "low (middle of the descent)": lambda n: [lo + sh for lo, sh in zip(lows[n], shifts[n])],
        "15% from low to minimum": lambda n: [
            lo + 0.15 * (h - lo) + sh for lo, h, sh in zip(lows[n], highs[n], shifts[n])
        ],
        "halfway (geometric mean)": lambda n: [
            (lo + h) / 2 + sh for lo, h, sh in zip(lows[n], highs[n], shifts[n])
        ],
    }
    print("\ncandidate rules on the same zero-lag reading: interpolated regret (5 finder seeds)")
    for label, xs_of in candidates.items():
        vals = [interp_at(n, xs_of(n)) for n in names]
        print(f"  {label:30s} mean {np.mean(vals):5.2f}  worst {np.max(vals):5.1f}")

    table = np.array([[interp_regret(f, n) for n in names] for f in fs])
    print("\ninterpolated regret of 'f of the way from low to high' (5 finder seeds, no training)")
    print("f:     " + " ".join(f"{f:5.2f}" for f in fs))
    print("mean:  " + " ".join(f"{v:5.2f}" for v in table.mean(1)))
    print("worst: " + " ".join(f"{v:5.1f}" for v in table.max(1)))
    picks = []
    for t, n in enumerate(names):
        others = np.delete(table, t, axis=1).mean(1)
        k = int(np.argmin(others))
        picks.append((n, float(fs[k]), float(table[k, t])))
    print("leave-one-task-out: f picked without the task, and its regret on the task")
    for n, f, r in picks:
        print(f"  {n:15s} f={f:.2f} regret {r:5.2f}")
    print(
        f"  LOO mean {np.mean([r for *_, r in picks]):.2f}, worst "
        f"{np.max([r for *_, r in picks]):.2f}; lrkit uses f={FRACTION}"
    )


def _steepest(r: CurveReading) -> float:
    """log10 LR of the steepest descent of a reading's smoothed curve, up to its minimum."""
    x = np.log10(np.asarray(r.lrs))
    s = np.asarray(r.smoothed)
    i_m = int(np.argmin(s))
    if i_m < 1:
        return float(x[0])
    return float(x[int(np.argmin(np.gradient(s[: i_m + 1], x[: i_m + 1])))])


if __name__ == "__main__":
    main()
