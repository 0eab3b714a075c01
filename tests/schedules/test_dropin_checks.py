"""The drop-ins refuse, when built, the arguments torch accepts and then mishandles."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch

from lrkit.errors import ConfigError
from lrkit.schedules import dropin
from tests.schedules.dropin_cases import first_group_lrs


def _opt(groups: int = 1) -> torch.optim.Optimizer:
    params = [{"params": [torch.zeros(1, requires_grad=True)]} for _ in range(groups)]
    return torch.optim.SGD(params, lr=0.1, momentum=0.9)


BAD: dict[str, tuple[str, dict[str, Any], str]] = {
    "step_size_zero": ("StepLR", {"step_size": 0}, "StepLR: step_size must be a positive integer"),
    "step_size_float": ("StepLR", {"step_size": 2.5}, "got 2.5"),
    "step_size_negative": ("StepLR", {"step_size": -3}, "got -3"),
    "step_gamma_negative": (
        "StepLR",
        {"step_size": 1, "gamma": -1},
        "StepLR: gamma must be a finite number >= 0",
    ),
    "exp_gamma_string": ("ExponentialLR", {"gamma": "0.9"}, "got '0.9'"),
    "exp_gamma_negative": ("ExponentialLR", {"gamma": -0.5}, "ExponentialLR: gamma must be"),
    "milestones": ("MultiStepLR", {"milestones": [3, 2.5]}, "MultiStepLR: milestones must be"),
    "milestones_scalar": ("MultiStepLR", {"milestones": 5}, "got 5"),
    "cosine_t_max": ("CosineAnnealingLR", {"T_max": 0}, "CosineAnnealingLR: T_max must be"),
    "cosine_eta_min": ("CosineAnnealingLR", {"T_max": 5, "eta_min": -1e-3}, "eta_min must be"),
    "poly_iters": ("PolynomialLR", {"total_iters": -1}, "PolynomialLR: total_iters must be"),
    "linear_iters": ("LinearLR", {"total_iters": 0}, "LinearLR: total_iters must be"),
    "constant_iters": ("ConstantLR", {"total_iters": -1}, "ConstantLR: total_iters must be"),
    "cyclic_up": (
        "CyclicLR",
        {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 0},
        "CyclicLR: step_size_up must be a positive number of steps, got 0.",
    ),
    "cyclic_mode": (
        "CyclicLR",
        {"base_lr": 0.01, "max_lr": 0.1, "mode": "foo"},
        "CyclicLR: mode must be one of 'triangular', 'triangular2', 'exp_range' (or give "
        "scale_fn), got 'foo'.",
    ),
    "cyclic_max_lr": ("CyclicLR", {"base_lr": 0.01, "max_lr": [0.1, -1]}, "max_lr must be"),
    "onecycle_max_lr": ("OneCycleLR", {"max_lr": 0, "total_steps": 10}, "OneCycleLR: max_lr"),
    # torch divides by a phase's length of 0: at once, or at the last step of the cycle
    "onecycle_rise_of_one_step": (
        "OneCycleLR",
        {"max_lr": 0.1, "total_steps": 10, "pct_start": 0.1},
        "OneCycleLR: pct_start must leave each phase at least one step, got 0.1 with 10 steps: "
        "its rise is 0 steps long",
    ),
    "onecycle_no_annealing": (
        "OneCycleLR",
        {"max_lr": 0.1, "epochs": 2, "steps_per_epoch": 5, "pct_start": 1.0},
        "got 1.0 with 10 steps: its annealing is 0 steps long",
    ),
    "onecycle_three_phase_no_annealing": (  # the fall ends where the cycle does
        "OneCycleLR",
        {"max_lr": 0.1, "total_steps": 10, "pct_start": 0.55, "three_phase": True},
        "got 0.55 with 10 steps: its annealing is 0 steps long",
    ),
    "onecycle_div_zero": (
        "OneCycleLR",
        {"max_lr": 0.1, "total_steps": 10, "div_factor": 0},
        "OneCycleLR: div_factor must be a positive finite number",
    ),
    "onecycle_final_div_negative": (
        "OneCycleLR",
        {"max_lr": 0.1, "total_steps": 10, "final_div_factor": -1},
        "OneCycleLR: final_div_factor must be a positive finite number",
    ),
    "restarts_eta_min_nan": (
        "CosineAnnealingWarmRestarts",
        {"T_0": 5, "eta_min": float("nan")},
        "CosineAnnealingWarmRestarts: eta_min must be a finite number >= 0, got nan.",
    ),
    "constant_factor_zero": (
        "ConstantLR",
        {"factor": 0.0, "total_iters": 3},
        "ConstantLR: factor must be in (0, 1] (0 divides by zero at step total_iters=3), got 0.0.",
    ),
    "plateau_factor_zero": (
        "ReduceLROnPlateau",
        {"factor": 0},
        "ReduceLROnPlateau: factor must be a number between 0 and 1 (exclusive), got 0.",
    ),
    "plateau_factor_big": ("ReduceLROnPlateau", {"factor": 1.5}, "factor must be"),
    "plateau_patience": ("ReduceLROnPlateau", {"patience": -1}, "patience must be a number of"),
    "plateau_cooldown": ("ReduceLROnPlateau", {"cooldown": 0.5}, "cooldown must be an integer"),
    "plateau_min_lr": ("ReduceLROnPlateau", {"min_lr": -1.0}, "min_lr must be"),
    # NaN passed torch's range checks (every comparison is False) and made every LR NaN
    "constant_factor_nan": (
        "ConstantLR",
        {"factor": float("nan")},
        "ConstantLR: factor must be a number in [0, 1] (the LR is multiplied by it until "
        "total_iters), got nan.",
    ),
    "constant_factor_big": ("ConstantLR", {"factor": 1.5}, "ConstantLR: factor must be"),
    "linear_start_nan": (
        "LinearLR",
        {"start_factor": float("nan")},
        "LinearLR: start_factor must be a number in (0, 1] (the factor it starts at), got nan.",
    ),
    "linear_start_zero": ("LinearLR", {"start_factor": 0}, "LinearLR: start_factor must be"),
    "linear_end_nan": (
        "LinearLR",
        {"end_factor": float("nan")},
        "LinearLR: end_factor must be a number in [0, 1] (the factor it ends at), got nan.",
    ),
    "onecycle_pct_nan": (
        "OneCycleLR",
        {"max_lr": 0.1, "total_steps": 10, "pct_start": float("nan")},
        "OneCycleLR: pct_start must be a number in [0, 1] (the part of the cycle spent "
        "rising), got nan.",
    ),
    "onecycle_pct_big": (
        "OneCycleLR",
        {"max_lr": 0.1, "total_steps": 10, "pct_start": 1.5},
        "OneCycleLR: pct_start must be",
    ),
    # torch's own checks failed on these with "'>' not supported between 'NoneType' and ..."
    "constant_factor_none": ("ConstantLR", {"factor": None}, "ConstantLR: factor must be"),
    "constant_factor_text": ("ConstantLR", {"factor": "1"}, "factor must be .*, got '1'."),
    "linear_start_none": ("LinearLR", {"start_factor": None}, "start_factor must be .*, got None"),
    "linear_end_text": ("LinearLR", {"end_factor": "1"}, "LinearLR: end_factor must be"),
    "restarts_t0_none": (
        "CosineAnnealingWarmRestarts",
        {"T_0": None},
        "CosineAnnealingWarmRestarts: T_0 must be a positive integer (the steps to the first "
        "restart), got None.",
    ),
    "restarts_t0_zero": ("CosineAnnealingWarmRestarts", {"T_0": 0}, "T_0 must be a positive"),
    "restarts_t0_float": ("CosineAnnealingWarmRestarts", {"T_0": 10.0}, "T_0 must .*, got 10.0"),
    "restarts_t_mult_none": (
        "CosineAnnealingWarmRestarts",
        {"T_0": 5, "T_mult": None},
        "CosineAnnealingWarmRestarts: T_mult must be an integer >= 1 (each period is T_mult "
        "times the last), got None.",
    ),
    "restarts_t_mult_zero": ("CosineAnnealingWarmRestarts", {"T_0": 5, "T_mult": 0}, "T_mult"),
    "onecycle_pct_none": (
        "OneCycleLR",
        {"max_lr": 0.1, "total_steps": 10, "pct_start": None},
        "OneCycleLR: pct_start must be a number in [0, 1]",
    ),
    "onecycle_total_text": (
        "OneCycleLR",
        {"max_lr": 0.1, "total_steps": "10"},
        "OneCycleLR: total_steps must be a positive integer, or None to give epochs and "
        "steps_per_epoch, got '10'.",
    ),
    "onecycle_no_length": (
        "OneCycleLR",
        {"max_lr": 0.1, "epochs": 2},
        "OneCycleLR: give total_steps, or epochs and steps_per_epoch, got total_steps=None, "
        "epochs=2, steps_per_epoch=None.",
    ),
    "onecycle_epochs_float": (
        "OneCycleLR",
        {"max_lr": 0.1, "epochs": 2.5, "steps_per_epoch": 4},
        "OneCycleLR: epochs must be a positive integer, got 2.5.",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_an_argument_torch_would_mishandle_is_refused_when_built(case: str) -> None:
    name, kwargs, message = BAD[case]
    optimizer = _opt()
    pattern = re.sub(r"([()\[\]])", r"\\\1", message)  # the message's brackets, literally
    with pytest.raises(ConfigError, match=pattern):
        getattr(dropin, name)(optimizer, **kwargs)
    assert optimizer.param_groups[0]["lr"] == 0.1 and "initial_lr" not in optimizer.param_groups[0]


def test_what_torch_handles_is_still_accepted() -> None:
    built = [
        dropin.StepLR(_opt(), step_size=np.int64(3), gamma=np.float32(0.5)),
        dropin.StepLR(_opt(), step_size=1, gamma=1.5),  # growth is allowed
        dropin.MultiStepLR(_opt(), milestones=(0, 3, 3), gamma=0.1),
        dropin.ConstantLR(_opt(), total_iters=0),
        dropin.CosineAnnealingLR(_opt(), T_max=10.0, eta_min=0),
        dropin.CyclicLR(_opt(2), base_lr=[0.0, 0.01], max_lr=(0.1, 0.2), step_size_up=2.5),
        dropin.CyclicLR(_opt(), 0.01, 0.1, mode="whatever", scale_fn=lambda x: 1.0),
        dropin.ReduceLROnPlateau(_opt(2), factor=0.5, patience=0, min_lr=[0.0, 1e-4]),
        # whole numbers written as floats, tensors, zero factors: torch handles them all
        dropin.StepLR(_opt(), step_size=2.0, gamma=0),
        dropin.MultiStepLR(_opt(), milestones=[2.0, 4.0]),
        dropin.MultiStepLR(_opt(), milestones=[-1, 2]),
        dropin.LinearLR(_opt(), total_iters=4.0),
        dropin.PolynomialLR(_opt(), total_iters=0),
        dropin.ReduceLROnPlateau(_opt(), patience=2.0),
        dropin.CosineAnnealingLR(_opt(), T_max=torch.tensor(10)),
        dropin.ConstantLR(_opt(), factor=0.0, total_iters=0),  # zero from the start, and kept
        # a frozen param group (max_lr 0) stays at 0; a fractional patience waits that long
        dropin.OneCycleLR(_opt(2), max_lr=[0.1, 0.0], total_steps=10),
        dropin.CyclicLR(_opt(2), base_lr=[0.01, 0.0], max_lr=[0.1, 0.0]),
        dropin.ReduceLROnPlateau(_opt(), patience=2.5),
        # the ends of torch's ranges, and factors as NumPy numbers and tensors
        dropin.ConstantLR(_opt(), factor=1, total_iters=3),
        dropin.ConstantLR(_opt(), factor=np.float32(0.5)),
        dropin.LinearLR(_opt(), start_factor=1.0, end_factor=0.0),
        dropin.LinearLR(_opt(), start_factor=torch.tensor(0.5)),
        dropin.OneCycleLR(_opt(), max_lr=0.1, total_steps=10, pct_start=0.0),
        dropin.OneCycleLR(_opt(), max_lr=0.1, total_steps=10, epochs="ignored"),
        dropin.CosineAnnealingWarmRestarts(_opt(), T_0=1, T_mult=1),
        # the fall ends past the cycle: torch never anneals, and never divides by zero
        dropin.OneCycleLR(_opt(), max_lr=0.1, total_steps=100, pct_start=0.6, three_phase=True),
    ]
    assert len(built) == 27


INTEGERS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "restarts": ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2}, {}),
    "restarts_eta_min": ("CosineAnnealingWarmRestarts", {"T_0": 3, "eta_min": 0.001}, {}),
    "onecycle": ("OneCycleLR", {"total_steps": 10}, {"max_lr": 0.1}),
    "onecycle_epochs": ("OneCycleLR", {"epochs": 2, "steps_per_epoch": 5}, {"max_lr": 0.1}),
}


def _numpy(value: float) -> Any:
    return np.int64(value) if isinstance(value, int) else np.float32(value)


@pytest.mark.parametrize("wrap", [_numpy, torch.tensor], ids=["numpy", "tensor"])
@pytest.mark.parametrize("case", list(INTEGERS), ids=list(INTEGERS))
def test_a_numpy_or_tensor_number_is_torchs_plain_number(case: str, wrap: Any) -> None:
    """torch refuses them (``Expected positive integer T_0, but got 10``, ``Expected float or
    int eta_min``): it checks for an ``int`` (a ``float``); the drop-in hands it one, and the
    LRs are torch's for the plain number."""
    from torch.optim import lr_scheduler

    name, numbers, others = INTEGERS[case]
    wrapped = {k: wrap(v) for k, v in numbers.items()}
    plain = {k: v.item() for k, v in wrapped.items()}
    ours, theirs = _opt(), _opt()
    a = getattr(dropin, name)(ours, **others, **wrapped)
    b = getattr(lr_scheduler, name)(theirs, **others, **plain)
    assert first_group_lrs(ours, a, 10) == first_group_lrs(theirs, b, 10)
    assert all(type(getattr(a, k, 0)) is type(getattr(b, k, 0)) for k in plain)


