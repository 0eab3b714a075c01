"""Values a spec (or a schedule class) must refuse, and extreme ones it must still get right.

The guiding invariant: for any accepted spec and any step, the learning rate is finite and >= 0
(only a schedule that grows by design, ``exponential:2``, may overflow, and the plot says so).
"""

from __future__ import annotations

import itertools
import math
import re
import time
import warnings
from collections import Counter

import numpy as np
import pytest
import torch

from lrkit.errors import ConfigError, SpecError
from lrkit.schedules import (
    WSD,
    Constant,
    Cosine,
    CosineRestarts,
    Cyclic,
    Linear,
    MultiStep,
    OneCycle,
    Optimal,
    Plateau,
    Polynomial,
    Step,
    Warmup,
    bind,
    from_dict,
    parse,
    schedule_names,
    simulate,
)
from lrkit.schedules import cosine as cosine_module

WHOLE = "must be a positive integer (lengths count whole steps or epochs)"

# -- lengths count whole steps -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("step:0.5", f"step_size {WHOLE}, got 0.5."),
        ("cyclic:up=0.5", f"up {WHOLE}, got 0.5."),
        ("cyclic:up=1e-300", f"up {WHOLE}, got 1e-300."),
        ("cyclic:up=10,down=2.5", f"down {WHOLE}, got 2.5."),
        ("cosine:100.5", f"steps {WHOLE}, got 100.5."),
        ("cosine:1e-300", f"steps {WHOLE}, got 1e-300."),
        ("cosine_restarts:period=0.5", f"period {WHOLE}, got 0.5."),
        ("linear:1.5", f"steps {WHOLE}, got 1.5."),
        ("poly:0.5", f"steps {WHOLE}, got 0.5."),
        ("onecycle:99.5", f"steps {WHOLE}, got 99.5."),
        ("wsd:10.5", f"steps {WHOLE}, got 10.5."),
        ("warmup:0.5 > cosine:10", f"steps {WHOLE}, got 0.5."),
        ("constant:steps=1.5 > cosine:10", f"steps {WHOLE}, got 1.5."),
        ("linear:100,warmup=0.5", f"warmup {WHOLE}, got 0.5."),
        # the total as written, not what is left once the warmup is taken off (90.5)
        ("linear:steps=100.5,warmup=10", f"steps {WHOLE}, got 100.5."),
        ("multistep:[0.5]", "milestones must be whole numbers of steps >= 0, got [0.5]."),
        ("multistep:[10,inf]", "milestones must be whole numbers of steps >= 0, got [10, 'inf']."),
    ],
)
def test_a_fractional_length_is_refused_naming_the_parameter(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(spec)
    assert _of_part(info.value, spec) == message


@pytest.mark.parametrize(
    ("spec", "message"),
    [  # the example in the message is one that works: a factor, a list, a length
        ("exponential", "exponential needs gamma (e.g. 'exponential:gamma=0.9')"),
        ("multistep", "multistep needs milestones (e.g. 'multistep:milestones=[30,60]')"),
        ("cosine", "cosine needs steps (e.g. 'cosine:steps=1000')"),
        # the range said is the range kept: 1 is out, as 0 is
        ("plateau:factor=1", "plateau: factor must be a number in (0, 1), got 1."),
        ("plateau:factor=0", "plateau: factor must be a number in (0, 1), got 0."),
    ],
)
def test_a_missing_or_bad_parameter_s_message(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(spec)
    assert str(info.value).startswith(message)
    example = message.partition("e.g. ")[2].strip("'()")
    if example:
        parse(example)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Step(step_size=0.5), id="step"),
        pytest.param(lambda: Cyclic(up=10, down=0.5), id="cyclic"),
        pytest.param(lambda: Cosine(steps=2.5), id="cosine"),
        pytest.param(lambda: CosineRestarts(period=1e-10), id="restarts"),
        pytest.param(lambda: Linear(steps=0.1), id="linear"),
        pytest.param(lambda: Polynomial(steps=0.1), id="poly"),
        pytest.param(lambda: OneCycle(steps=0.1), id="onecycle"),
        pytest.param(lambda: WSD(steps=0.1), id="wsd"),
        pytest.param(lambda: Warmup(steps=0.1), id="warmup"),
        pytest.param(lambda: Constant(steps=0.1), id="constant"),
        pytest.param(lambda: MultiStep((1.5,)), id="multistep"),
    ],
)
def test_the_classes_refuse_fractional_lengths_too(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="whole"):
        make()


