"""Run in a fresh process by test_bound.py: resume bound schedules from files, print their LRs.

Usage: python native_resume_child.py CASES.json  (writes the LRs of each case to OUT.json)
"""

from __future__ import annotations

import json
import sys

import torch

from lrkit.schedules import bind


def metric(i: int) -> float:
    # Improves for 10 steps, then flat: plateau phases reduce after their patience.
    return 1.0 / (1.0 + min(i, 10))


def make(lrs: list[float]) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.ones(2)) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    return torch.optim.SGD(groups, momentum=0.9)


def run(opt: torch.optim.Optimizer, sched, start: int, steps: int) -> list[list[float]]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(start, start + steps):
        out.append([g["lr"] for g in opt.param_groups])
        loss = sum((p**2).sum() for g in opt.param_groups for p in g["params"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step(metric(i))
    return out


def resume(case: dict) -> list[list[float]]:  # type: ignore[type-arg]
    saved = torch.load(case["file"], weights_only=False)
    opt = make(case["lrs"])
    kwargs = {"unit": case["unit"], "steps_per_epoch": case["steps_per_epoch"], "verbose": False}
    if case["mode"] == "scheduler_after_optimizer":
        opt.load_state_dict(saved["optimizer"])
        sched = bind(opt, case["spec"], **kwargs)
    else:
        sched = bind(opt, case["spec"], **kwargs)
        if case["mode"] == "scheduler_before_optimizer":
            opt.load_state_dict(saved["optimizer"])
    sched.load_state_dict(saved["scheduler"])
    return run(opt, sched, case["n"], case["m"])


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    with open(sys.argv[2], "w") as f:
        json.dump([resume(c) for c in cases], f)
