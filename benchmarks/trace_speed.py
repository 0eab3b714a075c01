"""How long ``Schedule.trace`` takes for a million steps, per native schedule.

Every closed-form native schedule is traced over 10**6 steps (best of several repeats, so that a
cold cache or a busy machine does not count) next to a few compositions. The target is 50 ms per
million steps: tracing must be cheap enough to plot or check a whole run on every call.

Run it with ``python benchmarks/trace_speed.py [--repeats N] [--target-ms MS]``; it exits 1 when
any schedule misses the target.
"""

from __future__ import annotations

import argparse
import sys
import time

from lrkit.schedules import Schedule, parse, schedule_names

N_STEPS = 10**6

# One spec per registered closed-form schedule, with lengths in the million-step range so that
# every branch (warmup, decay, hold) is exercised. plateau is left out: its LR depends on a
# metric series, not on a formula of the step.
SINGLE: dict[str, str] = {
    "constant": "constant:factor=0.5",
    "cosine": "cosine:900k,min_lr=1e-5",
    "cosine_restarts": "cosine_restarts:period=10k,mult=2,decay=0.9",
    "cyclic": "cyclic:up=2000,down=3000,mode=triangular2",
    "exponential": "exponential:0.99999",
    "inverse_sqrt": "inverse_sqrt:timescale=4000",
    "invscaling": "invscaling:power_t=0.5",
    "linear": "linear:steps=900k",
    "multistep": "multistep:milestones=[300k,600k,900k]",
    "onecycle": "onecycle:1M,three_phase=true,pct_start=0.25",
    "optimal": "optimal:alpha=1e-4",
    "poly": "poly:steps=900k,power=2",
    "step": "step:100k,gamma=0.5",
    "warmup": "warmup:500k",
    "wsd": "wsd:1M,decay=0.2,cooldown=1-sqrt",
}
NOT_CLOSED_FORM = ("plateau", "adaptive")  # driven by the metrics reported, not the step alone

COMPOSED: tuple[str, ...] = (
    "warmup:1000 > cosine:999000,min_lr=1e-5",
    "warmup:2000 > wsd:998000,cooldown=cosine",
    "cosine_restarts:period=10k,mult=2 * exponential:0.999999",
    "warmup:1000 > constant:steps=500k > linear:steps=499k",
    "warmup:4000 > inverse_sqrt:timescale=4000",
)


def best_ms(schedule: Schedule, repeats: int) -> float:
    """The fastest of ``repeats`` traces over ``N_STEPS`` steps, in milliseconds."""
    schedule.trace(1000, base_lr=0.1)  # warm up caches and lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        schedule.trace(N_STEPS, base_lr=0.1)
        times.append(time.perf_counter() - start)
    return 1000.0 * min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per schedule")
    parser.add_argument("--target-ms", type=float, default=50.0, help="target per 10**6 steps")
    args = parser.parse_args(argv)

    missing = sorted(set(schedule_names()) - set(SINGLE) - set(NOT_CLOSED_FORM))
    specs = [SINGLE[name] for name in schedule_names() if name in SINGLE] + list(COMPOSED)
    width = max(len(s) for s in specs)
    print(f"Schedule.trace({N_STEPS:_}) — best of {args.repeats}, target {args.target_ms:g} ms")
    print(f"{'schedule':<{width}}  {'ms/1e6 steps':>12}  {'target':>6}  result")
    failed = []
    for spec in specs:
        ms = best_ms(parse(spec), args.repeats)
        ok = ms <= args.target_ms
        if not ok:
            failed.append(spec)
        print(f"{spec:<{width}}  {ms:>12.1f}  {args.target_ms:>6g}  {'ok' if ok else 'FAIL'}")
    if missing:
        print(f"not benchmarked (no example spec here yet): {', '.join(missing)}")
    print(
        f"{len(specs) - len(failed)}/{len(specs)} within target"
        + (f"; over: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