@pytest.mark.parametrize(
    ("spec", "expected", "fractional"),
    [
        ("cosine:1e3", Cosine(1000), "cosine:1.0005e3"),
        ("cosine:1.5k", Cosine(1500), "cosine:1.0005k"),
        ("step:2.0", Step(2), "step:2.01"),
        ("cyclic:up=1e2,down=50.0", Cyclic(up=100, down=50), "cyclic:up=1e2,down=50.5"),
        ("multistep:[0,30.0,1e2]", MultiStep((0, 30, 100)), "multistep:[0,30.5,1e2]"),
        ("linear:steps=1e3,warmup=1e2", Warmup(100) >> Linear(900), "linear:1e3,warmup=1e-2"),
        ("cosine:1e30", Cosine(1e30), "cosine:1e-30"),
    ],
)
def test_whole_lengths_may_be_floats(spec: str, expected: object, fractional: str) -> None:
    assert parse(spec) == expected
    with pytest.raises(SpecError, match="whole"):
        parse(fractional)


# -- spec value errors are SpecErrors, never a crash -------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cosine:-5", "steps must be a positive finite number, got -5."),
        ("exponential:0.9 > cosine:5", "phase 1 must have a length"),
        # an int beyond the float range was an OverflowError
        ("cosine:1" + "0" * 400, "steps must be a positive finite number, got 1000"),
        ("constant:factor=1" + "0" * 400, "factor must be a positive finite number, got 1000"),
        ("multistep:[1" + "0" * 400 + "]", "milestones must be whole numbers of steps >= 0"),
        # past the 4,300 digits Python reads as an int: a ValueError and a traceback (QA 147)
        ("cosine:" + "1" * 5000, "steps must be a positive finite number, got inf"),
        # a plateau's counts are read back as floats when it resumes: an OverflowError then
        ("plateau:cooldown=" + "9" * 400, "cooldown must be a whole number of reports that a"),
        ("plateau:patience=1" + "0" * 400, "patience must be a whole number of reports that a"),
        # a list of milestones is needed: none was a TypeError
        ("multistep:milestones=none", "milestones must be a list of whole steps >= 0 such as"),
    ],
)
def test_a_bad_value_in_a_spec_is_a_spec_error(spec: str, message: str) -> None:
    # A SpecError (a ConfigError): its parameter is the spec's, not a command's option.
    with pytest.raises(SpecError) as info:
        parse(spec)
    assert _of_part(info.value, spec).startswith(message)


def test_a_bad_value_in_a_config_dict_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=re.escape(f"step_size {WHOLE}, got 0.5.")):
        from_dict({"name": "step", "step_size": 0.5})
    with pytest.raises(SpecError, match="steps must be a positive finite number, got 0"):
        from_dict({"name": "sequence", "phases": [{"name": "cosine", "steps": 0}]})


