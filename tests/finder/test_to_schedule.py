"""Schedules from a range test: native lrkit schedules with the range's peak and floor."""

from __future__ import annotations

import pytest
import torch

from lrkit import ConfigError
from lrkit.errors import UnknownNameError
from lrkit.finder import SCHEDULE_KINDS, RangeTestResult, schedule_from_range
from lrkit.schedules import Schedule, parse

LOW, HIGH = 0.004, 0.05


def _result(range_: tuple[float, float] | None = (LOW, HIGH)) -> RangeTestResult:
    lrs = (1e-4, 1e-3, 1e-2, 1e-1)
    return RangeTestResult(
        lrs=lrs,
        losses=(2.0, 1.5, 1.0, 3.0),
        smoothed=(2.0, 1.8, 1.5, 2.0),
        group_lrs=(lrs,),
        suggestion=None if range_ is None else 0.01,
        range=range_,
        warning=None if range_ is not None else "the loss never decreased: no suggestion",
    )


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
def test_every_kind_peaks_at_the_range_high_and_ends_at_its_low(kind: str) -> None:
    built = _result().to_schedule(kind, steps=200)
    assert isinstance(built.schedule, Schedule) and built.base_lr == HIGH and built.floor == LOW
    lrs = built.trace()
    assert lrs.max() == pytest.approx(HIGH) and lrs.min() >= LOW * (1 - 1e-9)
    assert built.lr(200) == pytest.approx(LOW)  # at the end of the last step, as torch's T_max
    assert parse(built.schedule.to_spec()).trace(200, HIGH) == pytest.approx(lrs)  # round-trips


@pytest.mark.parametrize("kind", ["onecycle", "step"])
def test_bind_sets_the_peak_as_base_lr_and_keeps_group_ratios(kind: str) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 1.0}, {"params": model[1].parameters()}], lr=0.1
    )
    built = _result().to_schedule(kind, steps=100)
    scheduler = built.bind(optimizer)
    seen = []
    for _ in range(101):
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert max(s[0] for s in seen) == pytest.approx(HIGH)
    assert all(s[1] == pytest.approx(s[0] / 10) for s in seen)
    assert seen[-1][0] == pytest.approx(LOW)


def test_warmup_cosine_bound_in_a_training_loop_runs_from_low_to_high_to_low() -> None:
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=123.0)
    scheduler = _result().to_schedule("warmup_cosine", steps=100, warmup=10).bind(optimizer)
    seen = []
    for _ in range(101):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert LOW < seen[0] < seen[9] < HIGH == pytest.approx(seen[10]) and max(seen) == seen[10]
    assert seen[-1] == pytest.approx(LOW)


def test_onecycle_can_anneal_below_the_floor_and_step_drops_at_milestones() -> None:
    deep = schedule_from_range(LOW, HIGH, "1cycle", steps=100, final_div_factor=1e4)
    assert deep.lr(100) == pytest.approx(LOW / 1e4)
    step = schedule_from_range(LOW, HIGH, "step", steps=90, milestones=(1 / 3, 2 / 3))
    assert [step.lr(t) for t in (0, 29, 30, 60, 89)] == pytest.approx(
        [HIGH, HIGH, HIGH * (LOW / HIGH) ** 0.5, LOW, LOW]
    )


def test_no_range_or_bad_options_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="to_schedule needs a range test that found a range"):
        _result(None).to_schedule("onecycle", steps=100)
    with pytest.raises(UnknownNameError, match="valid kinds: onecycle, warmup_cosine, step, cyc"):
        _result().to_schedule("triangle", steps=100)
    with pytest.raises(ConfigError, match="steps must be an integer >= 2"):
        _result().to_schedule("step", steps=1)
    with pytest.raises(ConfigError, match="warmup must be an integer in"):
        _result().to_schedule("warmup_cosine", steps=10, warmup=10)
    with pytest.raises(ConfigError, match="milestones must be increasing fractions"):
        _result().to_schedule("step", steps=10, milestones=(0.8, 0.2))
    with pytest.raises(ConfigError, match="low must be <= high"):
        schedule_from_range(0.1, 0.01, "step", steps=10)
    with pytest.raises(ConfigError, match=r"cycles must be an integer from 1 to 5 \(steps // 2\)"):
        _result().to_schedule("cyclic", steps=10, cycles=6)
    with pytest.raises(ConfigError, match="mode must be 'triangular' or 'triangular2'"):
        _result().to_schedule("cyclic", steps=10, mode="exp_range")


