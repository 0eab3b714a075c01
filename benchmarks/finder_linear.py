"""lrkit's suggestion on linear sweeps (``step_mode="linear"``) against exponential ones.

The tasks, oracle and cached training runs of ``finder_regret.py``: the regret of training at
lrkit's suggestion (oracle score minus the score there, mean over seeds 0-2; a sweep with no
suggestion scores the task's floor), for the standard exponential sweep (1e-7 to 10 in 100
steps) and two linear ones of 100 steps. A linear sweep spends most of its steps near its end,
few on the descent: this is the evidence behind the FinderWarning a linear range test gives.

Run: ``python benchmarks/finder_linear.py`` (after ``finder_regret.py`` has filled the cache;
about 2 min on 2 cores when it has)
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import finder_regret as fr
import regret_tasks as rt

SWEEPS: dict[str, tuple[float, float, int, str]] = {
    "exp 1e-7..10": (1e-7, 10.0, 100, "exp"),
    "linear 1e-4..1": (1e-4, 1.0, 100, "linear"),
    "linear 1e-3..10": (1e-3, 10.0, 100, "linear"),
}


def curve(name: str, seed: int, sweep: tuple[float, float, int, str]) -> fr.Curve:
    """A range test by lrkit.LRFinder on finder_regret's fresh model and batches."""
    import lrkit

    start, end, n, mode = sweep
    options: dict[str, Any] = {}
    if rt.TASKS[name].cli_task is not None:
        model, opt, crit, loader = rt.find_inputs(name, seed, start)
        options["seed"] = seed
    else:
        model, opt, crit = rt.fresh(name, seed)
        loader = rt.Batches(name, seed)
    finder = lrkit.LRFinder(model, opt, crit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = finder.range_test(
            loader, start_lr=start, end_lr=end, num_iter=n, step_mode=mode, progress=False,
            **options,
        )  # fmt: skip
    lrs = np.asarray(res.lrs, dtype=float)
    lrs = lrs[:, 0] if lrs.ndim == 2 else lrs
    losses = np.asarray(res.losses, dtype=float)
    keep = np.isfinite(losses)
    stop = len(losses) if keep.all() else int(np.argmin(keep))
    return [float(v) for v in lrs[:stop]], [float(v) for v in losses[:stop]]


def main() -> None:
    import torch

    started = time.perf_counter()
    torch.set_num_threads(1)
    names = list(rt.TASKS)
    for name in names:
        rt.TASKS[name].load()
    scores = fr.Scores(2)
    scores.ensure((n, lr, s) for n in names for lr in fr.GRID for s in fr.SEEDS)
    oracle = {
        n: max(float(np.mean([scores.get(n, lr, s) for s in fr.SEEDS])) for lr in fr.GRID)
        for n in names
    }
    suggested = {
        (label, n, s): fr.suggestion(curve(n, s, sweep), "lrkit")
        for label, sweep in SWEEPS.items()
        for n in names
        for s in fr.SEEDS
    }
    scores.ensure((n, lr, s) for (_, n, s), lr in suggested.items() if lr is not None)

    def regret(label: str, n: str) -> float:
        got = []
        for s in fr.SEEDS:
            lr = suggested[(label, n, s)]
            got.append(rt.floor_score(rt.TASKS[n]) if lr is None else scores.get(n, lr, s))
        return oracle[n] - float(np.mean(got))

    print(f"\nregret of lrkit's suggestion (points), seeds {fr.SEEDS}; 'none': no suggestion\n")
    print(f"{'task':15s} {'oracle':>6s}  " + "  ".join(f"{label:>16s}" for label in SWEEPS))
    for n in names:
        cells = []
        for label in SWEEPS:
            missing = sum(suggested[(label, n, s)] is None for s in fr.SEEDS)
            cells.append(f"{regret(label, n):9.1f} ({missing} none)")
        print(f"{n:15s} {oracle[n]:6.1f}  " + "  ".join(f"{c:>16s}" for c in cells))
    print()
    for label in SWEEPS:
        values = [regret(label, n) for n in names]
        none = sum(suggested[(label, n, s)] is None for n in names for s in fr.SEEDS)
        print(
            f"{label:16s} mean regret {np.mean(values):5.1f}, worst {max(values):5.1f}, "
            f"no suggestion in {none} of {len(names) * len(fr.SEEDS)} range tests"
        )
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
