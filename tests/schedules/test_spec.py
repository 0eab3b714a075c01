"""One-line specs, config dicts and names."""

from __future__ import annotations

import re

import pytest

from lrkit.errors import ConfigError, SpecError, UnknownNameError
from lrkit.schedules import (
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    MultiStep,
    OneCycle,
    Plateau,
    Product,
    Sequence,
    Warmup,
    format_spec,
    from_dict,
    parse,
    schedule_class,
    schedule_names,
)


def test_warmup_then_cosine_from_the_issue() -> None:
    s = parse("warmup:500 > cosine:10k,min_lr=1e-5")
    assert s == Sequence((Warmup(500), Cosine(10_000, min_lr=1e-5)))
    assert s.length == 10_500
    assert s.to_spec() == "warmup:steps=500 > cosine:steps=10000,min_lr=1e-05"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("multistep:milestones=[30,60],gamma=0.1", MultiStep((30, 60), 0.1)),
        ("multistep:[30, 60]", MultiStep((30, 60))),
        ("  exponential : 0.99 ", Exponential(0.99)),
        (
            "onecycle:2M,three_phase=true,anneal=linear",
            OneCycle(2e6, three_phase=True, anneal="linear"),
        ),
        ("cosine:1.5k", Cosine(1500)),
        (
            "cosine_restarts:10,2 * exponential:0.9",
            Product((CosineRestarts(10, 2), Exponential(0.9))),
        ),
        (
            "(warmup:5 > cosine:10) * exponential:0.9",
            Product((Sequence((Warmup(5), Cosine(10))), Exponential(0.9))),
        ),
        ("linear:steps=1000,warmup=100", Warmup(100) >> parse("linear:900")),
        ("constant_with_warmup:warmup=100", Sequence((Warmup(100), Constant()))),
        ("warmup:5 > plateau:patience=3", Sequence((Warmup(5), Plateau(patience=3)))),
    ],
)
def test_parse(spec: str, expected: object) -> None:
    assert parse(spec) == expected


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("StepLR:30", "step"),
        ("CosineAnnealingLR:100", "cosine"),
        ("CosineAnnealingWarmRestarts:10", "cosine_restarts"),
        ("cosine_with_restarts:10", "cosine_restarts"),
        ("cosine_with_min_lr:100,min_lr=1e-5", "cosine"),
        ("OneCycleLR:100", "onecycle"),
        ("one-cycle:100", "onecycle"),
        ("ReduceLROnPlateau", "plateau"),
        ("reduce_lr_on_plateau", "plateau"),
        ("warmup_stable_decay:100", "wsd"),
        ("polynomial:100", "poly"),
        ("inverse_sqrt", "inverse_sqrt"),
        ("LinearDecayLR:100", "linear"),
        ("ExponentialLR:0.9", "exponential"),
        ("MultiStepLR:[1,2]", "multistep"),
        ("CyclicLR:up=5", "cyclic"),
    ],
)
def test_aliases_of_torch_timm_and_hugging_face(alias: str, canonical: str) -> None:
    assert parse(alias).name == canonical


def test_unknown_name_lists_the_valid_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        parse("cosinus:100")
    message = str(info.value)
    assert "'cosinus'" in message
    for name in schedule_names():
        assert name in message


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("cosine:100,", "a comma with no value after it at position 11"),
        # said as a stray comma, not as "a bare value after key=value arguments"
        ("cosine:steps=10,min_lr=1e-5,", "a comma with no value after it"),
        ("cosine:", "a colon with no value after it"),
        ("cosine:steps=", "expected a value"),
        ("warmup:5 >", "expected a schedule name"),
        ("(warmup:5 > cosine:10", "missing ')'"),
        ("cosine:100 cosine:100", "unexpected 'c'"),
        ("cos ine:10", "unexpected 'i' at position 4"),  # not "cos needs steps"
        ("multistep:30,60", "write multistep:[30,60] for two milestones"),  # not a 60x rise
        ("cos\u00eene:10", "unexpected '\u00ee' at position 3"),
        ("multistep:[30,60", "expected ',' or ']'"),
        ("cosine:steps=100,0.1", "bare value after"),
        ("cosine:steps=1,steps=2", "given twice"),
        ("", "non-empty string"),
    ],
)
def test_malformed_specs_point_at_the_problem(spec: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(spec)
    assert fragment in str(info.value)


def test_unknown_parameter_lists_the_parameters() -> None:
    with pytest.raises(
        SpecError, match="cosine has no parameter 'decay'; its parameters are: steps, min_lr"
    ):
        parse("cosine:100,decay=0.1")


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("cosine:100,eta_min=0.1", "'eta_min' (torch's eta_min is min_lr here)"),
        ("cosine:T_max=50", "'T_max' (torch's T_max is steps here)"),
        ("poly:total_iters=10", "'total_iters' (torch's total_iters is steps here)"),
        # lrkit's linear is not torch's LinearLR: no hint that would make it one
        ("linear:total_iters=10", "'total_iters'; its parameters are"),
        ("ConstantLR:factor=0.5,total_iters=3", "'total_iters'; its parameters are"),
        ("sgdr:T_0=5,T_mult=2", "'T_0' (torch's T_0 is period here)"),
        # LRs of torch's, where a spec's values are multiples of the base LR (QA 137)
        ("onecycle:100,max_lr=0.1", "'max_lr' (torch's max_lr: the peak is the base LR: the "),
        ("cyclic:up=10,base_lr=0.01", "'base_lr' (torch's base_lr: the floor is the base LR"),
        ("cyclic:up=10,max_lr=0.1", "(torch's max_lr: the peak is max_factor times the base LR)"),
    ],
)
def test_torch_s_argument_names_are_translated(spec: str, said: str) -> None:
    with pytest.raises(SpecError, match=re.escape(said)):
        parse(spec)