def test_a_pct_start_torch_refuses_for_its_type_is_taken_as_a_float() -> None:
    from torch.optim import lr_scheduler

    for given, meant in ((0, 0.0), (np.float32(0.25), float(np.float32(0.25)))):
        ours, theirs = _opt(), _opt()
        a = dropin.OneCycleLR(ours, max_lr=0.1, total_steps=8, pct_start=given)
        b = lr_scheduler.OneCycleLR(theirs, max_lr=0.1, total_steps=8, pct_start=meant)
        assert first_group_lrs(ours, a, 7) == first_group_lrs(theirs, b, 7)


def test_cyclic_with_no_way_down_is_torchs_sawtooth() -> None:
    from torch.optim import lr_scheduler

    ours, theirs = _opt(), _opt()
    a = dropin.CyclicLR(ours, 0.01, 0.1, step_size_up=3, step_size_down=0)
    b = lr_scheduler.CyclicLR(theirs, 0.01, 0.1, step_size_up=3, step_size_down=0)
    seen = []
    for _ in range(8):
        seen.append((a.get_last_lr()[0], b.get_last_lr()[0]))
        for opt, sched in ((ours, a), (theirs, b)):
            opt.step()
            sched.step()
    assert [x for x, _ in seen] == [y for _, y in seen]
    assert seen[3][0] == pytest.approx(0.01) and seen[2][0] == pytest.approx(0.07)


