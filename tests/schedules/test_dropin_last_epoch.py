"""Resuming a drop-in through its constructor's ``last_epoch`` (torch: #65342, #60265, #162591)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler

from lrkit.errors import ConfigError
from lrkit.schedules import dropin

Build = Callable[[ModuleType, torch.optim.Optimizer, int], Any]

CASES: dict[str, Build] = {
    "LambdaLR": lambda m, o, e: m.LambdaLR(o, lambda t: 0.99**t, last_epoch=e),
    "MultiplicativeLR": lambda m, o, e: m.MultiplicativeLR(o, lambda t: 0.98, last_epoch=e),
    "StepLR": lambda m, o, e: m.StepLR(o, 7, 0.5, last_epoch=e),
    "MultiStepLR": lambda m, o, e: m.MultiStepLR(o, [0, 10, 10, 25], 0.5, last_epoch=e),
    "ConstantLR": lambda m, o, e: m.ConstantLR(o, 0.25, total_iters=15, last_epoch=e),
    "LinearLR": lambda m, o, e: m.LinearLR(o, 0.1, 1.0, total_iters=20, last_epoch=e),
    "ExponentialLR": lambda m, o, e: m.ExponentialLR(o, 0.97, last_epoch=e),
    "PolynomialLR": lambda m, o, e: m.PolynomialLR(o, total_iters=30, power=2.0, last_epoch=e),
    "CosineAnnealingLR": lambda m, o, e: m.CosineAnnealingLR(o, 12, 1e-4, last_epoch=e),
    "CosineAnnealingWarmRestarts": lambda m, o, e: m.CosineAnnealingWarmRestarts(
        o, 5, 2, 1e-4, last_epoch=e
    ),
    "CyclicLR": lambda m, o, e: m.CyclicLR(o, 0.01, 0.1, 4, mode="triangular2", last_epoch=e),
    "OneCycleLR": lambda m, o, e: m.OneCycleLR(o, 0.5, total_steps=60, last_epoch=e),
    "SequentialLR": lambda m, o, e: m.SequentialLR(
        o, [m.ConstantLR(o, 0.1, total_iters=4), m.ExponentialLR(o, 0.9)], [4], last_epoch=e
    ),
}


def optimizer() -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.ones(1))], "lr": lr} for lr in (0.1, 0.02)]
    return torch.optim.SGD(groups, momentum=0.9)


def lrs_after(build: Build, module: ModuleType, opt: torch.optim.Optimizer, e: int, n: int):  # type: ignore[no-untyped-def]
    sched = build(module, opt, e)
    out: list[float] = []  # flat: each step's LRs, then momenta, of both groups
    for _ in range(n):
        out += [g["lr"] for g in opt.param_groups] + [g["momentum"] for g in opt.param_groups]
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("restored", [False, True], ids=["fresh optimizer", "restored optimizer"])
def test_last_epoch_continues_an_uninterrupted_run(name: str, restored: bool) -> None:
    build = CASES[name]
    split = 9  # just before a milestone in most cases
    full_opt = optimizer()
    full = lrs_after(build, lr_scheduler, full_opt, -1, split + 20)
    opt = optimizer()
    if restored:  # the optimizer state saved after `split` steps of the uninterrupted run
        ref_opt = optimizer()
        lrs_after(build, lr_scheduler, ref_opt, -1, split)
        opt.load_state_dict(ref_opt.state_dict())
    # torch's convention: last_epoch=N builds the scheduler at epoch N + 1
    resumed = lrs_after(build, dropin, opt, split - 1, 20)
    assert resumed == pytest.approx(full[split * 4 :], rel=1e-12)


def test_torch_fails_where_the_drop_in_resumes() -> None:
    with pytest.raises(KeyError, match="initial_lr"):
        CASES["StepLR"](lr_scheduler, optimizer(), 5)
    ref = optimizer()
    lrs_after(CASES["SequentialLR"], lr_scheduler, ref, -1, 6)
    opt = optimizer()
    opt.load_state_dict(ref.state_dict())
    torch_lrs = lrs_after(CASES["SequentialLR"], lr_scheduler, opt, 5, 3)
    full = lrs_after(CASES["SequentialLR"], lr_scheduler, optimizer(), -1, 9)
    assert torch_lrs != pytest.approx(full[6 * 4 :], rel=1e-12)


def test_bad_last_epoch() -> None:
    with pytest.raises(ConfigError, match="last_epoch must be an integer >= -1, got -5"):
        dropin.StepLR(optimizer(), 3, last_epoch=-5)


@pytest.mark.parametrize("last_epoch", [np.int64(3), 3.0, torch.tensor(3)], ids=str)
def test_a_whole_last_epoch_of_any_number_type_is_taken(last_epoch: Any) -> None:
    ours = lrs_after(CASES["StepLR"], dropin, optimizer(), last_epoch, 6)
    assert ours == lrs_after(CASES["StepLR"], dropin, optimizer(), 3, 6)


def test_last_epoch_moves_a_tensor_lr_in_place_and_keeps_initial_lr_apart() -> None:
    # a compiled or capturable optimizer's graph holds the LR tensor: it must see the schedule
    opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=torch.tensor(0.1))
    tensor = opt.param_groups[0]["lr"]
    sched = dropin.ExponentialLR(opt, 0.5, last_epoch=2)  # 3 steps from initial_lr 0.1
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] is tensor
    assert float(tensor) == pytest.approx(0.1 * 0.5**4)
    assert float(opt.param_groups[0]["initial_lr"]) == pytest.approx(0.1)  # not the same tensor
