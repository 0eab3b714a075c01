"""Contract and reference tests for every native schedule."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from lrkit.errors import ConfigError
from lrkit.schedules import (
    WSD,
    Cosine,
    CosineRestarts,
    Cyclic,
    Exponential,
    InvScaling,
    Linear,
    MultiStep,
    OneCycle,
    Optimal,
    Plateau,
    Polynomial,
    Step,
    Warmup,
    from_dict,
    parse,
    schedule_names,
    simulate,
)
from lrkit.schedules.base import MAX_TRACE_STEPS

# One example per registered schedule; the contract below runs over all of them.
EXAMPLES = {
    "constant": "constant:0.5",
    "step": "step:30,gamma=0.5",
    "multistep": "multistep:milestones=[0,30,30,80],gamma=0.5",
    "exponential": "exponential:0.99",
    "linear": "linear:100",
    "poly": "poly:100,power=2,end_lr=1e-4",
    "cosine": "cosine:100,min_lr=1e-4",
    "cosine_restarts": "cosine_restarts:period=10,mult=2,min_lr=1e-4,decay=0.8",
    "cyclic": "cyclic:up=10,down=5,max_factor=4,mode=exp_range,gamma=0.999",
    "onecycle": "onecycle:100,three_phase=true,anneal=linear",
    "inverse_sqrt": "inverse_sqrt:timescale=50",
    "wsd": "wsd:100,decay=0.3,cooldown=1-sqrt,min_lr=1e-4",
    "invscaling": "invscaling:power_t=0.25",
    "optimal": "optimal:alpha=0.01",
    "adaptive": "adaptive:patience=2",
    "warmup": "warmup:10,start_factor=0.1",
    "plateau": "plateau:factor=0.5,patience=2",
}
COMPOSITIONS = {
    "warmup>cosine": "warmup:500 > cosine:10k,min_lr=1e-5",
    "warmup>plateau": "warmup:5 > plateau:patience=3,factor=0.5",
    "three phases": "warmup:10 > constant:steps=40 > exponential:0.9",
    "product": "cosine_restarts:period=10,mult=2 * exponential:0.99",
    "grouped": "(warmup:10 > cosine:90) * step:200,gamma=0.5",
    "hf warmup": "linear:steps=1000,warmup=100",
}
ALL = {**EXAMPLES, **COMPOSITIONS}


def test_every_registered_schedule_has_an_example() -> None:
    assert sorted(EXAMPLES) == schedule_names()


@pytest.mark.parametrize("spec", [pytest.param(s, id=n) for n, s in ALL.items()])
def test_trace_equals_scalar_calls(spec: str) -> None:
    s = parse(spec)
    lrs = s.trace(400, base_lr=0.1)
    assert lrs.shape == (400,)
    assert np.all(np.isfinite(lrs)) and np.all(lrs >= 0)
    for t in (0, 1, 9, 10, 11, 57, 99, 100, 101, 399):
        assert lrs[t] == pytest.approx(s(t, base_lr=0.1), rel=1e-12, abs=0)


@pytest.mark.parametrize("spec", [pytest.param(s, id=n) for n, s in ALL.items()])
def test_round_trips_through_spec_and_json_dict(spec: str) -> None:
    s = parse(spec)
    config = json.loads(json.dumps(s.to_dict()))
    assert from_dict(config) == s
    assert parse(s.to_spec()) == s
    assert parse(str(s)).to_spec() == s.to_spec()


def _as_numpy(value: object) -> object:
    """A config value as NumPy would hand it over: scalars as NumPy scalars, lists as arrays."""
    if isinstance(value, bool) or not isinstance(value, (int, float, list)):
        return value
    if isinstance(value, list):
        return np.array(value)
    return np.int64(value) if isinstance(value, int) else np.float64(value)


@pytest.mark.parametrize("spec", [pytest.param(s, id=n) for n, s in EXAMPLES.items()])
def test_numpy_numbers_are_taken_as_python_numbers(spec: str) -> None:
    s = parse(spec)
    config = s.to_dict()
    name = config.pop("name")
    numeric = {k: _as_numpy(v) for k, v in config.items()}
    made = type(s)(**numeric)
    assert made == s
    assert json.loads(json.dumps(made.to_dict())) == s.to_dict()
    assert made.to_spec() == s.to_spec() and name == s.name
    np.testing.assert_array_equal(made.trace(np.int64(50), 0.1), s.trace(50, 0.1))


def test_linear_is_seed_003_linear_decay_held_at_its_end() -> None:
    # Seed 003's LinearDecayLR: lr = initial_lr * (1 - epoch / total_epochs)
    s = Linear(steps=100)
    for epoch in range(100):
        assert s(epoch, base_lr=0.1) == pytest.approx(0.1 * (1 - epoch / 100), abs=1e-15)
    assert s(150, base_lr=0.1) == 0.0  # seed's formula would go negative


def test_cosine_holds_min_lr_instead_of_rising_again() -> None:
    lrs = Cosine(steps=50, min_lr=1e-3).trace(200, base_lr=0.1)
    torch_lrs = _torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 50, 1e-3), 51)
    np.testing.assert_allclose(lrs[:51], torch_lrs, rtol=1e-12)
    assert np.all(lrs[50:] == pytest.approx(1e-3))
    assert np.all(np.diff(lrs) <= 1e-18)


@pytest.mark.parametrize(
    ("native", "factory"),
    [
        pytest.param(Step(7, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.5), id="step"),
        pytest.param(
            MultiStep((0, 5, 5, 20), 0.5),
            lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [0, 5, 5, 20], 0.5),
            id="multistep",
        ),
        pytest.param(
            Exponential(0.97),
            lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.97),
            id="exponential",
        ),
        pytest.param(
            Polynomial(40, power=2.0),
            lambda o: torch.optim.lr_scheduler.PolynomialLR(o, 40, 2.0),
            id="poly",
        ),
        pytest.param(
            CosineRestarts(5, mult=2, min_lr=1e-3),
            lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 5, 2, 1e-3),
            id="cosine_restarts",
        ),
        pytest.param(
            Cyclic(up=6, down=4, max_factor=5.0, mode="triangular2"),
            lambda o: torch.optim.lr_scheduler.CyclicLR(
                o, 0.1, 0.5, 6, 4, mode="triangular2", cycle_momentum=False
            ),
            id="cyclic-triangular2",
        ),
        pytest.param(
            Cyclic(up=6, max_factor=5.0, mode="exp_range", gamma=0.99),
            lambda o: torch.optim.lr_scheduler.CyclicLR(
                o, 0.1, 0.5, 6, mode="exp_range", gamma=0.99, cycle_momentum=False
            ),
            id="cyclic-exp_range",
        ),
    ],
)
def test_matches_torch_closed_forms(native, factory) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_allclose(native.trace(300, base_lr=0.1), _torch_lrs(factory, 300), rtol=1e-10)


def test_onecycle_shape() -> None:
    """N steps, as torch counts them: the peak at pct_start * N - 1, the end on step N - 1."""
    s = OneCycle(steps=100, pct_start=0.3, div_factor=25, final_div_factor=1e4)
    lrs = s.trace(150, base_lr=1.0)
    assert lrs[0] == pytest.approx(1 / 25)
    assert lrs.argmax() == 29 and lrs.max() == 1.0
    assert np.all(lrs[99:] == 1 / 25 / 1e4) and lrs[98] > lrs[99]
    three = OneCycle(steps=100, pct_start=0.25, three_phase=True).trace(101, base_lr=1.0)
    assert three[48] == pytest.approx(1 / 25) and three[24] == 1.0


@pytest.mark.parametrize("steps", [3, 10, 101])
@pytest.mark.parametrize("pct_start", [0.05, 0.3, 0.45])
@pytest.mark.parametrize(("anneal", "three_phase"), [("cos", False), ("linear", True)])
def test_onecycle_is_torch_s_one_cycle_lr(
    steps: int, pct_start: float, anneal: str, three_phase: bool
) -> None:
    """Bit for bit over the cycle, where torch defines it (it refuses a phase of length 0)."""
    native = OneCycle(steps, pct_start=pct_start, anneal=anneal, three_phase=three_phase)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, 0.1, total_steps=steps, pct_start=pct_start, anneal_strategy=anneal,
        three_phase=three_phase,
    )  # fmt: skip
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(steps - 1):  # torch raises on a step past its last
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert native.trace(steps, base_lr=0.1).tolist() == lrs


@pytest.mark.parametrize("cooldown", ["linear", "cosine", "1-sqrt"])
def test_wsd_cooldowns(cooldown: str) -> None:
    lrs = WSD(steps=100, decay=0.2, cooldown=cooldown, min_lr=0.01).trace(120, base_lr=1.0)
    assert np.all(lrs[:81] == 1.0)
    assert lrs[100] == pytest.approx(0.01) and np.all(lrs[100:] == lrs[100])
    assert np.all(np.diff(lrs[80:101]) < 0)
    if cooldown == "1-sqrt":  # 1 - sqrt(p): at a quarter of the cooldown, half the way down
        assert lrs[85] == pytest.approx(0.01 + 0.99 * 0.5)


def test_sklearn_rules_match_sklearn_formulas() -> None:
    # scikit-learn: invscaling eta = eta0 / pow(t, power_t) with t counted from 1;
    # optimal eta = 1 / (alpha * (t + t0)).
    eta0, power_t, alpha = 0.05, 0.3, 1e-3
    for t in range(1, 200, 17):
        assert InvScaling(power_t)(t - 1, base_lr=eta0) == pytest.approx(eta0 / t**power_t)
        t0 = 1 / (alpha * eta0)
        assert Optimal(alpha)(t, base_lr=eta0) == pytest.approx(1 / (alpha * (t + t0)))


def test_warmup_ramps_to_the_next_phase_start() -> None:
    s = Warmup(4) >> OneCycle(steps=20, div_factor=10)
    lrs = s.trace(5, base_lr=1.0)
    assert lrs[:4] == pytest.approx([0.02, 0.04, 0.06, 0.08])  # ramp to one-cycle's start 0.1
    assert lrs[4] == pytest.approx(0.1)


def test_plateau_after_warmup_ignores_warmup_metrics() -> None:
    s = parse("warmup:3 > plateau:patience=1,factor=0.5")
    metrics = [5.0, 4.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    lrs = s.trace(len(metrics), base_lr=1.0, reductions=simulate(s, metrics))
    assert lrs[:3] == pytest.approx([0.25, 0.5, 0.75])
    # best=1.0 at t=3; bad at 4, 5 -> reduction takes effect at t=6; cooldown 0, again at t=8
    assert lrs[3:].tolist() == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.5, 0.25])


def test_plateau_respects_min_lr_and_mode_max() -> None:
    p = Plateau(factor=0.1, patience=0, mode="max", min_lr=0.005)
    lrs = p.trace(5, base_lr=0.1, reductions=simulate(p, [0.5, 0.4, 0.3, 0.2, 0.1]))
    assert lrs.tolist() == pytest.approx([0.1, 0.1, 0.01, 0.005, 0.005])


_RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("options", "metrics"),
    [
        # a tie at the threshold, in floats: 0.55 > 0.45 + 0.1 is false in torch
        pytest.param(
            {"mode": "max", "threshold_mode": "abs", "threshold": 0.1}, [0.45, 0.55] * 8, id="tie"
        ),
        # negative metrics, relative threshold: torch's best * (1 - threshold)
        pytest.param(
            {"threshold": 1e-4}, [-1.0, -1.00005, -1.00008, -1.0001] * 5, id="negative-rel"
        ),
        pytest.param(
            {"mode": "max", "threshold": 0.01}, [-2.0, -1.99, -1.985, -1.9] * 5, id="negative-max"
        ),
        # a reduction of eps or less is not made: the LR stops at 1e-8
        pytest.param({"factor": 0.1, "patience": 0}, [1.0] * 40, id="eps"),
        pytest.param(
            {"factor": 0.5, "patience": 1, "cooldown": 2, "min_lr": 0.01},
            list(_RNG.normal(size=60)),
            id="noise-floor",
        ),
        pytest.param(
            {"factor": 0.7, "patience": 2, "threshold_mode": "abs", "threshold": 0.05},
            list(np.cumsum(_RNG.normal(0.01, 0.1, size=80))),
            id="walk",
        ),
    ],
)
def test_plateau_reduces_where_torchs_reduce_lr_on_plateau_does(
    options: dict, metrics: list[float]
) -> None:
    p = Plateau(**options)
    lrs = p.trace(len(metrics) + 1, base_lr=1.0, reductions=simulate(p, [*metrics, 0.0]))
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    torchs = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **options)
    expected = [1.0]
    for metric in metrics:  # the LR during step i + 1, after metric i ended step i
        torchs.step(metric)
        expected.append(optimizer.param_groups[0]["lr"])
    assert lrs.tolist() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("make", "param"),
    [
        pytest.param(lambda: Cosine(steps=0), "steps", id="zero steps"),
        pytest.param(lambda: Cosine(steps=-5), "steps", id="negative steps"),
        pytest.param(lambda: Cosine(steps=10, min_lr=-1e-3), "min_lr", id="negative min_lr"),
        pytest.param(lambda: Step(step_size=math.nan), "step_size", id="nan step"),
        pytest.param(lambda: MultiStep((30, 10)), "milestones", id="unsorted milestones"),
        pytest.param(lambda: Exponential(gamma=0), "gamma", id="zero gamma"),
        pytest.param(lambda: Plateau(factor=1.5), "factor", id="plateau factor"),
        pytest.param(lambda: Plateau(patience=-1), "patience", id="plateau patience"),
        pytest.param(lambda: WSD(steps=10, cooldown="sqrt"), "cooldown", id="wsd cooldown"),
        pytest.param(lambda: OneCycle(10, pct_start=0.6, three_phase=True), "pct_start", id="3ph"),
        pytest.param(lambda: Cosine(steps=10).trace(0), "n_steps", id="empty trace"),
        pytest.param(lambda: Cosine(steps=10)(3, base_lr=0.0), "base_lr", id="zero lr"),
        pytest.param(lambda: Cosine(steps=10)(3, base_lr=-0.1), "base_lr", id="negative lr"),
        pytest.param(lambda: parse("linear:steps=100,warmup=200"), "warmup", id="long warmup"),
        pytest.param(lambda: parse("exponential:0.9 > constant"), "phase 1", id="unbounded"),
        pytest.param(lambda: parse("cosine"), "steps", id="missing steps"),
    ],
)
def test_bad_arguments_name_the_parameter(make, param: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        make()
    message = str(info.value)
    assert param in message and "got" in message


def test_plateau_rejects_non_finite_metrics() -> None:
    s = parse("warmup:2 > plateau")
    with pytest.raises(ConfigError, match="metrics must be a finite number, got nan"):
        simulate(s, [1.0, 1.0, math.nan])


@pytest.mark.parametrize("n_steps", [MAX_TRACE_STEPS + 1, 10**12])
def test_a_trace_too_long_to_hold_is_refused_before_it_is_allocated(n_steps: int) -> None:
    with pytest.raises(ConfigError, match=rf"^n_steps must be at most 100,000,000 .*got {n_steps}"):
        Cosine(10).trace(n_steps)  # numpy said "Unable to allocate 7.28 TiB"


def test_simulate_takes_a_spec_and_refuses_what_is_not_a_schedule() -> None:
    metrics = [1.0, 1.0, 1.0, 1.0]
    assert simulate("plateau:patience=1", metrics).tolist() == [0, 0, 0, 1]
    assert (
        simulate("plateau:patience=1", metrics).tolist()
        == simulate(Plateau(patience=1), metrics).tolist()
    )
    with pytest.raises(ConfigError, match=r"^schedule must be an lrkit Schedule or a spec .*got 3"):
        simulate(3, metrics)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError, match=r"^metrics must be a sequence of metric values, .*got 1\.0"
    ):
        simulate("plateau", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^metrics must be a sequence of .*got '0\.5'"):
        simulate("plateau", "0.5")


def test_million_step_trace_is_vectorised() -> None:
    lrs = parse("warmup:1000 > cosine:999000,min_lr=1e-5").trace(10**6, base_lr=0.1)
    assert lrs.shape == (10**6,) and lrs[1000] == pytest.approx(0.1) and lrs[-1] > 1e-5


def _torch_lrs(factory, n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = factory(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def test_a_sequence_with_two_plateaus_is_refused() -> None:
    """One tracker counts the reductions: the second plateau began four halvings down, and
    compared its first metric with the first plateau's best."""
    with pytest.raises(ConfigError, match="phases may hold at most one plateau schedule"):
        parse("plateau:factor=0.5,patience=1,steps=5 > cosine:3 > plateau:factor=0.5")
    parse("warmup:2 > plateau:factor=0.5")  # one is what a sequence may hold
    with pytest.raises(ConfigError, match="factors may hold at most one plateau schedule"):
        parse("plateau:factor=0.5 * (warmup:1 > plateau:factor=0.5)")  # one inside a factor