def test_milestones_from_a_generator_are_not_used_up_by_the_check() -> None:
    from torch.optim import lr_scheduler

    def lrs(make: Any) -> list[float]:
        optimizer = _opt()
        return first_group_lrs(optimizer, make(optimizer, milestones=(m for m in [2, 4])), 6)

    assert lrs(dropin.MultiStepLR) == lrs(lr_scheduler.MultiStepLR)
    assert lrs(dropin.MultiStepLR)[-1] == pytest.approx(0.001)


def test_a_plateau_metric_must_be_a_number_not_text() -> None:
    sched = dropin.ReduceLROnPlateau(_opt())
    with pytest.raises(
        TypeError, match="metrics must be a number or a one-element tensor, got str"
    ):
        sched.step("0.5")  # type: ignore[arg-type]
    sched.step(np.float64(0.5))
    sched.step(torch.tensor(0.4))


def test_chained_scheduler_refuses_a_bound_schedule_and_accepts_torch_ones() -> None:
    from lrkit.schedules import bind

    optimizer = _opt()
    with pytest.raises(ConfigError, match=r"schedulers\[0\] must be a torch scheduler that mul"):
        dropin.ChainedScheduler(
            [bind(optimizer, "cosine:4"), dropin.ExponentialLR(optimizer, 0.5)], optimizer
        )
    nested = _opt()  # one level down, in a SequentialLR: the product was as wrong
    inner = dropin.SequentialLR(
        nested, [bind(nested, "warmup:2"), bind(nested, "cosine:3")], milestones=[2]
    )
    with pytest.raises(ConfigError, match=r"'warmup:steps=2', inside a SequentialLR\), which"):
        dropin.ChainedScheduler([inner, dropin.ExponentialLR(nested, 0.9)], nested)
    other = _opt()
    chained = dropin.ChainedScheduler(
        [dropin.CosineAnnealingLR(other, T_max=4), dropin.ExponentialLR(other, 0.5)], other
    )
    for _ in range(2):
        other.step()
        chained.step()
    assert chained.get_last_lr()[0] == pytest.approx(0.1 * 0.5 * 0.25)  # cosine(2/4) * 0.5 ** 2


def test_torch_s_errors_for_its_known_pitfalls_come_with_lrkit_s_way_around() -> None:
    """QA 125: a drop-in raised torch's error for OneCycleLR stepped past its end (pytorch
    #38170) and a plateau inside SequentialLR (#82859), with nothing on lrkit's way around
    either; the error stays torch's (type and message), a note added."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    cycle = dropin.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        opt.step()
        cycle.step()
    opt.step()
    with pytest.raises(ValueError, match=r"^Tried to step 4 times") as past:
        cycle.step()
    assert "bind(optimizer, 'onecycle:TOTAL_STEPS')" in past.value.__notes__[0]
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`") as plateau:
        dropin.SequentialLR(
            opt, [dropin.LinearLR(opt), dropin.ReduceLROnPlateau(opt)], milestones=[2]
        )
    assert "'warmup:5 > plateau:patience=3'" in plateau.value.__notes__[0]
