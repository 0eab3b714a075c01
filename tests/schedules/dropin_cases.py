"""Scheduler cases shared by the drop-in tests, and the worker that resumes them in a new process.

A case builds the same scheduler from either implementation (torch's module or lrkit's drop-in
module), so one contract runs over every case: same LRs as torch, exact resume, no false warning.

Run as a script, it is the fresh process of the resume test::

    python dropin_cases.py JOBS.json RESULTS.json

JOBS.json lists checkpoints (written by ``torch.save`` in the test process); for each one the
worker builds a new optimizer and scheduler, restores them in the job's mode, steps on and records
what it saw. Batching every job into one process keeps the test to one interpreter start-up.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch.optim import Optimizer

GROUP_LRS = (0.1, 0.05, 0.01)  # three param groups with different LRs in every case
IMPLEMENTATIONS = {"torch": "torch.optim.lr_scheduler", "lrkit": "lrkit.schedules.dropin"}

# How the resumed process restores a checkpoint (the three ways a training script does it).
RESUME_MODES = (
    "no_optimizer_state",  # fresh optimizer with the original LRs; only the scheduler is loaded
    "scheduler_before_optimizer_load",  # build scheduler, optimizer.load_state_dict, sched.load
    "scheduler_after_optimizer_load",  # optimizer.load_state_dict, build scheduler, sched.load
)


def plateau_metric(t: int) -> float:
    """A validation loss that improves, stalls, jitters and improves again (deterministic)."""
    trend = 1.0 / (1.0 + 0.02 * min(t, 40)) - 0.001 * math.sqrt(max(0, t - 120))
    return trend + 0.01 * ((t * 7919) % 11) / 11


def accuracy_metric(t: int) -> float:
    """A validation accuracy (mode='max') that climbs in bursts."""
    return min(0.99, 0.5 + 0.05 * (t // 17)) - 0.002 * (t % 5)


@dataclass(frozen=True)
class Case:
    """One scheduler configuration, buildable from torch's module or lrkit's.

    Attributes:
        name: The pytest id.
        build: ``build(module, optimizer)`` returns the scheduler, using ``module.<ClassName>``.
        optimizer: ``"sgd"`` (with momentum) or ``"adam"`` (betas, for beta1 cycling).
        steps: Steps of the uninterrupted comparison with torch (thousands).
        splits: Steps run before the checkpoint in the resume test (N), chosen around milestones.
        resume_steps: Steps run after resuming (M).
        metric: The metric passed to ``step`` (ReduceLROnPlateau only).
    """

    name: str
    build: Callable[[ModuleType, Optimizer], Any]
    optimizer: str = "sgd"
    steps: int = 3000
    splits: tuple[int, ...] = (1, 10)
    resume_steps: int = 25
    metric: Callable[[int], float] | None = None


def _lambda_per_group(epoch: int) -> float:
    return 0.5 ** (epoch // 25)


CASES: tuple[Case, ...] = (
    Case("LambdaLR", lambda m, o: m.LambdaLR(o, lambda e: 0.999**e), splits=(1, 30)),
    Case(
        "LambdaLR-step-at-50-per-group",
        lambda m, o: m.LambdaLR(
            o, [lambda e: 1.0 if e < 50 else 0.1, _lambda_per_group, lambda e: 1.0 / (1 + e)]
        ),
        splits=(49, 50),
    ),
    Case("MultiplicativeLR", lambda m, o: m.MultiplicativeLR(o, lambda e: 0.999), splits=(1, 30)),
    Case(
        "MultiplicativeLR-varying",
        lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9 if e % 10 == 0 else 1.0),
        splits=(9, 10, 31),
    ),
    Case("StepLR", lambda m, o: m.StepLR(o, step_size=7, gamma=0.9), splits=(6, 7, 30)),
    Case("StepLR-gamma-0.1", lambda m, o: m.StepLR(o, step_size=30, gamma=0.1), splits=(29, 30)),
    Case(
        "MultiStepLR-milestones-0-and-repeated",
        lambda m, o: m.MultiStepLR(o, milestones=[0, 5, 5, 12, 40, 2500], gamma=0.5),
        splits=(0, 4, 5, 11),
    ),
    Case("MultiStepLR", lambda m, o: m.MultiStepLR(o, [30, 80], gamma=0.1), splits=(29, 79)),
    Case(
        "ConstantLR",
        lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=8),
        splits=(0, 7, 8),
    ),
    Case(
        "LinearLR",
        lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=10),
        splits=(0, 9, 10),
    ),
    Case("LinearLR-long", lambda m, o: m.LinearLR(o, 0.05, 1.0, total_iters=1000), splits=(500,)),
    Case("ExponentialLR", lambda m, o: m.ExponentialLR(o, gamma=0.999), splits=(0, 17)),
    Case(
        "PolynomialLR-past-total-iters",
        lambda m, o: m.PolynomialLR(o, total_iters=12, power=0.9),
        splits=(11, 12, 15),
    ),
    Case(
        "CosineAnnealingLR-past-T_max",
        lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=1e-4),
        splits=(9, 10, 11, 25),
    ),
    Case(
        "CosineAnnealingLR-eta_min-0",
        lambda m, o: m.CosineAnnealingLR(o, T_max=700),
        splits=(699, 700, 1401),
    ),
    Case(
        "CosineAnnealingWarmRestarts-T_mult-2",
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-5),
        splits=(2, 3, 8, 20),
    ),
    Case(
        "CosineAnnealingWarmRestarts-T_mult-1",
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10),
        splits=(9, 10),
    ),
    Case(
        "CyclicLR-triangular",
        lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=3),
        splits=(4, 7, 17),
    ),
    Case(
        "CyclicLR-triangular2-list-lrs",
        lambda m, o: m.CyclicLR(
            o,
            base_lr=[0.01, 0.005, 0.001],
            max_lr=[0.1, 0.05, 0.02],
            step_size_up=6,
            mode="triangular2",
        ),
        splits=(5, 12, 24),
    ),
    Case(
        "CyclicLR-exp_range",
        lambda m, o: m.CyclicLR(o, 0.001, 0.1, step_size_up=4, mode="exp_range", gamma=0.999),
        splits=(3, 8),
    ),
    Case(
        "CyclicLR-exp_range-adam-beta1",
        lambda m, o: m.CyclicLR(o, 0.001, 0.01, step_size_up=4, mode="exp_range", gamma=0.99),
        optimizer="adam",
        splits=(3, 8),
    ),
    Case(
        "OneCycleLR-cos",
        lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=3100),
        splits=(928, 929, 2000),
    ),
    Case(
        "OneCycleLR-linear-list-max_lr",
        lambda m, o: m.OneCycleLR(
            o, max_lr=[0.1, 0.2, 0.05], total_steps=3100, anneal_strategy="linear"
        ),
        splits=(928, 929),
    ),
    Case(
        "OneCycleLR-three_phase-cos",
        lambda m, o: m.OneCycleLR(o, max_lr=0.1, epochs=31, steps_per_epoch=100, three_phase=True),
        splits=(929, 1858, 1859),
    ),
    Case(
        "OneCycleLR-three_phase-linear-adam",
        lambda m, o: m.OneCycleLR(
            o,
            max_lr=[0.01, 0.02, 0.005],
            total_steps=3100,
            anneal_strategy="linear",
            three_phase=True,
            pct_start=0.25,
        ),
        optimizer="adam",
        splits=(774, 1548),
    ),
    Case(
        "ReduceLROnPlateau",
        lambda m, o: m.ReduceLROnPlateau(o, factor=0.5, patience=3, min_lr=1e-6),
        metric=plateau_metric,
        splits=(1, 48, 50, 130),
        resume_steps=60,
    ),
    Case(
        "ReduceLROnPlateau-max-abs-cooldown-min_lrs",
        lambda m, o: m.ReduceLROnPlateau(
            o,
            mode="max",
            factor=0.3,
            patience=2,
            threshold=0.01,
            threshold_mode="abs",
            cooldown=4,
            min_lr=[1e-3, 1e-4, 0.0],
        ),
        metric=accuracy_metric,
        splits=(3, 10, 21, 40),
        resume_steps=40,
    ),
    Case(
        "SequentialLR-warmup-cosine",
        lambda m, o: m.SequentialLR(
            o,
            [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=50)],
            milestones=[5],
        ),
        splits=(0, 4, 5, 6),
    ),
    Case(
        "SequentialLR-milestone-0",
        lambda m, o: m.SequentialLR(
            o, [m.ConstantLR(o, factor=0.1, total_iters=3), m.ExponentialLR(o, 0.99)], [0]
        ),
        splits=(0, 1, 10),
    ),
    Case(
        "SequentialLR-three-children",
        lambda m, o: m.SequentialLR(
            o,
            [
                m.ConstantLR(o, factor=0.5, total_iters=4),
                m.MultiStepLR(o, milestones=[0, 3, 3], gamma=0.5),
                m.StepLR(o, step_size=4, gamma=0.8),
            ],
            milestones=[4, 12],
        ),
        splits=(3, 4, 11, 12, 20),
    ),
    Case(
        "ChainedScheduler",
        lambda m, o: m.ChainedScheduler(
            [m.ConstantLR(o, factor=0.1, total_iters=6), m.ExponentialLR(o, gamma=0.9)],
            optimizer=o,
        ),
        splits=(5, 6),
    ),
    Case(
        "ChainedScheduler-cosine-multistep",
        lambda m, o: m.ChainedScheduler(
            [m.CosineAnnealingLR(o, T_max=20), m.MultiStepLR(o, [0, 10, 10, 30], gamma=0.5)]
        ),
        splits=(9, 10, 29),
    ),
)

CASES_BY_NAME = {case.name: case for case in CASES}


def scheduler_module(impl: str) -> ModuleType:
    """The module holding the scheduler classes of ``impl`` ("torch" or "lrkit")."""
    return importlib.import_module(IMPLEMENTATIONS[impl])


def make_optimizer(kind: str) -> Optimizer:
    """Three one-weight param groups with the LRs of ``GROUP_LRS``."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in GROUP_LRS]
    if kind == "adam":
        return torch.optim.Adam(groups, lr=GROUP_LRS[0])
    return torch.optim.SGD(groups, lr=GROUP_LRS[0], momentum=0.9)