def test_base_lr_and_step_take_numbers_as_numbers() -> None:
    schedule = parse("cosine:10")
    want = schedule(3, 0.1)
    assert schedule(3, np.float64(0.1)) == want and schedule(np.int64(3), 0.1) == want
    assert schedule(3, torch.tensor(0.1, dtype=torch.float64)) == want
    assert schedule.trace(4, np.float64(0.1))[3] == pytest.approx(want)
    for step in ("3", True):
        with pytest.raises(ConfigError, match="step must be a finite number"):
            schedule(step, 0.1)  # type: ignore[arg-type]


def test_a_warmup_before_its_first_step_is_at_its_first_step() -> None:
    """A SequentialLR rewinds a child not started yet to step -1: every schedule gives its
    step-0 LR there, and a warmup gave 0."""
    warmup = parse("warmup:4")
    assert warmup(-1, 0.1) == warmup(0, 0.1) == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("reductions", "said"),
    [
        ([1, 2], "reductions must hold one count per step (3), or one for all, got 2"),
        ([0, float("nan"), 1], "reductions must be whole numbers >= 0"),
        ([0, -1, 0], "reductions must be whole numbers >= 0"),
    ],
)
def test_a_trace_s_reductions_are_checked(reductions: list[float], said: str) -> None:
    """A list of the wrong length was numpy's bare broadcasting error; NaN passed silently."""
    with pytest.raises(ConfigError, match=re.escape(said)):
        parse("plateau:factor=0.5").trace(3, reductions=reductions)