def test_too_many_positional_values() -> None:
    with pytest.raises(SpecError, match="at most 2 positional"):
        parse("cosine:1,2,3")


def test_bad_values_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="steps must be a positive"):
        parse("cosine:-100")
    with pytest.raises(ConfigError, match="milestones must be sorted"):
        parse("multistep:[60,30]")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "onecycle:100,three_phase=maybe",
            "onecycle: three_phase must be true or false, got 'maybe'.",
        ),
        ("onecycle:100,three_phase=1", "onecycle: three_phase must be true or false, got 1."),
        ("linear:100,warmup=-1", "linear: warmup must be a positive finite number, got -1."),
        ("cosine:100,warmup=0", "cosine: warmup must be a positive finite number, got 0."),
        ("linear:100,warmup=abc", "linear: warmup must be a positive finite number, got 'abc'."),
        ("cosine:abc,warmup=5", "cosine: steps must be a positive finite number, got 'abc'."),
        ("warmup:10 > step:0.5", "step: step_size must be a positive integer"),
    ],
)
def test_bad_option_values_name_the_option_as_written(spec: str, message: str) -> None:
    # and the schedule they belong to: which part of 'warmup:10 > step:0.5' was wrong
    with pytest.raises(ConfigError) as info:
        parse(spec)
    assert str(info.value).startswith(message)


def test_a_boolean_option_takes_true_or_false() -> None:
    assert parse("onecycle:100,three_phase=TRUE,pct_start=0.25") == OneCycle(
        100, pct_start=0.25, three_phase=True
    )
    assert parse("onecycle:100,three_phase=false") == OneCycle(100)
    with pytest.raises(ConfigError, match="three_phase must be true or false, got 'yes'"):
        OneCycle(100, three_phase="yes")  # type: ignore[arg-type]


def test_from_dict_errors() -> None:
    with pytest.raises(SpecError, match="'name' key"):
        from_dict({"steps": 100})
    with pytest.raises(SpecError, match="'phases'"):
        from_dict({"name": "sequence", "phase": []})
    with pytest.raises(UnknownNameError):
        from_dict({"name": "nope"})