# -- factors and fractions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "onecycle:100,div_factor=0.5",
            "div_factor must be a finite number >= 1 (it starts at base_lr / div_factor, not "
            "above), got 0.5.",
        ),
        (
            "onecycle:100,div_factor=1e-300",
            "div_factor must be a finite number >= 1 (it starts at base_lr / div_factor, not "
            "above), got 1e-300.",
        ),
        (
            "onecycle:100,final_div_factor=1e-300",
            "final_div_factor must be a finite number >= 1 (it ends at its start LR / "
            "final_div_factor, not above), got 1e-300.",
        ),
    ],
)
def test_factors_out_of_range_are_refused(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(spec)
    assert _of_part(info.value, spec) == message


def _of_part(error: Exception, spec: object) -> str:
    """The message after the name of the spec's part it is about (``"step: ..."``); all of it
    when it is about the whole (a sequence's phases)."""
    name, _, message = str(error).partition(": ")
    return message if name.isidentifier() and name in str(spec) else str(error)


def test_onecycle_factors_may_be_one_but_not_less() -> None:
    s = parse("onecycle:10,div_factor=1,final_div_factor=1")  # flat at the peak
    assert s.trace(11, 0.1) == pytest.approx([0.1] * 11)
    for spec in ("onecycle:10,div_factor=0.999", "onecycle:10,final_div_factor=0.999"):
        with pytest.raises(SpecError, match=r"must be a finite number >= 1 \("):
            parse(spec)


# -- floors above the base LR ------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "cosine:100,min_lr=1e300",
        "cosine:100,min_lr=2",
        "poly:100,end_lr=2",
        "wsd:100,min_lr=2",
        "cosine_restarts:period=10,mult=2,min_lr=2",
        "warmup:5 > cosine:100,min_lr=1e300",
    ],
)
def test_a_floor_above_the_base_lr_holds_the_base_lr(spec: str) -> None:
    # It rose from the base LR to the floor (2e296 at step 1), from 0 at step 0 for 1e300.
    lrs = parse(spec).trace(200, base_lr=1.0)
    warm = 5 if spec.startswith("warmup") else 0
    assert lrs[warm:] == pytest.approx(np.ones(200 - warm), rel=1e-15, abs=0)


def test_a_plateau_never_raises_the_lr_to_its_min_lr() -> None:
    p = Plateau(factor=0.5, patience=0, min_lr=1.0)
    lrs = p.trace(4, base_lr=0.1, reductions=simulate(p, [1.0, 1.0, 1.0, 1.0]))
    assert lrs.tolist() == [0.1] * 4  # as torch's ReduceLROnPlateau: it was 1.0 from step 2


@pytest.mark.parametrize(
    "spec", ["cosine:100,min_lr=0.0063", "poly:100,end_lr=0.0063", "wsd:100,min_lr=0.0063"]
)
def test_a_decay_starts_exactly_at_the_base_lr_and_ends_exactly_at_its_floor(spec: str) -> None:
    lrs = parse(spec).trace(150, base_lr=0.3)
    assert lrs[0] == 0.3  # min_lr + (base_lr - min_lr) gave 0.29999999999999993
    assert np.all(lrs[100:] == 0.0063) and np.all(np.diff(lrs) <= 0)


def test_a_bound_group_below_the_floor_keeps_its_lr() -> None:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(
        [{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 1e-5}]
    )
    with pytest.warns(UserWarning, match=r"min_lr \(0.001\) is above the base LR \(1e-05\)"):
        scheduler = bind(optimizer, "cosine:10,min_lr=1e-3", unit="step")
    seen = []
    for _ in range(12):
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert seen[0][0] == pytest.approx(0.1) and seen[-1][0] == pytest.approx(1e-3)
    assert [s[1] for s in seen] == pytest.approx([1e-5] * 12)  # it rose 100x, to the floor


def test_cosine_restarts_peaks_never_decay_below_the_floor() -> None:
    s = CosineRestarts(period=10, decay=0.5, min_lr=0.2)  # the 4th peak, 0.125, is below 0.2
    lrs = s.trace(60, base_lr=1.0)
    assert lrs.min() == pytest.approx(0.2) and lrs.max() == 1.0
    for start in range(0, 60, 10):  # within each cycle the LR only falls (it rose to 0.2)
        assert np.all(np.diff(lrs[start : start + 10]) <= 1e-15)


# -- extreme values stay finite ----------------------------------------------------------------


