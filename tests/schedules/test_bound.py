"""Native schedules bound to torch optimizers: groups, units, plateau, resume, warnings."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lrkit.errors import ConfigError
from lrkit.schedules import ScheduledLR, bind, parse
from tests.schedules.dropin_cases import first_group_lrs
from tests.schedules.native_resume_child import make, run
from tests.schedules.test_native import ALL

CHILD = Path(__file__).with_name("native_resume_child.py")

RESUME_SPECS = {
    "warmup>cosine": ("warmup:5 > cosine:30,min_lr=1e-4", "step", None, 4),
    "multistep across milestone": ("multistep:[0,10,10,20],gamma=0.5", "step", None, 9),
    "restarts*exp": ("cosine_restarts:period=4,mult=2 * exponential:0.97", "step", None, 13),
    "onecycle per step in epochs": ("onecycle:6,three_phase=true", "epoch", 5, 12),
    "warmup>plateau (state)": (
        "warmup:3 > plateau:patience=2,factor=0.5,cooldown=1",
        "epoch",
        None,
        16,
    ),
    "wsd 1-sqrt": ("wsd:40,decay=0.5,cooldown=1-sqrt", "step", None, 25),
    "cyclic": ("cyclic:up=3,down=2,mode=triangular2", "step", None, 7),
    # and every registered schedule and composition of the contract tests, stepped per epoch
    **{f"{name} (contract)": (spec, "epoch", None, 11) for name, spec in ALL.items()},
}
MODES = ["optimizer_not_restored", "scheduler_before_optimizer", "scheduler_after_optimizer"]


def test_resume_in_a_fresh_process_is_exact(tmp_path: Path) -> None:
    lrs, m = [0.1, 0.003], 30
    cases, expected = [], []
    for name, (spec, unit, spe, n) in RESUME_SPECS.items():
        opt = make(lrs)
        sched = bind(opt, spec, unit=unit, steps_per_epoch=spe, verbose=False)
        head = run(opt, sched, 0, n)
        file = tmp_path / f"{len(cases)}.pt"
        torch.save({"scheduler": sched.state_dict(), "optimizer": opt.state_dict()}, file)
        tail = run(opt, sched, n, m)
        if name == "warmup>plateau (state)":
            assert sched.plateau.reductions >= 2 and head[-1] != tail[-1]
        for mode in MODES:
            cases.append(
                {
                    "spec": spec,
                    "unit": unit,
                    "steps_per_epoch": spe,
                    "n": n,
                    "m": m,
                    "mode": mode,
                    "lrs": lrs,
                    "file": str(file),
                    "name": name,
                }
            )
            expected.append(tail)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    subprocess.run(
        [sys.executable, str(CHILD), str(tmp_path / "cases.json"), str(tmp_path / "out.json")],
        check=True,
        cwd=Path(__file__).parents[2],
    )
    got = json.loads((tmp_path / "out.json").read_text())
    for case, want, have in zip(cases, expected, got):
        assert have == want, f"{case['name']} / {case['mode']}"


def test_each_group_follows_its_own_base_lr() -> None:
    opt = make([0.1, 0.01])
    sched = bind(opt, "warmup:2 > cosine:10,min_lr=0.0")
    ratios = []
    for _ in range(12):
        a, b = sched.get_last_lr()
        ratios.append(a / b)
        opt.step()
        sched.step()
    assert ratios == pytest.approx([10.0] * 12)


def test_groups_added_later_join_from_their_own_lr() -> None:
    opt = make([0.1])
    sched = bind(opt, "exponential:0.5")
    opt.step()
    sched.step()
    opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))], "lr": 1.0})
    opt.step()
    sched.step()
    assert sched.get_last_lr() == pytest.approx([0.025, 0.25])


@pytest.mark.parametrize("spe", [4, np.int64(4)], ids=["int", "numpy-int"])
def test_epoch_unit_with_steps_per_epoch_moves_by_fractions(spe: int) -> None:
    opt = make([1.0])
    sched = bind(opt, "linear:2", unit="epoch", steps_per_epoch=spe)
    assert type(sched.steps_per_epoch) is int
    seen = []
    for _ in range(8):
        seen.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert seen == pytest.approx([1 - k / 8 for k in range(8)])


def test_plateau_after_warmup_prints_torch_style_messages(
    capsys: pytest.CaptureFixture[str],
) -> None:
    opt = make([0.1, 0.01])
    sched = bind(opt, "warmup:2 > plateau:patience=1,factor=0.5", unit="epoch")
    for loss in [9.0, 9.0, 1.0, 1.0, 1.0, 1.0]:
        opt.step()
        sched.step(loss)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Epoch 00005: reducing learning rate of group 0 to 5.0000e-02.",
        "Epoch 00005: reducing learning rate of group 1 to 5.0000e-03.",
    ]
    assert sched.get_last_lr() == pytest.approx([0.05, 0.005])


@pytest.mark.parametrize(
    ("unit", "steps_per_epoch", "when"),
    [("step", None, "Step 00005"), ("epoch", 4, "Epoch 2.75")],
)
def test_plateau_messages_count_in_the_schedule_unit(
    unit: str, steps_per_epoch: int | None, when: str, capsys: pytest.CaptureFixture[str]
) -> None:
    opt = make([0.1])
    sched = bind(
        opt, "warmup:2 > plateau:patience=1,factor=0.5", unit=unit, steps_per_epoch=steps_per_epoch
    )  # with steps_per_epoch the warmup is 2 epochs (8 calls): it drops at call 11 = 2.75 epochs
    losses = [9.0, 9.0, 1.0, 1.0, 1.0] if unit == "step" else [9.0] * 8 + [1.0, 1.0, 1.0]
    for loss in losses:
        opt.step()
        sched.step(loss)
    assert capsys.readouterr().out.splitlines() == [
        f"{when}: reducing learning rate of group 0 to 5.0000e-02."
    ]


@pytest.mark.parametrize("steps_per_epoch", [None, 4])
def test_a_plateau_stepped_past_its_patience_without_a_metric_warns_once(
    steps_per_epoch: int | None,
) -> None:
    """Without a metric the plateau's LR cannot drop (QA 110: Lightning's bare config): a
    warning after patience + 1 epochs of the phase, warmup not counted, and only once; none
    when a metric comes once an epoch, by step() or report()."""
    per = steps_per_epoch or 1
    opt = make([0.1])

    def run(feed: str, epochs: int) -> list[str]:
        sched = bind(opt, "warmup:2 > plateau:patience=3", unit="epoch", steps_per_epoch=per)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for call in range(epochs * per):
                if feed == "report" and call % per == 0:
                    sched.report(1.0)
                sched.step(1.0 if feed == "step" and call % per == 0 else None)
        return [str(w.message) for w in caught if "no metric has come yet" in str(w.message)]

    assert run("none", 2 + 4) == []  # the warmup, then patience + 1 epochs, less one call
    assert len(run("none", 2 + 4 + 1)) == 1
    (said,) = run("none", 30)
    assert said.startswith("ScheduledLR.step() was called for 4 epochs of the plateau phase")
    assert run("report", 30) == [] and run("step", 30) == []
    # resumed (review 116): a checkpoint fed before is not watched; one step does not warn
    fed = bind(opt, "warmup:2 > plateau:patience=3", unit="epoch")
    for _ in range(50):
        fed.step(1.0)
    resumed = bind(opt, "warmup:2 > plateau:patience=3", unit="epoch")
    resumed.step()  # a step without a metric before the load: watching began
    resumed.load_state_dict(fed.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(10):
            resumed.step()
    step_unit = bind(opt, "plateau:patience=1", unit="step")  # its metric may come rarely
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(100):
            step_unit.step()


def test_non_finite_metric_is_rejected() -> None:
    opt = make([0.1])
    sched = bind(opt, "plateau", unit="epoch")
    with pytest.raises(ConfigError, match="metrics must be a finite number, got nan"):
        sched.step(float("nan"))


@pytest.mark.parametrize(
    "metric", ["1.0", True, torch.tensor(True), torch.tensor([1.0, 2.0])], ids=repr
)
def test_a_metric_that_is_no_loss_is_rejected(metric: object) -> None:
    # text and bools were read as numbers; several values were torch's RuntimeError
    sched = bind(make([0.1]), "plateau", unit="epoch")
    with pytest.raises(ConfigError, match=r"^metrics must be a finite number, got "):
        sched.step(metric)
    sched.step(torch.tensor([0.5]))  # one value, in any shape, is a loss


def test_verbose_must_be_a_flag() -> None:
    with pytest.raises(ConfigError, match=r"^verbose must be True or False, got 'no'"):
        bind(make([0.1]), "cosine:5", verbose="no")  # type: ignore[arg-type]


def test_no_false_warning_when_grad_scaler_skips_the_first_step() -> None:
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    sched = bind(opt, "cosine:10")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = model(torch.full((2, 3), float("inf"))).sum()  # inf grads: the scaler skips
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
    assert scaler.get_scale() < 2.0**16  # the step really was skipped
    assert not [w for w in caught if "lr_scheduler.step()" in str(w.message)]
    # torch's own scheduler warns falsely in the same situation (so this test can fail)
    opt2 = torch.optim.SGD(model.parameters(), lr=0.1)
    torch_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt2, 10)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        torch_sched.step()


def test_is_a_real_torch_lr_scheduler() -> None:
    opt = make([0.1])
    sched = bind(opt, parse("step:2"), unit="epoch")
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    assert isinstance(sched, ScheduledLR)
    assert sched.state_dict()["schedule"] == {"name": "step", "step_size": 2}
    json.dumps(sched.state_dict())  # plain data


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"unit": "batch"}, "unit"),
        ({"unit": "step", "steps_per_epoch": 10}, "steps_per_epoch"),
        ({"unit": "epoch", "steps_per_epoch": 0}, "steps_per_epoch"),
    ],
)
def test_bad_binding_arguments(kwargs: dict, param: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=param):
        bind(make([0.1]), "cosine:10", **kwargs)


def test_not_an_optimizer() -> None:
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer, got list"):
        bind([], "cosine:10")  # type: ignore[arg-type]


def test_resuming_into_a_different_unit_is_an_error() -> None:
    opt = make([0.1])
    state = bind(opt, "cosine:10", unit="step").state_dict()
    other = bind(make([0.1]), "cosine:10", unit="epoch")
    with pytest.raises(ConfigError, match="unit/steps_per_epoch must match"):
        other.load_state_dict(state)


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ("optimizer", r"got a dict with keys \['param_groups', 'state'\] \(an optimizer's"),
        ("empty", r"state_dict must be a scheduler's state_dict\(\)"),
        (None, r"got None"),
        ({"last_epoch": "x"}, r"state_dict\['last_epoch'\] must be a whole number"),
        ({"last_epoch": -5}, r"state_dict\['last_epoch'\] must be a whole number"),
        ({"base_lrs": [float("nan")]}, r"state_dict\['base_lrs'\] must be a list of finite"),
        ({"plateau": None}, r"state_dict\['plateau'\] must be the plateau counts a bound .*None"),
        ({"plateau": {"best": "x"}}, r"state_dict\['plateau'\] must be the plateau counts"),
        ({"plateau": {"reductions": -1}}, r"state_dict\['plateau'\] must be .*-1"),
        ({"_step_count": None}, r"state_dict\['_step_count'\] must be a whole number"),
    ],
)
def test_a_state_that_is_not_a_schedulers_is_refused_and_changes_nothing(
    state: object, match: str
) -> None:
    opt = make([0.1])
    scheduler = bind(opt, "cosine:10")
    scheduler.step()
    good = scheduler.state_dict()
    if state == "optimizer":
        state = opt.state_dict()
    elif state == "empty":
        state = {}
    elif isinstance(state, dict):
        state = {**good, **state}
    before = [g["lr"] for g in opt.param_groups]
    with pytest.raises(ConfigError, match=match):
        scheduler.load_state_dict(state)  # type: ignore[arg-type]
    assert [g["lr"] for g in opt.param_groups] == before and scheduler.last_epoch == 1
    scheduler.load_state_dict(good)  # the real one still loads
    assert scheduler.last_epoch == 1


@pytest.mark.parametrize("groups", [1, 3])
def test_resuming_into_an_optimizer_with_other_param_groups_is_an_error(groups: int) -> None:
    saved = bind(make([0.1, 0.01]), "warmup:10 > cosine:90")
    state = saved.state_dict()
    opt = make([0.1] * groups)
    other = bind(opt, "warmup:10 > cosine:90")
    before = [g["lr"] for g in opt.param_groups]
    with pytest.raises(ConfigError, match=rf"one base LR per param group \({groups}\), got 2"):
        other.load_state_dict(state)
    assert [g["lr"] for g in opt.param_groups] == before


def test_a_floor_above_the_base_lr_warns_when_bound() -> None:
    opt = make([0.05, 0.0])  # a group at 0 is frozen on purpose: no warning for it
    with pytest.warns(UserWarning, match=r"cosine's min_lr \(0.5\) is above the base LR \(0.05\)"):
        bind(opt, "warmup:2 > cosine:10,min_lr=0.5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bind(make([0.05]), "cosine:10,min_lr=0.001")  # a floor below the base: silent


def test_binding_rprop_warns_that_its_lr_acts_only_at_the_first_step() -> None:
    """QA 119: the range test refuses Rprop for this; bind ran without a word."""
    params = torch.nn.Linear(2, 1).parameters()
    with pytest.warns(UserWarning, match=r"^Rprop reads lr only to start each parameter's step"):
        bind(torch.optim.Rprop(params, lr=0.01), "cosine:10")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bind(make([0.05]), "cosine:10")


def test_a_state_with_tensor_base_lrs_still_loads() -> None:
    """torch's schedulers keep an optimizer's tensor LR as a 0-d tensor in base_lrs."""
    from lrkit.schedules.dropin import StepLR

    tensor_lr = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=torch.tensor(0.25))
    state = StepLR(tensor_lr, 3).state_dict()
    assert isinstance(state["base_lrs"][0], torch.Tensor)
    scheduler = bind(make([0.1]), "cosine:10")
    with pytest.warns(UserWarning, match=r"holds no schedule \(a torch scheduler's, not a bound"):
        scheduler.load_state_dict(state)  # taken, with a word (QA 110: it was silent)
    assert scheduler.base_lrs == [0.25] and scheduler.last_epoch == 0


def test_a_schedule_that_overflows_stops_before_it_writes_inf() -> None:
    opt = make([0.1])
    scheduler = bind(opt, "exponential:1.5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow in exp
        with pytest.raises(ConfigError, match=r"must give a finite learning rate \(one a float32 "):
            for _ in range(3000):
                scheduler.step()
    assert all(math.isfinite(g["lr"]) for g in opt.param_groups)


def test_an_lr_past_what_a_float32_holds_stops_before_the_optimizer_overflows() -> None:
    """1e198 is a finite float, but SGD's step raised RuntimeError ("value cannot be converted
    to type float without overflow") with a traceback on the command line."""
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scheduler = bind(opt, "exponential:1e200")
    with pytest.raises(ConfigError, match=r"got 1\.0+2*e\+198 for param group 0 \(base lr 0\.01\)"):
        scheduler.step()
    assert opt.param_groups[0]["lr"] == 0.01
    model(torch.ones(1, 2)).sum().backward()
    opt.step()  # still trains: nothing overflowed


