"""How long reading a range-test curve takes (``lrkit.finder.suggest``), against its length.

A range test is a few hundred steps, read in under a millisecond; a sweep over a whole epoch of a
large data set can be 10,000 steps or more (``num_iter`` goes up to 100,000). Each row reads a
synthetic curve (a noisy descent, then a blow-up) of that many steps, exponential and linear,
best of a few repeats. The target: an exponential sweep of 100,000 steps read in under 2 s.
An exponential sweep's points are evenly spaced in log-LR, so past 1024 points its smoothing is
one FFT convolution per width; a linear sweep's are not, and are smoothed in blocks of the
points within the kernel's reach (it crowds its points where every block reaches them all, so
its time grows with the square of its length: past ``LINEAR_MAX`` steps it is not timed, as
100,000 take minutes).

Run it with ``python benchmarks/suggest_speed.py [--steps 100 1000 ...] [--repeats N]``; it
exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from lrkit.finder.suggest import suggest

TARGET_S = 2.0  # an exponential sweep of 100,000 steps
LINEAR_MAX = 30_000


def curve(n: int, linear: bool) -> tuple[np.ndarray, np.ndarray]:
    lrs = np.linspace(1e-4, 1.0, n) if linear else np.geomspace(1e-7, 10.0, n)
    x = np.log10(lrs)
    noise = np.random.default_rng(n).normal(0.0, 0.05, n)
    return lrs, 2.3 - 1.5 / (1 + np.exp(-3 * (x + 2.5))) + 0.1 * np.exp(4 * (x - 0.3)) + noise


def seconds(n: int, linear: bool, repeats: int) -> float:
    lrs, losses = curve(n, linear)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        suggest(lrs, losses)
        best = min(best, time.perf_counter() - start)
    return float(best)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, nargs="+", default=[100, 1000, 10_000, 30_000, 100_000]
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed reads per row (best of)")
    args = parser.parse_args()
    print("seconds to read a range-test curve (suggest), best of", args.repeats)
    print(f"{'steps':>8}  {'exponential':>11}  {'linear':>8}")
    missed = False
    for n in args.steps:
        exp_s = seconds(n, False, args.repeats)
        lin = "-"
        if n <= LINEAR_MAX:
            lin = f"{seconds(n, True, 1 if n > 10_000 else args.repeats):.3f}"
        print(f"{n:>8}  {exp_s:>11.4f}  {lin:>8}", flush=True)
        missed |= n == 100_000 and exp_s > TARGET_S
    met = "missed" if missed else "met" if 100_000 in args.steps else "not measured"
    print(f"target: an exponential sweep of 100,000 steps read in under {TARGET_S:g} s: {met}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