def test_wsd_with_a_vanishing_decay_drops_at_the_end() -> None:
    lrs = parse("wsd:100,decay=1e-300").trace(102, base_lr=1.0)  # was NaN at step 100
    assert lrs[:100].tolist() == [1.0] * 100 and lrs[100:].tolist() == [0.0, 0.0]


def test_cyclic_with_lengths_near_the_float_limit_stays_in_its_range() -> None:
    for s, t in ((Cyclic(up=1e308), 1.5e308), (Cyclic(up=1e308, down=1e308), 1.7e308)):
        assert 1.0 <= s(t, base_lr=1.0) <= 4.0  # was NaN: up + down overflows


def test_cyclic_far_out_stays_in_its_range() -> None:
    for mode in ("triangular", "triangular2"):
        s = Cyclic(up=7, down=3, max_factor=4.0, mode=mode)
        for t in (2.697867137638703e17, 7.294965609839983e17, 1e300):
            assert 1.0 <= s(t, base_lr=1.0) <= 4.0  # was -12.7 and -53.9: t - cycle * period


def test_a_sequence_lasting_past_the_float_range_is_refused() -> None:
    with pytest.raises(SpecError, match=r"^phases must last a finite number of steps in all, got"):
        parse("cosine:1.7e308 > cosine:1.7e308")  # its length was inf, its default horizon 100
    assert parse("cosine:1.7e308 > constant").length is None  # an unbounded last phase is fine


def test_key_steps_of_a_cycle_longer_than_the_float_range() -> None:
    from lrkit.schedules.plot import key_steps

    # Its first trough lies at 2e308 = inf steps: an OverflowError from `lrkit schedule show`.
    assert [k.step for k in key_steps("cyclic:up=1e308", 5)] == [0, 1, 2, 4]


def test_optimal_with_a_huge_alpha_starts_at_the_base_lr() -> None:
    assert Optimal(alpha=1e308)(0, base_lr=10.0) == 10.0  # was NaN: inf * 0
    assert Optimal(alpha=1e308)(5, base_lr=10.0) == 0.0


@pytest.mark.parametrize("base_lr", [1e-200, 1e200])
def test_a_product_does_not_underflow_or_overflow_for_an_extreme_base_lr(base_lr: float) -> None:
    s = parse("cosine:100 * exponential:0.9 * constant:0.5")
    assert s(0, base_lr) == pytest.approx(base_lr * 0.5, rel=1e-12, abs=0)  # was 0 or inf
    assert s(50, base_lr) == pytest.approx(base_lr * 0.5 * 0.5 * 0.9**50, rel=1e-12, abs=0)