@pytest.mark.parametrize("name", [None, 3, ["cosine"]])
def test_a_schedule_name_that_is_not_text_is_a_spec_error(name: object) -> None:
    with pytest.raises(SpecError, match=r"^name must be a schedule name such as 'cosine', got "):
        schedule_class(name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({}, SpecError, "config must be a dict with a 'name' key"),
        (None, SpecError, "config must be a dict with a 'name' key, .*got None"),
        ({"name": "nosuch", "bogus": 1}, UnknownNameError, "Unknown schedule name 'nosuch'"),
        ({"name": "cosine", "bogus": 1}, SpecError, "cosine has no parameter 'bogus'"),
        ({"name": "cosine", "steps": -1}, SpecError, "steps must be a positive"),
        ({"name": "sequence", "phases": [{}]}, SpecError, "'name' key"),
    ],
)
def test_format_spec_refuses_what_from_dict_refuses(
    config: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        from_dict(config)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        format_spec(config)  # type: ignore[arg-type]


def test_format_spec_of_a_valid_config_is_its_spec() -> None:
    config = {"name": "sequence", "phases": [{"name": "warmup", "steps": 5}, Cosine(50).to_dict()]}
    assert format_spec(config) == "warmup:steps=5 > cosine:steps=50"
    assert parse(format_spec(config)).to_dict() == from_dict(config).to_dict()


def test_defaults_are_left_out_of_configs() -> None:
    assert Cosine(100).to_dict() == {"name": "cosine", "steps": 100}
    assert parse("plateau").to_spec() == "plateau"


def test_deep_nesting_is_a_spec_error_not_a_recursion_error() -> None:
    assert parse("(" * 100 + "cosine:10" + ")" * 100).trace(10)[0] > 0  # deep, but allowed
    with pytest.raises(SpecError, match="parentheses nested more than 100 deep at position 100"):
        parse("(" * 500 + "cosine:10" + ")" * 500)
    from lrkit.schedules import from_dict

    config: dict = {"name": "cosine", "steps": 10}
    for depth in range(3000):
        config = {"name": "sequence", "phases": [config]}
        if depth == 99:
            assert from_dict(config).trace(10)[0] > 0  # deep, but allowed
    with pytest.raises(SpecError, match="config must nest sequences and products at most 100"):
        from_dict(config)


def test_steps_gives_a_schedule_without_a_length_one_as_a_phase() -> None:
    import numpy as np
    import torch
    from torch.optim import lr_scheduler

    from lrkit.schedules import Limited

    s = parse("warmup:2 > exponential:0.9,steps=4 > cosine:5")
    assert isinstance(s, Sequence) and isinstance(s.phases[1], Limited)
    assert s.length == 11
    assert parse(s.to_spec()) == s and from_dict(s.to_dict()) == s
    assert s.to_spec() == "warmup:steps=2 > exponential:gamma=0.9,steps=4 > cosine:steps=5"
    # the warmup is counted inside steps, as for schedules with steps of their own
    assert parse("exponential:0.9,warmup=2,steps=6 > cosine:5") == s

    # what torch's SequentialLR gives with a milestone after the exponential phase
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    torch_sched = lr_scheduler.SequentialLR(
        opt,
        [lr_scheduler.ExponentialLR(opt, 0.9), lr_scheduler.StepLR(opt, 3, gamma=0.5)],
        milestones=[4],
    )
    torch_lrs = []
    for _ in range(12):
        torch_lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        torch_sched.step()
    ours = parse("exponential:0.9,steps=4 > step:3,gamma=0.5").trace(12, base_lr=0.1)
    np.testing.assert_allclose(ours, torch_lrs, rtol=1e-12)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("exponential:0.9,steps=0 > cosine:5", "exponential: steps must be a positive finite"),
        ("exponential:0.9,steps=2.5", "exponential: steps must be a positive integer"),
        (
            "exponential:0.9,steps=4,warmup=4",
            "exponential: warmup must be shorter than the total steps (4) it is counted in",
        ),
        ("exponential:0.9,stepz=4", "its parameters are: gamma, warmup, steps (its length as a"),
    ],
)
def test_a_bad_phase_length_names_the_part(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(spec)
    assert message in str(info.value)


def test_the_advice_for_a_phase_without_a_length_works_as_written() -> None:
    with pytest.raises(SpecError, match=r"phase 2 must have a length \(steps=...\)"):
        parse("warmup:2 > exponential:0.9 > cosine:5")
    parse("warmup:2 > exponential:0.9,steps=4 > cosine:5")  # as the message advises


def test_limited_wraps_one_schedule_without_a_length() -> None:
    from lrkit.schedules import Limited

    with pytest.raises(ConfigError, match="schedule must be one lrkit schedule"):
        Limited(parse("cosine_restarts:10 * exponential:0.9"), steps=5)
    with pytest.raises(ConfigError, match="schedule must have no length of its own"):
        Limited(Cosine(steps=10), steps=5)


def test_a_limited_schedule_holds_its_value_after_its_end() -> None:
    s = parse("exponential:0.5,steps=3")
    assert [s(t) for t in (2, 3, 4, 50)] == pytest.approx([0.25, 0.125, 0.125, 0.125])


def test_a_misspelt_name_or_a_missing_colon_says_what_was_meant() -> None:
    from lrkit.errors import UnknownNameError

    with pytest.raises(
        UnknownNameError, match=r"Unknown schedule name 'cosin'\. Did you mean 'cos"
    ):
        parse("cosin:10")
    with pytest.raises(SpecError, match=r"unexpected '2' \(write 'warmup:2': a colon before its"):
        parse("warmup 2 > cosine:10")
    with pytest.raises(SpecError, match=r"unexpected '10' \(write 'cosine:10'"):  # not '1'
        parse("warmup:2 > cosine 10")