def test_a_plateau_s_counts_take_whole_numbers_in_any_spelling() -> None:
    """patience=1e3 was refused ("got 1000.0") where patience=1k was taken."""
    assert parse("plateau:patience=1e3,cooldown=2.0") == parse("plateau:patience=1k,cooldown=2")
    with pytest.raises(ConfigError, match=r"patience must be an integer >= 0, got 2\.5"):
        parse("plateau:patience=2.5")


def test_a_sequence_of_many_phases_finds_each_steps_phase() -> None:
    """Each step's phase is found by bisection (a step cost 0.5 ms at 200 phases, looking at
    each): every step of 300 phases of different lengths gets its own phase's LR, at its own
    offset, called one step at a time and traced at once."""
    from lrkit.schedules import parse

    lengths = [3 + (7 * i) % 11 for i in range(300)]
    spec = " > ".join(f"cosine:{n}" for n in lengths) + " > constant"
    schedule = parse(spec)
    expected, start = [], 0
    for n in lengths:
        expected += [parse(f"cosine:{n}")(t, base_lr=0.1) for t in range(n)]
        start += n
    expected += [0.1] * 5
    traced = schedule.trace(start + 5, base_lr=0.1)
    assert traced.tolist() == expected
    assert [schedule(t, base_lr=0.1) for t in range(start + 5)] == expected
    assert schedule(start - 0.5, base_lr=0.1) == parse(f"cosine:{lengths[-1]}")(
        lengths[-1] - 0.5, base_lr=0.1
    )


@pytest.mark.parametrize(
    "spec", ["wsd:steps=1 * step:20,gamma=1.5", "cosine:10 * exponential:1.01"]
)
def test_a_factor_at_zero_holds_a_product_at_zero_however_far_another_grew(spec: str) -> None:
    """0 * inf was NaN, silently, in the curve and the trace (QA 147)."""
    schedule = parse(spec)
    with np.errstate(over="ignore"):
        assert schedule(10**6, base_lr=1.0) == 0.0
        traced = schedule.trace(1_000_001, base_lr=1.0)
    assert not np.isnan(traced).any() and traced[-1] == 0.0
    assert schedule(0, base_lr=1.0) > 0.0  # before: the plain product