def test_cosine_restarts_with_mult_barely_above_one_is_fast_and_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = CosineRestarts(period=1, mult=1.000001, min_lr=1e-3, decay=0.9)
    started = time.perf_counter()
    values = [s(t, base_lr=1.0) for t in (0, 0.5, 1e9)]  # a loop over 7M cycles took seconds
    assert time.perf_counter() - started < 1.0
    values += [s(t, base_lr=1.0) for t in (1e15, 1e300)]  # the loop never ended
    assert all(1e-3 <= v <= 1.0 for v in values) and values[0] == 1.0
    # The solved cycles agree with the tabulated ones.
    s = CosineRestarts(period=10, mult=1.3, min_lr=1e-3, decay=0.9)
    tabulated = s.trace(5000, base_lr=1.0)
    monkeypatch.setattr(cosine_module, "_MAX_TABULATED", 0)
    np.testing.assert_allclose(s.trace(5000, base_lr=1.0), tabulated, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("step", [math.nan, math.inf, -math.inf, None])
def test_a_step_must_be_a_finite_number(step: object) -> None:
    with pytest.raises(ConfigError, match=f"^step must be a finite number, got {step!r}.$"):
        Cyclic(up=5)(step, base_lr=1.0)  # type: ignore[arg-type]  # was NaN (or TypeError)
    assert Cyclic(up=5)(np.int64(5), base_lr=1.0) == 4.0  # any finite number will do


# -- the invariant -----------------------------------------------------------------------------

# Values of every kind a parameter may be given: tiny, fractional, whole, huge.
_VALUES = ["1e-320", "1e-300", "1e-10", "0.5", "1", "2", "3", "10", "1000", "1e6", "1e15", "1e300"]
_REQUIRED = {
    "constant": "",
    "step": "step_size=10",
    "multistep": "milestones=[10,20]",
    "exponential": "gamma=0.5",
    "linear": "steps=100",
    "poly": "steps=100",
    "cosine": "steps=100",
    "cosine_restarts": "period=10",
    "cyclic": "up=10",
    "onecycle": "steps=100",
    "inverse_sqrt": "",
    "wsd": "steps=100",
    "invscaling": "",
    "optimal": "",
    "warmup": "steps=10",
    "plateau": "",
    "adaptive": "",
}
_PARAMETERS = {
    "constant": ["factor", "steps"],
    "step": ["step_size", "gamma"],
    "multistep": ["gamma"],
    "exponential": ["gamma"],
    "linear": ["steps", "start_factor", "end_factor"],
    "poly": ["steps", "power", "end_lr"],
    "cosine": ["steps", "min_lr"],
    "cosine_restarts": ["period", "mult", "min_lr", "decay"],
    "cyclic": ["up", "down", "max_factor", "gamma"],
    "onecycle": ["steps", "pct_start", "div_factor", "final_div_factor"],
    "inverse_sqrt": ["timescale"],
    "wsd": ["steps", "decay", "min_lr"],
    "invscaling": ["power_t", "samples"],
    "optimal": ["alpha"],
    "warmup": ["steps", "start_factor"],
    "plateau": ["factor", "min_lr"],
    "adaptive": ["factor", "min_lr"],
}
# A factor or gamma > 1 grows the LR by design (constant:factor=1e30 is how a test diverges).
_GROWS = {"constant": "factor", "step": "gamma", "multistep": "gamma", "exponential": "gamma"}
_STEPS = [0, 1, 2, 5, 9, 10, 11, 99, 100, 101, 1e4, 1e6, 1e9, 1e15, 1e300]


def _specs() -> list[str]:
    specs = []
    for name, parameters in _PARAMETERS.items():
        for parameter, value in itertools.product(parameters, _VALUES):
            if _GROWS.get(name) == parameter and float(value) > 1:
                continue
            required = _REQUIRED[name]
            if required.startswith(parameter + "="):
                required = ""
            args = ",".join(a for a in (required, f"{parameter}={value}") if a)
            specs.append(f"{name}:{args}")
    return specs


def test_any_accepted_spec_gives_finite_non_negative_lrs() -> None:
    assert sorted(_PARAMETERS) == sorted(_REQUIRED) == schedule_names()  # every schedule
    peak = 1e9  # cyclic's max_factor may reach 1e9; every other schedule stays at or below 1
    broken = []
    specs = _specs()
    accepted: Counter[str] = Counter()
    for spec in specs:
        try:
            schedule = parse(spec)
        except ConfigError:
            continue  # refused, with a message naming the parameter: fine
        accepted[spec.split(":")[0]] += 1
        for base_lr in (1e-8, 0.1, 1.0, 10.0):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # no NumPy overflow warning either
                    lrs = np.array([schedule(t, base_lr) for t in _STEPS])
                    traced = schedule.trace(300, base_lr)
            except RuntimeWarning as warning:
                broken.append(f"{spec} at base_lr={base_lr:g}: {warning}")
                continue
            values = np.concatenate([lrs, traced])
            if not np.all(np.isfinite(values) & (values >= 0) & (values <= base_lr * peak)):
                broken.append(f"{spec} at base_lr={base_lr:g}: {values.min()} .. {values.max()}")
    assert not broken, "\n".join(broken)
    # a parser that refused too much would leave a schedule, or most values, never checked
    # (about three specs in four are accepted)
    assert sorted(accepted) == sorted(_PARAMETERS), accepted
    assert sum(accepted.values()) >= len(specs) // 2, accepted