@pytest.mark.parametrize(
    ("in_epochs", "in_steps"),
    [
        ("warmup:1 > cosine:9", "warmup:100 > cosine:900"),
        ("onecycle:10", "onecycle:1000"),
        ("onecycle:10,three_phase=True", "onecycle:1000,three_phase=True"),
    ],
)
def test_a_schedule_in_epochs_stepped_per_batch_is_the_same_schedule_in_batches(
    in_epochs: str, in_steps: str
) -> None:
    """A warmup in epochs started at half its peak (its first step one epoch in, not one
    batch) and a one-cycle peaked an epoch early and spent its last epoch at its end."""

    def lrs(spec: str, **how: Any) -> list[float]:
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        return first_group_lrs(optimizer, bind(optimizer, spec, **how), 1000)

    per_batch = lrs(in_epochs, unit="epoch", steps_per_epoch=100)
    assert per_batch == pytest.approx(lrs(in_steps), rel=1e-9, abs=1e-15)
    assert per_batch[0] < 0.01  # the first batch at a small fraction of the peak


def test_a_tensor_lr_keeps_its_start() -> None:
    """The tensor LR is set in place: ``initial_lr`` was the same tensor and decayed with it,
    so a second bind (or the optimizer's state_dict) started from the decayed LR."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=torch.tensor(0.1))
    scheduler = bind(optimizer, "step:1,gamma=0.5")
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    group = optimizer.param_groups[0]
    assert float(group["lr"]) == pytest.approx(0.0125)
    assert float(group["initial_lr"]) == pytest.approx(0.1)
    assert bind(optimizer, "cosine:10").base_lrs == [pytest.approx(0.1)]


def test_repr_shows_the_spec_the_unit_and_the_step() -> None:
    scheduler = bind(make([0.1]), "warmup:5 > cosine:50")
    for _ in range(3):
        scheduler.step()
    spec = "warmup:steps=5 > cosine:steps=50"  # the canonical spec, as to_spec() writes it
    assert repr(scheduler) == f"ScheduledLR({spec!r}, unit='step', last_epoch=3)"
    per_batch = bind(make([0.1]), "cosine:5", unit="epoch", steps_per_epoch=10)
    assert repr(per_batch) == (
        "ScheduledLR('cosine:steps=5', unit='epoch', steps_per_epoch=10, last_epoch=0)"
    )


def test_an_lr_set_by_hand_between_two_binds_is_warned_of() -> None:
    """A second bind scales the initial_lr the first one left, as torch's schedulers do: an LR
    set by hand in between (the range test's suggestion) was lost without a word (QA 137)."""
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    bind(optimizer, "onecycle:100")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = bind(optimizer, "cosine:100")  # nothing set in between: as torch, no word
    assert again.base_lrs == [0.1]
    optimizer.param_groups[0]["lr"] = 0.01
    with pytest.warns(
        UserWarning, match=r"param group 0.s lr is 0\.01, not the 0\.1 an earli"
    ) as w:
        kept = bind(optimizer, "warmup:10 > cosine:90")
    assert kept.base_lrs == [0.1] and w[0].filename == __file__
    optimizer.param_groups[0]["lr"] = 0.01
    optimizer.param_groups[0]["initial_lr"] = 0.01  # the warning's advice: no word, and 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        moved = bind(optimizer, "cosine:100")
        # a tensor LR holds what is written rounded to float32: not an LR set by hand (review
        # 140), nor is a group added since
        held = torch.optim.Adam(torch.nn.Linear(2, 1).parameters(), lr=torch.tensor(0.01))
        first = bind(held, "cosine:100")
        for _ in range(7):
            held.step()
            first.step()
        bind(held, "cosine:100")
    assert moved.base_lrs == [0.01]


def test_binding_again_after_loading_the_optimizers_state_is_no_hand_set_lr() -> None:
    """Resuming: bind, load the optimizer's checkpoint (an LR mid-schedule), bind again and
    load the schedule's state. The checkpoint's LR is not one set by hand: no warning."""
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = bind(optimizer, "warmup:10 > cosine:90")
    for _ in range(40):
        optimizer.step()
        scheduler.step()
    saved = (optimizer.state_dict(), scheduler.state_dict())
    fresh = torch.optim.SGD(model.parameters(), lr=0.1)
    bind(fresh, "warmup:10 > cosine:90")
    fresh.load_state_dict(saved[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed = bind(fresh, "warmup:10 > cosine:90")
        resumed.load_state_dict(saved[1])
    assert resumed.get_last_lr() == scheduler.get_last_lr()
    fresh.param_groups[0]["lr"] = 0.5  # by hand after the load: still said
    with pytest.warns(UserWarning, match=r"param group 0.s lr is 0\.5, not the"):
        bind(fresh, "cosine:100")
    # and with no bind between the load and the hand (review 148)
    fresh.load_state_dict(saved[0])
    fresh.param_groups[0]["lr"] = 0.5
    with pytest.warns(UserWarning, match=r"param group 0.s lr is 0\.5, not the"):
        bind(fresh, "cosine:100")


def test_a_shallow_copy_has_plateau_counts_of_its_own() -> None:
    """As a copy of torch's ReduceLROnPlateau: stepping the copy leaves the original's counts."""
    scheduler = bind(make([0.1]), "plateau:patience=0", unit="epoch", verbose=False)
    scheduler.step(1.0)
    copied = copy.copy(scheduler)
    copied.step(1.0)
    copied.step(1.0)
    assert copied.plateau.reductions == 2
    assert scheduler.plateau.state_dict() == {
        "best": 1.0,
        "num_bad_epochs": 0,
        "cooldown_counter": 0,
        "reductions": 0,
    }
