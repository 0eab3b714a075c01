"""lrkit's drop-ins give torch's LRs, and differ from torch only where torch is wrong.

One contract over every case of ``dropin_cases.CASES``: thousands of steps, three param groups
with different LRs, the same LR (and cycled momentum) as torch's own class at every step.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch.optim import lr_scheduler

from lrkit.errors import ConfigError
from lrkit.schedules import dropin
from tests.schedules.dropin_cases import (
    CASES,
    GROUP_LRS,
    Case,
    make_optimizer,
    mismatch,
    run_uninterrupted,
)

ORDER_WARNING = "Detected call of `lr_scheduler.step()` before `optimizer.step()`"
CASE_PARAMS = [pytest.param(case, id=case.name) for case in CASES]


def test_every_torch_scheduler_has_a_dropin() -> None:
    torch_names = {name for name in lr_scheduler.__all__ if name != "LRScheduler"}
    assert set(dropin.__all__) == torch_names


@pytest.mark.parametrize("name", dropin.__all__)
def test_dropin_is_an_instance_of_torchs_class(name: str) -> None:
    # Lightning and the HF Trainer dispatch on these isinstance checks.
    cls = getattr(dropin, name)
    assert issubclass(cls, getattr(lr_scheduler, name))
    assert issubclass(cls, lr_scheduler.LRScheduler)


@pytest.mark.parametrize("name", dropin.__all__)
def test_dropin_shows_torchs_constructor_signature(name: str) -> None:
    # help(), IDEs and tools that build a scheduler from its arguments (LightningCLI) read it
    import inspect

    mine = [
        (p.name, p.default, p.kind)
        for p in inspect.signature(getattr(dropin, name)).parameters.values()
    ]
    torchs = [
        (p.name, p.default, p.kind)
        for p in inspect.signature(getattr(lr_scheduler, name)).parameters.values()
    ]
    assert mine[: len(torchs)] == torchs  # then lrkit's own: ReduceLROnPlateau's verbose
    assert [p[0] for p in mine[len(torchs) :]] == (
        ["verbose"] if name == "ReduceLROnPlateau" else []
    )


def test_cases_cover_every_scheduler_for_thousands_of_steps() -> None:
    covered = {case.name.split("-")[0] for case in CASES}
    assert covered == set(dropin.__all__)
    assert min(case.steps for case in CASES) >= 3000


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_same_lrs_as_torch_at_every_step(case: Case) -> None:
    expected = run_uninterrupted("torch", case, case.steps)
    got = run_uninterrupted("lrkit", case, case.steps)

    assert mismatch(expected, got, rel=1e-12) == ""
    # The trace must exercise the schedule, not a constant: every group's LR moves.
    for group in range(len(GROUP_LRS)):
        assert len({snap[group] for snap in expected}) > 1


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_state_dict_has_torchs_keys(case: Case) -> None:
    # Checkpoints move between torch and lrkit in both directions.
    ours = case.build(dropin, make_optimizer(case.optimizer)).state_dict()
    theirs = case.build(lr_scheduler, make_optimizer(case.optimizer)).state_dict()
    assert ours.keys() == theirs.keys()


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_no_false_order_warning_when_the_first_optimizer_step_was_skipped(case: Case) -> None:
    # A GradScaler that finds inf gradients skips optimizer.step(); the scheduler still steps.
    optimizer = make_optimizer(case.optimizer)
    scheduler = case.build(dropin, optimizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t in range(3):
            if case.metric is None:
                scheduler.step()
            else:
                scheduler.step(case.metric(t))

    assert [w for w in caught if ORDER_WARNING in str(w.message)] == []


def test_torch_warns_falsely_when_the_first_optimizer_step_was_skipped() -> None:
    # The same loop as above with torch's class: this is the warning lrkit removes.
    optimizer = make_optimizer("sgd")
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        scheduler.step()


@pytest.mark.skipif(not hasattr(torch.amp, "GradScaler"), reason="torch.amp.GradScaler needs 2.3")
@pytest.mark.parametrize("module", [lr_scheduler, dropin], ids=["torch", "lrkit"])
def test_real_grad_scaler_skip(module: object) -> None:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = module.StepLR(optimizer, step_size=2)  # type: ignore[attr-defined]
    scaler = torch.amp.GradScaler("cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = model(torch.full((1, 2), 1e38)).sum() * 1e10  # overflows: inf gradients
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # skipped
        scaler.update()
        scheduler.step()

    assert scaler.get_scale() < 65536.0  # the scaler did find inf and skip the step
    warned = any(ORDER_WARNING in str(w.message) for w in caught)
    assert warned is (module is lr_scheduler)


def test_plateau_verbose_prints_torchs_old_message(capsys: pytest.CaptureFixture[str]) -> None:
    optimizer = make_optimizer("sgd")
    scheduler = dropin.ReduceLROnPlateau(optimizer, factor=0.5, patience=1, verbose=True)
    for loss in [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]:
        scheduler.step(loss)

    assert capsys.readouterr().out.splitlines() == [
        "Epoch 00003: reducing learning rate of group 0 to 5.0000e-02.",
        "Epoch 00003: reducing learning rate of group 1 to 2.5000e-02.",
        "Epoch 00003: reducing learning rate of group 2 to 5.0000e-03.",
        "Epoch 00006: reducing learning rate of group 0 to 2.5000e-02.",
        "Epoch 00006: reducing learning rate of group 1 to 1.2500e-02.",
        "Epoch 00006: reducing learning rate of group 2 to 2.5000e-03.",
    ]


def test_plateau_verbose_is_silent_when_min_lr_stops_the_reduction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    optimizer = make_optimizer("sgd")
    scheduler = dropin.ReduceLROnPlateau(
        optimizer, patience=0, min_lr=[0.1, 0.0, 0.01], verbose=True
    )
    for _ in range(2):
        scheduler.step(1.0)

    # Groups 0 and 2 already sit at their min_lr: only group 1 is reduced, only it is reported.
    expected = "Epoch 00002: reducing learning rate of group 1 to 5.0000e-03.\n"
    assert capsys.readouterr().out == expected


def test_plateau_verbose_belongs_to_the_running_process(
    capsys: pytest.CaptureFixture[str],
) -> None:
    loud = dropin.ReduceLROnPlateau(make_optimizer("sgd"), patience=0, verbose=True)
    quiet = dropin.ReduceLROnPlateau(make_optimizer("sgd"), patience=0)
    quiet.load_state_dict(loud.state_dict())
    for _ in range(3):
        quiet.step(1.0)

    assert quiet.get_last_lr()[0] < GROUP_LRS[0]
    assert capsys.readouterr().out == ""


def test_plateau_is_quiet_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    scheduler = dropin.ReduceLROnPlateau(make_optimizer("sgd"), patience=0)
    for _ in range(3):
        scheduler.step(1.0)

    assert scheduler.get_last_lr()[0] < GROUP_LRS[0]
    assert capsys.readouterr().out == ""


def test_torch_rejects_verbose_which_lrkit_accepts() -> None:
    with pytest.raises(TypeError):
        lr_scheduler.ReduceLROnPlateau(make_optimizer("sgd"), verbose=True)  # type: ignore[call-arg]
    dropin.ReduceLROnPlateau(make_optimizer("sgd"), verbose=True)


def test_plateau_verbose_must_be_a_bool() -> None:
    with pytest.raises(ConfigError, match="verbose must be True or False, got 'yes'"):
        dropin.ReduceLROnPlateau(make_optimizer("sgd"), verbose="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "metric",
    [math.nan, math.inf, -math.inf, torch.tensor(float("nan"))],
    ids=["nan", "inf", "-inf", "nan-tensor"],
)
def test_plateau_rejects_non_finite_metrics(metric: object) -> None:
    optimizer = make_optimizer("sgd")
    scheduler = dropin.ReduceLROnPlateau(optimizer, patience=0)
    scheduler.step(1.0)

    with pytest.raises(ConfigError, match=r"^metrics must be a finite number .*, got .*(nan|inf)"):
        scheduler.step(metric)  # type: ignore[arg-type]
    # Nothing was counted: no bad epoch, no reduction.
    assert scheduler.num_bad_epochs == 0
    assert optimizer.param_groups[0]["lr"] == GROUP_LRS[0]


def test_torch_counts_nan_as_no_improvement_and_cuts_the_lr() -> None:
    optimizer = make_optimizer("sgd")
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, patience=0)
    scheduler.step(1.0)
    scheduler.step(math.nan)

    assert optimizer.param_groups[0]["lr"] < GROUP_LRS[0]


def test_plateau_rejects_a_metric_that_is_not_a_number() -> None:
    scheduler = dropin.ReduceLROnPlateau(make_optimizer("sgd"))
    with pytest.raises(TypeError, match="metrics must be a number or a one-element tensor"):
        scheduler.step("low")  # type: ignore[arg-type]


def test_plateau_refuses_a_tensor_of_several_values_with_the_kind_of_error_torch_raises() -> None:
    metric = torch.tensor([1.0, 2.0])
    with pytest.raises(ValueError):
        lr_scheduler.ReduceLROnPlateau(make_optimizer("sgd")).step(metric)
    with pytest.raises(ValueError, match=r"one-element tensor, got Tensor of shape \(2,\)"):
        dropin.ReduceLROnPlateau(make_optimizer("sgd")).step(metric)


def test_plateau_accepts_a_tensor_metric() -> None:
    scheduler = dropin.ReduceLROnPlateau(make_optimizer("sgd"))
    scheduler.step(torch.tensor(0.25))
    assert scheduler.best == 0.25


def test_every_torch_scheduler_is_exported_from_lrkit_schedules() -> None:
    import lrkit.schedules

    names = [
        n
        for n in dir(torch.optim.lr_scheduler)
        if n[0].isupper()
        and n.endswith(("LR", "Plateau", "Restarts", "Scheduler"))
        and n not in ("LRScheduler",)
        and isinstance(getattr(torch.optim.lr_scheduler, n), type)
    ]
    assert len(names) == 15
    for name in names:
        ours = getattr(lrkit.schedules, name)
        assert issubclass(ours, getattr(torch.optim.lr_scheduler, name)), name
        assert ours.__module__.startswith("lrkit."), name