def snapshot(optimizer: Optimizer, scheduler: Any) -> list[float]:
    """What a training step depends on, and what the scheduler reports.

    Each group's LR, then its momentum / beta1, then ``get_last_lr()``, then (ReduceLROnPlateau
    only) ``best``, ``num_bad_epochs``, ``cooldown_counter`` and ``last_epoch``.
    """
    values = [float(group["lr"]) for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        values.append(float(group["betas"][0] if "betas" in group else group["momentum"]))
    values += [float(lr) for lr in scheduler.get_last_lr()]
    if hasattr(scheduler, "num_bad_epochs"):
        values += [
            float(scheduler.best),
            float(scheduler.num_bad_epochs),
            float(scheduler.cooldown_counter),
            float(scheduler.last_epoch),
        ]
    return values


def first_group_lrs(optimizer: Optimizer, scheduler: Any, steps: int) -> list[float]:
    """The first param group's LR at each of ``steps`` training steps, the scheduler stepped
    after each optimizer step."""
    seen = []
    for _ in range(steps):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen


def advance(case: Case, optimizer: Optimizer, scheduler: Any, start: int, count: int) -> list:
    """Steps ``count`` times from step ``start``; the snapshot after each step."""
    trace = []
    for t in range(start, start + count):
        optimizer.step()
        if case.metric is None:
            scheduler.step()
        else:
            scheduler.step(case.metric(t))
        trace.append(snapshot(optimizer, scheduler))
    return trace


def run_uninterrupted(impl: str, case: Case, steps: int) -> list[list[float]]:
    """Snapshots at construction and after each of ``steps`` steps."""
    optimizer = make_optimizer(case.optimizer)
    scheduler = case.build(scheduler_module(impl), optimizer)
    return [snapshot(optimizer, scheduler), *advance(case, optimizer, scheduler, 0, steps)]


def save_checkpoint(impl: str, case: Case, split: int, path: str) -> list[list[float]]:
    """Saves the state after ``split`` steps with ``torch.save``, then runs ``resume_steps`` more.

    Returns:
        The reference a resume must reproduce: the snapshot at the checkpoint, then after each
        of the ``resume_steps`` uninterrupted steps that follow it.
    """
    optimizer = make_optimizer(case.optimizer)
    scheduler = case.build(scheduler_module(impl), optimizer)
    advance(case, optimizer, scheduler, 0, split)
    torch.save({"scheduler": scheduler.state_dict(), "optimizer": optimizer.state_dict()}, path)
    return [
        snapshot(optimizer, scheduler),
        *advance(case, optimizer, scheduler, split, case.resume_steps),
    ]


def resume(impl: str, case: Case, split: int, mode: str, path: str) -> list[list[float]]:
    """Restores a checkpoint in ``mode``; the snapshot right after, then after each step."""
    module = scheduler_module(impl)
    checkpoint = torch.load(path)
    optimizer = make_optimizer(case.optimizer)
    if mode == "scheduler_after_optimizer_load":
        optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler = case.build(module, optimizer)
    if mode == "scheduler_before_optimizer_load":
        optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    return [
        snapshot(optimizer, scheduler),
        *advance(case, optimizer, scheduler, split, case.resume_steps),
    ]


def run_jobs(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resumes every job; an exception is recorded (torch raises on some), not fatal."""
    results = []
    for job in jobs:
        case = CASES_BY_NAME[job["case"]]
        try:
            trace = resume(job["impl"], case, job["split"], job["mode"], job["path"])
            results.append({**job, "trace": trace, "error": None})
        except Exception as exc:
            results.append({**job, "trace": None, "error": f"{type(exc).__name__}: {exc}"})
    return results


def mismatch(expected: list[list[float]], got: list[list[float]] | None, rel: float) -> str:
    """Where two traces differ by more than ``rel`` (relative), or "" when they agree."""
    if got is None:
        return "no trace"
    if len(got) != len(expected):
        return f"{len(got)} snapshots, expected {len(expected)}"
    for step, (want, have) in enumerate(zip(expected, got, strict=True)):
        for i, (a, b) in enumerate(zip(want, have, strict=True)):
            if a == b:
                continue
            if not (math.isfinite(a) and math.isfinite(b)) or abs(a - b) > rel * abs(a):
                return f"snapshot {step}, value {i}: expected {a!r}, got {b!r}"
    return ""


def main(argv: list[str]) -> int:
    """``python dropin_cases.py JOBS.json RESULTS.json``."""
    jobs_path, results_path = argv
    with open(jobs_path, encoding="utf-8") as f:
        jobs = json.load(f)
    results = run_jobs(jobs)
    with open(results_path, "w", encoding="utf-8") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