@pytest.mark.parametrize(
    ("kind", "options", "owner"),
    [
        ("onecycle", {"warmup": 5}, "warmup_cosine"),
        ("warmup_cosine", {"cycles": 9}, "cyclic"),
        ("step", {"pct_start": 0.2}, "onecycle"),
        ("cyclic", {"milestones": [0.2]}, "step"),
    ],
)
def test_an_option_of_another_kind_is_refused(
    kind: str, options: dict[str, object], owner: str
) -> None:
    """to_schedule("onecycle", 100, warmup=5, cycles=9, milestones=[0.2]) built a plain
    one-cycle schedule and said nothing of the three options it left out (QA 137)."""
    name = next(iter(options))
    with pytest.raises(ConfigError, match=f"{name} is an option of the {owner!r} kind, got it "):
        _result().to_schedule(kind, steps=100, **options)


def test_a_range_schedule_binds_by_epoch_with_steps_per_epoch() -> None:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    made = _result().to_schedule("warmup_cosine", steps=10, warmup=2)
    bound = made.bind(optimizer, unit="epoch", steps_per_epoch=4)
    assert bound.steps_per_epoch == 4
    for _ in range(8):  # two epochs of four steps: the warmup's end
        optimizer.step()
        bound.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(made.lr(2))


def test_cyclic_runs_whole_triangles_from_low_to_high_and_ends_at_low() -> None:
    built = schedule_from_range(LOW, HIGH, "clr", steps=200, cycles=3)
    lrs = built.trace()
    peaks = [t for t in range(1, 199) if lrs[t - 1] < lrs[t] > lrs[t + 1]]
    assert peaks == [33, 99, 165]  # half-cycles of 200 // 6 = 33 steps
    assert lrs[peaks] == pytest.approx([HIGH] * 3)
    assert [built.lr(t) for t in (0, 66, 132, 198, 199, 200)] == pytest.approx([LOW] * 6)
    halved = schedule_from_range(LOW, HIGH, "cyclic", steps=120, cycles=2, mode="triangular2")
    assert halved.lr(90) - LOW == pytest.approx((HIGH - LOW) / 2)  # the second peak, half high


def test_any_schedule_at_the_suggestion_binds_with_the_groups_ratios() -> None:
    """The range's four kinds were all there was: warmup and cosine at the suggestion meant
    setting each group's LR by hand, which loses their ratios (QA 137)."""
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    optimizer = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 1.0},
            {"params": model[1].parameters(), "lr": 0.1},
        ]
    )
    found = _result()
    at = found.to_schedule("warmup:10 > cosine:90")
    assert (at.kind, at.base_lr, at.steps) == ("spec", found.suggestion, 100)
    bound = at.bind(optimizer)
    for _ in range(10):
        optimizer.step()
        bound.step()
    lrs = [group["lr"] for group in optimizer.param_groups]
    assert lrs == pytest.approx([0.01, 0.001])  # the peak: the suggestion, and a tenth of it
    assert found.to_schedule(parse("cosine:50")).steps == 50
    assert found.to_schedule("constant:factor=0.5", steps=7).lr(3) == pytest.approx(0.005)
    with pytest.raises(ConfigError, match="warmup is an option of the range's kinds"):
        found.to_schedule("cosine:50", warmup=5)
    with pytest.raises(ConfigError, match=r"steps must be the schedule's own length \(50\)"):
        found.to_schedule("cosine:50", steps=60)
    with pytest.raises(ConfigError, match="steps must be given for a schedule without an end"):
        found.to_schedule("constant:factor=0.5")
    with pytest.raises(ConfigError, match="to_schedule at the suggestion needs a range test"):
        _result(None).to_schedule("cosine:50")
    with pytest.raises(ConfigError, match=r"to_schedule\('onecycle'\) needs steps"):
        found.to_schedule("onecycle")
    # review 140: a kind padded with spaces was recognised, then refused; a schedule's name
    # that no kind has ("constant") was refused as an unknown kind
    assert found.to_schedule("  onecycle ", 100).kind == "onecycle"
    assert found.to_schedule("constant", 10).kind == "spec"
    assert found.to_schedule("cosine", 100).kind == "warmup_cosine"  # a kind's alias: the kind
    with pytest.raises(UnknownNameError, match="or a schedule spec at the suggestion, such as"):
        found.to_schedule("triangle", 100)
